//! Small event factories for the rtc tests.

use serde_json::{Value, json};
use vestibule::rtc::membership::MembershipEvent;
use vestibule::rtc::ring::NotificationEvent;
use vestibule::rtc::{CALL_MEMBER, RTC_DECLINE, RTC_MEMBER, RTC_MEMBER_STICKY, RTC_NOTIFICATION};

pub const ALICE: &str = "@alice:example.org";
pub const BOB: &str = "@bob:example.org";
pub const ME: &str = "@me:example.org";
pub const ROOM: &str = "!room:example.org";
pub const SFU_A: &str = "https://rtc-a.example.org/livekit/jwt";
pub const SFU_B: &str = "https://rtc-b.example.org/livekit/jwt";

/// One hour, in ms.
pub const HOUR: u64 = 60 * 60 * 1000;
/// A fixed "now" that all tests count from.
pub const T0: u64 = 1_732_500_000_000;

/// An owned event that lends itself as a [`MembershipEvent`].
#[derive(Debug, Clone)]
pub struct Ev {
    pub event_type: String,
    pub state_key: Option<String>,
    pub sender: String,
    pub content: Value,
    pub origin_server_ts: u64,
    pub event_id: String,
    pub sticky_duration_ms: Option<u64>,
}

impl Ev {
    pub fn event(&self) -> MembershipEvent<'_> {
        MembershipEvent {
            event_type: &self.event_type,
            state_key: self.state_key.as_deref(),
            sender: &self.sender,
            content: &self.content,
            origin_server_ts: self.origin_server_ts,
            event_id: Some(&self.event_id),
            sticky_duration_ms: self.sticky_duration_ms,
        }
    }

    pub fn at(mut self, ts: u64) -> Self {
        self.origin_server_ts = ts;
        self
    }

    pub fn sent_by(mut self, sender: &str) -> Self {
        self.sender = sender.to_owned();
        self
    }

    pub fn key(mut self, key: &str) -> Self {
        self.state_key = Some(key.to_owned());
        self
    }

    pub fn set(mut self, field: &str, value: Value) -> Self {
        self.content[field] = value;
        self
    }

    pub fn without(mut self, field: &str) -> Self {
        if let Some(obj) = self.content.as_object_mut() {
            obj.remove(field);
        }
        self
    }

    pub fn left(mut self) -> Self {
        self.content = json!({});
        self
    }

    pub fn id(mut self, id: &str) -> Self {
        self.event_id = id.to_owned();
        self
    }

    /// The whole event as the homeserver serves it in a sync.
    pub fn json(&self) -> Value {
        let mut event = whole_event(
            &self.event_type,
            self.state_key.as_deref(),
            &self.sender,
            self.content.clone(),
            &self.event_id,
        );
        event["origin_server_ts"] = json!(self.origin_server_ts);
        if let Some(duration) = self.sticky_duration_ms {
            event["msc4354_sticky"] = json!({ "duration_ms": duration });
        }
        event
    }
}

fn ev(event_type: &str, state_key: Option<String>, sender: &str, content: Value) -> Ev {
    let event_id = format!(
        "$ev-{}",
        readable_id(sender, &state_key.clone().unwrap_or_default())
    );
    Ev {
        event_type: event_type.to_owned(),
        state_key,
        sender: sender.to_owned(),
        content,
        origin_server_ts: T0,
        event_id,
        sticky_duration_ms: None,
    }
}

/// A stable, readable event id from its parts.
fn readable_id(a: &str, b: &str) -> String {
    format!("{}{}", a.trim_start_matches('@'), b).replace([':', '.', '@', '_'], "")
}

/// Element Call's join content (MATRIXRTC.md §1a) for `user` on `device`, focus `sfu`.
pub fn session_content(user: &str, device: &str, sfu: &str) -> Value {
    json!({"application":"m.call","call_id":"","scope":"m.room","device_id":device,
     "membershipID":format!("{user}:{device}"),"expires":14400000,"m.call.intent":"video",
     "focus_active":{"type":"livekit","focus_selection":"multi_sfu"},
     "foci_preferred":[{"type":"livekit","livekit_alias":ROOM,
                        "livekit_service_url":sfu}]})
}

/// The session form as Element Call sends it: key `_@user_DEVICE_m.call`.
pub fn session(user: &str, device: &str) -> Ev {
    ev(
        CALL_MEMBER,
        Some(format!("_{user}_{device}_m.call")),
        user,
        session_content(user, device, SFU_A),
    )
}

/// The brief's `m.rtc.member` form (§1c) for `user` on `device`.
pub fn rtc_member(user: &str, device: &str, member_id: &str) -> Ev {
    ev(
        RTC_MEMBER,
        Some(format!("_{user}_{member_id}")),
        user,
        json!({"member":{"id":member_id,"device_id":device,"user_id":user},
         "focus_active":{"type":"livekit","focus_selection":"oldest_membership"},
         "foci_preferred":[{"type":"livekit","livekit_service_url":SFU_B,"livekit_alias":ROOM}],
         "session":{"application":"m.call","call_id":"","scope":"m.room"}}),
    )
}

/// The oldest array form (§1b) for `user` with one entry per device.
pub fn array(user: &str, devices: &[&str]) -> Ev {
    let memberships: Vec<Value> = devices
        .iter()
        .map(|d| {
            json!({"application":"m.call","call_id":"","scope":"m.room","device_id":d,
             "expires":3600000,"created_ts":T0,
             "foci_active":[{"type":"livekit","livekit_service_url":SFU_A,"livekit_alias":ROOM}],
             "membershipID":format!("m-{d}")})
        })
        .collect();
    ev(
        CALL_MEMBER,
        Some(user.to_owned()),
        user,
        json!({ "memberships": memberships }),
    )
}

