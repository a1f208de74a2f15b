//! Ringing (MATRIXRTC.md §3): reading notifications and declines, and deciding when we ring.
//!
//! [`RingTracker`] is fed every notification, decline, redaction and lobby change with `now_ms`
//! and answers with [`RingOutput`]s: start ringing, only notify, wait for the call to appear,
//! ignore (with the reason), or stop (with the reason). It rings once per call however many
//! notifications arrive, never for an expired notification, and never twice for the same one.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::json::{Object, array_field, bool_field, obj_field, str_field, u64_field};
use super::lobby::{CallKey, Lobby};
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

    /// When it stops ringing: start plus lifetime (30 s when absent, at most 90 s).
    pub fn expires_at_ms(&self) -> u64 {
        let lifetime = self
            .lifetime_ms
            .unwrap_or(DEFAULT_LIFETIME_MS)
            .min(MAX_LIFETIME_MS);
        self.start_ms().saturating_add(lifetime)
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
    let kind = match str_field(obj, type_key).ok_or(RingParseError::MissingField("notify type"))? {
        "ring" => NotifyKind::Ring,
        _ => NotifyKind::Notification,
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

/// Who we are: rings from us are ignored, our devices in a call stop a ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    /// Our user id.
    pub user_id: String,
    /// This device.
    pub device_id: String,
}

/// A call that is ringing (or notifying) us.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingCall {
    /// The room.
    pub room_id: String,
    /// The notification that started it.
    pub notification_event_id: String,
    /// Who is calling.
    pub caller: String,
    /// Ring or notify.
    pub kind: NotifyKind,
    /// Audio or video, when known.
    pub intent: Option<CallIntent>,
    /// Which call.
    pub call: CallKey,
    /// When it stops ringing on its own (ms since the epoch).
    pub expires_at_ms: u64,
}

/// Why a notification does not ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
pub enum IgnoreReason {
    /// We sent it.
    #[error("sent by us")]
    FromUs,
    /// This notification was already handled.
    #[error("already handled")]
    Duplicate,
    /// Its lifetime is over.
    #[error("expired")]
    Expired,
    /// It does not mention us.
    #[error("does not mention us")]
    NotMentioned,
    /// Its application is not a call.
    #[error("not a call")]
    NotACall,
    /// This call already rang.
    #[error("this call already rang")]
    AlreadyRang,
    /// One of our devices is in the call already.
    #[error("already in the call")]
    AlreadyInCall,
    /// The call never became active.
    #[error("the call never started")]
    CallNeverStarted,
    /// We or our other device declined it before it arrived.
    #[error("declined")]
    Declined,
    /// It was redacted while waiting for its call.
    #[error("redacted")]
    Redacted,
}

/// Why a ring stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
pub enum StopReason {
    /// Its lifetime ended unanswered.
    #[error("nobody answered")]
    Expired,
    /// We answered here.
    #[error("answered")]
    Answered,
    /// Another of our devices joined the call.
    #[error("answered on another device")]
    AnsweredElsewhere,
    /// We declined here.
    #[error("declined")]
    Declined,
    /// Another of our devices declined.
    #[error("declined on another device")]
    DeclinedElsewhere,
    /// The call has nobody left in it.
    #[error("the call ended")]
    CallEnded,
    /// The caller left the call.
    #[error("the caller left")]
    CallerLeft,
    /// The notification was redacted.
    #[error("the call was cancelled")]
    Redacted,
}

impl StopReason {
    /// Whether the user missed the call (it ended without being answered or declined).
    pub fn is_missed(self) -> bool {
        matches!(
            self,
            Self::Expired | Self::CallEnded | Self::CallerLeft | Self::Redacted
        )
    }
}

