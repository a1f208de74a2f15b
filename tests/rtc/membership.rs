//! Parsing memberships of every wire form, leniently, and rejecting forgeries.

use serde_json::json;
use vestibule::rtc::membership::{is_membership_type, parse_membership_event};
use vestibule::rtc::{
    CallIntent, DEFAULT_MEMBERSHIP_EXPIRES_MS, Focus, FocusSelection, Rejection, WireForm,
};

use super::factory::*;

#[test]
fn element_call_join_content_and_key_parse_exactly() {
    // The exact content of MATRIXRTC.md §1a, under js-sdk's key.
    let e = session(ALICE, "DEVICEID");
    let parsed = parse_membership_event(&e.event()).unwrap();
    assert_eq!(parsed.slot.key, "_@alice:example.org_DEVICEID_m.call");
    let [m] = parsed.memberships.as_slice() else {
        panic!("one membership")
    };
    assert_eq!(m.user_id, ALICE);
    assert_eq!(m.device_id, "DEVICEID");
    assert_eq!(m.member_id, "@alice:example.org:DEVICEID");
    assert_eq!(
        (m.application.as_str(), m.call_id.as_str(), m.scope.as_str()),
        ("m.call", "", "m.room")
    );
    assert_eq!(
        m.created_ts, T0,
        "created_ts falls back to origin_server_ts"
    );
    assert_eq!(m.expires_ms, 14_400_000);
    assert_eq!(m.intent, Some(CallIntent::Video));
    assert_eq!(
        m.focus_active.as_ref().unwrap().focus_selection,
        FocusSelection::MultiSfu
    );
    assert_eq!(
        m.foci_preferred,
        vec![Focus {
            kind: "livekit".into(),
            livekit_service_url: Some(SFU_A.into()),
            livekit_alias: Some(ROOM.into()),
        }]
    );
    assert_eq!(m.form, WireForm::Session);
}

#[test]
fn every_state_key_form_of_the_session_form_parses() {
    for key in [
        "_@alice:example.org_DEVICEID_m.call",
        "_@alice:example.org_DEVICEID",
        "@alice:example.org_DEVICEID_m.call",
        "@alice:example.org_DEVICEID",
    ] {
        let e = session(ALICE, "DEVICEID").key(key);
        let parsed = parse_membership_event(&e.event()).unwrap_or_else(|r| panic!("{key}: {r}"));
        assert_eq!(parsed.memberships[0].device_id, "DEVICEID", "{key}");
    }
    // The device comes from the key when the content lacks it.
    let e = session(ALICE, "DEVICEID").without("device_id");
    assert_eq!(
        parse_membership_event(&e.event()).unwrap().memberships[0].device_id,
        "DEVICEID"
    );
}

#[test]
fn refresh_keeps_created_ts_and_raised_expires() {
    let e = session(ALICE, "D")
        .set("created_ts", json!(T0 - 5 * HOUR))
        .set("expires", json!(8 * HOUR));
    let m = &parse_membership_event(&e.event()).unwrap().memberships[0];
    assert_eq!(m.created_ts, T0 - 5 * HOUR);
    assert_eq!(m.expires_at_ms(), T0 + 3 * HOUR);
}

#[test]
fn array_form_yields_one_membership_per_item() {
    let e = array(ALICE, &["D1", "D2"]);
    let parsed = parse_membership_event(&e.event()).unwrap();
    assert_eq!(parsed.slot.key, ALICE);
    let devices: Vec<_> = parsed
        .memberships
        .iter()
        .map(|m| m.device_id.as_str())
        .collect();
    assert_eq!(devices, ["D1", "D2"]);
    let m = &parsed.memberships[0];
    assert_eq!(m.form, WireForm::Array);
    assert_eq!(m.member_id, "m-D1");
    assert_eq!(m.expires_at_ms(), T0 + HOUR);
    assert_eq!(
        m.foci_preferred[0].livekit_service_url.as_deref(),
        Some(SFU_A),
        "foci_active read"
    );
    // A bad item is skipped, the rest still count; an empty array means left.
    let e = array(ALICE, &["D1"]).set(
        "memberships",
        json!([{"application": "m.call"}, 5, {"application":"m.call","device_id":"OK"}]),
    );
    let parsed = parse_membership_event(&e.event()).unwrap();
    assert_eq!(parsed.memberships.len(), 1);
    assert_eq!(parsed.memberships[0].device_id, "OK");
    let e = array(ALICE, &[]);
    assert!(
        parse_membership_event(&e.event())
            .unwrap()
            .memberships
            .is_empty()
    );
}

