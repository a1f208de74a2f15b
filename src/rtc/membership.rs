//! Call memberships in every wire form (MATRIXRTC.md §1), read into one [`Membership`].
//!
//! Parsing is lenient: a field of an unexpected type is treated as absent, unknown keys are
//! ignored, and only a membership that lacks what identifies it (application, device, owner) or
//! whose sender is not its owner is rejected, with a [`Rejection`] saying why.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::focus::{Focus, FocusActive, foci_from_json};
use super::json::{Object, array_field, lenient_u64, obj_field, str_field, u64_field};
use super::state_key::{StateKey, StateKeyError};
use super::{
    CALL_MEMBER, CALL_MEMBER_STABLE, DEFAULT_MEMBERSHIP_EXPIRES_MS, DEFAULT_STICKY_DURATION_MS,
    INTENT_KEY, MAX_STICKY_DURATION_MS, RTC_MEMBER, RTC_MEMBER_STICKY,
};

/// Which wire form a membership arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WireForm {
    /// `org.matrix.msc3401.call.member`, one state event per device (§1a).
    Session,
    /// `org.matrix.msc3401.call.member` keyed by user with a `memberships` array (§1b).
    Array,
    /// The brief's `m.rtc.member` state event (§1c).
    RtcMember,
    /// The sticky timeline event `org.matrix.msc4143.rtc.member` (§1d).
    Sticky,
}

/// Audio or video, as `m.call.intent` says.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CallIntent {
    /// An audio call (`audio`, or the MSC text's `voice`).
    Audio,
    /// A video call.
    Video,
    /// Anything else, kept as sent.
    Other(String),
}

impl CallIntent {
    /// Reads an intent string.
    pub fn parse(s: &str) -> Self {
        match s {
            "audio" | "voice" => Self::Audio,
            "video" => Self::Video,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Audio => "audio",
            Self::Video => "video",
            Self::Other(s) => s,
        }
    }
}

/// One device's participation in a MatrixRTC session, whatever form it came in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The user who owns the membership (its state key's owner, checked against the sender).
    pub user_id: String,
    /// The device taking part.
    pub device_id: String,
    /// The member id (`membershipID`, `member.id`); `user:device` when none is given.
    pub member_id: String,
    /// The RTC application; only `m.call` is a call.
    pub application: String,
    /// The call id; `""` is the room's call.
    pub call_id: String,
    /// The scope (`m.room`).
    pub scope: String,
    /// When the device joined (ms since the epoch).
    pub created_ts: u64,
    /// How long after `created_ts` the membership lapses, in ms.
    pub expires_ms: u64,
    /// How the active focus is selected, when given.
    pub focus_active: Option<FocusActive>,
    /// The foci the member prefers, best first.
    pub foci_preferred: Vec<Focus>,
    /// Audio or video, when given.
    pub intent: Option<CallIntent>,
    /// The wire form it arrived in.
    pub form: WireForm,
    /// The id of the event that carried it, when known.
    pub event_id: Option<String>,
}

impl Membership {
    /// The instant (ms since the epoch) at which the membership stops counting.
    pub fn expires_at_ms(&self) -> u64 {
        self.created_ts.saturating_add(self.expires_ms)
    }

    /// Whether the membership still counts at `now_ms` (expiry is exclusive).
    pub fn is_active_at(&self, now_ms: u64) -> bool {
        now_ms < self.expires_at_ms()
    }
}

/// A membership event as it arrives from the homeserver, before any check.
#[derive(Debug, Clone, Copy)]
pub struct MembershipEvent<'a> {
    /// The event type.
    pub event_type: &'a str,
    /// The state key; `None` for the sticky timeline form.
    pub state_key: Option<&'a str>,
    /// Who sent it.
    pub sender: &'a str,
    /// The event content.
    pub content: &'a Value,
    /// The server's timestamp.
    pub origin_server_ts: u64,
    /// The event id, when known.
    pub event_id: Option<&'a str>,
    /// For sticky events, how long the server keeps them (`msc4354_sticky.duration_ms`).
    pub sticky_duration_ms: Option<u64>,
}

