//! Who may ring us aloud (MATRIXRTC.md §3), floods, crafted timestamps, who may stop a ring by
//! redacting it, and what js-sdk 43 puts on the wire.

use serde_json::{Value, json};
use vestibule::rtc::power::PowerLevels;
use vestibule::rtc::ring::{
    IgnoreReason, Me, NotifyKind, QuietReason, RING_FLOOD_BUDGET, RING_FLOOD_WINDOW_MS, RingOutput,
    RingTracker, RoomTrust, StopReason, parse_decline, parse_notification,
};
use vestibule::rtc::{Lobby, MembershipEvent, WireForm};

use super::factory::*;

const MALLORY: &str = "@mallory:example.org";

fn tracker() -> RingTracker {
    RingTracker::new(Me {
        user_id: ME.into(),
        device_id: "MYDEV".into(),
    })
}

fn lobby_with(events: &[Ev]) -> Lobby {
    Lobby::from_events(events.iter().map(Ev::event), T0).0
}

/// Power levels where ALICE is a moderator (50) and everyone else has 0.
fn levels() -> PowerLevels {
    PowerLevels::from_content(&json!({"users": {ALICE: 50}, "users_default": 0}))
}

fn decide(n: &NotifEv, lobby: &Lobby, direct: bool, power: &PowerLevels) -> RingOutput {
    let parsed = parse_notification(&n.event()).unwrap();
    let trust = RoomTrust { direct, power };
    tracker().on_notification(ROOM, &parsed, lobby, trust, T0 + 100)
}

fn mentioning(n: NotifEv, users: &[&str]) -> NotifEv {
    n.set(
        "m.mentions",
        json!({"user_ids": users, "room": users.is_empty()}),
    )
}

#[test]
fn only_people_we_would_pick_up_for_ring_aloud() {
    let levels = levels();
    let in_call = lobby_with(&[session(ALICE, "A"), session(MALLORY, "M")]);
    let nobody = lobby_with(&[session(BOB, "B")]);
    // (what, ring, lobby, direct, expected quiet reason)
    let cases: [(&str, NotifEv, &Lobby, bool, Option<QuietReason>); 6] = [
        (
            "a moderator's @room ring",
            ring_from(ALICE, T0),
            &in_call,
            false,
            None,
        ),
        (
            "a stranger's @room ring in a public room",
            ring_from(MALLORY, T0),
            &in_call,
            false,
            Some(QuietReason::MayNotRingRoom),
        ),
        (
            "a stranger who mentions us by user id",
            mentioning(ring_from(MALLORY, T0), &[ME]),
            &in_call,
            false,
            None,
        ),
        (
            "the other member of a direct chat",
            ring_from(MALLORY, T0),
            &in_call,
            true,
            None,
        ),
        (
            "a moderator who is not in the call",
            ring_from(ALICE, T0),
            &nobody,
            false,
            Some(QuietReason::CallerNotInCall),
        ),
        (
            "a direct chat's other member who is not in the call",
            ring_from(MALLORY, T0),
            &nobody,
            true,
            Some(QuietReason::CallerNotInCall),
        ),
    ];
    for (what, ring, lobby, direct, quiet) in cases {
        match (decide(&ring, lobby, direct, &levels), quiet) {
            (RingOutput::Ring(call), None) => {
                assert_eq!(call.kind, NotifyKind::Ring, "{what}");
                assert_eq!(call.quieted, None, "{what}");
            }
            (RingOutput::Notify(call), Some(reason)) => {
                assert_eq!(call.kind, NotifyKind::Notification, "{what}");
                assert_eq!(call.quieted, Some(reason), "{what}");
            }
            (other, _) => panic!("{what}: {other:?}, expected quiet {quiet:?}"),
        }
    }
}

#[test]
fn a_quiet_reason_is_said_in_the_decision() {
    let out = decide(
        &ring_from(MALLORY, T0),
        &lobby_with(&[session(MALLORY, "M")]),
        false,
        &levels(),
    );
    let json = serde_json::to_value(&out).unwrap();
    assert_eq!(json["Notify"]["quieted"], "may_not_ring_room");
}

