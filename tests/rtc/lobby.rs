//! Deriving a room's calls from its memberships.

use serde_json::json;
use vestibule::rtc::{CALL_MEMBER, CallKey, Lobby, RTC_MEMBER, SlotKey, WireForm};

use super::factory::*;

fn lobby_of(events: &[Ev], now: u64) -> Lobby {
    let (lobby, rejected) = Lobby::from_events(events.iter().map(Ev::event), now);
    assert!(rejected.is_empty(), "{rejected:?}");
    lobby
}

fn devices(lobby: &Lobby) -> Vec<(String, String)> {
    lobby.calls()[0]
        .participants
        .iter()
        .map(|p| (p.user_id.clone(), p.device_id.clone()))
        .collect()
}

#[test]
fn two_devices_of_one_user_are_two_participants() {
    let lobby = lobby_of(
        &[session(ALICE, "LAPTOP"), session(ALICE, "PHONE").at(T0 + 1)],
        T0 + 10,
    );
    assert_eq!(lobby.calls().len(), 1);
    assert_eq!(
        devices(&lobby),
        [
            (ALICE.to_owned(), "LAPTOP".to_owned()),
            (ALICE.to_owned(), "PHONE".to_owned())
        ]
    );
}

#[test]
fn people_are_counted_once_whatever_their_devices_and_forms() {
    let lobby = lobby_of(
        &[
            session(ALICE, "LAPTOP"),
            sticky(ALICE, "LAPTOP"),
            session(BOB, "B").at(T0 + 1),
            session(ALICE, "PHONE").at(T0 + 2),
        ],
        T0 + 10,
    );
    let call = &lobby.calls()[0];
    assert_eq!(call.participants.len(), 3, "three devices");
    assert_eq!(call.people(), 2);
    let people: Vec<(&str, Vec<&str>)> = call
        .by_person()
        .into_iter()
        .map(|(user, devices)| (user, devices.iter().map(|d| d.device_id.as_str()).collect()))
        .collect();
    assert_eq!(people, [(ALICE, vec!["LAPTOP", "PHONE"]), (BOB, vec!["B"])]);
}

#[test]
fn one_device_in_two_forms_is_one_participant() {
    let lobby = lobby_of(
        &[
            session(ALICE, "D").at(T0 + 5),
            rtc_member(ALICE, "D", "M1").at(T0),
            sticky(ALICE, "D"),
        ],
        T0 + 10,
    );
    let call = &lobby.calls()[0];
    assert_eq!(call.participants.len(), 1);
    let p = &call.participants[0];
    assert_eq!(
        p.forms,
        [WireForm::Session, WireForm::RtcMember, WireForm::Sticky]
    );
    assert_eq!(p.joined_ts, T0, "the earliest form's join time");
    assert_eq!(
        p.member_id, "@alice:example.org:D",
        "the session form's member id"
    );
}

#[test]
fn participants_are_oldest_first_and_calls_grouped() {
    let lobby = lobby_of(
        &[
            session(BOB, "B").at(T0 + 2),
            session(ALICE, "A").at(T0 + 1),
            session(ME, "M")
                .at(T0 + 3)
                .set("call_id", json!("side-call")),
            array(ALICE, &["OLD"]).at(T0 - 100), // created_ts T0 in the factory
        ],
        T0 + 10,
    );
    let room_call = lobby.call(&CallKey::room_call()).unwrap();
    let order: Vec<_> = room_call
        .participants
        .iter()
        .map(|p| p.device_id.as_str())
        .collect();
    assert_eq!(order, ["OLD", "A", "B"]);
    assert_eq!(room_call.started_ts(), T0);
    let side = lobby
        .call(&CallKey {
            call_id: "side-call".into(),
            ..CallKey::room_call()
        })
        .unwrap();
    assert_eq!(side.participants.len(), 1);
}

#[test]
fn expiry_is_exclusive_at_the_boundary_and_announced() {
    let e = session(ALICE, "D").set("expires", json!(HOUR));
    let mut lobby = Lobby::new();
    assert!(lobby.apply(&e.event(), T0 + HOUR - 1).unwrap());
    assert_eq!(lobby.calls().len(), 1, "active one ms before expiry");
    assert_eq!(lobby.next_expiry_ms(), Some(T0 + HOUR));
    assert!(
        !lobby.tick(T0 + HOUR - 1),
        "nothing changes before the expiry"
    );
    assert!(
        lobby.tick(T0 + HOUR),
        "expired exactly at created + expires"
    );
    assert!(lobby.calls().is_empty());
    assert_eq!(lobby.next_expiry_ms(), None);
    // An event already expired when applied never shows.
    let mut lobby = Lobby::new();
    assert!(!lobby.apply(&e.event(), T0 + HOUR).unwrap());
    assert!(lobby.calls().is_empty());
}

