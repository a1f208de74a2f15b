//! Reading notifications and declines, and the ring state machine.

use serde_json::json;
use vestibule::rtc::power::PowerLevels;
use vestibule::rtc::ring::{
    IgnoreReason, Me, NotificationForm, NotifyKind, RingOutput, RingTracker, RoomTrust, StopReason,
    parse_decline, parse_notification,
};
use vestibule::rtc::{CallIntent, CallKey, Lobby};

use super::factory::*;

fn me() -> RingTracker {
    RingTracker::new(Me {
        user_id: ME.into(),
        device_id: "MYDEV".into(),
    })
}

fn lobby_with(events: &[Ev]) -> Lobby {
    Lobby::from_events(events.iter().map(Ev::event), T0).0
}

/// A direct chat: its other member may ring us aloud.
fn dm() -> RoomTrust<'static> {
    static LEVELS: std::sync::LazyLock<PowerLevels> =
        std::sync::LazyLock::new(PowerLevels::default);
    RoomTrust {
        direct: true,
        power: &LEVELS,
    }
}

fn notify(tracker: &mut RingTracker, n: &NotifEv, lobby: &Lobby, now: u64) -> RingOutput {
    let parsed = parse_notification(&n.event()).unwrap();
    tracker.on_notification(ROOM, &parsed, lobby, dm(), now)
}

fn ignored(out: &RingOutput) -> Option<IgnoreReason> {
    match out {
        RingOutput::Ignore { reason, .. } => Some(*reason),
        _ => None,
    }
}

