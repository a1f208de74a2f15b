//! One room's reducer (`CallRoom::apply_sync`): whole syncs of state and timeline events, as
//! the homeserver serves them, routed to the lobby, our own call and the ring tracker.

use serde_json::{Value, json};
use vestibule::rtc::membership::MembershipEvent;
use vestibule::rtc::own::{Action, OwnState, Reply};
use vestibule::rtc::own_call::{OwnCall, OwnCallEffect};
use vestibule::rtc::power::PowerLevels;
use vestibule::rtc::publish::PublishForm;
use vestibule::rtc::ring::{
    IgnoreReason, IncomingCall, NotificationEvent, NotifyKind, RingOutput, RingTracker, StopReason,
    parse_decline,
};
use vestibule::rtc::room::{CallRoom, RoomChanges, RoomSync};
use vestibule::rtc::{CallIntent, CallKey, Lobby, RTC_DECLINE, RTC_DECLINE_STABLE};

use super::factory::*;
use super::own_call::{REFRESH_AT, me, ok_reply, performs, plan};

const BOTH: [PublishForm; 2] = [PublishForm::Session, PublishForm::RtcMember];

#[test]
fn whole_events_read_back_as_the_factorys_events() {
    let memberships = [
        session(ALICE, "A"),
        rtc_member(ALICE, "A", "a1"),
        array(BOB, &["B1", "B2"]),
        sticky(BOB, "B"),
        session(ME, "MYDEV").left().id("$left").at(T0 + 5),
    ];
    for e in &memberships {
        let json = e.json();
        let read = MembershipEvent::from_event_json(&json).expect("a whole event");
        let want = e.event();
        assert_eq!(
            (read.event_type, read.state_key, read.sender, read.content),
            (want.event_type, want.state_key, want.sender, want.content),
        );
        assert_eq!(
            (
                read.origin_server_ts,
                read.event_id,
                read.sticky_duration_ms
            ),
            (
                want.origin_server_ts,
                want.event_id,
                want.sticky_duration_ms
            ),
            "{json}"
        );
    }
    let ring = ring_from(ALICE, T0).id("$ring");
    let json = ring.json();
    let read = NotificationEvent::from_event_json(&json).unwrap();
    let want = ring.event();
    assert_eq!(
        (read.event_type, read.event_id, read.sender, read.content),
        (want.event_type, want.event_id, want.sender, want.content)
    );
    assert_eq!(read.origin_server_ts, want.origin_server_ts);
    assert!(json.get("state_key").is_none(), "a message event");

    let decline = decline_from(ME, "$ring");
    assert_eq!(decline["type"], json!(RTC_DECLINE));
    assert_eq!(decline["sender"], json!(ME));
    assert_eq!(
        parse_decline(RTC_DECLINE, &decline["content"]).unwrap(),
        "$ring"
    );
    assert_eq!(
        redaction(ALICE, "$ring")["content"]["redacts"],
        json!("$ring")
    );
    assert_eq!(legacy_redaction(ALICE, "$ring")["redacts"], json!("$ring"));
    let member = room_member(BOB, "leave");
    assert_eq!(
        (
            &member["type"],
            &member["state_key"],
            &member["content"]["membership"]
        ),
        (&json!("m.room.member"), &json!(BOB), &json!("leave"))
    );
    assert_eq!(room_name(ALICE, "Standup")["state_key"], json!(""));
    assert_eq!(
        canonical_alias(ALICE, "#standup:example.org")["content"]["alias"],
        json!("#standup:example.org")
    );
}

fn tracker() -> RingTracker {
    RingTracker::new(me())
}

fn sync(
    room: &mut CallRoom,
    tracker: &mut RingTracker,
    state: &[Value],
    timeline: &[Value],
    state_is_after: bool,
    now: u64,
) -> RoomChanges {
    room.apply_sync(
        ROOM,
        RoomSync {
            state,
            timeline,
            state_is_after,
        },
        tracker,
        now,
    )
}

/// One sync of a table row: the room's state and timeline events.
struct SyncCase {
    name: &'static str,
    state: Vec<Value>,
    timeline: Vec<Value>,
    /// Whether `state` is the state after the timeline (MSC4222), else the state before it.
    state_is_after: bool,
}

/// A sync whose `state` is the state before `timeline`.
fn before(name: &'static str, state: Vec<Value>, timeline: Vec<Value>) -> SyncCase {
    SyncCase {
        name,
        state,
        timeline,
        state_is_after: false,
    }
}

