//! What Vestibule puts on the wire (MATRIXRTC.md §4): our memberships, rings and declines.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::focus::{FOCUS_LIVEKIT, Focus, FocusActive, FocusSelection};
use super::membership::CallIntent;
use super::ring::{DEFAULT_LIFETIME_MS, NotifyKind};
use super::state_key::StateKey;
use super::{
    APPLICATION_CALL, CALL_MEMBER, INTENT_KEY, RTC_DECLINE, RTC_MEMBER, RTC_NOTIFICATION,
    RTC_NOTIFY, SCOPE_ROOM,
};

/// A membership form we can publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublishForm {
    /// Element Call's session form, `org.matrix.msc3401.call.member` (§1a).
    Session,
    /// The brief's `m.rtc.member` form (§1c).
    RtcMember,
}

impl PublishForm {
    /// The forms published by default: the ones Element Call, Element X and the brief read.
    pub const DEFAULT: [PublishForm; 2] = [PublishForm::Session, PublishForm::RtcMember];

    /// The state event type of this form.
    pub fn event_type(self) -> &'static str {
        match self {
            Self::Session => CALL_MEMBER,
            Self::RtcMember => RTC_MEMBER,
        }
    }
}

/// Everything needed to describe our device in a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinParams {
    /// The room.
    pub room_id: String,
    /// The room's version (decides the state-key form).
    pub room_version: String,
    /// Our user id.
    pub user_id: String,
    /// This device.
    pub device_id: String,
    /// Our member id for `m.rtc.member` (random per join, chosen by the caller).
    pub member_id: String,
    /// The call id (`""` for the room's call).
    pub call_id: String,
    /// Audio or video.
    pub intent: CallIntent,
    /// Our foci, best first.
    pub foci: Vec<Focus>,
}

impl JoinParams {
    /// The `membershipID` of the session form: `user:device`, as Element Call writes it.
    pub fn session_member_id(&self) -> String {
        format!("{}:{}", self.user_id, self.device_id)
    }

    /// The state key of `form` for our device in this room.
    pub fn state_key(&self, form: PublishForm) -> String {
        match form {
            PublishForm::Session => {
                StateKey::for_session(&self.user_id, &self.device_id, &self.room_version)
            }
            PublishForm::RtcMember => {
                StateKey::for_rtc_member(&self.user_id, &self.member_id, &self.room_version)
            }
        }
        .to_string()
    }
}

/// A state event to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingState {
    /// The event type.
    pub event_type: &'static str,
    /// The state key.
    pub state_key: String,
    /// The content.
    pub content: Value,
}

/// The `focus_active` we publish: LiveKit, each member on its own SFU, as current Element Call.
fn our_focus_active() -> Value {
    FocusActive {
        kind: FOCUS_LIVEKIT.to_owned(),
        focus_selection: FocusSelection::MultiSfu,
    }
    .to_json()
}

fn foci_json(params: &JoinParams) -> Value {
    Value::Array(
        params
            .foci
            .iter()
            .map(|f| f.to_json_with_alias(&params.room_id))
            .collect(),
    )
}

/// Our membership in `form`. `created_ts` is `None` on the first join and the first join's time
/// on refreshes; `expires_ms` counts from it, so a refresh raises it (and so changes the content).
pub fn membership_state(
    form: PublishForm,
    params: &JoinParams,
    created_ts: Option<u64>,
    expires_ms: u64,
) -> OutgoingState {
    let mut content = match form {
        PublishForm::Session => json!({
            "application": APPLICATION_CALL,
            "call_id": params.call_id,
            "scope": SCOPE_ROOM,
            "device_id": params.device_id,
            "membershipID": params.session_member_id(),
            "expires": expires_ms,
            INTENT_KEY: params.intent.as_str(),
            "focus_active": our_focus_active(),
            "foci_preferred": foci_json(params),
        }),
        PublishForm::RtcMember => json!({
            "member": {
                "id": params.member_id,
                "device_id": params.device_id,
                "user_id": params.user_id,
            },
            "focus_active": our_focus_active(),
            "foci_preferred": foci_json(params),
            "session": {
                "application": APPLICATION_CALL,
                "call_id": params.call_id,
                "scope": SCOPE_ROOM,
                INTENT_KEY: params.intent.as_str(),
            },
            "expires": expires_ms,
        }),
    };
    if let Some(ts) = created_ts {
        content["created_ts"] = json!(ts);
    }
    OutgoingState {
        event_type: form.event_type(),
        state_key: params.state_key(form),
        content,
    }
}

/// Our leave in `form`: the same state key with content `{}`.
pub fn leave_state(form: PublishForm, params: &JoinParams) -> OutgoingState {
    OutgoingState {
        event_type: form.event_type(),
        state_key: params.state_key(form),
        content: json!({}),
    }
}

/// A message event to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// The event type.
    pub event_type: &'static str,
    /// The content.
    pub content: Value,
}

fn mention_room() -> Value {
    json!({ "user_ids": [], "room": true })
}

fn reference_to(event_id: &str) -> Value {
    json!({ "rel_type": "m.reference", "event_id": event_id })
}

/// Our ring (or notification) for the call we joined with `membership_event_id`:
/// `org.matrix.msc4075.rtc.notification`, plus the brief's `m.rtc.notify` when `with_rtc_notify`.
pub fn notifications(
    kind: NotifyKind,
    membership_event_id: &str,
    call_id: &str,
    intent: &CallIntent,
    sender_ts: u64,
    with_rtc_notify: bool,
) -> Vec<OutgoingMessage> {
    let mut out = vec![OutgoingMessage {
        event_type: RTC_NOTIFICATION,
        content: json!({
            "m.mentions": mention_room(),
            "notification_type": kind.as_str(),
            "m.relates_to": reference_to(membership_event_id),
            "sender_ts": sender_ts,
            "lifetime": DEFAULT_LIFETIME_MS,
            INTENT_KEY: intent.as_str(),
        }),
    }];
    if with_rtc_notify {
        out.push(OutgoingMessage {
            event_type: RTC_NOTIFY,
            content: json!({
                "application": APPLICATION_CALL,
                "m.mentions": mention_room(),
                "notify_type": kind.as_str(),
                "session": { "application": APPLICATION_CALL, "call_id": call_id, "scope": SCOPE_ROOM },
                "m.relates_to": reference_to(membership_event_id),
                "sender_ts": sender_ts,
                "lifetime": DEFAULT_LIFETIME_MS,
                INTENT_KEY: intent.as_str(),
            }),
        });
    }
    out
}

/// Our decline of the notification `notification_event_id`.
pub fn decline(notification_event_id: &str) -> OutgoingMessage {
    OutgoingMessage {
        event_type: RTC_DECLINE,
        content: json!({ "m.relates_to": reference_to(notification_event_id) }),
    }
}
