//! Our own membership in one room and one wire form (MATRIXRTC.md §4–§5), as a state machine.
//!
//! The caller says what it wants ([`OwnMembership::join`] / [`OwnMembership::leave`]), asks
//! [`OwnMembership::poll`] for the next [`Action`] at `now_ms`, performs it, and reports the
//! outcome with [`OwnMembership::on_response`]. One request is in flight at a time;
//! [`OwnMembership::next_wakeup_ms`] says when to poll again. With delayed events (MSC4140) the
//! machine schedules a delayed leave before joining and restarts it every few seconds, so a crash
//! leaves no stale entry; without them it only refreshes `expires`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::DEFAULT_MEMBERSHIP_EXPIRES_MS;
use super::publish::{JoinParams, PublishForm, leave_state, membership_state};

/// The longest wait a server's `Retry-After` may impose: a call that waits longer is as good as
/// lost, and a wrong header must not park it for hours.
pub const MAX_RETRY_AFTER_MS: u64 = 5 * 60 * 1000;

/// Timings of the own-membership machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnConfig {
    /// The delay of the delayed leave (Element Call: 10 s).
    pub delay_ms: u64,
    /// How often the delayed leave is restarted (js-sdk: 5 s).
    pub restart_interval_ms: u64,
    /// How much `expires` grows at each refresh (4 h).
    pub expires_step_ms: u64,
    /// How long before `expires` runs out the membership is refreshed.
    pub refresh_headroom_ms: u64,
    /// The first back-off after a network error; it doubles up to `max_backoff_ms`.
    pub base_backoff_ms: u64,
    /// The longest back-off.
    pub max_backoff_ms: u64,
}

impl Default for OwnConfig {
    fn default() -> Self {
        Self {
            delay_ms: 10_000,
            restart_interval_ms: 5_000,
            expires_step_ms: DEFAULT_MEMBERSHIP_EXPIRES_MS,
            refresh_headroom_ms: 5 * 60 * 1000,
            base_backoff_ms: 1_000,
            max_backoff_ms: 30_000,
        }
    }
}

/// What the caller must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Schedule a delayed state event with content `{}` (the delayed leave); answer
    /// [`Reply::DelayId`].
    ScheduleDelayedLeave {
        /// The event type.
        event_type: &'static str,
        /// The state key.
        state_key: String,
        /// The delay.
        delay_ms: u64,
    },
    /// Send a state event (a join, a refresh or a leave); answer [`Reply::EventId`].
    SendState {
        /// The event type.
        event_type: &'static str,
        /// The state key.
        state_key: String,
        /// The content.
        content: Value,
    },
    /// Restart the delayed leave's timer; answer [`Reply::Done`].
    RestartDelayedLeave {
        /// The delayed event.
        delay_id: String,
    },
    /// Send the delayed leave now; answer [`Reply::Done`].
    SendDelayedLeaveNow {
        /// The delayed event.
        delay_id: String,
    },
    /// Cancel the delayed leave; answer [`Reply::Done`].
    CancelDelayedLeave {
        /// The delayed event.
        delay_id: String,
    },
}

/// A successful answer to an [`Action`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The delayed event was scheduled.
    DelayId(String),
    /// The state event was sent.
    EventId(String),
    /// The request succeeded.
    Done,
}

/// A failed answer to an [`Action`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Failure {
    /// `M_NOT_FOUND` (e.g. the delayed event is gone).
    #[error("not found")]
    NotFound,
    /// 429: try again after `retry_after_ms` (or a back-off when absent).
    #[error("rate limited")]
    RateLimited {
        /// What the server asked us to wait.
        retry_after_ms: Option<u64>,
    },
    /// The server could not be reached.
    #[error("network error")]
    Network,
    /// `M_FORBIDDEN`: the power levels do not let us send this.
    #[error("forbidden")]
    Forbidden,
    /// The server does not support delayed events.
    #[error("delayed events unsupported")]
    Unsupported,
    /// We are not in the room (any more): nothing was sent.
    #[error("not in the room")]
    NotInRoom,
    /// Something on this computer failed (the local store, a full disk), as a sentence.
    #[error("{0}")]
    Local(String),
    /// Anything else, with the server's words.
    #[error("{0}")]
    Other(String),
}

