//! A hostile room cannot grow a lobby without bound: the caps on slots per sender and per
//! room, and the retention after which slots none of whose memberships is alive are forgotten.

use serde_json::json;
use vestibule::rtc::lobby::{
    MAX_MEMBERSHIPS_PER_SLOT, MAX_NOT_JOINED_REMEMBERED, MAX_SLOTS_PER_ROOM, MAX_SLOTS_PER_SENDER,
    TOMBSTONE_RETENTION_MS,
};
use vestibule::rtc::{CallKey, Lobby};

use super::factory::*;

const RETENTION: u64 = TOMBSTONE_RETENTION_MS;

/// A sticky membership of `sender` under a sticky key of its own, `i`, on device `D{i}`.
fn hostile(sender: &str, i: usize) -> Ev {
    sticky(sender, &format!("D{i}")).set("msc4354_sticky_key", json!(format!("k{i}")))
}

fn flooder(n: usize) -> String {
    format!("@flood{n}:evil.example")
}

/// The devices of `user` in the room's call, oldest first.
fn devices_of(lobby: &Lobby, user: &str) -> Vec<String> {
    lobby
        .call(&CallKey::room_call())
        .map(|c| {
            c.participants
                .iter()
                .filter(|p| p.user_id == user)
                .map(|p| p.device_id.clone())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn one_sender_with_100k_sticky_keys_holds_at_most_its_cap() {
    let mut lobby = Lobby::new();
    lobby.apply(&session(ALICE, "A").event(), T0).unwrap();
    for i in 0..100_000 {
        let ts = T0 + i as u64;
        lobby.apply(&hostile(BOB, i).at(ts).event(), ts).unwrap();
        assert!(lobby.slot_count() <= 1 + MAX_SLOTS_PER_SENDER, "after {i}");
    }
    assert_eq!(lobby.slot_count(), 1 + MAX_SLOTS_PER_SENDER);
    assert_eq!(devices_of(&lobby, ALICE), ["A"], "the others keep theirs");
    let newest: Vec<String> = (100_000 - MAX_SLOTS_PER_SENDER..100_000)
        .map(|i| format!("D{i}"))
        .collect();
    assert_eq!(
        devices_of(&lobby, BOB),
        newest,
        "the sender keeps its newest"
    );
}

#[test]
fn ten_thousand_senders_hold_at_most_the_rooms_cap() {
    let mut lobby = Lobby::new();
    let senders: Vec<String> = (0..10_000).map(flooder).collect();
    for i in 0..100_000 {
        let ts = T0 + i as u64 / 10;
        let e = hostile(&senders[i % senders.len()], i).at(ts);
        lobby.apply(&e.event(), ts).unwrap();
        assert!(lobby.slot_count() <= MAX_SLOTS_PER_ROOM, "after {i}");
    }
    assert_eq!(lobby.slot_count(), MAX_SLOTS_PER_ROOM);
    let call = lobby.call(&CallKey::room_call()).unwrap();
    assert_eq!(call.participants.len(), MAX_SLOTS_PER_ROOM);
    let oldest_kept = 100_000 - MAX_SLOTS_PER_ROOM;
    assert!(
        call.participants
            .iter()
            .all(|p| p.device_id[1..].parse::<usize>().unwrap() >= oldest_kept),
        "the newest memberships are kept"
    );
    assert_eq!(
        lobby.next_expiry_ms(),
        Some(T0 + oldest_kept as u64 / 10 + HOUR)
    );
}

#[test]
fn a_sender_over_its_cap_loses_its_oldest_slot_never_a_newer_event() {
    let mut lobby = Lobby::new();
    for i in 0..MAX_SLOTS_PER_SENDER {
        let ts = T0 + 100 + i as u64;
        lobby.apply(&hostile(BOB, i).at(ts).event(), ts).unwrap();
    }
    let now = T0 + 1_000;
    // A refresh of a held slot replaces it: nothing is dropped.
    let refresh = hostile(BOB, 0).at(now).set("m.call.intent", json!("video"));
    assert!(lobby.apply(&refresh.event(), now).unwrap());
    assert_eq!(lobby.slot_count(), MAX_SLOTS_PER_SENDER);
    assert_eq!(devices_of(&lobby, BOB).len(), MAX_SLOTS_PER_SENDER);
    // A new slot older than all the sender holds is the oldest: it is the one dropped.
    let old = hostile(BOB, 99).at(T0 + 50);
    assert!(!lobby.apply(&old.event(), now).unwrap());
    assert!(!devices_of(&lobby, BOB).contains(&"D99".to_owned()));
    // A newer one pushes out the oldest held (D1 now; D0 was refreshed).
    assert!(
        lobby
            .apply(&hostile(BOB, 100).at(now).event(), now)
            .unwrap()
    );
    let held = devices_of(&lobby, BOB);
    assert_eq!(held.len(), MAX_SLOTS_PER_SENDER);
    assert!(!held.contains(&"D1".to_owned()), "{held:?}");
    assert!(held.contains(&"D0".to_owned()) && held.contains(&"D100".to_owned()));
}

#[test]
fn forgeries_count_against_the_forger() {
    let mallory = "@mallory:evil.example";
    let mut lobby = Lobby::new();
    lobby.apply(&session(ALICE, "A").event(), T0).unwrap();
    for i in 0..10_000 {
        // Alice's state keys for devices she never had, sent by Mallory.
        let forged = session(ALICE, &format!("D{i}")).sent_by(mallory).at(T0 + 1);
        assert!(lobby.apply(&forged.event(), T0 + 1).is_err());
    }
    assert_eq!(lobby.slot_count(), 1 + MAX_SLOTS_PER_SENDER);
    assert_eq!(devices_of(&lobby, ALICE), ["A"]);
}

#[test]
fn the_room_drops_dead_slots_first_then_the_oldest() {
    let mut lobby = Lobby::new();
    lobby.apply(&session(ALICE, "A").event(), T0).unwrap();
    let carol = "@carol:example.org";
    for i in 0..MAX_SLOTS_PER_SENDER {
        // Emptied sticky slots: tombstones, younger than Alice's membership.
        let leave = hostile(carol, i)
            .left()
            .set("msc4354_sticky_key", json!(format!("k{i}")));
        lobby.apply(&leave.at(T0 + 1).event(), T0 + 1).unwrap();
    }
    let live = MAX_SLOTS_PER_ROOM - 1;
    for i in 0..live {
        let e = hostile(&flooder(i / MAX_SLOTS_PER_SENDER), i).at(T0 + 2);
        lobby.apply(&e.event(), T0 + 2).unwrap();
    }
    assert_eq!(lobby.slot_count(), MAX_SLOTS_PER_ROOM);
    assert_eq!(
        devices_of(&lobby, ALICE),
        ["A"],
        "every tombstone went before a live membership"
    );
    let e = hostile(&flooder(live / MAX_SLOTS_PER_SENDER), live).at(T0 + 2);
    assert!(lobby.apply(&e.event(), T0 + 2).unwrap());
    assert_eq!(lobby.slot_count(), MAX_SLOTS_PER_ROOM);
    assert!(
        devices_of(&lobby, ALICE).is_empty(),
        "with none dead, the oldest goes"
    );
}

#[test]
fn lapsed_memberships_are_forgotten_after_the_retention() {
    let mut lobby = Lobby::new();
    lobby.apply(&sticky(ALICE, "A").event(), T0).unwrap();
    assert!(
        lobby.tick(T0 + HOUR),
        "the sticky membership lapses after 1 h"
    );
    assert!(lobby.calls().is_empty());
    assert_eq!(lobby.slot_count(), 1, "its slot is kept a while");
    assert!(!lobby.tick(T0 + RETENTION - 1));
    assert_eq!(lobby.slot_count(), 1);
    assert!(!lobby.tick(T0 + RETENTION));
    assert_eq!(lobby.slot_count(), 0);
    // A membership still alive past the retention is kept as long as it lives.
    let long = session(ALICE, "A").set("expires", json!(3 * RETENTION));
    lobby.apply(&long.event(), T0 + RETENTION).unwrap();
    assert!(!lobby.tick(T0 + 3 * RETENTION - 1));
    assert_eq!(lobby.calls().len(), 1);
    assert!(lobby.tick(T0 + 3 * RETENTION));
    assert_eq!(lobby.slot_count(), 0, "lapsed and older than the retention");
}

#[test]
fn a_tombstone_holds_off_stale_events_until_the_retention() {
    let join = session(ALICE, "D");
    let leave = session(ALICE, "D").left().at(T0 + 5);
    let mut lobby = Lobby::new();
    lobby.apply(&join.event(), T0).unwrap();
    lobby.apply(&leave.event(), T0 + 5).unwrap();
    for now in [T0 + 10, T0 + 5 + RETENTION - 1] {
        assert!(!lobby.apply(&join.event(), now).unwrap(), "stale at {now}");
        assert!(lobby.calls().is_empty());
        assert_eq!(lobby.slot_count(), 1);
    }
    assert!(!lobby.tick(T0 + 5 + RETENTION));
    assert_eq!(lobby.slot_count(), 0);
}

#[test]
fn past_the_retention_a_stale_event_has_lapsed_too() {
    let sticky_join = sticky(ALICE, "A");
    let sticky_leave = sticky(ALICE, "A").left().set(
        "msc4354_sticky_key",
        sticky_join.content["msc4354_sticky_key"].clone(),
    );
    // Element Call's first join: no `created_ts`, `expires` 4 h.
    let session_join = session(ALICE, "B");
    let session_leave = session(ALICE, "B").left();
    for (name, join, leave) in [
        ("sticky", sticky_join, sticky_leave),
        ("session", session_join, session_leave),
    ] {
        let mut lobby = Lobby::new();
        lobby.apply(&join.event(), T0).unwrap();
        let left_at = T0 + 60_000;
        lobby.apply(&leave.at(left_at).event(), left_at).unwrap();
        let late = left_at + RETENTION;
        lobby.tick(late);
        assert_eq!(lobby.slot_count(), 0, "{name}: the tombstone is gone");
        assert!(
            !lobby.apply(&join.event(), late).unwrap(),
            "{name}: the stale join has lapsed"
        );
        assert!(lobby.calls().is_empty(), "{name}");
        assert_eq!(lobby.slot_count(), 0, "{name}: and is not kept either");
    }
    // The limit: a stale state event claiming to live past the retention counts again.
    let mut lobby = Lobby::new();
    let long = session(ALICE, "C").set("expires", json!(2 * RETENTION));
    lobby.apply(&long.event(), T0).unwrap();
    lobby
        .apply(&session(ALICE, "C").left().at(T0 + 1).event(), T0 + 1)
        .unwrap();
    lobby.tick(T0 + 1 + RETENTION);
    assert!(lobby.apply(&long.event(), T0 + 1 + RETENTION).unwrap());
    assert_eq!(devices_of(&lobby, ALICE), ["C"]);
}

#[test]
fn an_array_form_holds_at_most_its_cap_of_memberships() {
    let devices: Vec<String> = (0..1_000).map(|i| format!("D{i}")).collect();
    let names: Vec<&str> = devices.iter().map(String::as_str).collect();
    let mut lobby = Lobby::new();
    lobby.apply(&array(ALICE, &names).event(), T0).unwrap();
    assert_eq!(lobby.memberships().count(), MAX_MEMBERSHIPS_PER_SLOT);
    let held = devices_of(&lobby, ALICE);
    assert_eq!(held.len(), MAX_MEMBERSHIPS_PER_SLOT);
    assert!(
        held.iter()
            .all(|d| names[..MAX_MEMBERSHIPS_PER_SLOT].contains(&d.as_str()))
    );
}

#[test]
fn a_member_leaving_the_room_during_a_flood_is_cheap_and_exact() {
    let mut lobby = Lobby::new();
    for i in 0..MAX_SLOTS_PER_ROOM {
        let e = hostile(&flooder(i), i).at(T0);
        lobby.apply(&e.event(), T0).unwrap();
    }
    lobby.apply(&session(ALICE, "A").event(), T0).unwrap();
    assert_eq!(devices_of(&lobby, ALICE), ["A"]);
    assert!(lobby.set_room_membership(ALICE, false, T0 + 1));
    assert!(devices_of(&lobby, ALICE).is_empty());
    assert!(lobby.set_room_membership(ALICE, true, T0 + 2));
    assert_eq!(devices_of(&lobby, ALICE), ["A"]);
    let call = lobby.call(&CallKey::room_call()).unwrap();
    assert_eq!(call.participants.len(), MAX_SLOTS_PER_ROOM);
}

#[test]
fn members_leaving_by_the_hundred_thousand_are_remembered_within_the_cap() {
    let mut lobby = Lobby::new();
    lobby.apply(&session(ALICE, "A").event(), T0).unwrap();
    lobby.apply(&session(BOB, "B").event(), T0).unwrap();
    assert!(lobby.set_room_membership(BOB, false, T0));
    for i in 0..100_000 {
        lobby.set_room_membership(&flooder(i), false, T0);
        assert!(
            lobby.not_joined_count() <= MAX_NOT_JOINED_REMEMBERED,
            "after {i}"
        );
    }
    // Bob holds a slot: he stays remembered, so his membership still does not count.
    assert!(devices_of(&lobby, BOB).is_empty());
    assert_eq!(devices_of(&lobby, ALICE), ["A"]);
    // Someone who left, then sends a membership, does not count while remembered.
    let late = flooder(99_999);
    lobby.apply(&session(&late, "L").event(), T0 + 1).unwrap();
    assert!(devices_of(&lobby, &late).is_empty());
    assert!(lobby.set_room_membership(&late, true, T0 + 2));
    assert_eq!(devices_of(&lobby, &late), ["L"]);
}
