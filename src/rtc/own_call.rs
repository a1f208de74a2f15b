//! Our part in one room's call (MATRIXRTC.md §3–§5): one [`OwnMembership`] per wire form we
//! publish, the ring we send once they are out, and leaving when nobody answers it.
//!
//! The caller joins or leaves, calls [`OwnCall::poll`] with `now_ms` and the room's lobby after
//! anything happened, carries out the [`OwnCallEffect`]s, and reports each request's outcome with
//! [`OwnCall::on_response`]. [`OwnCall::next_wakeup_ms`] says when to poll again.

use super::lobby::{CallKey, Lobby};
use super::membership::{CallIntent, MembershipEvent, is_leave_content};
use super::own::{Action, Failure, Notice, OwnConfig, OwnMembership, OwnState, Reply};
use super::publish::{self, JoinParams, OutgoingMessage, PublishForm};
use super::ring::{DEFAULT_LIFETIME_MS, Me, NotifyKind};

/// What the caller must do after [`OwnCall::poll`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnCallEffect {
    /// Carry out `action` for the machine of `form`, then report with [`OwnCall::on_response`].
    Perform {
        /// The wire form whose machine asked.
        form: PublishForm,
        /// The request to make.
        action: Action,
    },
    /// Send our ring (or notification): every membership form is out now.
    SendRing(Vec<OutgoingMessage>),
    /// Tell the user once.
    Notice(Notice),
    /// Nobody else joined within our ring's lifetime, so we are leaving, as Element Call does.
    Unanswered,
    /// Our state in the call changed to this.
    StateChanged(OwnState),
}

/// Our part in one room's call: a machine per form, plus the ring we owe the room.
#[derive(Debug, Clone)]
pub struct OwnCall {
    machines: Vec<OwnMembership>,
    intent: CallIntent,
    /// The call id (`""`: the room's call).
    call_id: String,
    /// Whether our ring also goes out as the brief's `m.rtc.notify`.
    with_rtc_notify: bool,
    /// A ring/notification to send once our membership is published.
    pending_notify: Option<NotifyKind>,
    /// When our ring went out; if nobody joins within its lifetime we leave.
    rang_at_ms: Option<u64>,
    /// Someone else was in the call after we rang.
    answered: bool,
    /// The state last reported through [`OwnCallEffect::StateChanged`].
    reported: OwnState,
}

/// How we join: the forms to publish and what the server can do.
#[derive(Debug, Clone)]
pub struct JoinPlan {
    /// Our device and call.
    pub params: JoinParams,
    /// The wire forms to publish (those the power levels allow), at least one.
    pub forms: Vec<PublishForm>,
    /// Whether the server has delayed events (MSC4140).
    pub delayed_events: bool,
    /// The machines' timings.
    pub config: OwnConfig,
    /// Ring or notify the room once joined.
    pub notify: Option<NotifyKind>,
    /// Whether our ring also goes out as `m.rtc.notify`.
    pub with_rtc_notify: bool,
}

impl OwnCall {
    /// Starts joining as `plan` says.
    pub fn join(plan: JoinPlan) -> Self {
        let JoinPlan {
            params,
            forms,
            delayed_events,
            config,
            notify,
            with_rtc_notify,
        } = plan;
        let intent = params.intent.clone();
        let call_id = params.call_id.clone();
        let machines = forms
            .into_iter()
            .map(|form| {
                let mut m = OwnMembership::new(form, params.clone(), delayed_events, config);
                m.join();
                m
            })
            .collect();
        Self {
            machines,
            intent,
            call_id,
            with_rtc_notify,
            pending_notify: notify,
            rang_at_ms: None,
            answered: false,
            reported: OwnState::NotJoined,
        }
    }

    /// We want to be in the call again (already joined, joining or still leaving): the same
    /// machines carry on, so their in-flight requests stay theirs. A new `notify` replaces the
    /// pending one.
    pub fn rejoin(&mut self, notify: Option<NotifyKind>) {
        for m in &mut self.machines {
            m.join();
        }
        if notify.is_some() {
            self.pending_notify = notify;
        }
    }

    /// We want to leave: every form is withdrawn and an unsent ring is dropped.
    pub fn leave(&mut self) {
        self.pending_notify = None;
        for m in &mut self.machines {
            m.leave();
        }
    }

    /// Where we stand, all forms together: joining while any form is on its way, joined once
    /// every form we publish is out (a refused form does not hold us back), then leaving, then
    /// the first failure.
    pub fn state(&self) -> OwnState {
        let states: Vec<OwnState> = self.machines.iter().map(OwnMembership::state).collect();
        let any = |wanted: OwnState| states.contains(&wanted);
        if any(OwnState::Joining) {
            OwnState::Joining
        } else if any(OwnState::Joined) {
            OwnState::Joined
        } else if any(OwnState::Leaving) {
            OwnState::Leaving
        } else if let Some(failed) = states.iter().find(|s| matches!(s, OwnState::Failed(_))) {
            failed.clone()
        } else {
            OwnState::NotJoined
        }
    }