/// Where our membership stands, for the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OwnState {
    /// Not in the call.
    NotJoined,
    /// Publishing our membership.
    Joining,
    /// In the call (our membership is published and kept alive).
    Joined,
    /// Withdrawing our membership.
    Leaving,
    /// Joining failed for good.
    Failed(Failure),
}

/// Something to tell the user once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// The server has no delayed events: a crash may leave a stale entry until it expires.
    NoDelayedEvents,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    Schedule,
    Join,
    Refresh,
    Restart,
    FireLeave,
    SendLeave,
    Cancel,
}

/// Our membership of one form in one room.
#[derive(Debug, Clone)]
pub struct OwnMembership {
    config: OwnConfig,
    form: PublishForm,
    params: JoinParams,
    want_joined: bool,
    delayed_events: bool,
    delay_id: Option<String>,
    published: bool,
    event_id: Option<String>,
    created_ts: Option<u64>,
    expires_ms: u64,
    next_restart_ms: u64,
    in_flight: Option<Request>,
    retry_at_ms: u64,
    failures: u32,
    failed: Option<Failure>,
    notice: Option<Notice>,
    warned: bool,
    /// Whether `created_ts` is the server's time of our join (else our own clock's).
    created_ts_from_server: bool,
}

impl OwnMembership {
    /// A machine for `form` in the room of `params`; `delayed_events` is the server's
    /// MSC4140 support as advertised.
    pub fn new(
        form: PublishForm,
        params: JoinParams,
        delayed_events: bool,
        config: OwnConfig,
    ) -> Self {
        Self {
            config,
            form,
            params,
            want_joined: false,
            delayed_events,
            delay_id: None,
            published: false,
            event_id: None,
            created_ts: None,
            expires_ms: config.expires_step_ms,
            next_restart_ms: 0,
            in_flight: None,
            retry_at_ms: 0,
            failures: 0,
            failed: None,
            notice: None,
            warned: false,
            created_ts_from_server: false,
        }
    }

    /// The form this machine publishes.
    pub fn form(&self) -> PublishForm {
        self.form
    }

    /// The state key this machine publishes under.
    pub fn state_key(&self) -> String {
        self.params.state_key(self.form)
    }

    /// The id of our current membership event, once published.
    pub fn event_id(&self) -> Option<&str> {
        self.event_id.as_deref()
    }

    /// We want to be in the call.
    pub fn join(&mut self) {
        if !self.delayed_events && !self.warned {
            self.warned = true;
            self.notice = Some(Notice::NoDelayedEvents);
        }
        self.want_joined = true;
        self.failed = None;
        self.failures = 0;
        self.retry_at_ms = 0;
    }

    /// We want to leave the call.
    pub fn leave(&mut self) {
        self.want_joined = false;
        self.failures = 0;
        self.retry_at_ms = 0;
    }

    /// Where our membership stands.
    pub fn state(&self) -> OwnState {
        match (&self.failed, self.want_joined, self.published) {
            (Some(f), _, _) if !self.published => OwnState::Failed(f.clone()),
            (_, true, true) => OwnState::Joined,
            (_, true, false) => OwnState::Joining,
            (_, false, _) if self.published || self.in_flight.is_some() => OwnState::Leaving,
            _ => OwnState::NotJoined,
        }
    }

    /// Whether the machine has nothing left to do (not joined, nothing pending).
    pub fn is_idle(&self) -> bool {
        !self.want_joined && !self.published && self.delay_id.is_none() && self.in_flight.is_none()
    }

    /// Something to tell the user, once.
    pub fn take_notice(&mut self) -> Option<Notice> {
        self.notice.take()
    }