impl<'a> MembershipEvent<'a> {
    /// Reads the fields of a whole event as the homeserver serves it (`type`, `state_key`,
    /// `sender`, `content`, `origin_server_ts`, `event_id`, `msc4354_sticky.duration_ms`).
    pub fn from_event_json(event: &'a Value) -> Option<Self> {
        Some(Self {
            event_type: event.get("type")?.as_str()?,
            state_key: event.get("state_key").and_then(Value::as_str),
            sender: event.get("sender")?.as_str()?,
            content: event.get("content")?,
            origin_server_ts: event
                .get("origin_server_ts")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            event_id: event.get("event_id").and_then(Value::as_str),
            sticky_duration_ms: event
                .pointer("/msc4354_sticky/duration_ms")
                .and_then(Value::as_u64),
        })
    }
}

/// Identifies the slot a membership event fills: later events with the same key replace it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotKey {
    /// The event type (one of the membership types).
    pub event_type: &'static str,
    /// The state key, or `sender|sticky_key` for sticky events.
    pub key: String,
}

/// A parsed membership event: the slot it fills and the memberships it holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedMembershipEvent {
    /// The slot the event replaces.
    pub slot: SlotKey,
    /// The memberships it holds; empty when the event says the member left.
    pub memberships: Vec<Membership>,
}

/// Why a membership event was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Not one of the membership event types.
    #[error("not a call membership event type: {0}")]
    UnknownEventType(String),
    /// A state form arrived without a state key.
    #[error("membership state event without a state key")]
    MissingStateKey,
    /// The state key is not of any known form.
    #[error("unreadable state key: {0}")]
    BadStateKey(#[from] StateKeyError),
    /// The state key's form does not fit the event (e.g. an array form with a device suffix).
    #[error("state key {0:?} does not fit this membership form")]
    StateKeyForm(String),
    /// The sender is not the user the state key belongs to: a forgery.
    #[error("sender {sender} is not the owner {owner} of the state key")]
    ForgedSender {
        /// Who sent the event.
        sender: String,
        /// Who the key belongs to.
        owner: String,
    },
    /// `member.user_id` names someone other than the sender.
    #[error("member.user_id {user_id} is not the sender {sender}")]
    UserIdMismatch {
        /// Who sent the event.
        sender: String,
        /// Who the content claims.
        user_id: String,
    },
    /// The content is not a JSON object.
    #[error("content is not an object")]
    NotAnObject,
    /// A field that identifies the membership is missing or of the wrong type.
    #[error("missing or malformed {0}")]
    MissingField(&'static str),
}

/// Whether `event_type` is one of the membership event types.
pub fn is_membership_type(event_type: &str) -> bool {
    membership_type(event_type).is_some()
}

/// The membership type constant equal to `event_type`, if it is one.
pub(crate) fn membership_type(event_type: &str) -> Option<&'static str> {
    [
        CALL_MEMBER,
        CALL_MEMBER_STABLE,
        RTC_MEMBER,
        RTC_MEMBER_STICKY,
    ]
    .into_iter()
    .find(|t| *t == event_type)
}

/// Parses and validates a membership event of any form.
pub fn parse_membership_event(
    ev: &MembershipEvent<'_>,
) -> Result<ParsedMembershipEvent, Rejection> {
    match (ev.event_type, ev.state_key) {
        (CALL_MEMBER | CALL_MEMBER_STABLE, Some(key)) => parse_call_member(ev, key),
        (RTC_MEMBER, Some(key)) => parse_rtc_member(ev, key),
        (RTC_MEMBER_STICKY | RTC_MEMBER, None) => parse_sticky(ev),
        (CALL_MEMBER | CALL_MEMBER_STABLE, None) => Err(Rejection::MissingStateKey),
        (other, _) => Err(Rejection::UnknownEventType(other.to_owned())),
    }
}