/// What the ring state machine decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RingOutput {
    /// Start ringing: ringtone and notification.
    Ring(IncomingCall),
    /// Show a notification without a ringtone.
    Notify(IncomingCall),
    /// The call is not active yet: wait up to a few seconds for it.
    Waiting {
        /// The room.
        room_id: String,
        /// The notification.
        event_id: String,
    },
    /// The notification does not ring.
    Ignore {
        /// The room.
        room_id: String,
        /// The notification.
        event_id: String,
        /// Why.
        reason: IgnoreReason,
    },
    /// A ring (or notification) stops.
    Stop {
        /// The call that stops ringing.
        call: IncomingCall,
        /// Why.
        reason: StopReason,
    },
}

#[derive(Debug, Clone)]
struct Tracked {
    incoming: IncomingCall,
    /// `Some(deadline)` while waiting for the call to appear; `None` once ringing.
    waiting_until: Option<u64>,
    caller_seen: bool,
}

/// The incoming-ring state machine of one account.
#[derive(Debug, Clone)]
pub struct RingTracker {
    me: Me,
    tracked: Vec<Tracked>,
    /// Notifications already handled, kept until they expire.
    seen: HashMap<String, u64>,
    /// Declines from us that arrived before their notification, kept for the longest lifetime.
    declined_early: HashMap<String, u64>,
    /// Calls that rang, with the call's start time then: later notifications for the same call
    /// (a call started no later) do not ring.
    rang: HashMap<(String, CallKey), u64>,
}

impl RingTracker {
    /// A tracker for our account and device.
    pub fn new(me: Me) -> Self {
        Self {
            me,
            tracked: Vec::new(),
            seen: HashMap::new(),
            declined_early: HashMap::new(),
            rang: HashMap::new(),
        }
    }

    /// Who we are.
    pub fn me(&self) -> &Me {
        &self.me
    }

    /// The calls ringing or notifying us now (not those still waiting for their call).
    pub fn ringing(&self) -> impl Iterator<Item = &IncomingCall> {
        self.tracked
            .iter()
            .filter(|t| t.waiting_until.is_none())
            .map(|t| &t.incoming)
    }

    /// Decides what a notification in `room_id` does, given the room's lobby.
    pub fn on_notification(
        &mut self,
        room_id: &str,
        n: &Notification,
        lobby: &Lobby,
        now_ms: u64,
    ) -> RingOutput {
        let ignore = |reason| RingOutput::Ignore {
            room_id: room_id.to_owned(),
            event_id: n.event_id.clone(),
            reason,
        };
        if n.sender == self.me.user_id {
            return ignore(IgnoreReason::FromUs);
        }
        // Forget what has expired, so these sets stay small even when `tick` is never due.
        self.seen.retain(|_, until| now_ms < *until);
        self.declined_early.retain(|_, until| now_ms < *until);
        if self.seen.contains_key(&n.event_id) {
            return ignore(IgnoreReason::Duplicate);
        }
        let expires_at_ms = n.expires_at_ms();
        if now_ms >= expires_at_ms {
            return ignore(IgnoreReason::Expired);
        }
        self.seen.insert(n.event_id.clone(), expires_at_ms);
        if self.declined_early.remove(&n.event_id).is_some() {
            return ignore(IgnoreReason::Declined);
        }
        if !n.mentions(&self.me.user_id) {
            return ignore(IgnoreReason::NotMentioned);
        }
        if n.call.application != APPLICATION_CALL {
            return ignore(IgnoreReason::NotACall);
        }
        if self
            .tracked
            .iter()
            .any(|t| t.incoming.room_id == room_id && t.incoming.call == n.call)
        {
            return ignore(IgnoreReason::AlreadyRang);
        }
        let call = lobby.call(&n.call);
        if let (Some(call), Some(rang_at)) =
            (call, self.rang.get(&(room_id.to_owned(), n.call.clone())))
            && call.started_ts() <= *rang_at
        {
            return ignore(IgnoreReason::AlreadyRang);
        }
        if call.is_some_and(|c| c.has_user(&self.me.user_id)) {
            return ignore(IgnoreReason::AlreadyInCall);
        }
        let incoming = IncomingCall {
            room_id: room_id.to_owned(),
            notification_event_id: n.event_id.clone(),
            caller: n.sender.clone(),
            kind: n.kind,
            intent: n.intent.clone(),
            call: n.call.clone(),
            expires_at_ms,
        };
        match call {
            Some(call) => {
                let caller_seen = call.has_user(&n.sender);
                self.start(incoming, caller_seen, call.started_ts())
            }
            None => {
                self.tracked.push(Tracked {
                    incoming,
                    waiting_until: Some(
                        now_ms
                            .saturating_add(CALL_APPEAR_GRACE_MS)
                            .min(expires_at_ms),
                    ),
                    caller_seen: false,
                });
                RingOutput::Waiting {
                    room_id: room_id.to_owned(),
                    event_id: n.event_id.clone(),
                }
            }
        }
    }

