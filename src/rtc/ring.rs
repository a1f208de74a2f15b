//! Ringing (MATRIXRTC.md §3): deciding when we ring.
//!
//! [`RingTracker`] is fed every notification, decline, redaction and lobby change with `now_ms`
//! and answers with [`RingOutput`]s: start ringing, only notify, wait for the call to appear,
//! ignore (with the reason), or stop (with the reason). It rings once per call however many
//! notifications arrive, never for an expired notification, and never twice for the same one.
//! Reading the events themselves is [`notification`](super::notification)'s.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::APPLICATION_CALL;
use super::lobby::{CallKey, Lobby};
use super::membership::CallIntent;
pub use super::notification::{
    CALL_APPEAR_GRACE_MS, DEFAULT_LIFETIME_MS, MAX_LIFETIME_MS, Notification, NotificationEvent,
    NotificationForm, NotifyKind, RingParseError, SENDER_TS_SKEW_MS, is_decline_type,
    is_notification_type, parse_decline, parse_notification,
};
use super::power::PowerLevels;

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
    /// Why a `ring` only notifies (then `kind` is [`NotifyKind::Notification`]): the sender is
    /// not someone who may ring us aloud (MATRIXRTC.md §3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quieted: Option<QuietReason>,
}

/// Why a ring shows only as a quiet notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum QuietReason {
    /// Not a direct chat, we are not mentioned by user id, and the sender may not notify `@room`.
    #[error("the sender may not ring the whole room")]
    MayNotRingRoom,
    /// The sender holds no live membership of the call they ring for.
    #[error("the caller is not in the call")]
    CallerNotInCall,
}

/// What the room says about the people in it when a ring or redaction arrives.
#[derive(Debug, Clone, Copy)]
pub struct RoomTrust<'a> {
    /// A direct chat (`m.direct`, or exactly two joined members): the other member may ring.
    pub direct: bool,
    /// The room's power levels.
    pub power: &'a PowerLevels,
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
    /// The sender rang in this room too often lately ([`RING_FLOOD_BUDGET`]).
    #[error("the sender rang here too often")]
    RingFlood,
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
    /// When each (room, sender)'s recent notifications got past the checks, oldest first: a
    /// flood (leave, join, ring, again and again) rings a few times, not for ever.
    recent_rings: HashMap<(String, String), Vec<u64>>,
}

/// How long a ring counts against its sender's budget in a room.
pub const RING_FLOOD_WINDOW_MS: u64 = 10 * 60_000;
/// How many rings one sender may make in one room within [`RING_FLOOD_WINDOW_MS`]: enough to
/// call back twice after a decline or a dropped call, not enough to keep a room ringing.
pub const RING_FLOOD_BUDGET: usize = 3;

impl RingTracker {
    /// A tracker for our account and device.
    pub fn new(me: Me) -> Self {
        Self {
            me,
            tracked: Vec::new(),
            seen: HashMap::new(),
            declined_early: HashMap::new(),
            rang: HashMap::new(),
            recent_rings: HashMap::new(),
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
        trust: RoomTrust<'_>,
        now_ms: u64,
    ) -> RingOutput {
        let expires_at_ms = match self.admit(room_id, n, lobby, now_ms) {
            Ok(expires_at_ms) => expires_at_ms,
            Err(reason) => {
                return RingOutput::Ignore {
                    room_id: room_id.to_owned(),
                    event_id: n.event_id.clone(),
                    reason,
                };
            }
        };
        let may_ring_aloud = trust.direct
            || n.mentioned_users.contains(&self.me.user_id)
            || trust.power.may_notify_room(&n.sender);
        let incoming = IncomingCall {
            room_id: room_id.to_owned(),
            notification_event_id: n.event_id.clone(),
            caller: n.sender.clone(),
            kind: n.kind,
            intent: n.intent.clone(),
            call: n.call.clone(),
            expires_at_ms,
            quieted: (n.kind == NotifyKind::Ring && !may_ring_aloud)
                .then_some(QuietReason::MayNotRingRoom),
        };
        match lobby.call(&n.call) {
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

    /// Whether a notification may ring: when it stops ringing (ms since the epoch), or why it
    /// is ignored. A notification that gets this far is remembered as handled.
    fn admit(
        &mut self,
        room_id: &str,
        n: &Notification,
        lobby: &Lobby,
        now_ms: u64,
    ) -> Result<u64, IgnoreReason> {
        if n.sender == self.me.user_id {
            return Err(IgnoreReason::FromUs);
        }
        // Forget what has expired, so these sets stay small even when `tick` is never due.
        self.seen.retain(|_, until| now_ms < *until);
        self.declined_early.retain(|_, until| now_ms < *until);
        if self.seen.contains_key(&n.event_id) {
            return Err(IgnoreReason::Duplicate);
        }
        let expires_at_ms = n.expires_at_ms_by(now_ms);
        if now_ms >= expires_at_ms {
            return Err(IgnoreReason::Expired);
        }
        self.seen.insert(n.event_id.clone(), expires_at_ms);
        if self.declined_early.remove(&n.event_id).is_some() {
            return Err(IgnoreReason::Declined);
        }
        if !n.mentions(&self.me.user_id) {
            return Err(IgnoreReason::NotMentioned);
        }
        if n.call.application != APPLICATION_CALL {
            return Err(IgnoreReason::NotACall);
        }
        if self
            .tracked
            .iter()
            .any(|t| t.incoming.room_id == room_id && t.incoming.call == n.call)
        {
            return Err(IgnoreReason::AlreadyRang);
        }
        let call = lobby.call(&n.call);
        if let (Some(call), Some(rang_at)) =
            (call, self.rang.get(&(room_id.to_owned(), n.call.clone())))
            && call.started_ts() <= *rang_at
        {
            return Err(IgnoreReason::AlreadyRang);
        }
        if call.is_some_and(|c| c.has_user(&self.me.user_id)) {
            return Err(IgnoreReason::AlreadyInCall);
        }
        self.recent_rings.retain(|_, times| {
            times.retain(|at| now_ms < at.saturating_add(RING_FLOOD_WINDOW_MS));
            !times.is_empty()
        });
        let recent = self
            .recent_rings
            .entry((room_id.to_owned(), n.sender.clone()))
            .or_default();
        if recent.len() >= RING_FLOOD_BUDGET {
            return Err(IgnoreReason::RingFlood);
        }
        recent.push(now_ms);
        Ok(expires_at_ms)
    }

    /// Rings for `incoming`; `call_started_ts` (the call's oldest join, a server-side time)
    /// tells this call from a later one in the same room.
    fn start(
        &mut self,
        mut incoming: IncomingCall,
        caller_seen: bool,
        call_started_ts: u64,
    ) -> RingOutput {
        if incoming.kind == NotifyKind::Ring && incoming.quieted.is_none() && !caller_seen {
            incoming.quieted = Some(QuietReason::CallerNotInCall);
        }
        if incoming.quieted.is_some() {
            incoming.kind = NotifyKind::Notification;
        }
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

    /// Handles the redaction of `event_id` in `room_id` by `sender`: it stops a ring only when
    /// it comes from the ring's sender or from someone allowed to redact others' events.
    pub fn on_redaction(
        &mut self,
        room_id: &str,
        event_id: &str,
        sender: &str,
        trust: RoomTrust<'_>,
    ) -> Vec<RingOutput> {
        let may_redact = |caller: &str| caller == sender || trust.power.may_redact_others(sender);
        self.remove_where(
            |t| {
                t.incoming.room_id == room_id
                    && t.incoming.notification_event_id == event_id
                    && may_redact(&t.incoming.caller)
            },
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