/// Checks that the sender owns `key` and returns the parsed key.
fn owned_key(ev: &MembershipEvent<'_>, key: &str) -> Result<StateKey, Rejection> {
    let parsed = StateKey::parse(key)?;
    if parsed.owner != ev.sender {
        return Err(Rejection::ForgedSender {
            sender: ev.sender.to_owned(),
            owner: parsed.owner,
        });
    }
    Ok(parsed)
}

fn content_object<'a>(ev: &MembershipEvent<'a>) -> Result<&'a Object, Rejection> {
    ev.content.as_object().ok_or(Rejection::NotAnObject)
}

/// A content that says "left": `{}`, optionally with `leave_reason`.
fn is_leave(obj: &Object) -> bool {
    obj.keys().all(|k| k == "leave_reason")
}

/// Whether a state content says "left" (or is no membership object at all).
pub fn is_leave_content(content: &Value) -> bool {
    content.as_object().is_none_or(is_leave)
}

/// The `org.matrix.msc3401.call.member` forms: per-device session (§1a) or array (§1b).
fn parse_call_member(
    ev: &MembershipEvent<'_>,
    key: &str,
) -> Result<ParsedMembershipEvent, Rejection> {
    let state_key = owned_key(ev, key)?;
    let obj = content_object(ev)?;
    let slot = SlotKey {
        event_type: membership_type(ev.event_type)
            .ok_or_else(|| Rejection::UnknownEventType(ev.event_type.to_owned()))?,
        key: key.to_owned(),
    };
    if is_leave(obj) {
        return Ok(ParsedMembershipEvent {
            slot,
            memberships: Vec::new(),
        });
    }
    if let Some(items) = array_field(obj, "memberships") {
        if state_key.rest.is_some() {
            return Err(Rejection::StateKeyForm(key.to_owned()));
        }
        // Each array item stands alone: a bad one is skipped, the others still count.
        let memberships = items
            .iter()
            .filter_map(Value::as_object)
            .filter_map(|item| session_fields(ev, item, None, WireForm::Array).ok())
            .collect();
        return Ok(ParsedMembershipEvent { slot, memberships });
    }
    let key_device = state_key.session_device();
    if key_device.is_none() {
        return Err(Rejection::StateKeyForm(key.to_owned()));
    }
    let membership = session_fields(ev, obj, key_device, WireForm::Session)?;
    Ok(ParsedMembershipEvent {
        slot,
        memberships: vec![membership],
    })
}

/// The fields shared by the session form and the array form's items.
fn session_fields(
    ev: &MembershipEvent<'_>,
    obj: &Object,
    key_device: Option<&str>,
    form: WireForm,
) -> Result<Membership, Rejection> {
    // One pass over the keys: this is the hot path when a large account's lobbies are built.
    let mut f = SessionFieldRefs::default();
    for (key, value) in obj {
        let slot = match key.as_str() {
            "application" => &mut f.application,
            "device_id" => &mut f.device_id,
            "created_ts" => &mut f.created_ts,
            "expires" => &mut f.expires,
            "expires_ts" => &mut f.expires_ts,
            "foci_preferred" => &mut f.foci_preferred,
            "foci_active" => &mut f.foci_active,
            "membershipID" => &mut f.membership_id,
            "call_id" => &mut f.call_id,
            "scope" => &mut f.scope,
            "focus_active" => &mut f.focus_active,
            INTENT_KEY => &mut f.intent,
            _ => continue,
        };
        *slot = Some(value);
    }
    let application = as_str(f.application).ok_or(Rejection::MissingField("application"))?;
    let device_id = as_str(f.device_id)
        .or(key_device)
        .ok_or(Rejection::MissingField("device_id"))?;
    let created_ts = as_u64(f.created_ts).unwrap_or(ev.origin_server_ts);
    let expires_ms = as_u64(f.expires)
        .or_else(|| as_u64(f.expires_ts).map(|at| at.saturating_sub(created_ts)))
        .unwrap_or(DEFAULT_MEMBERSHIP_EXPIRES_MS);
    let mut foci_preferred = foci_from_json(f.foci_preferred.and_then(Value::as_array));
    if foci_preferred.is_empty() {
        // The array form names the focus it uses in `foci_active`.
        foci_preferred = foci_from_json(f.foci_active.and_then(Value::as_array));
    }
    Ok(Membership {
        user_id: ev.sender.to_owned(),
        device_id: device_id.to_owned(),
        member_id: as_str(f.membership_id)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{}:{device_id}", ev.sender)),
        application: application.to_owned(),
        call_id: as_str(f.call_id).unwrap_or("").to_owned(),
        scope: as_str(f.scope).unwrap_or(super::SCOPE_ROOM).to_owned(),
        created_ts,
        expires_ms,
        focus_active: f
            .focus_active
            .and_then(Value::as_object)
            .map(FocusActive::from_json),
        foci_preferred,
        intent: as_str(f.intent).map(CallIntent::parse),
        form,
        event_id: ev.event_id.map(str::to_owned),
    })
}

