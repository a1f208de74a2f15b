//! Call notifications and declines (MATRIXRTC.md §3) in every form, read into one
//! [`Notification`]: who rings, which call, for how long, whom it mentions.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::json::{Object, array_field, bool_field, obj_field, str_field, u64_field};
use super::lobby::CallKey;
use super::membership::CallIntent;
use super::{
    APPLICATION_CALL, CALL_NOTIFY, CALL_NOTIFY_STABLE, INTENT_KEY, RTC_DECLINE, RTC_DECLINE_STABLE,
    RTC_NOTIFICATION, RTC_NOTIFICATION_STABLE, RTC_NOTIFY, SCOPE_ROOM,
};

/// A notification's lifetime when it names none (30 s).
pub const DEFAULT_LIFETIME_MS: u64 = 30_000;
/// The longest a notification may ring, whatever its `lifetime` says (90 s).
pub const MAX_LIFETIME_MS: u64 = 90_000;
/// When `sender_ts` and `origin_server_ts` differ by this much, the server's clock wins (20 s).
pub const SENDER_TS_SKEW_MS: u64 = 20_000;
/// How long a ring waits for its call's first membership to arrive (5 s).
pub const CALL_APPEAR_GRACE_MS: u64 = 5_000;

/// `ring` (ringtone and notification) or `notification` (notification only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NotifyKind {
    /// Ring: play the ringtone and show the notification.
    Ring,
    /// Only show a notification.
    Notification,
}

impl NotifyKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ring => "ring",
            Self::Notification => "notification",
        }
    }
}

/// Which event type carried a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NotificationForm {
    /// `org.matrix.msc4075.rtc.notification` / `m.rtc.notification` (`notification_type`).
    RtcNotification,
    /// `org.matrix.msc4075.call.notify` / `m.call.notify` (`notify_type`).
    CallNotify,
    /// The brief's `m.rtc.notify` (`notify_type`, `session`).
    RtcNotify,
}

/// A notification event as it arrives.
#[derive(Debug, Clone, Copy)]
pub struct NotificationEvent<'a> {
    /// The event type.
    pub event_type: &'a str,
    /// The event id.
    pub event_id: &'a str,
    /// Who sent it.
    pub sender: &'a str,
    /// The (decrypted) content.
    pub content: &'a Value,
    /// The server's timestamp.
    pub origin_server_ts: u64,
}

impl<'a> NotificationEvent<'a> {
    /// Reads the fields of a whole event as the homeserver serves it.
    pub fn from_event_json(event: &'a Value) -> Option<Self> {
        Some(Self {
            event_type: event.get("type")?.as_str()?,
            event_id: event.get("event_id")?.as_str()?,
            sender: event.get("sender")?.as_str()?,
            content: event.get("content")?,
            origin_server_ts: event
                .get("origin_server_ts")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        })
    }
}

/// A parsed call notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// The event id.
    pub event_id: String,
    /// The caller.
    pub sender: String,
    /// Ring or notify.
    pub kind: NotifyKind,
    /// The event type it came in.
    pub form: NotificationForm,
    /// Which call it is for.
    pub call: CallKey,
    /// The server's timestamp.
    pub origin_server_ts: u64,
    /// The sender's timestamp, when given.
    pub sender_ts: Option<u64>,
    /// The lifetime the sender asked for, when given.
    pub lifetime_ms: Option<u64>,
    /// Whether the whole room is mentioned.
    pub mentions_room: bool,
    /// The users mentioned.
    pub mentioned_users: Vec<String>,
    /// Audio or video, when given.
    pub intent: Option<CallIntent>,
    /// The membership event it relates to, when given.
    pub membership_event_id: Option<String>,
}

impl Notification {
    /// When the ring started: `sender_ts`, unless it is 20 s or more off the server's time.
    pub fn start_ms(&self) -> u64 {
        match self.sender_ts {
            Some(ts) if ts.abs_diff(self.origin_server_ts) < SENDER_TS_SKEW_MS => ts,
            _ => self.origin_server_ts,
        }
    }

    /// When the ring started as seen at `now_ms`: [`Notification::start_ms`], but neither
    /// timestamp counts past now, so a crafted future time cannot stretch a ring.
    pub fn start_ms_by(&self, now_ms: u64) -> u64 {
        let origin = self.origin_server_ts.min(now_ms);
        match self.sender_ts.map(|ts| ts.min(now_ms)) {
            Some(ts) if ts.abs_diff(origin) < SENDER_TS_SKEW_MS => ts,
            _ => origin,
        }
    }

    /// When it stops ringing as seen at `now_ms`: [`Notification::start_ms_by`] plus the
    /// lifetime (30 s when absent, at most 90 s).
    pub fn expires_at_ms_by(&self, now_ms: u64) -> u64 {
        self.start_ms_by(now_ms).saturating_add(self.lifetime())
    }

