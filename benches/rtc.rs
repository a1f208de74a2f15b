//! Benchmarks of the MatrixRTC core: applying one membership event to a lobby, rebuilding the
//! lobbies of a large account, and a lobby flooded by 100,000 hostile memberships (what it costs
//! in memory is printed at the end).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use serde_json::{Value, json};
use vestibule::rtc::membership::MembershipEvent;
use vestibule::rtc::{CALL_MEMBER, Lobby, RTC_MEMBER, RTC_MEMBER_STICKY};

const T0: u64 = 1_732_500_000_000;

/// One room's membership state event, owned.
struct StateEv {
    event_type: &'static str,
    state_key: String,
    sender: String,
    content: Value,
    ts: u64,
}

impl StateEv {
    fn event(&self) -> MembershipEvent<'_> {
        MembershipEvent {
            event_type: self.event_type,
            state_key: Some(&self.state_key),
            sender: &self.sender,
            content: &self.content,
            origin_server_ts: self.ts,
            event_id: None,
            sticky_duration_ms: None,
        }
    }
}

/// Element Call's session form for `user` on `device`, or the brief's form every third one.
fn membership(room: usize, i: usize) -> StateEv {
    let user = format!("@user{i}:example.org");
    let device = format!("DEV{room}X{i}");
    if i % 3 == 2 {
        return StateEv {
            event_type: RTC_MEMBER,
            state_key: format!("_{user}_m{i}"),
            content: json!({"member":{"id":format!("m{i}"),"device_id":device,"user_id":user},
                "focus_active":{"type":"livekit","focus_selection":"oldest_membership"},
                "foci_preferred":[{"type":"livekit","livekit_service_url":"https://sfu.example.org","livekit_alias":"!r"}],
                "session":{"application":"m.call","call_id":"","scope":"m.room"}}),
            sender: user,
            ts: T0 + i as u64,
        };
    }
    StateEv {
        event_type: CALL_MEMBER,
        state_key: format!("_{user}_{device}_m.call"),
        content: json!({"application":"m.call","call_id":"","scope":"m.room","device_id":device,
            "membershipID":format!("{user}:{device}"),"expires":14400000,"m.call.intent":"video",
            "focus_active":{"type":"livekit","focus_selection":"multi_sfu"},
            "foci_preferred":[{"type":"livekit","livekit_alias":"!r",
                               "livekit_service_url":"https://sfu.example.org/livekit/jwt"}]}),
        sender: user,
        ts: T0 + i as u64,
    }
}

fn apply_one(c: &mut Criterion) {
    let room: Vec<StateEv> = (0..10).map(|i| membership(0, i)).collect();
    let (mut lobby, _) = Lobby::from_events(room.iter().map(StateEv::event), T0 + 100);
    // Two versions of one member's event (a refresh raises `expires`), applied in turn so each
    // application really changes the lobby.
    let a = membership(0, 4);
    let mut b = membership(0, 4);
    b.content["expires"] = json!(28_800_000);
    let mut flip = false;
    c.bench_function("apply one membership event (10-member lobby)", |bench| {
        bench.iter(|| {
            flip = !flip;
            let ev = if flip { &a } else { &b };
            black_box(lobby.apply(black_box(&ev.event()), T0 + 200).is_ok())
        })
    });
    let leave_join = [membership(0, 11), {
        let mut l = membership(0, 11);
        l.content = json!({});
        l
    }];
    let mut i = 0usize;
    c.bench_function("apply join/leave (10-member lobby)", |bench| {
        bench.iter(|| {
            i += 1;
            black_box(
                lobby
                    .apply(black_box(&leave_join[i % 2].event()), T0 + 200)
                    .is_ok(),
            )
        })
    });
}