#[test]
fn applying_events_updates_incrementally() {
    let mut lobby = Lobby::new();
    assert!(lobby.apply(&session(ALICE, "D").event(), T0).unwrap());
    assert!(
        !lobby.apply(&session(ALICE, "D").event(), T0).unwrap(),
        "same content: no change"
    );
    assert!(lobby.apply(&session(BOB, "B").event(), T0).unwrap());
    assert_eq!(lobby.calls()[0].participants.len(), 2);
    assert!(lobby.apply(&session(BOB, "B").left().event(), T0).unwrap());
    assert_eq!(devices(&lobby), [(ALICE.to_owned(), "D".to_owned())]);
    assert!(
        lobby
            .apply(&session(ALICE, "D").left().event(), T0)
            .unwrap()
    );
    assert!(lobby.calls().is_empty());
}

#[test]
fn a_forged_overwrite_removes_the_real_membership_and_shows_nothing() {
    let mut lobby = Lobby::new();
    lobby.apply(&session(ALICE, "D").event(), T0).unwrap();
    let forged = session(ALICE, "D").sent_by(BOB);
    assert!(lobby.apply(&forged.event(), T0).is_err());
    assert!(
        lobby.calls().is_empty(),
        "the state key now holds Bob's forgery: Alice's entry is gone"
    );
    // A forged event in a room's state is reported, the rest count.
    let (lobby, rejected) = Lobby::from_events(
        [session(ALICE, "D").sent_by(BOB), session(BOB, "B")]
            .iter()
            .map(Ev::event),
        T0,
    );
    assert_eq!(rejected.len(), 1);
    assert_eq!(devices(&lobby), [(BOB.to_owned(), "B".to_owned())]);
}

#[test]
fn only_joined_users_count() {
    let mut lobby = lobby_of(&[session(ALICE, "D"), session(BOB, "B")], T0);
    assert!(lobby.set_room_membership(BOB, false, T0));
    assert_eq!(devices(&lobby), [(ALICE.to_owned(), "D".to_owned())]);
    assert!(!lobby.set_room_membership(BOB, false, T0));
    assert!(lobby.set_room_membership(BOB, true, T0));
    assert_eq!(lobby.calls()[0].participants.len(), 2);
}

#[test]
fn other_applications_are_not_calls() {
    let lobby = lobby_of(
        &[session(ALICE, "D").set("application", json!("m.game"))],
        T0,
    );
    assert!(lobby.calls().is_empty());
    assert_eq!(lobby.memberships().count(), 1);
}

#[test]
fn active_focus_follows_focus_selection() {
    let oldest = |user: &str, dev: &str, sfu: &str, at: u64| {
        session(user, dev)
            .at(at)
            .set(
                "focus_active",
                json!({"type":"livekit","focus_selection":"oldest_membership"}),
            )
            .set(
                "foci_preferred",
                json!([{"type":"livekit","livekit_service_url":sfu}]),
            )
    };
    let lobby = lobby_of(
        &[
            oldest(ALICE, "A", SFU_A, T0),
            oldest(BOB, "B", SFU_B, T0 + 1),
        ],
        T0 + 2,
    );
    let foci: Vec<_> = lobby.calls()[0]
        .participants
        .iter()
        .map(|p| {
            p.active_focus
                .as_ref()
                .unwrap()
                .livekit_service_url
                .clone()
                .unwrap()
        })
        .collect();
    assert_eq!(foci, [SFU_A, SFU_A], "everyone on the oldest member's SFU");

    let multi = |user: &str, dev: &str, sfu: &str, at: u64| {
        session(user, dev).at(at).set(
            "foci_preferred",
            json!([{"type":"livekit","livekit_service_url":sfu}]),
        )
    };
    let lobby = lobby_of(
        &[multi(ALICE, "A", SFU_A, T0), multi(BOB, "B", SFU_B, T0 + 1)],
        T0 + 2,
    );
    let foci: Vec<_> = lobby.calls()[0]
        .participants
        .iter()
        .map(|p| {
            p.active_focus
                .as_ref()
                .unwrap()
                .livekit_service_url
                .clone()
                .unwrap()
        })
        .collect();
    assert_eq!(foci, [SFU_A, SFU_B], "multi_sfu: each on its own");
}