    /// Our membership state event as seen in the room: `present` is whether it still holds our
    /// membership. If it vanished (the delayed leave fired while we were away, or someone
    /// overwrote it) while we want to be joined, we publish again.
    ///
    /// When it is our join event (`event_id`), its server timestamp becomes `created_ts`, so
    /// that refreshes count from the same instant as every other client does.
    pub fn on_room_state(&mut self, present: bool, event_id: Option<&str>, origin_server_ts: u64) {
        if self.want_joined && self.published && !present && self.in_flight.is_none() {
            self.published = false;
            self.delay_id = None;
        }
        if present
            && !self.created_ts_from_server
            && event_id.is_some()
            && event_id == self.event_id.as_deref()
        {
            self.created_ts = Some(origin_server_ts);
            self.created_ts_from_server = true;
        }
    }

    /// The next action at `now_ms`, if any is due and none is in flight.
    pub fn poll(&mut self, now_ms: u64) -> Option<Action> {
        if self.in_flight.is_some() || now_ms < self.retry_at_ms {
            return None;
        }
        let (request, action) = self.next_request(now_ms)?;
        self.in_flight = Some(request);
        Some(action)
    }

    fn next_request(&self, now_ms: u64) -> Option<(Request, Action)> {
        let delay_id = self.delay_id.clone();
        if self.want_joined && self.failed.is_none() {
            if self.delayed_events && delay_id.is_none() {
                return Some((
                    Request::Schedule,
                    Action::ScheduleDelayedLeave {
                        event_type: self.form.event_type(),
                        state_key: self.params.state_key(self.form),
                        delay_ms: self.config.delay_ms,
                    },
                ));
            }
            if !self.published {
                return Some((Request::Join, self.send_membership()));
            }
            if let Some(delay_id) = delay_id.filter(|_| now_ms >= self.next_restart_ms) {
                return Some((Request::Restart, Action::RestartDelayedLeave { delay_id }));
            }
            if now_ms >= self.refresh_at_ms() {
                let mut next = self.clone();
                next.expires_ms += self.config.expires_step_ms;
                return Some((Request::Refresh, next.send_membership()));
            }
            return None;
        }
        if self.published {
            return Some(match delay_id {
                Some(delay_id) if self.delayed_events => {
                    (Request::FireLeave, Action::SendDelayedLeaveNow { delay_id })
                }
                _ => {
                    let leave = leave_state(self.form, &self.params);
                    (
                        Request::SendLeave,
                        Action::SendState {
                            event_type: leave.event_type,
                            state_key: leave.state_key,
                            content: leave.content,
                        },
                    )
                }
            });
        }
        delay_id.map(|delay_id| (Request::Cancel, Action::CancelDelayedLeave { delay_id }))
    }

    fn send_membership(&self) -> Action {
        let state = membership_state(self.form, &self.params, self.created_ts, self.expires_ms);
        Action::SendState {
            event_type: state.event_type,
            state_key: state.state_key,
            content: state.content,
        }
    }

    fn refresh_at_ms(&self) -> u64 {
        self.created_ts
            .unwrap_or(0)
            .saturating_add(self.expires_ms)
            .saturating_sub(self.config.refresh_headroom_ms)
    }

    /// When to poll next (ms since the epoch), if the machine is waiting for time to pass: a
    /// past time means "poll now", and `poll` then has work. `None` when nothing is left to do
    /// without a call from outside (a request in flight, not joined, or failed).
    pub fn next_wakeup_ms(&self) -> Option<u64> {
        if self.in_flight.is_some() {
            return None;
        }
        // A back-off only postpones work that is there: alone it is no reason to wake.
        self.due_at_ms().map(|due| due.max(self.retry_at_ms))
    }

    /// When [`OwnMembership::next_request`] next has work, ignoring any back-off (0: now).
    fn due_at_ms(&self) -> Option<u64> {
        if self.want_joined && self.failed.is_none() {
            if (self.delayed_events && self.delay_id.is_none()) || !self.published {
                return Some(0);
            }
            let refresh = self.refresh_at_ms();
            return Some(match self.delay_id {
                Some(_) => self.next_restart_ms.min(refresh),
                None => refresh,
            });
        }
        (self.published || self.delay_id.is_some()).then_some(0)
    }