#[test]
fn brief_rtc_member_form_parses() {
    // The MSC4196 draft's example.
    let e = rtc_member("@user:matrix.domain", "DEVICEID", "xyzABCDEF10123")
        .key("@user:matrix.domain_xyzABCDEF10123");
    let m = &parse_membership_event(&e.event()).unwrap().memberships[0];
    assert_eq!(m.user_id, "@user:matrix.domain");
    assert_eq!(m.device_id, "DEVICEID");
    assert_eq!(m.member_id, "xyzABCDEF10123");
    assert_eq!(m.form, WireForm::RtcMember);
    assert_eq!(
        m.expires_ms, DEFAULT_MEMBERSHIP_EXPIRES_MS,
        "no expires: the 4 h default"
    );
    assert_eq!(
        m.focus_active.as_ref().unwrap().focus_selection,
        FocusSelection::OldestMembership
    );
    assert_eq!((m.application.as_str(), m.call_id.as_str()), ("m.call", ""));
}

#[test]
fn sticky_form_parses_and_leaves() {
    let e = sticky(ALICE, "PHONE");
    let parsed = parse_membership_event(&e.event()).unwrap();
    assert_eq!(parsed.slot.key, "@alice:example.org|sticky-PHONE");
    let m = &parsed.memberships[0];
    assert_eq!(
        (m.device_id.as_str(), m.call_id.as_str()),
        ("PHONE", ""),
        "m.call#ROOM is the room call"
    );
    assert_eq!(m.intent, Some(CallIntent::Audio));
    assert_eq!(m.expires_at_ms(), T0 + HOUR);
    assert_eq!(
        m.foci_preferred[0].livekit_service_url.as_deref(),
        Some(SFU_B)
    );
    let mut leave = sticky(ALICE, "PHONE");
    leave.content = json!({"msc4354_sticky_key": "sticky-PHONE"});
    let parsed = parse_membership_event(&leave.event()).unwrap();
    assert_eq!(parsed.slot.key, "@alice:example.org|sticky-PHONE");
    assert!(parsed.memberships.is_empty());
}

#[test]
fn empty_content_means_left_in_every_state_form() {
    for e in [
        session(ALICE, "D").left(),
        session(ALICE, "D")
            .left()
            .set("leave_reason", json!("m.lost_connection")),
        rtc_member(ALICE, "D", "M").left(),
        array(ALICE, &["D"]).left(),
    ] {
        let parsed = parse_membership_event(&e.event()).unwrap();
        assert!(parsed.memberships.is_empty(), "{:?}", e.content);
    }
}

#[test]
fn wrong_types_in_optional_fields_keep_the_membership() {
    let e = session(ALICE, "D")
        .set("expires", json!("soon"))
        .set("created_ts", json!({"x": 1}))
        .set("m.call.intent", json!(7))
        .set("focus_active", json!("livekit"))
        .set(
            "foci_preferred",
            json!([1, {"type": 2, "livekit_service_url": SFU_B}, {"type":"matrix-sfu"}]),
        )
        .set("membershipID", json!(false))
        .set("call_id", json!(null))
        .set("extra", json!({"anything": [1, 2]}));
    let m = &parse_membership_event(&e.event()).unwrap().memberships[0];
    assert_eq!(m.expires_ms, DEFAULT_MEMBERSHIP_EXPIRES_MS);
    assert_eq!(m.created_ts, T0);
    assert_eq!(m.intent, None);
    assert_eq!(m.focus_active, None);
    assert_eq!(m.member_id, "@alice:example.org:D");
    assert_eq!(m.call_id, "");
    let kinds: Vec<_> = m.foci_preferred.iter().map(|f| f.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["unknown", "matrix-sfu"],
        "unknown focus types are kept"
    );
    // "voice" is the MSC's word for audio.
    let e = session(ALICE, "D").set("m.call.intent", json!("voice"));
    assert_eq!(
        parse_membership_event(&e.event()).unwrap().memberships[0].intent,
        Some(CallIntent::Audio)
    );
}