    /// Whether any form is joined or on its way (a refusal of one form leaves the others in).
    pub fn is_joining_or_joined(&self) -> bool {
        self.machines
            .iter()
            .any(|m| matches!(m.state(), OwnState::Joined | OwnState::Joining))
    }

    /// The membership event our ring relates to: the session form's once it is out (that is
    /// what Element Call looks up), else the first published one (the session form may be
    /// refused by the room's power levels).
    pub fn ring_target(&self) -> Option<&str> {
        let session = self
            .machines
            .iter()
            .find(|m| m.form() == PublishForm::Session)
            .and_then(OwnMembership::event_id);
        session.or_else(|| self.machines.iter().find_map(OwnMembership::event_id))
    }

    /// Audio or video.
    pub fn intent(&self) -> &CallIntent {
        &self.intent
    }

    /// Whether nothing is left to do: every form is withdrawn and nothing is pending.
    pub fn is_idle(&self) -> bool {
        self.machines.iter().all(OwnMembership::is_idle)
    }

    /// Reports the outcome of the request last asked of `form`'s machine.
    pub fn on_response(&mut self, form: PublishForm, result: Result<Reply, Failure>, now_ms: u64) {
        if let Some(m) = self.machines.iter_mut().find(|m| m.form() == form) {
            m.on_response(result, now_ms);
        }
    }

    /// A membership state event seen in the room: tells the machine of its slot whether the
    /// slot still holds our membership (§5: publish again when it vanished).
    pub fn on_membership_event(&mut self, ev: &MembershipEvent<'_>, me: &Me) {
        let Some(key) = ev.state_key else {
            return;
        };
        let present = ev.sender == me.user_id && !is_leave_content(ev.content);
        for m in &mut self.machines {
            if m.form().event_type() == ev.event_type && m.state_key() == key {
                m.on_room_state(present, ev.event_id, ev.origin_server_ts);
            }
        }
    }

    /// What is due at `now_ms`, given the room's `lobby`: requests of the machines, our ring
    /// once we are joined, leaving when nobody answered it, and state changes.
    pub fn poll(&mut self, now_ms: u64, lobby: &Lobby, me: &Me) -> Vec<OwnCallEffect> {
        let mut effects = Vec::new();
        if self.check_unanswered(now_ms, lobby, me) {
            self.leave();
            effects.push(OwnCallEffect::Unanswered);
        }
        for m in &mut self.machines {
            if let Some(action) = m.poll(now_ms) {
                effects.push(OwnCallEffect::Perform {
                    form: m.form(),
                    action,
                });
            }
            if let Some(notice) = m.take_notice() {
                effects.push(OwnCallEffect::Notice(notice));
            }
        }
        let state = self.state();
        if state == OwnState::Joined
            && let Some(kind) = self.pending_notify
            && let Some(event_id) = self.ring_target()
        {
            let messages = publish::notifications(
                kind,
                event_id,
                &self.call_id,
                &self.intent,
                now_ms,
                self.with_rtc_notify,
            );
            self.pending_notify = None;
            self.rang_at_ms = Some(now_ms);
            self.answered = false;
            effects.push(OwnCallEffect::SendRing(messages));
        }
        if state != self.reported {
            self.reported = state.clone();
            effects.push(OwnCallEffect::StateChanged(state));
        }
        effects
    }

    /// Whether our ring's lifetime ran out with nobody else in the call since we rang.
    fn check_unanswered(&mut self, now_ms: u64, lobby: &Lobby, me: &Me) -> bool {
        let Some(rang_at) = self.rang_at_ms else {
            return false;
        };
        self.answered |= lobby
            .call(&CallKey::room_call())
            .is_some_and(|c| c.participants.iter().any(|p| p.user_id != me.user_id));
        if self.answered || now_ms < rang_at.saturating_add(DEFAULT_LIFETIME_MS) {
            return false;
        }
        self.rang_at_ms = None;
        true
    }

    /// When to poll next (ms since the epoch), if waiting for time to pass.
    pub fn next_wakeup_ms(&self) -> Option<u64> {
        let unanswered = self
            .rang_at_ms
            .filter(|_| !self.answered)
            .map(|t| t.saturating_add(DEFAULT_LIFETIME_MS));
        self.machines
            .iter()
            .filter_map(OwnMembership::next_wakeup_ms)
            .chain(unanswered)
            .min()
    }
}
