//! One room's reducer (`CallRoom::apply_sync`): whole syncs of state and timeline events, as
//! the homeserver serves them, routed to the lobby, our own call and the ring tracker.

use serde_json::json;
use vestibule::rtc::RTC_DECLINE;
use vestibule::rtc::membership::MembershipEvent;
use vestibule::rtc::ring::{NotificationEvent, parse_decline};

use super::factory::*;

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