#[test]
fn memberships_lacking_identity_are_rejected_with_a_reason() {
    let cases = [
        (
            session(ALICE, "D").without("application"),
            Rejection::MissingField("application"),
        ),
        (
            session(ALICE, "D").key(ALICE),
            Rejection::StateKeyForm(ALICE.into()),
        ),
        (
            rtc_member(ALICE, "D", "M").without("session"),
            Rejection::MissingField("session"),
        ),
        (
            rtc_member(ALICE, "D", "M").without("member"),
            Rejection::MissingField("member"),
        ),
        (
            rtc_member(ALICE, "D", "M").set("member", json!({"id": "M", "user_id": ALICE})),
            Rejection::MissingField("member.device_id"),
        ),
        (
            session(ALICE, "D").key("alice"),
            Rejection::BadStateKey(vestibule::rtc::state_key::StateKeyError::NoUserId),
        ),
    ];
    for (e, reason) in cases {
        assert_eq!(
            parse_membership_event(&e.event()).unwrap_err(),
            reason,
            "{:?}",
            e.content
        );
    }
    let mut not_object = session(ALICE, "D");
    not_object.content = json!([1, 2]);
    assert_eq!(
        parse_membership_event(&not_object.event()).unwrap_err(),
        Rejection::NotAnObject
    );
    let mut no_key = session(ALICE, "D");
    no_key.state_key = None;
    assert_eq!(
        parse_membership_event(&no_key.event()).unwrap_err(),
        Rejection::MissingStateKey
    );
}

#[test]
fn forged_keys_and_user_ids_are_rejected() {
    // Bob writes Alice's key (servers do not protect `_@alice…` keys).
    let forged = session(ALICE, "D").sent_by(BOB);
    assert_eq!(
        parse_membership_event(&forged.event()).unwrap_err(),
        Rejection::ForgedSender {
            sender: BOB.into(),
            owner: ALICE.into()
        }
    );
    // A key that looks like a longer user id is still not Bob's.
    let forged = session(BOB, "D").key("_@bob:example.org.evil_D_m.call");
    assert!(matches!(
        parse_membership_event(&forged.event()),
        Err(Rejection::ForgedSender { .. })
    ));
    // Bob's own key, claiming to be Alice in `member.user_id`.
    let forged =
        rtc_member(BOB, "D", "M").set("member", json!({"id":"M","device_id":"D","user_id":ALICE}));
    assert_eq!(
        parse_membership_event(&forged.event()).unwrap_err(),
        Rejection::UserIdMismatch {
            sender: BOB.into(),
            user_id: ALICE.into()
        }
    );
    let mut forged = sticky(BOB, "D");
    forged.content["member"]["user_id"] = json!(ALICE);
    assert!(matches!(
        parse_membership_event(&forged.event()),
        Err(Rejection::UserIdMismatch { .. })
    ));
    // Array form under someone else's key.
    let forged = array(ALICE, &["D"]).sent_by(BOB);
    assert!(matches!(
        parse_membership_event(&forged.event()),
        Err(Rejection::ForgedSender { .. })
    ));
}

#[test]
fn knows_its_event_types() {
    for t in [
        "org.matrix.msc3401.call.member",
        "m.call.member",
        "m.rtc.member",
        "org.matrix.msc4143.rtc.member",
    ] {
        assert!(is_membership_type(t), "{t}");
    }
    assert!(!is_membership_type("m.room.member"));
    let mut e = session(ALICE, "D");
    e.event_type = "m.room.member".into();
    assert!(matches!(
        parse_membership_event(&e.event()),
        Err(Rejection::UnknownEventType(_))
    ));
}
