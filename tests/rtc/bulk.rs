//! Robustness in bulk: 10,000 random and malformed events, from a seeded generator, through the
//! whole per-room path a sync takes (`CallRoom::apply_sync` with a ring tracker, then `tick` and
//! `poll_own`), with our own call in progress. Nothing may panic or recurse without bound, the
//! lobby stays within its caps, and the room never asks to be woken in the past.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use vestibule::rtc::lobby::{MAX_SLOTS_PER_ROOM, MAX_SLOTS_PER_SENDER};
use vestibule::rtc::own::{Failure, Reply};
use vestibule::rtc::own_call::{OwnCall, OwnCallEffect};
use vestibule::rtc::publish::PublishForm;
use vestibule::rtc::ring::{NotifyKind, RingTracker};
use vestibule::rtc::room::{CallRoom, RoomSync};

use super::factory::*;
use super::own_call::{me, ok_reply, plan};

const EVENTS: usize = 10_000;
/// How deep the deeply nested values go.
const DEPTH: usize = 10_000;

/// User ids a hostile server or client may put anywhere a user id goes.
const BAD_USERS: [&str; 9] = [
    "",
    "alice",
    "@",
    "@:",
    "@alice:",
    "@al ice:example.org",
    "@alice:example.org\u{0}",
    "@\u{202e}gro.elpmaxe:ecila",
    "_@alice:example.org_",
];

const USERS: [&str; 4] = [ALICE, BOB, ME, "@carol:example.org"];

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

/// `[[[…]]]`, `depth` deep, built without recursion.
fn deep(depth: usize) -> Value {
    let mut v = json!([]);
    for _ in 0..depth {
        v = Value::Array(vec![v]);
    }
    v
}