#[test]
fn call_intent_is_video_when_anyone_is_on_video() {
    let lobby = lobby_of(
        &[
            session(ALICE, "A").set("m.call.intent", json!("audio")),
            session(BOB, "B"),
        ],
        T0,
    );
    assert_eq!(lobby.calls()[0].intent().map(|i| i.as_str()), Some("video"));
    let lobby = lobby_of(
        &[session(ALICE, "A").set("m.call.intent", json!("audio"))],
        T0,
    );
    assert_eq!(lobby.calls()[0].intent().map(|i| i.as_str()), Some("audio"));
}

#[test]
fn stale_state_never_brings_a_member_back() {
    let mut lobby = Lobby::new();
    let join = session(ALICE, "D").at(T0);
    let leave = session(ALICE, "D").left().at(T0 + 5);
    lobby.apply(&join.event(), T0 + 10).unwrap();
    assert!(lobby.apply(&leave.event(), T0 + 10).unwrap());
    // A later sync repeats the older join in its state block.
    assert!(!lobby.apply(&join.event(), T0 + 10).unwrap());
    assert!(lobby.calls().is_empty());
    // A newer join counts again, and so does an event of the same instant.
    assert!(
        lobby
            .apply(&session(ALICE, "D").at(T0 + 6).event(), T0 + 10)
            .unwrap()
    );
    assert!(
        lobby
            .apply(&session(ALICE, "D").left().at(T0 + 6).event(), T0 + 10)
            .unwrap()
    );
    assert!(lobby.calls().is_empty());
}

#[test]
fn own_slots_are_the_state_slots_of_one_device() {
    let slot = |event_type: &'static str, key: &str| SlotKey {
        event_type,
        key: key.to_owned(),
    };
    let session_slot = slot(CALL_MEMBER, "_@me:example.org_MYDEV_m.call");
    let rtc_slot = slot(RTC_MEMBER, "_@me:example.org_m1");
    let array_slot = slot(CALL_MEMBER, ME);
    let later = |e: Ev| e.at(T0 + 5);
    let cases: [(&str, Vec<Ev>, Vec<SlotKey>); 13] = [
        ("nothing", vec![], vec![]),
        (
            "the session form",
            vec![session(ME, "MYDEV")],
            vec![session_slot.clone()],
        ),
        (
            "the brief's form",
            vec![rtc_member(ME, "MYDEV", "m1")],
            vec![rtc_slot.clone()],
        ),
        (
            "the array form with another device beside",
            vec![array(ME, &["PHONE", "MYDEV"])],
            vec![array_slot.clone()],
        ),
        (
            "every state form at once",
            vec![
                session(ME, "MYDEV"),
                rtc_member(ME, "MYDEV", "m1"),
                array(ME, &["MYDEV"]),
                sticky(ME, "MYDEV"),
            ],
            vec![array_slot, session_slot.clone(), rtc_slot.clone()],
        ),
        (
            "expired, but still in the room's state",
            vec![session(ME, "MYDEV").set("expires", json!(1_000))],
            vec![session_slot.clone()],
        ),
        ("a sticky membership", vec![sticky(ME, "MYDEV")], vec![]),
        (
            "a sticky m.rtc.member (no state key)",
            vec![Ev {
                event_type: RTC_MEMBER.into(),
                ..sticky(ME, "MYDEV")
            }],
            vec![],
        ),
        ("another device of ours", vec![session(ME, "PHONE")], vec![]),
        (
            "the array form without this device",
            vec![array(ME, &["PHONE"])],
            vec![],
        ),
        (
            "someone else's device of the same id",
            vec![session(ALICE, "MYDEV"), rtc_member(ALICE, "MYDEV", "m1")],
            vec![],
        ),
        (
            "emptied",
            vec![
                session(ME, "MYDEV"),
                later(session(ME, "MYDEV").left()),
                rtc_member(ME, "MYDEV", "m1"),
                later(rtc_member(ME, "MYDEV", "m1").left()),
            ],
            vec![],
        ),
        (
            "emptied in one form, still in the other",
            vec![
                session(ME, "MYDEV"),
                later(session(ME, "MYDEV").left()),
                rtc_member(ME, "MYDEV", "m1"),
            ],
            vec![rtc_slot],
        ),
    ];
    for (name, events, mut expected) in cases {
        let (lobby, rejected) = Lobby::from_events(events.iter().map(Ev::event), T0 + 2_000);
        assert!(rejected.is_empty(), "{name}: {rejected:?}");
        let mut slots = lobby.own_slots(ME, "MYDEV");
        slots.sort();
        expected.sort();
        assert_eq!(slots, expected, "{name}");
    }
}