    /// Rings for `incoming`; `call_started_ts` (the call's oldest join, a server-side time)
    /// tells this call from a later one in the same room.
    fn start(
        &mut self,
        incoming: IncomingCall,
        caller_seen: bool,
        call_started_ts: u64,
    ) -> RingOutput {
        self.rang.insert(
            (incoming.room_id.clone(), incoming.call.clone()),
            call_started_ts,
        );
        self.tracked.push(Tracked {
            incoming: incoming.clone(),
            waiting_until: None,
            caller_seen,
        });
        match incoming.kind {
            NotifyKind::Ring => RingOutput::Ring(incoming),
            NotifyKind::Notification => RingOutput::Notify(incoming),
        }
    }

    /// Re-checks the rings of `room_id` after its lobby changed: a waiting ring starts when its
    /// call appears; a ring stops when one of our devices joins, the caller leaves or the call ends.
    pub fn on_lobby(&mut self, room_id: &str, lobby: &Lobby, now_ms: u64) -> Vec<RingOutput> {
        let mut out = Vec::new();
        let mut started = Vec::new();
        let me = &self.me.user_id;
        self.tracked.retain_mut(|t| {
            if t.incoming.room_id != room_id {
                return true;
            }
            let call = lobby.call(&t.incoming.call);
            let stop = |reason| RingOutput::Stop {
                call: t.incoming.clone(),
                reason,
            };
            match (t.waiting_until, call) {
                (Some(_), None) => true,
                (Some(_), Some(call)) if call.has_user(me) => {
                    out.push(RingOutput::Ignore {
                        room_id: room_id.to_owned(),
                        event_id: t.incoming.notification_event_id.clone(),
                        reason: IgnoreReason::AlreadyInCall,
                    });
                    false
                }
                (Some(_), Some(_)) if now_ms >= t.incoming.expires_at_ms => {
                    // The call showed up only after the ring's lifetime: too late to ring.
                    out.push(RingOutput::Ignore {
                        room_id: room_id.to_owned(),
                        event_id: t.incoming.notification_event_id.clone(),
                        reason: IgnoreReason::Expired,
                    });
                    false
                }
                (Some(_), Some(call)) => {
                    started.push((
                        t.incoming.clone(),
                        call.has_user(&t.incoming.caller),
                        call.started_ts(),
                    ));
                    false
                }
                (None, None) => {
                    out.push(stop(StopReason::CallEnded));
                    false
                }
                (None, Some(call)) if call.has_user(me) => {
                    out.push(stop(StopReason::AnsweredElsewhere));
                    false
                }
                (None, Some(call)) => {
                    let caller_here = call.has_user(&t.incoming.caller);
                    if t.caller_seen && !caller_here {
                        out.push(stop(StopReason::CallerLeft));
                        return false;
                    }
                    t.caller_seen |= caller_here;
                    true
                }
            }
        });
        for (incoming, caller_seen, call_started_ts) in started {
            out.push(self.start(incoming, caller_seen, call_started_ts));
        }
        // A call that is over may ring again when a new one starts.
        self.rang
            .retain(|(room, key), _| room != room_id || lobby.call(key).is_some());
        out
    }