fn as_str(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str)
}

fn as_u64(v: Option<&Value>) -> Option<u64> {
    v.and_then(lenient_u64)
}

/// The fields of a session-form content, found in one pass.
#[derive(Default)]
struct SessionFieldRefs<'a> {
    application: Option<&'a Value>,
    device_id: Option<&'a Value>,
    created_ts: Option<&'a Value>,
    expires: Option<&'a Value>,
    expires_ts: Option<&'a Value>,
    foci_preferred: Option<&'a Value>,
    foci_active: Option<&'a Value>,
    membership_id: Option<&'a Value>,
    call_id: Option<&'a Value>,
    scope: Option<&'a Value>,
    focus_active: Option<&'a Value>,
    intent: Option<&'a Value>,
}

/// The `member` object of §1c/§1d: id, device and user, the user checked against the sender.
/// The newest sticky drafts omit `user_id` (the sender is the user) and `device_id`.
fn member_fields<'a>(
    ev: &MembershipEvent<'_>,
    obj: &'a Object,
    require_user: bool,
) -> Result<(Option<&'a str>, Option<&'a str>), Rejection> {
    let member = obj_field(obj, "member").ok_or(Rejection::MissingField("member"))?;
    match str_field(member, "user_id") {
        Some(user_id) if user_id != ev.sender => {
            return Err(Rejection::UserIdMismatch {
                sender: ev.sender.to_owned(),
                user_id: user_id.to_owned(),
            });
        }
        None if require_user => return Err(Rejection::MissingField("member.user_id")),
        _ => {}
    }
    Ok((str_field(member, "device_id"), str_field(member, "id")))
}

/// The brief's `m.rtc.member` state event (§1c).
fn parse_rtc_member(
    ev: &MembershipEvent<'_>,
    key: &str,
) -> Result<ParsedMembershipEvent, Rejection> {
    let state_key = owned_key(ev, key)?;
    let obj = content_object(ev)?;
    let slot = SlotKey {
        event_type: membership_type(ev.event_type)
            .ok_or_else(|| Rejection::UnknownEventType(ev.event_type.to_owned()))?,
        key: key.to_owned(),
    };
    if is_leave(obj) {
        return Ok(ParsedMembershipEvent {
            slot,
            memberships: Vec::new(),
        });
    }
    let (device_id, member_id) = member_fields(ev, obj, true)?;
    let device_id = device_id.ok_or(Rejection::MissingField("member.device_id"))?;
    let member_id = member_id
        .or(state_key.rest.as_deref())
        .ok_or(Rejection::MissingField("member.id"))?;
    let session = obj_field(obj, "session").ok_or(Rejection::MissingField("session"))?;
    let application =
        str_field(session, "application").ok_or(Rejection::MissingField("session.application"))?;
    let created_ts = u64_field(obj, "created_ts").unwrap_or(ev.origin_server_ts);
    let membership = Membership {
        user_id: ev.sender.to_owned(),
        device_id: device_id.to_owned(),
        member_id: member_id.to_owned(),
        application: application.to_owned(),
        call_id: str_field(session, "call_id").unwrap_or("").to_owned(),
        scope: str_field(session, "scope")
            .unwrap_or(super::SCOPE_ROOM)
            .to_owned(),
        created_ts,
        expires_ms: u64_field(obj, "expires").unwrap_or(DEFAULT_MEMBERSHIP_EXPIRES_MS),
        focus_active: obj_field(obj, "focus_active").map(FocusActive::from_json),
        foci_preferred: foci_from_json(array_field(obj, "foci_preferred")),
        intent: str_field(session, INTENT_KEY)
            .or_else(|| str_field(obj, INTENT_KEY))
            .map(CallIntent::parse),
        form: WireForm::RtcMember,
        event_id: ev.event_id.map(str::to_owned),
    };
    Ok(ParsedMembershipEvent {
        slot,
        memberships: vec![membership],
    })
}