#[test]
fn notifications_stay_notifications_whoever_sends_them() {
    let n = ring_from(MALLORY, T0).set("notification_type", json!("notification"));
    match decide(&n, &lobby_with(&[session(MALLORY, "M")]), false, &levels()) {
        RingOutput::Notify(call) => assert_eq!(call.quieted, None),
        other => panic!("{other:?}"),
    }
}

#[test]
fn creators_of_new_rooms_may_ring_the_room() {
    let mut power = PowerLevels::from_content(&json!({"users_default": 0}));
    power.set_creators_from_create_event(MALLORY, &json!({"room_version": "12"}));
    let out = decide(
        &ring_from(MALLORY, T0),
        &lobby_with(&[session(MALLORY, "M")]),
        false,
        &power,
    );
    assert!(matches!(out, RingOutput::Ring(_)), "{out:?}");
}

#[test]
fn a_flood_from_one_sender_rings_a_few_times_only() {
    let power = PowerLevels::from_content(&json!({"users_default": 50}));
    let trust = RoomTrust {
        direct: false,
        power: &power,
    };
    let mut t = tracker();
    let lobby_at = |ts: u64| lobby_with(&[session(ALICE, "A").at(ts)]);
    let mut rang = 0;
    // Alice leaves and joins again every second, ringing each time: a new call every time.
    for i in 0..30u64 {
        let now = T0 + i * 1_000;
        let lobby = lobby_at(now);
        t.on_lobby(ROOM, &Lobby::new(), now);
        let n =
            parse_notification(&ring_from(ALICE, now).id(&format!("$flood{i}")).event()).unwrap();
        match t.on_notification(ROOM, &n, &lobby, trust, now) {
            RingOutput::Ring(_) => rang += 1,
            RingOutput::Ignore { reason, .. } => assert_eq!(reason, IgnoreReason::RingFlood),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(rang, RING_FLOOD_BUDGET);
    // After the window, the same person may ring again.
    let later = T0 + 29_000 + RING_FLOOD_WINDOW_MS;
    t.on_lobby(ROOM, &Lobby::new(), later);
    let n = parse_notification(&ring_from(ALICE, later).id("$again").event()).unwrap();
    assert!(matches!(
        t.on_notification(ROOM, &n, &lobby_at(later), trust, later),
        RingOutput::Ring(_)
    ));
}

#[test]
fn future_timestamps_count_as_now() {
    let power = levels();
    let trust = RoomTrust {
        direct: true,
        power: &power,
    };
    let far = T0 + 365 * 24 * HOUR;
    // A ring claiming to start in a year rings for its lifetime from now, not for a year.
    let n = ring_from(ALICE, far)
        .delivered_at(far)
        .set("lifetime", json!(90_000));
    let parsed = parse_notification(&n.event()).unwrap();
    let mut t = tracker();
    let lobby = lobby_with(&[session(ALICE, "A")]);
    let RingOutput::Ring(call) = t.on_notification(ROOM, &parsed, &lobby, trust, T0) else {
        panic!("expected a ring")
    };
    assert_eq!(call.expires_at_ms, T0 + 90_000);
    assert_eq!(
        t.tick(T0 + 90_000)
            .iter()
            .filter(|o| matches!(
                o,
                RingOutput::Stop {
                    reason: StopReason::Expired,
                    ..
                }
            ))
            .count(),
        1
    );

    // A membership dated in a year lapses as if it were made now, and does not shut its slot
    // to the real leave that follows.
    let mut lobby = Lobby::new();
    let future = session(BOB, "B").at(far).set("created_ts", json!(far));
    lobby.apply(&future.event(), T0).unwrap();
    assert_eq!(lobby.calls().len(), 1);
    assert_eq!(lobby.next_expiry_ms(), Some(T0 + 14_400_000));
    let leave = session(BOB, "B").at(T0 + 1_000).left();
    assert!(lobby.apply(&leave.event(), T0 + 1_000).unwrap());
    assert!(lobby.calls().is_empty());
}

#[test]
fn a_redaction_stops_a_ring_only_from_its_sender_or_a_redactor() {
    let power = PowerLevels::from_content(&json!({"users": {BOB: 50}, "redact": 50}));
    let lobby = lobby_with(&[session(ALICE, "A")]);
    let start = |t: &mut RingTracker| {
        let n = parse_notification(&ring_from(ALICE, T0).event()).unwrap();
        let trust = RoomTrust {
            direct: true,
            power: &power,
        };
        assert!(matches!(
            t.on_notification(ROOM, &n, &lobby, trust, T0),
            RingOutput::Ring(_)
        ));
    };
    let trust = RoomTrust {
        direct: true,
        power: &power,
    };
    for (who, stops) in [(MALLORY, false), (ALICE, true), (BOB, true)] {
        let mut t = tracker();
        start(&mut t);
        let out = t.on_redaction(ROOM, "$notif1", who, trust);
        assert_eq!(
            out.iter().any(|o| matches!(
                o,
                RingOutput::Stop {
                    reason: StopReason::Redacted,
                    ..
                }
            )),
            stops,
            "a redaction by {who}"
        );
        assert_eq!(t.ringing().count(), usize::from(!stops), "{who}");
    }
}

fn fixture(name: &str) -> Value {
    let all: Value =
        serde_json::from_str(include_str!("fixtures/js-sdk-43.json")).expect("fixture parses");
    all[name].clone()
}

#[test]
fn js_sdk_43_wire_events_read_as_they_mean() {
    let join = fixture("compat_state_membership");
    let ring = fixture("ring_notification");
    let (lobby, rejected) = Lobby::from_events(
        MembershipEvent::from_event_json(&join),
        join["origin_server_ts"].as_u64().unwrap(),
    );
    assert!(rejected.is_empty(), "{rejected:?}");
    assert_eq!(lobby.calls()[0].participants[0].forms, [WireForm::Session]);

    let n = vestibule::rtc::ring::NotificationEvent::from_event_json(&ring).unwrap();
    let parsed = parse_notification(&n).unwrap();
    assert_eq!(parsed.kind, NotifyKind::Ring);
    assert_eq!(parsed.lifetime_ms, Some(90_000));
    assert_eq!(
        parsed.membership_event_id.as_deref(),
        join["event_id"].as_str()
    );
    // Without the deprecated `notification_type`, a notification with a slot still rings.
    let mut bare = ring.clone();
    bare["content"]
        .as_object_mut()
        .unwrap()
        .remove("notification_type");
    let n = vestibule::rtc::ring::NotificationEvent::from_event_json(&bare).unwrap();
    assert_eq!(parse_notification(&n).unwrap().kind, NotifyKind::Ring);

    let decline = fixture("sticky_decline");
    assert_eq!(
        parse_decline(decline["type"].as_str().unwrap(), &decline["content"]).unwrap(),
        ring["event_id"].as_str().unwrap()
    );

    // The sticky join counts; its leave (which keeps `slot_id`) empties the slot cleanly.
    let sticky = fixture("sticky_membership");
    let leave = fixture("sticky_leave");
    let at = sticky["origin_server_ts"].as_u64().unwrap();
    let mut lobby = Lobby::new();
    assert!(
        lobby
            .apply(&MembershipEvent::from_event_json(&sticky).unwrap(), at)
            .unwrap()
    );
    assert_eq!(lobby.calls()[0].participants[0].device_id, "UGEVKTEVTD");
    assert_eq!(
        lobby.calls()[0].participants[0].foci_preferred[0]
            .livekit_service_url
            .as_deref(),
        Some("https://sfu.peer.example/jwt")
    );
    let left = lobby
        .apply(
            &MembershipEvent::from_event_json(&leave).unwrap(),
            at + 1_000,
        )
        .expect("the leave is read as a leave, not rejected");
    assert!(left && lobby.calls().is_empty());
}