    /// Handles a decline event in `room_id` from `sender` for `notification_event_id`.
    pub fn on_decline(
        &mut self,
        room_id: &str,
        sender: &str,
        notification_event_id: &str,
        now_ms: u64,
    ) -> Vec<RingOutput> {
        if sender != self.me.user_id {
            // Someone else declining their own ring is no reason for us to stop.
            return Vec::new();
        }
        let stopped = self.remove_where(
            |t| {
                t.incoming.room_id == room_id
                    && t.incoming.notification_event_id == notification_event_id
            },
            StopReason::DeclinedElsewhere,
            IgnoreReason::Declined,
        );
        if stopped.is_empty() && !self.seen.contains_key(notification_event_id) {
            let keep_until = now_ms.saturating_add(MAX_LIFETIME_MS + SENDER_TS_SKEW_MS);
            self.declined_early
                .insert(notification_event_id.to_owned(), keep_until);
        }
        stopped
    }

    /// Handles the redaction of `event_id` in `room_id`.
    pub fn on_redaction(&mut self, room_id: &str, event_id: &str) -> Vec<RingOutput> {
        self.remove_where(
            |t| t.incoming.room_id == room_id && t.incoming.notification_event_id == event_id,
            StopReason::Redacted,
            IgnoreReason::Redacted,
        )
    }

    /// We answer the rings of `room_id` here.
    pub fn answer(&mut self, room_id: &str) -> Vec<RingOutput> {
        self.remove_where(
            |t| t.incoming.room_id == room_id,
            StopReason::Answered,
            IgnoreReason::AlreadyInCall,
        )
    }

    /// We decline the rings of `room_id` here; the stopped calls name the notifications to decline.
    pub fn decline(&mut self, room_id: &str) -> Vec<RingOutput> {
        self.remove_where(
            |t| t.incoming.room_id == room_id,
            StopReason::Declined,
            IgnoreReason::Declined,
        )
    }

    /// Expires rings whose lifetime is over and waits that ran out; forgets old notifications.
    pub fn tick(&mut self, now_ms: u64) -> Vec<RingOutput> {
        self.seen.retain(|_, until| now_ms < *until);
        self.declined_early.retain(|_, until| now_ms < *until);
        let mut out = Vec::new();
        self.tracked.retain(|t| match t.waiting_until {
            Some(deadline) if now_ms >= deadline => {
                out.push(RingOutput::Ignore {
                    room_id: t.incoming.room_id.clone(),
                    event_id: t.incoming.notification_event_id.clone(),
                    reason: IgnoreReason::CallNeverStarted,
                });
                false
            }
            None if now_ms >= t.incoming.expires_at_ms => {
                out.push(RingOutput::Stop {
                    call: t.incoming.clone(),
                    reason: StopReason::Expired,
                });
                false
            }
            _ => true,
        });
        out
    }

    /// When [`RingTracker::tick`] next has something to do (ms since the epoch).
    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.tracked
            .iter()
            .map(|t| t.waiting_until.unwrap_or(t.incoming.expires_at_ms))
            .min()
    }

    fn remove_where(
        &mut self,
        matches: impl Fn(&Tracked) -> bool,
        stop: StopReason,
        ignore: IgnoreReason,
    ) -> Vec<RingOutput> {
        let mut out = Vec::new();
        self.tracked.retain(|t| {
            if !matches(t) {
                return true;
            }
            out.push(match t.waiting_until {
                None => RingOutput::Stop {
                    call: t.incoming.clone(),
                    reason: stop,
                },
                Some(_) => RingOutput::Ignore {
                    room_id: t.incoming.room_id.clone(),
                    event_id: t.incoming.notification_event_id.clone(),
                    reason: ignore,
                },
            });
            false
        });
        out
    }
}
