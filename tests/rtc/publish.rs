//! What we put on the wire.

use serde_json::json;
use vestibule::rtc::publish::{
    JoinParams, PublishForm, decline, leave_state, membership_state, notifications,
};
use vestibule::rtc::ring::NotifyKind;
use vestibule::rtc::{CallIntent, Focus};

use super::factory::*;

pub fn params(room_version: &str) -> JoinParams {
    JoinParams {
        room_id: ROOM.into(),
        room_version: room_version.into(),
        user_id: ME.into(),
        device_id: "MYDEV".into(),
        member_id: "m3mb3r".into(),
        call_id: String::new(),
        intent: CallIntent::Video,
        foci: vec![Focus::livekit(SFU_A), Focus::livekit(SFU_B)],
    }
}

#[test]
fn session_form_is_element_calls_join() {
    let out = membership_state(PublishForm::Session, &params("10"), None, 14_400_000);
    assert_eq!(out.event_type, "org.matrix.msc3401.call.member");
    assert_eq!(out.state_key, "_@me:example.org_MYDEV_m.call");
    assert_eq!(
        out.content,
        json!({"application":"m.call","call_id":"","scope":"m.room","device_id":"MYDEV",
         "membershipID":"@me:example.org:MYDEV","expires":14400000,"m.call.intent":"video",
         "focus_active":{"type":"livekit","focus_selection":"multi_sfu"},
         "foci_preferred":[
            {"type":"livekit","livekit_alias":ROOM,"livekit_service_url":SFU_A},
            {"type":"livekit","livekit_alias":ROOM,"livekit_service_url":SFU_B}]})
    );
    let refresh = membership_state(
        PublishForm::Session,
        &params("10"),
        Some(T0),
        2 * 14_400_000,
    );
    assert_eq!(refresh.content["created_ts"], json!(T0));
    assert_eq!(refresh.content["expires"], json!(28_800_000));
}

#[test]
fn rtc_member_form_is_the_briefs() {
    let out = membership_state(
        PublishForm::RtcMember,
        &params("org.matrix.msc3757.11"),
        None,
        1000,
    );
    assert_eq!(out.event_type, "m.rtc.member");
    assert_eq!(
        out.state_key, "@me:example.org_m3mb3r",
        "no leading _ in MSC3757 rooms"
    );
    assert_eq!(
        out.content["member"],
        json!({"id":"m3mb3r","device_id":"MYDEV","user_id":ME})
    );
    assert_eq!(out.content["session"]["application"], "m.call");
    assert_eq!(out.content["session"]["call_id"], "");
    assert_eq!(out.content["session"]["scope"], "m.room");
    assert_eq!(
        out.content["foci_preferred"][0]["livekit_service_url"],
        SFU_A
    );
    let out = membership_state(
        PublishForm::Session,
        &params("org.matrix.msc3757.11"),
        None,
        1000,
    );
    assert_eq!(out.state_key, "@me:example.org_MYDEV_m.call");
}

#[test]
fn leave_is_empty_content_under_the_same_key() {
    for form in PublishForm::DEFAULT {
        let join = membership_state(form, &params("10"), None, 1000);
        let leave = leave_state(form, &params("10"));
        assert_eq!(
            (leave.event_type, &leave.state_key),
            (join.event_type, &join.state_key)
        );
        assert_eq!(leave.content, json!({}));
    }
}

#[test]
fn ring_relates_to_our_membership() {
    let out = notifications(NotifyKind::Ring, "$mine", "", &CallIntent::Audio, T0, false);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].event_type, "org.matrix.msc4075.rtc.notification");
    assert_eq!(
        out[0].content,
        json!({"m.mentions":{"user_ids":[],"room":true},"notification_type":"ring",
         "m.relates_to":{"rel_type":"m.reference","event_id":"$mine"},
         "sender_ts":T0,"lifetime":30000,"m.call.intent":"audio"})
    );
    let out = notifications(
        NotifyKind::Notification,
        "$mine",
        "",
        &CallIntent::Video,
        T0,
        true,
    );
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].event_type, "m.rtc.notify");
    assert_eq!(out[1].content["notify_type"], "notification");
    assert_eq!(
        out[1].content["session"],
        json!({"application":"m.call","call_id":"","scope":"m.room"})
    );
    assert_eq!(out[1].content["m.relates_to"]["event_id"], "$mine");
}

#[test]
fn decline_references_the_notification() {
    let d = decline("$notif");
    assert_eq!(d.event_type, "org.matrix.msc4310.rtc.decline");
    assert_eq!(
        d.content,
        json!({"m.relates_to":{"rel_type":"m.reference","event_id":"$notif"}})
    );
}