/// The sticky timeline form `org.matrix.msc4143.rtc.member` (§1d).
fn parse_sticky(ev: &MembershipEvent<'_>) -> Result<ParsedMembershipEvent, Rejection> {
    let obj = content_object(ev)?;
    let sticky_key = str_field(obj, "msc4354_sticky_key");
    let member_id = obj_field(obj, "member").and_then(|m| str_field(m, "id"));
    let slot_id = sticky_key
        .or(member_id)
        .ok_or(Rejection::MissingField("msc4354_sticky_key"))?;
    let slot = SlotKey {
        event_type: RTC_MEMBER_STICKY,
        key: format!("{}|{slot_id}", ev.sender),
    };
    // js-sdk 43 keeps `slot_id` beside the key in its leave.
    if obj.keys().all(|k| {
        matches!(
            k.as_str(),
            "msc4354_sticky_key" | "leave_reason" | "slot_id"
        )
    }) {
        return Ok(ParsedMembershipEvent {
            slot,
            memberships: Vec::new(),
        });
    }
    let (device_id, member_id) = member_fields(ev, obj, false)?;
    let member_id = member_id.unwrap_or(slot_id);
    let device_id = device_id.unwrap_or(member_id);
    let application =
        obj_field(obj, "application").ok_or(Rejection::MissingField("application"))?;
    let app_type =
        str_field(application, "type").ok_or(Rejection::MissingField("application.type"))?;
    // The slot is `APPLICATION#ID`; `ROOM` is the room's own call, `""` in the older forms.
    let slot_call = str_field(obj, "slot_id")
        .and_then(|s| s.split_once('#'))
        .map(|(_, id)| {
            if id.eq_ignore_ascii_case("ROOM") {
                ""
            } else {
                id
            }
        });
    let call_id = str_field(application, "call_id")
        .or(slot_call)
        .unwrap_or("");
    let duration_ms = ev
        .sticky_duration_ms
        .unwrap_or(DEFAULT_STICKY_DURATION_MS)
        .min(MAX_STICKY_DURATION_MS);
    let membership = Membership {
        user_id: ev.sender.to_owned(),
        device_id: device_id.to_owned(),
        member_id: member_id.to_owned(),
        application: app_type.to_owned(),
        call_id: call_id.to_owned(),
        scope: str_field(application, "scope")
            .unwrap_or(super::SCOPE_ROOM)
            .to_owned(),
        created_ts: ev.origin_server_ts,
        expires_ms: duration_ms,
        focus_active: None,
        // `rtc_transports` in Element Call today; `transports.published` in newer drafts.
        foci_preferred: foci_from_json(
            array_field(obj, "rtc_transports")
                .or_else(|| obj_field(obj, "transports").and_then(|t| array_field(t, "published"))),
        ),
        intent: str_field(application, INTENT_KEY)
            .or_else(|| str_field(obj, INTENT_KEY))
            .map(CallIntent::parse),
        form: WireForm::Sticky,
        event_id: ev.event_id.map(str::to_owned),
    };
    Ok(ParsedMembershipEvent {
        slot,
        memberships: vec![membership],
    })
}