    /// Reports the outcome of the action last returned by [`OwnMembership::poll`].
    pub fn on_response(&mut self, result: Result<Reply, Failure>, now_ms: u64) {
        let Some(request) = self.in_flight.take() else {
            return;
        };
        match result {
            Ok(reply) => {
                self.failures = 0;
                self.retry_at_ms = 0;
                self.on_success(request, reply, now_ms);
            }
            Err(failure) => self.on_failure(request, failure, now_ms),
        }
    }

    fn on_success(&mut self, request: Request, reply: Reply, now_ms: u64) {
        match request {
            Request::Schedule => {
                if let Reply::DelayId(id) = reply {
                    self.delay_id = Some(id);
                }
            }
            Request::Join => {
                self.published = true;
                if let Reply::EventId(id) = reply {
                    self.event_id = Some(id);
                }
                self.created_ts.get_or_insert(now_ms);
                // Some servers cancel the delayed leave on the state change: restart it at once.
                self.next_restart_ms = now_ms;
            }
            Request::Refresh => {
                self.expires_ms += self.config.expires_step_ms;
                if let Reply::EventId(id) = reply {
                    self.event_id = Some(id);
                }
            }
            Request::Restart => {
                self.next_restart_ms = now_ms.saturating_add(self.config.restart_interval_ms);
            }
            Request::FireLeave | Request::SendLeave => self.forget_membership(),
            Request::Cancel => self.delay_id = None,
        }
    }

    fn on_failure(&mut self, request: Request, failure: Failure, now_ms: u64) {
        // Only the branches that retry the same request wait; the others go on at once.
        self.retry_at_ms = 0;
        match (&failure, request) {
            (Failure::RateLimited { retry_after_ms }, _) => {
                let wait = retry_after_ms
                    .map_or_else(|| self.backoff_ms(), |ms| ms.min(MAX_RETRY_AFTER_MS));
                self.failures += 1;
                self.retry_at_ms = now_ms.saturating_add(wait);
            }
            (Failure::Network, _) => {
                let wait = self.backoff_ms();
                self.failures += 1;
                self.retry_at_ms = now_ms.saturating_add(wait);
            }
            (Failure::Unsupported, Request::Schedule | Request::Restart | Request::FireLeave) => {
                self.delayed_events = false;
                self.delay_id = None;
                if !self.warned {
                    self.warned = true;
                    self.notice = Some(Notice::NoDelayedEvents);
                }
            }
            (Failure::NotFound, Request::Restart) => {
                // The delayed leave is gone, and may have fired: schedule anew and publish again.
                // When we are leaving anyway, stay "published" so that a plain leave follows.
                self.delay_id = None;
                self.published = !self.want_joined && self.published;
            }
            (Failure::NotFound, Request::FireLeave) => {
                // Already fired or cancelled: make sure with a plain leave.
                self.delay_id = None;
            }
            (Failure::NotFound, Request::Cancel) => self.delay_id = None,
            (_, Request::Restart) => {
                // Retried; should the leave fire meanwhile, the next restart answers
                // `NotFound` and we publish again.
                let wait = self.backoff_ms();
                self.failures += 1;
                self.retry_at_ms = now_ms.saturating_add(wait);
            }
            (_, Request::Schedule | Request::Join | Request::Refresh) => {
                self.failed = Some(failure);
                // Nothing is retried after a final failure.
                self.failures = 0;
                if request == Request::Refresh {
                    // We are still published: withdraw rather than linger half-joined.
                    self.want_joined = false;
                }
            }
            (_, Request::FireLeave) => self.delay_id = None,
            (_, Request::SendLeave | Request::Cancel) => {
                // Nothing more we can do; the membership lapses through `expires` or the delay.
                self.forget_membership();
            }
        }
    }

    fn forget_membership(&mut self) {
        self.published = false;
        self.delay_id = None;
        self.event_id = None;
        self.created_ts = None;
        self.created_ts_from_server = false;
        self.expires_ms = self.config.expires_step_ms;
    }

    fn backoff_ms(&self) -> u64 {
        let factor = 1u64 << self.failures.min(16);
        self.config
            .base_backoff_ms
            .saturating_mul(factor)
            .min(self.config.max_backoff_ms)
    }
}