/// Drops a value without recursing into it (a deeply nested one would exhaust the stack).
fn dismantle(v: Value) {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

/// Strings no field should trust: control characters, bidi overrides, lone surrogates as JSON
/// text escapes them (`serde_json` refuses those, so the sync layer drops such an event or a
/// lenient decoder gives U+FFFD; the escape may also arrive as plain text), and a long one.
fn hostile_string(rng: &mut StdRng) -> Value {
    match rng.random_range(0..5) {
        0 => json!("\u{0}\u{7}\u{1b}[2J\r\n\t\u{7f}"),
        1 => json!("\u{202e}\u{200b}\u{feff}"),
        2 => serde_json::from_str(r#""\ud800 and \udfff""#).unwrap_or(json!("\u{fffd}")),
        3 => json!(r"\ud800"),
        _ => json!("x".repeat(10_000)),
    }
}

/// A value of the wrong type or size for whatever field it lands in.
fn hostile_value(rng: &mut StdRng) -> Value {
    match rng.random_range(0..16) {
        0 => json!(u64::MAX),
        1 => json!(1e308),
        2 => json!(-1),
        3 => json!(-1e308),
        4 => json!(i64::MIN),
        5 => json!(0.5),
        6 => Value::Null,
        7 => json!(true),
        8 => json!([]),
        9 => json!({}),
        10 => json!([1, "a", null, {"type": 3}]),
        11 => json!(BAD_USERS[rng.random_range(0..BAD_USERS.len())]),
        12 => json!(T0 + 10 * 365 * 24 * HOUR),
        13 => deep(DEPTH),
        _ => hostile_string(rng),
    }
}

/// A valid event of any kind the reducer reads, at about `now`.
fn valid_event(rng: &mut StdRng, now: u64) -> Value {
    let user = pick(rng, &USERS);
    let device = pick(rng, &["A", "B", "C"]);
    let key = format!("k{}", rng.random_range(0..1_000_000));
    let notif = format!("$notif{}", rng.random_range(0..20));
    let mut event = match rng.random_range(0..17) {
        0 => session(user, device).json(),
        1 => rtc_member(user, device, "m1").json(),
        2 => array(user, &[device, "Z"]).json(),
        3 | 4 => sticky(user, device)
            .set("msc4354_sticky_key", json!(key))
            .json(),
        5 => session(user, device).left().json(),
        6 => sticky(user, device)
            .left()
            .set("msc4354_sticky_key", json!(key))
            .json(),
        7 => ring_from(user, now).id(&notif).json(),
        8 => decline_from(pick(rng, &[ME, user]), &notif),
        9 => redaction(user, &notif),
        10 => legacy_redaction(user, &notif),
        11 => room_member(user, pick(rng, &["join", "leave", "ban", "invite"])),
        12 => room_name(user, "Standup"),
        13 => canonical_alias(user, "#standup:example.org"),
        14 => whole_event(
            "m.room.power_levels",
            Some(""),
            user,
            json!({"users": {user: 100}, "users_default": 0, "redact": 50,
                   "notifications": {"room": 50}, "events": {}}),
            "$power",
        ),
        15 => whole_event(
            "m.room.create",
            Some(""),
            user,
            json!({"room_version": "12", "additional_creators": [user]}),
            "$create",
        ),
        _ => session(user, device).sent_by(pick(rng, &USERS)).json(),
    };
    event["origin_server_ts"] = json!(now.saturating_sub(rng.random_range(0..HOUR)));
    event
}

/// The JSON pointers of the fields of `event` up to three levels deep.
fn fields(event: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![(String::new(), event, 0)];
    while let Some((path, v, depth)) = todo.pop() {
        let Some(obj) = v.as_object() else { continue };
        for (k, child) in obj {
            let p = format!("{path}/{}", k.replace('~', "~0").replace('/', "~1"));
            if depth < 3 {
                todo.push((p.clone(), child, depth + 1));
            }
            out.push(p);
        }
    }
    out
}

/// Spoils `event`: fields replaced by hostile values, removed, or bad ids and times put in.
fn spoil(rng: &mut StdRng, event: &mut Value) {
    for _ in 0..rng.random_range(1..4) {
        let paths = fields(event);
        if paths.is_empty() {
            return;
        }
        let path = &paths[rng.random_range(0..paths.len())];
        match rng.random_range(0..6) {
            0 => {
                let (parent, key) = path.rsplit_once('/').unwrap_or_default();
                if let Some(obj) = event.pointer_mut(parent).and_then(Value::as_object_mut)
                    && let Some(old) = obj.remove(&key.replace("~1", "/").replace("~0", "~"))
                {
                    dismantle(old);
                }
            }
            1 => dismantle(std::mem::replace(
                &mut event["sender"],
                json!(pick(rng, &BAD_USERS)),
            )),
            2 => dismantle(std::mem::replace(
                &mut event["origin_server_ts"],
                json!(u64::MAX - rng.random_range(0..2)),
            )),
            _ => {
                if let Some(slot) = event.pointer_mut(path) {
                    let old = std::mem::replace(slot, hostile_value(rng));
                    dismantle(old);
                }
            }
        }
    }
}

/// Events that are not even events: no object, no type, the wrong type everywhere.
fn shapeless(rng: &mut StdRng) -> Value {
    match rng.random_range(0..6) {
        0 => hostile_value(rng),
        1 => json!({"type": 5, "sender": [], "content": "x"}),
        2 => json!({"type": "org.matrix.msc3401.call.member", "state_key": 7, "content": {}}),
        // `json!` would serialize the deep value, recursing: it goes in afterwards.
        3 => with_deep(
            json!({"type": "org.matrix.msc4143.rtc.member", "sender": ALICE, "content": 0}),
            "/content",
        ),
        4 => with_deep(
            json!({"type": "m.room.redaction", "redacts": 0, "sender": ALICE}),
            "/redacts",
        ),
        _ => with_deep(
            json!({"type": "org.matrix.msc4075.rtc.notification", "sender": ALICE,
                   "content": {"m.mentions": 0, "notification_type": "ring"}}),
            "/content/m.mentions",
        ),
    }
}

/// `event` with a deeply nested value at `pointer`.
fn with_deep(mut event: Value, pointer: &str) -> Value {
    if let Some(slot) = event.pointer_mut(pointer) {
        *slot = deep(DEPTH);
    }
    event
}

/// Answers each request our call makes: mostly yes, sometimes one of the failures.
fn answer(rng: &mut StdRng, room: &mut CallRoom, effects: &[OwnCallEffect], now: u64) {
    for effect in effects {
        if let OwnCallEffect::Perform { form, action } = effect
            && let Some(own) = room.own_mut()
        {
            let result: Result<Reply, Failure> = match rng.random_range(0..8) {
                0 => Err(Failure::Forbidden),
                1 => Err(Failure::Network),
                2 => Err(Failure::RateLimited {
                    retry_after_ms: Some(rng.random_range(0..u64::MAX)),
                }),
                3 => Err(Failure::NotFound),
                _ => Ok(ok_reply(*form, action)),
            };
            own.on_response(*form, result, now);
        }
    }
}

/// Polls our call and answers it until it asks nothing more; false if it never stops asking.
fn settle_own(rng: &mut StdRng, room: &mut CallRoom, now: u64) -> bool {
    for _ in 0..16 {
        let effects = room.poll_own(now, &me());
        if effects.is_empty() {
            return true;
        }
        answer(rng, room, &effects, now);
    }
    false
}

/// How many slots hold memberships of each user: never more than a sender may hold.
fn slots_per_user(room: &CallRoom) -> usize {
    let mut per_user: HashMap<&str, usize> = HashMap::new();
    for (_, memberships) in room.lobby().slots() {
        if let Some(m) = memberships.first() {
            *per_user.entry(m.user_id.as_str()).or_default() += 1;
        }
    }
    per_user.into_values().max().unwrap_or(0)
}

#[test]
fn ten_thousand_random_and_malformed_events_through_the_rooms_path() {
    let mut rng = StdRng::seed_from_u64(0x5eed_ca11);
    let mut room = CallRoom::default();
    let mut tracker = RingTracker::new(me());
    let forms = [PublishForm::Session, PublishForm::RtcMember];
    let mut now = T0;
    let (mut sent, mut spoiled, mut syncs) = (0, 0, 0);
    while sent < EVENTS {
        if room.own().is_none() && rng.random_bool(0.2) {
            room.set_own(Some(OwnCall::join(plan(
                &forms,
                rng.random_bool(0.5),
                Some(NotifyKind::Ring),
            ))));
        }
        room.set_direct(rng.random_bool(0.3));
        let (mut state, mut timeline) = (Vec::new(), Vec::new());
        for _ in 0..rng.random_range(1..=12).min(EVENTS - sent) {
            let event = match rng.random_range(0..10) {
                0 => shapeless(&mut rng),
                1..=4 => {
                    spoiled += 1;
                    let mut e = valid_event(&mut rng, now);
                    spoil(&mut rng, &mut e);
                    e
                }
                _ => valid_event(&mut rng, now),
            };
            sent += 1;
            if rng.random_bool(0.5) {
                state.push(event);
            } else {
                timeline.push(event);
            }
        }
        let sync = RoomSync {
            state: &state,
            timeline: &timeline,
            state_is_after: rng.random_bool(0.5),
        };
        room.apply_sync(ROOM, sync, &mut tracker, now);
        room.tick(ROOM, &mut tracker, now);
        assert!(
            settle_own(&mut rng, &mut room, now),
            "sync {syncs}: our call keeps asking at {now}"
        );
        let lobby = room.lobby();
        assert!(lobby.slot_count() <= MAX_SLOTS_PER_ROOM, "sync {syncs}");
        assert!(
            slots_per_user(&room) <= MAX_SLOTS_PER_SENDER,
            "sync {syncs}"
        );
        if let Some(wake) = room.next_wakeup_ms() {
            // Due now or earlier only if waking then does something.
            assert!(
                wake > now || room.tick(ROOM, &mut tracker, now).lobby_changed,
                "sync {syncs}: woken at {wake}, in the past of {now}, for nothing"
            );
        }
        state.into_iter().chain(timeline).for_each(dismantle);
        syncs += 1;
        // Mostly forward, by up to ten minutes; now and then back a little (a clock step).
        now = if rng.random_bool(0.05) {
            now - rng.random_range(0..60_000)
        } else {
            now + rng.random_range(0..600_000)
        };
    }
    assert_eq!(sent, EVENTS);
    assert!(spoiled > EVENTS / 4, "{spoiled} spoiled events");
    assert!(syncs > 1_000, "{syncs} syncs");
}