/// The sticky timeline form (§1d) for `user` on `device`.
pub fn sticky(user: &str, device: &str) -> Ev {
    let mut e = ev(
        RTC_MEMBER_STICKY,
        None,
        user,
        json!({"application":{"type":"m.call","m.call.intent":"audio"},"slot_id":"m.call#ROOM",
         "rtc_transports":[{"type":"livekit","livekit_service_url":SFU_B}],
         "member":{"id":format!("sticky-{device}"),"device_id":device,"user_id":user},
         "msc4354_sticky_key":format!("sticky-{device}")}),
    );
    e.sticky_duration_ms = Some(HOUR);
    e
}

/// An owned notification that lends itself as a [`NotificationEvent`].
#[derive(Debug, Clone)]
pub struct NotifEv {
    pub event_type: String,
    pub event_id: String,
    pub sender: String,
    pub content: Value,
    pub origin_server_ts: u64,
}

impl NotifEv {
    pub fn event(&self) -> NotificationEvent<'_> {
        NotificationEvent {
            event_type: &self.event_type,
            event_id: &self.event_id,
            sender: &self.sender,
            content: &self.content,
            origin_server_ts: self.origin_server_ts,
        }
    }

    pub fn id(mut self, id: &str) -> Self {
        self.event_id = id.to_owned();
        self
    }

    pub fn set(mut self, field: &str, value: Value) -> Self {
        self.content[field] = value;
        self
    }

    pub fn delivered_at(mut self, ts: u64) -> Self {
        self.origin_server_ts = ts;
        self
    }

    /// The whole event as the homeserver serves it in a sync.
    pub fn json(&self) -> Value {
        let mut event = whole_event(
            &self.event_type,
            None,
            &self.sender,
            self.content.clone(),
            &self.event_id,
        );
        event["origin_server_ts"] = json!(self.origin_server_ts);
        event
    }
}

/// js-sdk's ring (MATRIXRTC.md §3) from `sender`, sent at `sender_ts`.
pub fn ring_from(sender: &str, sender_ts: u64) -> NotifEv {
    NotifEv {
        event_type: RTC_NOTIFICATION.to_owned(),
        event_id: "$notif1".to_owned(),
        sender: sender.to_owned(),
        content: json!({"m.mentions":{"user_ids":[],"room":true},"notification_type":"ring",
         "m.relates_to":{"rel_type":"m.reference","event_id":"$member_event"},
         "sender_ts":sender_ts,"lifetime":30000,"m.call.intent":"audio"}),
        origin_server_ts: sender_ts + 30,
    }
}

/// A whole event as the homeserver serves it: `type`, `state_key` (state events only), `sender`,
/// `content`, `origin_server_ts` (`T0`) and `event_id`.
pub fn whole_event(
    event_type: &str,
    state_key: Option<&str>,
    sender: &str,
    content: Value,
    event_id: &str,
) -> Value {
    let mut event = json!({"type":event_type,"sender":sender,"content":content,
        "origin_server_ts":T0,"event_id":event_id});
    if let Some(key) = state_key {
        event["state_key"] = json!(key);
    }
    event
}

/// `user`'s `m.room.member` event with `membership` (`join`, `leave`, `ban`, ...).
pub fn room_member(user: &str, membership: &str) -> Value {
    whole_event(
        "m.room.member",
        Some(user),
        user,
        json!({ "membership": membership }),
        &format!("$member-{}-{membership}", readable_id(user, "")),
    )
}

/// An `m.room.name` event naming the room `name`.
pub fn room_name(sender: &str, name: &str) -> Value {
    whole_event(
        "m.room.name",
        Some(""),
        sender,
        json!({ "name": name }),
        &format!("$name-{}", readable_id(sender, "")),
    )
}

/// An `m.room.canonical_alias` event.
pub fn canonical_alias(sender: &str, alias: &str) -> Value {
    whole_event(
        "m.room.canonical_alias",
        Some(""),
        sender,
        json!({ "alias": alias }),
        &format!("$alias-{}", readable_id(sender, "")),
    )
}

/// js-sdk's decline (MATRIXRTC.md §3) from `sender` of the notification `notification_id`.
pub fn decline_from(sender: &str, notification_id: &str) -> Value {
    whole_event(
        RTC_DECLINE,
        None,
        sender,
        json!({"m.relates_to":{"rel_type":"m.reference","event_id":notification_id},
         "msc4354_sticky_key":notification_id}),
        &format!(
            "$decline-{}",
            readable_id(sender, notification_id.trim_start_matches('$'))
        ),
    )
}

/// An `m.room.redaction` of `redacts` as room version 11 sends it (`content.redacts`).
pub fn redaction(sender: &str, redacts: &str) -> Value {
    whole_event(
        "m.room.redaction",
        None,
        sender,
        json!({ "redacts": redacts }),
        &format!(
            "$redaction-{}",
            readable_id(sender, redacts.trim_start_matches('$'))
        ),
    )
}

/// An `m.room.redaction` of `redacts` as rooms before version 11 send it (top-level `redacts`).
pub fn legacy_redaction(sender: &str, redacts: &str) -> Value {
    let mut event = redaction(sender, redacts);
    event["content"] = json!({});
    event["redacts"] = json!(redacts);
    event
}
