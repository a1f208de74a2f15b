//! Benchmarks of the MatrixRTC core: applying one membership event to a lobby, and rebuilding
//! the lobbies of a large account.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use vestibule::rtc::membership::MembershipEvent;
use vestibule::rtc::{CALL_MEMBER, Lobby, RTC_MEMBER};

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
    group.finish();
}

criterion_group!(benches, apply_one, rebuild_all);
criterion_main!(benches);