    fn lifetime(&self) -> u64 {
        self.lifetime_ms
            .unwrap_or(DEFAULT_LIFETIME_MS)
            .min(MAX_LIFETIME_MS)
    }

    /// When it stops ringing: start plus lifetime (30 s when absent, at most 90 s).
    pub fn expires_at_ms(&self) -> u64 {
        self.start_ms().saturating_add(self.lifetime())
    }

    /// Whether it mentions `user_id` (directly or through `room: true`).
    pub fn mentions(&self, user_id: &str) -> bool {
        self.mentions_room || self.mentioned_users.iter().any(|u| u == user_id)
    }
}

/// Why a notification or decline could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RingParseError {
    /// Not a notification or decline type.
    #[error("not a call notification type: {0}")]
    UnknownEventType(String),
    /// The content is not a JSON object.
    #[error("content is not an object")]
    NotAnObject,
    /// A required field is missing or of the wrong type.
    #[error("missing or malformed {0}")]
    MissingField(&'static str),
}

/// Whether `event_type` is one of the notification types.
pub fn is_notification_type(event_type: &str) -> bool {
    matches!(
        event_type,
        RTC_NOTIFICATION | RTC_NOTIFICATION_STABLE | CALL_NOTIFY | CALL_NOTIFY_STABLE | RTC_NOTIFY
    )
}

/// Whether `event_type` is one of the decline types.
pub fn is_decline_type(event_type: &str) -> bool {
    matches!(event_type, RTC_DECLINE | RTC_DECLINE_STABLE)
}

/// Parses a notification of any form.
pub fn parse_notification(ev: &NotificationEvent<'_>) -> Result<Notification, RingParseError> {
    let obj = ev.content.as_object().ok_or(RingParseError::NotAnObject)?;
    let (form, type_key) = match ev.event_type {
        RTC_NOTIFICATION | RTC_NOTIFICATION_STABLE => {
            (NotificationForm::RtcNotification, "notification_type")
        }
        CALL_NOTIFY | CALL_NOTIFY_STABLE => (NotificationForm::CallNotify, "notify_type"),
        RTC_NOTIFY => (NotificationForm::RtcNotify, "notify_type"),
        other => return Err(RingParseError::UnknownEventType(other.to_owned())),
    };
    let kind = match str_field(obj, type_key) {
        Some("ring") => NotifyKind::Ring,
        Some(_) => NotifyKind::Notification,
        // js-sdk 43 may leave the deprecated type out: a notification with a slot rings.
        None if str_field(obj, "slot_id").is_some() => NotifyKind::Ring,
        None => return Err(RingParseError::MissingField("notify type")),
    };
    let call = match form {
        // The notification relates to the caller's membership in the room's call.
        NotificationForm::RtcNotification => CallKey::room_call(),
        NotificationForm::CallNotify => call_key(obj, obj),
        NotificationForm::RtcNotify => call_key(obj_field(obj, "session").unwrap_or(obj), obj),
    };
    let mentions = obj_field(obj, "m.mentions");
    Ok(Notification {
        event_id: ev.event_id.to_owned(),
        sender: ev.sender.to_owned(),
        kind,
        form,
        call,
        origin_server_ts: ev.origin_server_ts,
        sender_ts: u64_field(obj, "sender_ts"),
        lifetime_ms: u64_field(obj, "lifetime"),
        mentions_room: mentions
            .and_then(|m| bool_field(m, "room"))
            .unwrap_or(false),
        mentioned_users: mentions
            .and_then(|m| array_field(m, "user_ids"))
            .map(|ids| {
                ids.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        intent: str_field(obj, INTENT_KEY).map(CallIntent::parse),
        membership_event_id: reference(obj).map(str::to_owned),
    })
}

fn call_key(session: &Object, outer: &Object) -> CallKey {
    CallKey {
        application: str_field(session, "application")
            .or_else(|| str_field(outer, "application"))
            .unwrap_or(APPLICATION_CALL)
            .to_owned(),
        call_id: str_field(session, "call_id").unwrap_or("").to_owned(),
        scope: str_field(session, "scope").unwrap_or(SCOPE_ROOM).to_owned(),
    }
}

/// The event id of an `m.reference` relation.
fn reference(obj: &Object) -> Option<&str> {
    // Some js-sdk versions wrote the relation under `m.relation`.
    let rel = obj_field(obj, "m.relates_to").or_else(|| obj_field(obj, "m.relation"))?;
    (str_field(rel, "rel_type") == Some("m.reference"))
        .then(|| str_field(rel, "event_id"))
        .flatten()
}

/// Reads a decline: the notification event id it declines.
pub fn parse_decline(event_type: &str, content: &Value) -> Result<String, RingParseError> {
    if !is_decline_type(event_type) {
        return Err(RingParseError::UnknownEventType(event_type.to_owned()));
    }
    let obj = content.as_object().ok_or(RingParseError::NotAnObject)?;
    reference(obj)
        .map(str::to_owned)
        .ok_or(RingParseError::MissingField("m.relates_to"))
}