/// A sync whose `state` is the state after `timeline`.
fn after(name: &'static str, state: Vec<Value>, timeline: Vec<Value>) -> SyncCase {
    SyncCase {
        state_is_after: true,
        ..before(name, state, timeline)
    }
}

impl SyncCase {
    fn apply(&self, room: &mut CallRoom, tracker: &mut RingTracker, now: u64) -> RoomChanges {
        sync(
            room,
            tracker,
            &self.state,
            &self.timeline,
            self.state_is_after,
            now,
        )
    }
}

impl std::fmt::Display for SyncCase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let which = if self.state_is_after {
            "state after"
        } else {
            "state before"
        };
        write!(f, "{} ({which})", self.name)
    }
}

/// The devices in the room's call, oldest first.
fn devices(room: &CallRoom) -> Vec<(String, String)> {
    room.lobby()
        .call(&CallKey::room_call())
        .map(|c| {
            c.participants
                .iter()
                .map(|p| (p.user_id.clone(), p.device_id.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn dev(user: &str, device: &str) -> (String, String) {
    (user.to_owned(), device.to_owned())
}

fn json_of(events: &[Ev]) -> Vec<Value> {
    events.iter().map(Ev::json).collect()
}

/// A room whose call holds `events`' memberships at `T0`.
fn room_with(events: &[Ev]) -> CallRoom {
    let (lobby, rejected) = Lobby::from_events(events.iter().map(Ev::event), T0);
    assert!(rejected.is_empty(), "{rejected:?}");
    let mut room = CallRoom::new(lobby, PowerLevels::default());
    room.set_direct(true);
    room
}

/// An empty direct chat: its other member may ring us aloud (who may is `trust.rs`'s).
fn dm_room() -> CallRoom {
    let mut room = CallRoom::default();
    room.set_direct(true);
    room
}

fn stops(rings: &[RingOutput]) -> Vec<StopReason> {
    rings
        .iter()
        .filter_map(|o| match o {
            RingOutput::Stop { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

/// The incoming call `ring_from(ALICE, T0)` starts.
fn alices_call() -> IncomingCall {
    IncomingCall {
        room_id: ROOM.into(),
        notification_event_id: "$notif1".into(),
        caller: ALICE.into(),
        kind: NotifyKind::Ring,
        intent: Some(CallIntent::Audio),
        call: CallKey::room_call(),
        expires_at_ms: T0 + 30_000,
        quieted: None,
    }
}

/// When the syncs of the ring tests arrive.
const NOW: u64 = T0 + 100;

/// A room where Alice's call rings us.
fn ringing() -> (CallRoom, RingTracker) {
    let mut room = dm_room();
    let mut t = tracker();
    let changes = sync(
        &mut room,
        &mut t,
        &[session(ALICE, "A").json()],
        &[ring_from(ALICE, T0).json()],
        false,
        NOW,
    );
    assert_eq!(changes.rings, [RingOutput::Ring(alices_call())]);
    (room, t)
}

#[test]
fn memberships_count_by_where_they_arrive() {
    let alice = || session(ALICE, "A").json();
    let alice_sticky = || sticky(ALICE, "A").json();
    let cases = [
        (before("in state", vec![alice()], vec![]), true),
        (
            after("in the state after the timeline", vec![alice()], vec![]),
            true,
        ),
        (
            before("a state event in the timeline", vec![], vec![alice()]),
            true,
        ),
        (
            after("a state event in the timeline", vec![], vec![alice()]),
            false,
        ),
        (
            before(
                "the brief's form in the timeline",
                vec![],
                vec![rtc_member(ALICE, "A", "a1").json()],
            ),
            true,
        ),
        (
            before(
                "a sticky membership in the timeline",
                vec![],
                vec![alice_sticky()],
            ),
            true,
        ),
        (
            after(
                "a sticky membership in the timeline",
                vec![],
                vec![alice_sticky()],
            ),
            true,
        ),
        (
            after(
                "the state after the timeline has the last word",
                vec![session(ALICE, "A").left().at(T0 + 5).json()],
                vec![alice()],
            ),
            false,
        ),
    ];
    for (case, counted) in cases {
        let name = case.to_string();
        let mut room = dm_room();
        let changes = case.apply(&mut room, &mut tracker(), T0 + 10);
        assert_eq!(changes.lobby_changed, counted, "{name}");
        let expected = if counted {
            vec![dev(ALICE, "A")]
        } else {
            vec![]
        };
        assert_eq!(devices(&room), expected, "{name}");
        assert!(!changes.name_may_change, "{name}");
        assert!(changes.rings.is_empty(), "{name}: {:?}", changes.rings);
        assert!(changes.ignored.is_empty(), "{name}: {:?}", changes.ignored);
    }
}

#[test]
fn room_members_and_names() {
    let topic = whole_event(
        "m.room.topic",
        Some(""),
        ALICE,
        json!({"topic": "standup"}),
        "$topic",
    );
    let both = || vec![dev(ALICE, "A"), dev(BOB, "B")];
    let alice = || vec![dev(ALICE, "A")];
    // (the sync, lobby_changed, name_may_change, who is left in the call)
    let cases = [
        (
            before(
                "Bob leaves the room",
                vec![room_member(BOB, "leave")],
                vec![],
            ),
            true,
            true,
            alice(),
        ),
        (
            before("Bob is banned", vec![], vec![room_member(BOB, "ban")]),
            true,
            true,
            alice(),
        ),
        (
            after(
                "Bob leaves",
                vec![room_member(BOB, "leave")],
                vec![room_member(BOB, "leave")],
            ),
            true,
            true,
            alice(),
        ),
        (
            after(
                "Bob's leave in the timeline only",
                vec![],
                vec![room_member(BOB, "leave")],
            ),
            false,
            false,
            both(),
        ),
        (
            before(
                "Bob is invited again",
                vec![room_member(BOB, "invite")],
                vec![],
            ),
            true,
            true,
            alice(),
        ),
        (
            before(
                "someone else joins the room",
                vec![room_member(ME, "join")],
                vec![],
            ),
            false,
            true,
            both(),
        ),
        (
            before(
                "Alice's profile changes",
                vec![],
                vec![room_member(ALICE, "join")],
            ),
            false,
            true,
            both(),
        ),
        (
            before(
                "the room is renamed",
                vec![room_name(ALICE, "Standup")],
                vec![],
            ),
            false,
            true,
            both(),
        ),
        (
            before(
                "the canonical alias changes",
                vec![],
                vec![canonical_alias(ALICE, "#standup:example.org")],
            ),
            false,
            true,
            both(),
        ),
        (
            before("the topic changes", vec![topic.clone()], vec![topic]),
            false,
            false,
            both(),
        ),
    ];
    for (case, lobby_changed, name_may_change, expected) in cases {
        let name = case.to_string();
        let mut room = room_with(&[session(ALICE, "A"), session(BOB, "B").at(T0 + 1)]);
        let changes = case.apply(&mut room, &mut tracker(), T0 + 10);
        assert_eq!(changes.lobby_changed, lobby_changed, "{name}");
        assert_eq!(changes.name_may_change, name_may_change, "{name}");
        assert_eq!(devices(&room), expected, "{name}");
        assert!(changes.ignored.is_empty(), "{name}: {:?}", changes.ignored);
    }
}

#[test]
fn a_member_back_in_the_room_counts_again() {
    let mut room = room_with(&[session(ALICE, "A"), session(BOB, "B").at(T0 + 1)]);
    let mut t = tracker();
    let left = sync(
        &mut room,
        &mut t,
        &[room_member(BOB, "leave")],
        &[],
        false,
        T0 + 10,
    );
    assert!(left.lobby_changed);
    assert_eq!(devices(&room), [dev(ALICE, "A")]);
    let back = sync(
        &mut room,
        &mut t,
        &[],
        &[room_member(BOB, "join")],
        false,
        T0 + 20,
    );
    assert!(back.lobby_changed && back.name_may_change);
    assert_eq!(devices(&room), [dev(ALICE, "A"), dev(BOB, "B")]);
}

#[test]
fn a_ring_with_its_call_in_the_same_sync_rings() {
    let ring = || ring_from(ALICE, T0).json();
    let cases = [
        before(
            "the caller's membership in state",
            vec![session(ALICE, "A").json()],
            vec![ring()],
        ),
        before(
            "the caller's membership after the ring in the timeline",
            vec![],
            vec![ring(), session(ALICE, "A").json()],
        ),
        after(
            "the caller's membership after the ring",
            vec![session(ALICE, "A").json()],
            vec![ring(), session(ALICE, "A").json()],
        ),
        after(
            "a sticky membership after the ring",
            vec![],
            vec![ring(), sticky(ALICE, "A").json()],
        ),
        before(
            "the brief's form after the ring",
            vec![],
            vec![ring(), rtc_member(ALICE, "A", "a1").json()],
        ),
    ];
    for case in cases {
        let name = case.to_string();
        let mut room = dm_room();
        let mut t = tracker();
        let changes = case.apply(&mut room, &mut t, NOW);
        assert!(changes.lobby_changed, "{name}");
        assert_eq!(changes.rings, [RingOutput::Ring(alices_call())], "{name}");
        assert_eq!(t.ringing().count(), 1, "{name}");
    }
}

#[test]
fn a_sync_taken_twice_rings_once_and_changes_nothing_the_second_time() {
    // The worker hands a sync's raw response to the reducer before the SDK has stored it, and
    // the processed response (the same events) afterwards; a failed store brings them a third
    // time. Each case also declines, leaves or ends the call in the same sync.
    let ring = || ring_from(ALICE, T0).json();
    let cases = [
        after(
            "a ring with its call",
            vec![session(ALICE, "A").json()],
            vec![session(ALICE, "A").json(), ring()],
        ),
        before(
            "a ring with its call in the timeline",
            vec![],
            vec![session(ALICE, "A").json(), ring()],
        ),
        after(
            "a ring the caller leaves in the same sync",
            vec![session(ALICE, "A").left().json()],
            vec![session(ALICE, "A").json(), ring()],
        ),
    ];
    for case in cases {
        let name = case.to_string();
        let mut room = dm_room();
        let mut t = tracker();
        let first = case.apply(&mut room, &mut t, NOW);
        let lobby = room.lobby().calls().to_vec();
        let ringing: Vec<IncomingCall> = t.ringing().cloned().collect();
        for again in 0..2 {
            let later = case.apply(&mut room, &mut t, NOW + 1 + again);
            assert!(!later.lobby_changed, "{name}: the lobby changed again");
            assert!(
                later.rings.iter().all(|r| matches!(
                    r,
                    RingOutput::Ignore {
                        reason: IgnoreReason::Duplicate,
                        ..
                    }
                )),
                "{name}: {:?}",
                later.rings
            );
            assert_eq!(room.lobby().calls(), lobby.as_slice(), "{name}");
            assert_eq!(t.ringing().cloned().collect::<Vec<_>>(), ringing, "{name}");
        }
        assert!(!first.rings.is_empty(), "{name}: the first time decides");
    }
}

#[test]
fn a_ring_waits_for_its_call_to_arrive_in_a_later_sync() {
    let cases = [
        before("in state", vec![session(ALICE, "A").json()], vec![]),
        before("in the timeline", vec![], vec![session(ALICE, "A").json()]),
        after(
            "in the state after",
            vec![session(ALICE, "A").json()],
            vec![],
        ),
        after("sticky", vec![], vec![sticky(ALICE, "A").json()]),
    ];
    for case in cases {
        let name = case.to_string();
        let mut room = dm_room();
        let mut t = tracker();
        let first = sync(
            &mut room,
            &mut t,
            &[],
            &[ring_from(ALICE, T0).json()],
            false,
            NOW,
        );
        assert_eq!(
            first.rings,
            [RingOutput::Waiting {
                room_id: ROOM.into(),
                event_id: "$notif1".into()
            }],
            "{name}"
        );
        assert!(!first.lobby_changed, "{name}");
        assert_eq!(t.ringing().count(), 0, "{name}");
        let second = case.apply(&mut room, &mut t, NOW + 1_000);
        assert!(second.lobby_changed, "{name}");
        assert_eq!(second.rings, [RingOutput::Ring(alices_call())], "{name}");
    }
}

#[test]
fn only_our_own_decline_stops_the_ring() {
    let mut stable = decline_from(ME, "$notif1");
    stable["type"] = json!(RTC_DECLINE_STABLE);
    let mut unrelated = decline_from(ME, "$notif1");
    unrelated["content"] = json!({"m.relates_to":{"rel_type":"m.annotation","event_id":"$notif1"}});
    let cases: [(&str, Value, &[StopReason], usize); 6] = [
        (
            "our other device declines",
            decline_from(ME, "$notif1"),
            &[StopReason::DeclinedElsewhere],
            0,
        ),
        (
            "our other device declines, stable type",
            stable,
            &[StopReason::DeclinedElsewhere],
            0,
        ),
        ("Bob declines", decline_from(BOB, "$notif1"), &[], 0),
        (
            "the caller declines",
            decline_from(ALICE, "$notif1"),
            &[],
            0,
        ),
        (
            "we decline another ring",
            decline_from(ME, "$other"),
            &[],
            0,
        ),
        ("a decline without a reference", unrelated, &[], 1),
    ];
    for (name, decline, stopped, ignored) in cases {
        let (mut room, mut t) = ringing();
        let changes = sync(&mut room, &mut t, &[], &[decline], false, NOW + 1);
        assert_eq!(stops(&changes.rings), stopped, "{name}");
        assert_eq!(
            changes.rings.len(),
            stopped.len(),
            "{name}: {:?}",
            changes.rings
        );
        assert_eq!(t.ringing().count(), 1 - stopped.len(), "{name}");
        assert_eq!(
            changes.ignored.len(),
            ignored,
            "{name}: {:?}",
            changes.ignored
        );
        if let Some(reason) = changes.ignored.first() {
            assert!(reason.starts_with("a decline: "), "{name}: {reason}");
        }
        if let [RingOutput::Stop { call, .. }] = changes.rings.as_slice() {
            assert_eq!(call, &alices_call(), "{name}");
        }
    }
}

#[test]
fn our_decline_in_the_same_sync_keeps_the_ring_silent() {
    let mut room = dm_room();
    let mut t = tracker();
    let changes = sync(
        &mut room,
        &mut t,
        &[session(ALICE, "A").json()],
        &[ring_from(ALICE, T0).json(), decline_from(ME, "$notif1")],
        false,
        NOW,
    );
    assert!(
        matches!(
            changes.rings.as_slice(),
            [RingOutput::Ignore { event_id, reason: IgnoreReason::Declined, .. }]
                if event_id == "$notif1"
        ),
        "{:?}",
        changes.rings
    );
    assert_eq!(t.ringing().count(), 0);
}

#[test]
fn a_redaction_of_the_ring_stops_it() {
    let mut without = redaction(ALICE, "$notif1");
    without["content"] = json!({});
    let cases: [(&str, Value, &[StopReason]); 5] = [
        (
            "redacted (room v11)",
            redaction(ALICE, "$notif1"),
            &[StopReason::Redacted],
        ),
        (
            "redacted (before room v11)",
            legacy_redaction(ALICE, "$notif1"),
            &[StopReason::Redacted],
        ),
        // Who else may redact it is `trust.rs`'s: here Bob has power level 0.
        (
            "redacted by someone who may not redact it",
            redaction(BOB, "$notif1"),
            &[],
        ),
        ("another event redacted", redaction(ALICE, "$other"), &[]),
        ("a redaction naming nothing", without, &[]),
    ];
    for (name, redaction, stopped) in cases {
        let (mut room, mut t) = ringing();
        let changes = sync(&mut room, &mut t, &[], &[redaction], false, NOW + 1);
        assert_eq!(stops(&changes.rings), stopped, "{name}");
        assert_eq!(
            changes.rings.len(),
            stopped.len(),
            "{name}: {:?}",
            changes.rings
        );
        assert_eq!(t.ringing().count(), 1 - stopped.len(), "{name}");
    }
}

#[test]
fn a_ring_redacted_in_the_same_sync_does_not_ring() {
    let mut room = dm_room();
    let mut t = tracker();
    let changes = sync(
        &mut room,
        &mut t,
        &[session(ALICE, "A").json()],
        &[ring_from(ALICE, T0).json(), redaction(ALICE, "$notif1")],
        false,
        NOW,
    );
    assert!(
        !changes
            .rings
            .iter()
            .any(|r| matches!(r, RingOutput::Ring(_) | RingOutput::Notify(_))),
        "{:?}",
        changes.rings
    );
    assert_eq!(t.ringing().count(), 0);
}

#[test]
fn a_ring_served_already_redacted_does_not_ring() {
    // The server prunes a redacted event's content when it serves it.
    let mut pruned = ring_from(ALICE, T0).json();
    pruned["content"] = json!({});
    let mut room = dm_room();
    let mut t = tracker();
    let changes = sync(
        &mut room,
        &mut t,
        &[session(ALICE, "A").json()],
        &[pruned, redaction(ALICE, "$notif1")],
        false,
        NOW,
    );
    assert!(
        matches!(
            changes.rings.as_slice(),
            [RingOutput::Ignore { reason: IgnoreReason::Redacted, event_id, .. }] if event_id == "$notif1"
        ),
        "{:?}",
        changes.rings
    );
    assert_eq!(t.ringing().count(), 0);
}

#[test]
fn malformed_and_forged_memberships_are_reported_and_still_replace_their_slot() {
    let alice = || session(ALICE, "A");
    let cases: [(&str, Ev, &str, bool); 7] = [
        (
            "Bob forges Alice's slot",
            alice().sent_by(BOB),
            "sender @bob:example.org is not the owner @alice:example.org",
            true,
        ),
        (
            "content is not an object",
            Ev {
                content: json!("in a call"),
                ..alice()
            },
            "content is not an object",
            true,
        ),
        (
            "no application",
            alice().without("application"),
            "missing or malformed application",
            true,
        ),
        (
            "an unreadable state key",
            alice().key("nonsense"),
            "unreadable state key",
            false,
        ),
        (
            "an array under a device's key",
            Ev {
                content: array(ALICE, &["A"]).content,
                ..alice()
            },
            "does not fit this membership form",
            true,
        ),
        (
            "m.rtc.member naming another user",
            rtc_member(ALICE, "A", "a1")
                .set("member", json!({"id":"a1","device_id":"A","user_id":BOB})),
            "member.user_id @bob:example.org is not the sender @alice:example.org",
            false,
        ),
        (
            "a sticky membership without a key",
            Ev {
                content: json!({"application":{"type":"m.call"}}),
                ..sticky(ALICE, "A")
            },
            "missing or malformed msc4354_sticky_key",
            false,
        ),
    ];
    for (name, event, reason, replaces_alice) in cases {
        for in_timeline in [false, true] {
            let name = format!("{name} (in the timeline: {in_timeline})");
            let mut room = room_with(&[alice(), session(BOB, "B").at(T0 + 1)]);
            let events = [event.json()];
            let (state, timeline): (&[Value], &[Value]) = if in_timeline {
                (&[], &events)
            } else {
                (&events, &[])
            };
            if event.state_key.is_none() && !in_timeline {
                continue; // sticky events come in the timeline
            }
            let changes = sync(&mut room, &mut tracker(), state, timeline, false, T0 + 10);
            assert!(changes.lobby_changed, "{name}");
            assert_eq!(changes.ignored.len(), 1, "{name}: {:?}", changes.ignored);
            let got = &changes.ignored[0];
            assert!(
                got.starts_with(&format!("a membership event from {}: ", event.sender)),
                "{name}: {got}"
            );
            assert!(got.contains(reason), "{name}: {got}");
            let expected = if replaces_alice {
                vec![dev(BOB, "B")]
            } else {
                vec![dev(ALICE, "A"), dev(BOB, "B")]
            };
            assert_eq!(devices(&room), expected, "{name}");
        }
    }
}

#[test]
fn events_without_shape_are_ignored_without_panicking() {
    let mut no_sender = session(ALICE, "A").json();
    no_sender.as_object_mut().unwrap().remove("sender");
    let mut no_content = session(ALICE, "A").json();
    no_content.as_object_mut().unwrap().remove("content");
    let mut sticky_no_sender = sticky(ALICE, "A2").json();
    sticky_no_sender.as_object_mut().unwrap().remove("sender");
    let mut ring_no_sender = ring_from(BOB, T0).id("$bobs").json();
    ring_no_sender.as_object_mut().unwrap().remove("sender");
    let mut ring_no_id = ring_from(BOB, T0).json();
    ring_no_id.as_object_mut().unwrap().remove("event_id");
    let mut decline_no_sender = decline_from(ME, "$notif1");
    decline_no_sender.as_object_mut().unwrap().remove("sender");
    let mut typeless = session(ALICE, "A").left().json();
    typeless.as_object_mut().unwrap().remove("type");
    let mut numeric_type = session(ALICE, "A").left().json();
    numeric_type["type"] = json!(5);
    let keyless_member = json!({"type":"m.room.member","sender":ALICE,
        "content":{"membership":"leave"}});
    let membership_without = "a membership event without type, sender or content";
    let cases: [(&str, Value, &[&str]); 14] = [
        ("null", Value::Null, &[]),
        ("a number", json!(42), &[]),
        ("a string", json!("m.call.member"), &[]),
        ("an array", json!([session(ALICE, "A").json()]), &[]),
        ("an empty object", json!({}), &[]),
        (
            "a membership without sender",
            no_sender,
            &[membership_without],
        ),
        (
            "a membership without content",
            no_content,
            &[membership_without],
        ),
        (
            "a sticky membership without sender",
            sticky_no_sender,
            &[membership_without],
        ),
        ("an event without type", typeless, &[]),
        ("an event with a numeric type", numeric_type, &[]),
        ("a ring without sender", ring_no_sender, &[]),
        ("a ring without event id", ring_no_id, &[]),
        ("a decline without sender", decline_no_sender, &[]),
        ("a room member without state key", keyless_member, &[]),
    ];
    for (name, event, ignored) in cases {
        for (in_state, state_is_after) in [(true, false), (false, false), (false, true)] {
            let name = format!("{name} (state {in_state}, after {state_is_after})");
            let (mut room, mut t) = ringing();
            let events = [event.clone()];
            let (state, timeline): (&[Value], &[Value]) = if in_state {
                (&events, &[])
            } else {
                (&[], &events)
            };
            let changes = sync(&mut room, &mut t, state, timeline, state_is_after, NOW + 1);
            assert!(!changes.lobby_changed, "{name}");
            assert!(changes.rings.is_empty(), "{name}: {:?}", changes.rings);
            assert_eq!(devices(&room), [dev(ALICE, "A")], "{name}");
            assert_eq!(t.ringing().count(), 1, "{name}");
            // State events in the timeline are left to the state after it.
            let routed = !(state_is_after && event.get("state_key").is_some());
            let expected: &[&str] = if routed { ignored } else { &[] };
            assert_eq!(changes.ignored, expected, "{name}");
        }
    }
}

#[test]
fn a_lapsed_membership_drops_on_tick_and_stops_the_ring() {
    let lapsing = |e: Ev| e.set("expires", json!(20_000));
    // (the call's members, how the ring stops when the lapsing one is dropped, who is left)
    let cases = [
        (
            "the caller alone lapses",
            vec![lapsing(session(ALICE, "A"))],
            vec![StopReason::CallEnded],
            vec![],
        ),
        (
            "the caller lapses, Bob stays",
            vec![lapsing(session(ALICE, "A")), session(BOB, "B")],
            vec![StopReason::CallerLeft],
            vec![dev(BOB, "B")],
        ),
        (
            "Bob lapses, the caller stays",
            vec![session(ALICE, "A"), lapsing(session(BOB, "B"))],
            vec![],
            vec![dev(ALICE, "A")],
        ),
    ];
    for (name, members, stopped, left) in cases {
        let mut room = dm_room();
        let mut t = tracker();
        let mut timeline = json_of(&members);
        timeline.push(ring_from(ALICE, T0).json());
        let changes = sync(&mut room, &mut t, &[], &timeline, false, NOW);
        assert_eq!(changes.rings, [RingOutput::Ring(alices_call())], "{name}");
        assert_eq!(room.next_wakeup_ms(), Some(T0 + 20_000), "{name}");
        assert_eq!(
            room.tick(ROOM, &mut t, T0 + 19_999),
            RoomChanges::default(),
            "{name}: nothing lapsed yet"
        );
        let changes = room.tick(ROOM, &mut t, T0 + 20_000);
        assert!(changes.lobby_changed, "{name}");
        assert_eq!(stops(&changes.rings), stopped, "{name}");
        assert_eq!(
            changes.rings.len(),
            stopped.len(),
            "{name}: {:?}",
            changes.rings
        );
        assert_eq!(devices(&room), left, "{name}");
        assert_eq!(
            room.tick(ROOM, &mut t, T0 + 20_001),
            RoomChanges::default(),
            "{name}: once"
        );
    }
}

/// Polls our own call in `room` at `now` and answers every request with success until nothing is
/// asked; returns every effect on the way.
fn settle_own(room: &mut CallRoom, now: u64) -> Vec<OwnCallEffect> {
    let mut all = Vec::new();
    loop {
        let effects = room.poll_own(now, &me());
        let asked = performs(&effects);
        all.extend(effects);
        if asked.is_empty() {
            return all;
        }
        for (form, action) in asked {
            let reply = ok_reply(form, &action);
            room.own_mut()
                .expect("asked by our call")
                .on_response(form, Ok(reply), now);
        }
    }
}

#[test]
fn our_call_is_forgotten_once_idle() {
    let mut room = dm_room();
    assert!(room.poll_own(T0, &me()).is_empty(), "no call of ours");
    room.set_own(Some(OwnCall::join(plan(&BOTH, false, None))));
    settle_own(&mut room, T0);
    assert_eq!(room.own().map(OwnCall::state), Some(OwnState::Joined));
    room.own_mut().unwrap().leave();
    let effects = room.poll_own(T0 + 1, &me());
    let leaves = performs(&effects);
    assert_eq!(leaves.len(), 2, "{effects:?}");
    assert!(room.own().is_some(), "leaving");
    for (form, action) in leaves {
        room.own_mut()
            .unwrap()
            .on_response(form, Ok(ok_reply(form, &action)), T0 + 1);
    }
    assert!(
        room.own().is_some_and(OwnCall::is_idle),
        "kept until polled"
    );
    assert_eq!(
        room.poll_own(T0 + 2, &me()),
        [OwnCallEffect::StateChanged(OwnState::NotJoined)]
    );
    assert!(room.own().is_none(), "forgotten");
    assert!(room.poll_own(T0 + 3, &me()).is_empty());
    assert_eq!(room.next_wakeup_ms(), None);
}

#[test]
fn our_call_hears_the_rooms_lobby() {
    let deadline = T0 + 30_000;
    for alice_joins in [false, true] {
        let mut room = dm_room();
        let mut t = tracker();
        room.set_own(Some(OwnCall::join(plan(
            &BOTH,
            false,
            Some(NotifyKind::Ring),
        ))));
        let rang = settle_own(&mut room, T0);
        assert!(
            rang.iter().any(|e| matches!(e, OwnCallEffect::SendRing(_))),
            "rings once joined: {rang:?}"
        );
        if alice_joins {
            sync(
                &mut room,
                &mut t,
                &[],
                &[session(ALICE, "A").json()],
                false,
                T0 + 5_000,
            );
        }
        assert!(room.poll_own(T0 + 5_000, &me()).is_empty());
        let effects = room.poll_own(deadline, &me());
        assert_eq!(
            effects.contains(&OwnCallEffect::Unanswered),
            !alice_joins,
            "Alice joins: {alice_joins}: {effects:?}"
        );
    }
}

#[test]
fn our_slot_emptied_in_a_sync_makes_us_publish_again() {
    let emptied = || session(ME, "MYDEV").left().at(T0 + 5).json();
    let cases = [
        (before("in state", vec![emptied()], vec![]), true),
        (before("in the timeline", vec![], vec![emptied()]), true),
        (
            after("in the state", vec![emptied()], vec![emptied()]),
            true,
        ),
        (
            before(
                "our other device's slot",
                vec![session(ME, "PHONE").left().at(T0 + 5).json()],
                vec![],
            ),
            false,
        ),
    ];
    for (case, again) in cases {
        let name = case.to_string();
        let mut room = dm_room();
        let mut t = tracker();
        room.set_own(Some(OwnCall::join(plan(&BOTH, false, None))));
        settle_own(&mut room, T0);
        case.apply(&mut room, &mut t, T0 + 6);
        let asked = performs(&room.poll_own(T0 + 6, &me()));
        if again {
            assert!(
                matches!(
                    asked.as_slice(),
                    [(PublishForm::Session, Action::SendState { content, .. })]
                        if content["device_id"] == json!("MYDEV")
                ),
                "{name}: {asked:?}"
            );
            room.own_mut().unwrap().on_response(
                PublishForm::Session,
                Ok(Reply::EventId("$again".into())),
                T0 + 6,
            );
            assert_eq!(room.own().map(OwnCall::state), Some(OwnState::Joined));
        } else {
            assert!(asked.is_empty(), "{name}: {asked:?}");
        }
    }
}

#[test]
fn next_wakeup_is_the_earliest_of_the_lobby_and_our_call() {
    let lapsing = |ms: u64| session(ALICE, "A").set("expires", json!(ms));
    let cases: [(&str, Vec<Ev>, bool, Option<u64>); 5] = [
        ("nothing due", vec![], false, None),
        (
            "a membership lapsing",
            vec![lapsing(HOUR)],
            false,
            Some(T0 + HOUR),
        ),
        ("our refresh", vec![], true, Some(REFRESH_AT)),
        (
            "a membership lapsing before our refresh",
            vec![lapsing(60_000)],
            true,
            Some(T0 + 60_000),
        ),
        (
            "our refresh before a membership lapses",
            vec![lapsing(2 * HOUR)],
            true,
            Some(REFRESH_AT),
        ),
    ];
    for (name, members, own, expected) in cases {
        let mut room = dm_room();
        sync(
            &mut room,
            &mut tracker(),
            &json_of(&members),
            &[],
            false,
            T0,
        );
        if own {
            room.set_own(Some(OwnCall::join(plan(&BOTH, false, None))));
            settle_own(&mut room, T0);
        }
        assert_eq!(room.next_wakeup_ms(), expected, "{name}");
    }
}