fn rebuild_all(c: &mut Criterion) {
    let rooms: Vec<Vec<StateEv>> = (0..1_000)
        .map(|r| (0..10).map(|i| membership(r, i)).collect())
        .collect();
    let mut group = c.benchmark_group("rebuild");
    group.sample_size(30);
    group.bench_function("1,000 rooms / 10,000 memberships", |bench| {
        // The old lobbies are freed outside the timed part: this measures building them.
        bench.iter_with_large_drop(|| {
            let lobbies: Vec<Lobby> = rooms
                .iter()
                .map(|events| Lobby::from_events(events.iter().map(StateEv::event), T0 + 100).0)
                .collect();
            black_box(lobbies)
        })
    });
    group.bench_function(
        "1,000 rooms / 10,000 memberships, freeing the old ones",
        |bench| {
            bench.iter(|| {
                let lobbies: Vec<Lobby> = rooms
                    .iter()
                    .map(|events| Lobby::from_events(events.iter().map(StateEv::event), T0 + 100).0)
                    .collect();
                black_box(lobbies)
            })
        },
    );
    group.bench_function(
        "1,000 rooms / 10,000 memberships, reading their calls, freeing the old ones",
        |bench| {
            // The worker reads every lobby's calls once built: the calls are derived when asked.
            bench.iter(|| {
                let lobbies: Vec<Lobby> = rooms
                    .iter()
                    .map(|events| {
                        let lobby =
                            Lobby::from_events(events.iter().map(StateEv::event), T0 + 100).0;
                        black_box(lobby.calls().len());
                        lobby
                    })
                    .collect();
                black_box(lobbies)
            })
        },
    );
    group.finish();
}

/// A hostile sticky membership's content under sticky key `key`, without `member.user_id`
/// (the newest drafts leave it out), so one content serves every sender.
fn hostile_content(key: &str) -> Value {
    json!({"application":{"type":"m.call","m.call.intent":"audio"},"slot_id":"m.call#ROOM",
        "rtc_transports":[{"type":"livekit","livekit_service_url":"https://sfu.evil.example"}],
        "member":{"id":key,"device_id":key},"msc4354_sticky_key":key})
}

fn sticky_event<'a>(content: &'a Value, sender: &'a str, ts: u64) -> MembershipEvent<'a> {
    MembershipEvent {
        event_type: RTC_MEMBER_STICKY,
        state_key: None,
        sender,
        content,
        origin_server_ts: ts,
        event_id: None,
        sticky_duration_ms: Some(60 * 60 * 1000),
    }
}

/// The resident memory of this process in KiB (`VmRSS` of `/proc/self/status`).
fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The median of `samples`.
fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

const HOSTILE: usize = 100_000;
/// Distinct sticky keys: with the senders, they keep every flood event a new slot.
const KEYS: usize = 4_096;

/// 100,000 hostile sticky memberships, each under a new sticky key, from one sender and from
/// 10,000: the lobby keeps at most its caps, and one more event costs what it costs in a quiet
/// room. What the floods did to memory is printed at the end.
fn hostile_floods(c: &mut Criterion, report: &mut Vec<String>) {
    let contents: Vec<Value> = (0..KEYS)
        .map(|k| hostile_content(&format!("k{k}")))
        .collect();
    for (name, senders) in [("one sender", 1), ("10,000 senders", 10_000)] {
        let senders: Vec<String> = (0..senders)
            .map(|s| format!("@flood{s}:evil.example"))
            .collect();
        let event = |i: usize, ts: u64| {
            // Key and sender together make each event a new slot until long after it is gone.
            let key = (i + i / KEYS) % KEYS;
            sticky_event(&contents[key], &senders[i % senders.len()], ts)
        };
        let before = resident_kib();
        let mut lobby = Lobby::new();
        let started = Instant::now();
        for i in 0..HOSTILE {
            let ts = T0 + i as u64;
            black_box(lobby.apply(&event(i, ts), ts).is_ok());
        }
        let took = started.elapsed();
        let after = resident_kib();
        let mut i = HOSTILE;
        let mut one_more = || {
            let ts = T0 + i as u64;
            let ok = lobby.apply(&event(i, ts), ts).is_ok();
            i += 1;
            ok
        };
        let samples: Vec<Duration> = (0..20_001)
            .map(|_| {
                let t = Instant::now();
                black_box(one_more());
                t.elapsed()
            })
            .collect();
        c.bench_function(
            &format!("apply one more hostile sticky membership ({name}, 100,000 applied)"),
            |bench| bench.iter(|| black_box(one_more())),
        );
        report.push(format!(
            "hostile flood from {name}: {HOSTILE} events in {took:.2?}, resident memory \
             {} KiB -> {} KiB (+{} KiB), {} slots kept, median of one more event {:.2?}",
            before.unwrap_or(0),
            after.unwrap_or(0),
            after.zip(before).map_or(0, |(a, b)| a.saturating_sub(b)),
            lobby.slot_count(),
            median(samples),
        ));
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    // The floods first, so that the resident memory they add is not hidden by what the
    // allocator kept from the benchmarks before.
    let mut report = Vec::new();
    hostile_floods(&mut c, &mut report);
    apply_one(&mut c);
    rebuild_all(&mut c);
    c.final_summary();
    for line in report {
        println!("{line}");
    }
}