fn stops(out: &[RingOutput]) -> Vec<StopReason> {
    out.iter()
        .filter_map(|o| match o {
            RingOutput::Stop { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

#[test]
fn js_sdk_notification_parses_exactly() {
    let n = parse_notification(&ring_from(ALICE, T0).event()).unwrap();
    assert_eq!(n.kind, NotifyKind::Ring);
    assert_eq!(n.form, NotificationForm::RtcNotification);
    assert_eq!(n.call, CallKey::room_call());
    assert_eq!(n.sender_ts, Some(T0));
    assert_eq!(n.lifetime_ms, Some(30_000));
    assert!(n.mentions_room && n.mentions(ME));
    assert_eq!(n.intent, Some(CallIntent::Audio));
    assert_eq!(n.membership_event_id.as_deref(), Some("$member_event"));
    assert_eq!(n.start_ms(), T0);
    assert_eq!(n.expires_at_ms(), T0 + 30_000);
}

#[test]
fn older_and_brief_notify_forms_parse() {
    let mut old = ring_from(ALICE, T0);
    old.event_type = "org.matrix.msc4075.call.notify".into();
    old.content = json!({"application":"m.call","call_id":"c1","notify_type":"notification",
        "m.mentions":{"user_ids":[ME],"room":false}});
    let n = parse_notification(&old.event()).unwrap();
    assert_eq!(
        (n.kind, n.form),
        (NotifyKind::Notification, NotificationForm::CallNotify)
    );
    assert_eq!(n.call.call_id, "c1");
    assert!(n.mentions(ME) && !n.mentions(BOB));
    assert_eq!(
        n.expires_at_ms(),
        old.origin_server_ts + 30_000,
        "no sender_ts, no lifetime: 30 s from the server's time"
    );

    let mut brief = ring_from(ALICE, T0);
    brief.event_type = "m.rtc.notify".into();
    brief.content = json!({"application":"m.call","m.mentions":{"user_ids":[],"room":true},
        "notify_type":"ring","session":{"application":"m.call","call_id":""}});
    let n = parse_notification(&brief.event()).unwrap();
    assert_eq!(
        (n.kind, n.form),
        (NotifyKind::Ring, NotificationForm::RtcNotify)
    );
    assert_eq!(n.call, CallKey::room_call());

    let mut stable = ring_from(ALICE, T0);
    stable.event_type = "m.rtc.notification".into();
    assert!(parse_notification(&stable.event()).is_ok());
    assert!(
        parse_notification(
            &ring_from(ALICE, T0)
                .set("notification_type", json!(3))
                .event()
        )
        .is_err()
    );
}

#[test]
fn lifetime_uses_sender_ts_unless_skewed_and_is_capped() {
    // 19.999 s apart: the sender's clock counts.
    let n = parse_notification(&ring_from(ALICE, T0).delivered_at(T0 + 19_999).event()).unwrap();
    assert_eq!(n.start_ms(), T0);
    // 20 s apart: the server's clock counts.
    let n = parse_notification(&ring_from(ALICE, T0).delivered_at(T0 + 20_000).event()).unwrap();
    assert_eq!(n.start_ms(), T0 + 20_000);
    let n = parse_notification(&ring_from(ALICE, T0 + 60_000).delivered_at(T0).event()).unwrap();
    assert_eq!(
        n.start_ms(),
        T0,
        "a sender clock far ahead is not trusted either"
    );
    let n =
        parse_notification(&ring_from(ALICE, T0).set("lifetime", json!(600_000)).event()).unwrap();
    assert_eq!(n.expires_at_ms(), T0 + 90_000, "lifetime capped at 90 s");
    let n =
        parse_notification(&ring_from(ALICE, T0).set("lifetime", json!("long")).event()).unwrap();
    assert_eq!(
        n.expires_at_ms(),
        T0 + 30_000,
        "a malformed lifetime is the default"
    );
}

#[test]
fn rings_for_a_live_ring_in_an_active_call() {
    let lobby = lobby_with(&[session(ALICE, "A")]);
    let mut t = me();
    match notify(&mut t, &ring_from(ALICE, T0), &lobby, T0 + 100) {
        RingOutput::Ring(call) => {
            assert_eq!(call.caller, ALICE);
            assert_eq!(call.room_id, ROOM);
            assert_eq!(call.expires_at_ms, T0 + 30_000);
            assert_eq!(call.intent, Some(CallIntent::Audio));
        }
        other => panic!("expected a ring, got {other:?}"),
    }
    assert_eq!(t.ringing().count(), 1);
    assert_eq!(t.next_deadline_ms(), Some(T0 + 30_000));
}

#[test]
fn notification_type_only_notifies() {
    let lobby = lobby_with(&[session(ALICE, "A")]);
    let out = notify(
        &mut me(),
        &ring_from(ALICE, T0).set("notification_type", json!("notification")),
        &lobby,
        T0,
    );
    assert!(matches!(out, RingOutput::Notify(_)), "{out:?}");
}

#[test]
fn does_not_ring_for_us_unmentioned_or_other_applications() {
    let lobby = lobby_with(&[session(ALICE, "A"), session(ME, "OTHERDEV")]);
    assert_eq!(
        ignored(&notify(&mut me(), &ring_from(ME, T0), &lobby, T0)),
        Some(IgnoreReason::FromUs)
    );
    let unmentioned =
        ring_from(ALICE, T0).set("m.mentions", json!({"user_ids":[BOB],"room":false}));
    assert_eq!(
        ignored(&notify(
            &mut me(),
            &unmentioned,
            &lobby_with(&[session(ALICE, "A")]),
            T0
        )),
        Some(IgnoreReason::NotMentioned)
    );
    let mut game = ring_from(ALICE, T0);
    game.event_type = "m.call.notify".into();
    game.content = json!({"application":"m.game","notify_type":"ring","m.mentions":{"room":true}});
    assert_eq!(
        ignored(&notify(&mut me(), &game, &lobby, T0)),
        Some(IgnoreReason::NotACall)
    );
    // One of our devices is in the call already.
    assert_eq!(
        ignored(&notify(&mut me(), &ring_from(ALICE, T0), &lobby, T0)),
        Some(IgnoreReason::AlreadyInCall)
    );
}

#[test]
fn an_expired_ring_never_rings_however_late_it_arrives() {
    let lobby = lobby_with(&[session(ALICE, "A")]);
    let mut t = me();
    // Delivered in the first sync after start-up, 31 s after it was sent.
    assert_eq!(
        ignored(&notify(&mut t, &ring_from(ALICE, T0), &lobby, T0 + 30_000)),
        Some(IgnoreReason::Expired)
    );
    assert_eq!(
        ignored(&notify(
            &mut t,
            &ring_from(ALICE, T0),
            &lobby,
            T0 + 3_600_000
        )),
        Some(IgnoreReason::Expired)
    );
    // A live one in the first sync still rings.
    assert!(matches!(
        notify(
            &mut t,
            &ring_from(ALICE, T0).id("$live"),
            &lobby,
            T0 + 29_999
        ),
        RingOutput::Ring(_)
    ));
}

#[test]
fn five_notifications_for_one_call_ring_once() {
    let lobby = lobby_with(&[session(ALICE, "A"), session(BOB, "B")]);
    let mut t = me();
    let outs: Vec<_> = (0..5)
        .map(|i| {
            let sender = if i % 2 == 0 { ALICE } else { BOB };
            notify(
                &mut t,
                &ring_from(sender, T0 + i).id(&format!("$n{i}")),
                &lobby,
                T0 + 10,
            )
        })
        .collect();
    assert!(matches!(outs[0], RingOutput::Ring(_)));
    for out in &outs[1..] {
        assert_eq!(ignored(out), Some(IgnoreReason::AlreadyRang), "{out:?}");
    }
    // Even after the first ring stopped, the same call does not ring again.
    assert_eq!(stops(&t.tick(T0 + 30_000)), [StopReason::Expired]);
    assert_eq!(
        ignored(&notify(
            &mut t,
            &ring_from(BOB, T0 + 40_000).id("$n9"),
            &lobby,
            T0 + 40_000
        )),
        Some(IgnoreReason::AlreadyRang)
    );
}

#[test]
fn the_same_notification_never_rings_twice() {
    let lobby = lobby_with(&[session(ALICE, "A")]);
    let mut t = me();
    assert!(matches!(
        notify(&mut t, &ring_from(ALICE, T0), &lobby, T0),
        RingOutput::Ring(_)
    ));
    t.decline(ROOM);
    // Replayed after a reconnect.
    assert_eq!(
        ignored(&notify(&mut t, &ring_from(ALICE, T0), &lobby, T0 + 5)),
        Some(IgnoreReason::Duplicate)
    );
}

#[test]
fn a_decline_from_our_other_device_stops_the_ring() {
    let lobby = lobby_with(&[session(ALICE, "A")]);
    let mut t = me();
    notify(&mut t, &ring_from(ALICE, T0), &lobby, T0);
    let decline = parse_decline(
        "org.matrix.msc4310.rtc.decline",
        &json!({"m.relates_to":{"rel_type":"m.reference","event_id":"$notif1"}}),
    )
    .unwrap();
    assert_eq!(decline, "$notif1");
    let out = t.on_decline(ROOM, ME, &decline, T0 + 1);
    assert_eq!(stops(&out), [StopReason::DeclinedElsewhere]);
    assert!(!StopReason::DeclinedElsewhere.is_missed());
    assert_eq!(t.ringing().count(), 0);
}

#[test]
fn a_decline_of_someone_elses_ring_changes_nothing() {
    let lobby = lobby_with(&[session(ALICE, "A")]);
    let mut t = me();
    notify(&mut t, &ring_from(ALICE, T0), &lobby, T0);
    // Bob declines the same ring (a group call): we keep ringing.
    assert!(t.on_decline(ROOM, BOB, "$notif1", T0 + 1).is_empty());
    // We decline a ring we never saw in another room: nothing stops here.
    assert!(
        t.on_decline("!other:example.org", ME, "$elsewhere", T0 + 1)
            .is_empty()
    );
    assert_eq!(t.ringing().count(), 1);
    assert!(
        parse_decline(
            "m.rtc.decline",
            &json!({"m.relates_to":{"rel_type":"m.annotation","event_id":"$x"}})
        )
        .is_err()
    );
}

#[test]
fn a_decline_that_arrives_first_keeps_its_notification_silent() {
    let lobby = lobby_with(&[session(ALICE, "A")]);
    let mut t = me();
    assert!(t.on_decline(ROOM, ME, "$notif1", T0).is_empty());
    assert_eq!(
        ignored(&notify(&mut t, &ring_from(ALICE, T0), &lobby, T0 + 1)),
        Some(IgnoreReason::Declined)
    );
}

#[test]
fn our_answer_and_decline_stop_the_ring() {
    let lobby = lobby_with(&[session(ALICE, "A")]);
    let mut t = me();
    notify(&mut t, &ring_from(ALICE, T0), &lobby, T0);
    let out = t.decline(ROOM);
    assert_eq!(stops(&out), [StopReason::Declined]);
    let RingOutput::Stop { call, .. } = &out[0] else {
        unreachable!()
    };
    assert_eq!(
        call.notification_event_id, "$notif1",
        "the decline names the notification"
    );

    let mut t = me();
    notify(&mut t, &ring_from(ALICE, T0), &lobby, T0);
    assert_eq!(stops(&t.answer(ROOM)), [StopReason::Answered]);
}

#[test]
fn lobby_changes_stop_the_ring() {
    let mut t = me();
    let mut lobby = lobby_with(&[session(ALICE, "A"), session(BOB, "B")]);
    notify(&mut t, &ring_from(ALICE, T0), &lobby, T0);
    assert!(
        t.on_lobby(ROOM, &lobby, T0 + 1).is_empty(),
        "nothing changed"
    );
    // Our other device joins: answered elsewhere.
    lobby.apply(&session(ME, "PHONE").event(), T0 + 2).unwrap();
    assert_eq!(
        stops(&t.on_lobby(ROOM, &lobby, T0 + 2)),
        [StopReason::AnsweredElsewhere]
    );

    // The caller leaves while Bob stays.
    let mut t = me();
    let mut lobby = lobby_with(&[session(ALICE, "A"), session(BOB, "B")]);
    notify(&mut t, &ring_from(ALICE, T0), &lobby, T0);
    lobby
        .apply(&session(ALICE, "A").left().event(), T0 + 3)
        .unwrap();
    let out = t.on_lobby(ROOM, &lobby, T0 + 3);
    assert_eq!(stops(&out), [StopReason::CallerLeft]);
    assert!(StopReason::CallerLeft.is_missed());

    // The call empties.
    let mut t = me();
    let mut lobby = lobby_with(&[session(ALICE, "A")]);
    notify(&mut t, &ring_from(ALICE, T0), &lobby, T0);
    lobby
        .apply(&session(ALICE, "A").left().event(), T0 + 3)
        .unwrap();
    assert_eq!(
        stops(&t.on_lobby(ROOM, &lobby, T0 + 3)),
        [StopReason::CallEnded]
    );
}

#[test]
fn redaction_and_lifetime_stop_the_ring() {
    let lobby = lobby_with(&[session(ALICE, "A")]);
    let mut t = me();
    notify(&mut t, &ring_from(ALICE, T0), &lobby, T0);
    assert!(t.on_redaction(ROOM, "$other", ALICE, dm()).is_empty());
    assert_eq!(
        stops(&t.on_redaction(ROOM, "$notif1", ALICE, dm())),
        [StopReason::Redacted]
    );

    let mut t = me();
    notify(&mut t, &ring_from(ALICE, T0), &lobby, T0);
    assert!(t.tick(T0 + 29_999).is_empty());
    let out = t.tick(T0 + 30_000);
    assert_eq!(stops(&out), [StopReason::Expired]);
    assert!(StopReason::Expired.is_missed());
    assert_eq!(t.next_deadline_ms(), None);
}

#[test]
fn a_ring_before_its_call_waits_briefly() {
    let mut t = me();
    let empty = Lobby::new();
    let out = notify(&mut t, &ring_from(ALICE, T0), &empty, T0);
    assert!(matches!(out, RingOutput::Waiting { .. }), "{out:?}");
    assert_eq!(t.ringing().count(), 0);
    assert_eq!(t.next_deadline_ms(), Some(T0 + 5_000));
    // The caller's membership arrives a second later: now it rings.
    let lobby = lobby_with(&[session(ALICE, "A")]);
    let out = t.on_lobby(ROOM, &lobby, T0 + 1_000);
    assert!(matches!(out.as_slice(), [RingOutput::Ring(_)]), "{out:?}");

    // A call that never appears is given up after the grace period.
    let mut t = me();
    notify(&mut t, &ring_from(ALICE, T0), &empty, T0);
    assert!(t.tick(T0 + 4_999).is_empty());
    let out = t.tick(T0 + 5_000);
    assert_eq!(
        out.iter().filter_map(ignored).collect::<Vec<_>>(),
        [IgnoreReason::CallNeverStarted]
    );
}

#[test]
fn a_new_call_after_the_old_one_ended_rings_again() {
    let mut t = me();
    let mut lobby = lobby_with(&[session(ALICE, "A")]);
    assert!(matches!(
        notify(&mut t, &ring_from(ALICE, T0), &lobby, T0),
        RingOutput::Ring(_)
    ));
    lobby
        .apply(&session(ALICE, "A").left().event(), T0 + 10_000)
        .unwrap();
    t.on_lobby(ROOM, &lobby, T0 + 10_000);
    lobby
        .apply(&session(ALICE, "A").at(T0 + 60_000).event(), T0 + 60_000)
        .unwrap();
    t.on_lobby(ROOM, &lobby, T0 + 60_000);
    let out = notify(
        &mut t,
        &ring_from(ALICE, T0 + 60_000).id("$second"),
        &lobby,
        T0 + 60_001,
    );
    assert!(matches!(out, RingOutput::Ring(_)), "{out:?}");
}
