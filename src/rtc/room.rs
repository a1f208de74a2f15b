//! One room as MatrixRTC sees it: its lobby and our own call in it, fed one sync at a time.
//!
//! [`CallRoom::apply_sync`] is the room's reducer: it takes the room's state and timeline events
//! of one sync response as JSON, with `now_ms`, routes each to the rule it concerns (memberships,
//! room members, names, notifications, declines, redactions) and answers with what changed and
//! the ring decisions. The worker only moves the bytes and carries out what comes back.

use serde_json::Value;

use super::lobby::Lobby;
use super::membership::{MembershipEvent, is_membership_type};
use super::own_call::{OwnCall, OwnCallEffect};
use super::power::PowerLevels;
use super::ring::{
    IgnoreReason, Me, NotificationEvent, RingOutput, RingTracker, RoomTrust, is_decline_type,
    is_notification_type, parse_decline, parse_notification,
};

/// What one room's sync brought.
#[derive(Debug, Clone, Copy)]
pub struct RoomSync<'a> {
    /// The room's state events. With `state_is_after` they are the whole state after the
    /// timeline; without, the state before it, and state events in the timeline come on top.
    pub state: &'a [Value],
    /// The room's timeline events, oldest first.
    pub timeline: &'a [Value],
    /// Whether `state` is the state after the timeline (`state_after`, MSC4222).
    pub state_is_after: bool,
}

/// What changed in a room, and what to do about rings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomChanges {
    /// The room's calls changed (show the lobby again).
    pub lobby_changed: bool,
    /// A member, name or alias event arrived: the room's display name may have changed.
    pub name_may_change: bool,
    /// Ring decisions, in order.
    pub rings: Vec<RingOutput>,
    /// Events that were not taken, each with why (for the debug log).
    pub ignored: Vec<String>,
}

/// A room's lobby, our part in its call, and what decides who may ring us there.
#[derive(Debug, Clone, Default)]
pub struct CallRoom {
    lobby: Lobby,
    own: Option<OwnCall>,
    power: PowerLevels,
    direct: bool,
}

impl CallRoom {
    /// A room whose calls are `lobby`, with its `power` levels, that we are not in the call of.
    pub fn new(lobby: Lobby, power: PowerLevels) -> Self {
        Self {
            lobby,
            power,
            ..Self::default()
        }
    }

    /// Whether the room is a direct chat (`m.direct`, or exactly two joined members): there
    /// the other member may ring us aloud.
    pub fn set_direct(&mut self, direct: bool) {
        self.direct = direct;
    }

    fn trust(&self) -> RoomTrust<'_> {
        RoomTrust {
            direct: self.direct,
            power: &self.power,
        }
    }

    /// The room's calls.
    pub fn lobby(&self) -> &Lobby {
        &self.lobby
    }

    /// Our part in the call, while we are in it or on our way in or out.
    pub fn own(&self) -> Option<&OwnCall> {
        self.own.as_ref()
    }

    /// Our part in the call, to join again, leave or report a response.
    pub fn own_mut(&mut self) -> Option<&mut OwnCall> {
        self.own.as_mut()
    }

    /// Starts (or, with `None`, forgets) our part in the call.
    pub fn set_own(&mut self, own: Option<OwnCall>) {
        self.own = own;
    }

    /// Takes one sync of the room: updates the lobby and our own call, and decides on rings
    /// with `tracker` (one per account: it remembers what rang in every room).
    pub fn apply_sync(
        &mut self,
        room_id: &str,
        sync: RoomSync<'_>,
        tracker: &mut RingTracker,
        now_ms: u64,
    ) -> RoomChanges {
        let mut changes = RoomChanges::default();
        let me = tracker.me().clone();
        for event in sync.state {
            self.route_state(event, &me, now_ms, &mut changes);
        }
        let (notifications, redactions) =
            self.route_timeline(room_id, sync, tracker, &me, now_ms, &mut changes);
        if changes.lobby_changed {
            changes
                .rings
                .extend(tracker.on_lobby(room_id, &self.lobby, now_ms));
        }
        for event in notifications {
            let Some(notification) = NotificationEvent::from_event_json(event) else {
                continue;
            };
            if self.redacted_in(&redactions, &notification) {
                changes.rings.push(RingOutput::Ignore {
                    room_id: room_id.to_owned(),
                    event_id: notification.event_id.to_owned(),
                    reason: IgnoreReason::Redacted,
                });
                continue;
            }
            match parse_notification(&notification) {
                Ok(n) => {
                    let trust = self.trust();
                    changes.rings.push(tracker.on_notification(
                        room_id,
                        &n,
                        &self.lobby,
                        trust,
                        now_ms,
                    ));
                }
                Err(e) => changes.ignored.push(format!("a notification: {e}")),
            }
        }
        for event in redactions {
            if let Some((redacts, sender)) = redaction_of(event) {
                let trust = self.trust();
                changes
                    .rings
                    .extend(tracker.on_redaction(room_id, redacts, sender, trust));
            }
        }
        changes
    }

    /// Whether one of `redactions` (of the same sync) takes back `notification`: from its
    /// sender, or from someone who may redact others' events.
    fn redacted_in(&self, redactions: &[&Value], notification: &NotificationEvent<'_>) -> bool {
        redactions
            .iter()
            .filter_map(|r| redaction_of(r))
            .any(|(redacts, sender)| {
                redacts == notification.event_id
                    && (sender == notification.sender || self.power.may_redact_others(sender))
            })
    }

    /// Routes the timeline's events: state on top of the state before it, sticky memberships
    /// and declines at once; the notifications, and the redactions that may take one back, are
    /// handed back to be decided once the lobby is up to date.
    fn route_timeline<'a>(
        &mut self,
        room_id: &str,
        sync: RoomSync<'a>,
        tracker: &mut RingTracker,
        me: &Me,
        now_ms: u64,
        changes: &mut RoomChanges,
    ) -> (Vec<&'a Value>, Vec<&'a Value>) {
        let mut notifications = Vec::new();
        // Redactions count after the notifications of the same sync: they may redact one.
        let mut redactions = Vec::new();
        for event in sync.timeline {
            let event_type = event_type(event);
            let is_state = event.get("state_key").is_some();
            if is_state {
                // State in the timeline counts only on top of the state before it.
                if !sync.state_is_after {
                    self.route_state(event, me, now_ms, changes);
                }
            } else if is_membership_type(event_type) {
                // The sticky form: a membership without a state key.
                changes.lobby_changed |= self.apply_membership(event, now_ms, &mut changes.ignored);
            } else if is_notification_type(event_type) {
                notifications.push(event);
            } else if is_decline_type(event_type) {
                let content = event.get("content").unwrap_or(&Value::Null);
                let sender = event.get("sender").and_then(Value::as_str).unwrap_or("");
                match parse_decline(event_type, content) {
                    Ok(declined) => changes
                        .rings
                        .extend(tracker.on_decline(room_id, sender, &declined, now_ms)),
                    Err(e) => changes.ignored.push(format!("a decline: {e}")),
                }
            } else if event_type == "m.room.redaction" {
                redactions.push(event);
            }
        }
        (notifications, redactions)
    }

    /// Routes one state event: memberships to the lobby and our own call, room members to
    /// the lobby (only joined users count), and what names or pictures the room to
    /// `name_may_change`.
    fn route_state(&mut self, event: &Value, me: &Me, now_ms: u64, changes: &mut RoomChanges) {
        let event_type = event_type(event);
        if is_membership_type(event_type) {
            changes.lobby_changed |= self.apply_membership(event, now_ms, &mut changes.ignored);
            if let (Some(own), Some(ev)) =
                (self.own.as_mut(), MembershipEvent::from_event_json(event))
            {
                own.on_membership_event(&ev, me);
            }
        } else if event_type == "m.room.member" {
            let joined =
                event.pointer("/content/membership").and_then(Value::as_str) == Some("join");
            if let Some(user) = event.get("state_key").and_then(Value::as_str) {
                changes.lobby_changed |= self.lobby.set_room_membership(user, joined, now_ms);
            }
            changes.name_may_change = true;
        } else if matches!(
            event_type,
            "m.room.name" | "m.room.canonical_alias" | "m.room.avatar"
        ) {
            changes.name_may_change = true;
        } else if event_type == "m.room.power_levels" {
            self.power
                .set_levels(event.get("content").unwrap_or(&Value::Null));
        } else if event_type == "m.room.create" {
            let sender = event.get("sender").and_then(Value::as_str).unwrap_or("");
            self.power.set_creators_from_create_event(
                sender,
                event.get("content").unwrap_or(&Value::Null),
            );
        }
    }

    /// Applies one membership event; returns whether the calls changed. A forged or malformed
    /// event still replaced its slot, so it counts as a change.
    fn apply_membership(&mut self, event: &Value, now_ms: u64, ignored: &mut Vec<String>) -> bool {
        let Some(ev) = MembershipEvent::from_event_json(event) else {
            ignored.push("a membership event without type, sender or content".to_owned());
            return false;
        };
        match self.lobby.apply(&ev, now_ms) {
            Ok(changed) => changed,
            Err(reason) => {
                ignored.push(format!("a membership event from {}: {reason}", ev.sender));
                true
            }
        }
    }

    /// Re-derives the calls at `now_ms` when a membership lapsed, and re-checks the room's
    /// rings then.
    pub fn tick(&mut self, room_id: &str, tracker: &mut RingTracker, now_ms: u64) -> RoomChanges {
        let mut changes = RoomChanges::default();
        if self.lobby.tick(now_ms) {
            changes.lobby_changed = true;
            changes.rings = tracker.on_lobby(room_id, &self.lobby, now_ms);
        }
        changes
    }

    /// Polls our own call (see [`OwnCall::poll`]) and forgets it once it has nothing left to do.
    pub fn poll_own(&mut self, now_ms: u64, me: &Me) -> Vec<OwnCallEffect> {
        let Some(own) = self.own.as_mut() else {
            return Vec::new();
        };
        let effects = own.poll(now_ms, &self.lobby, me);
        if own.is_idle() {
            self.own = None;
        }
        effects
    }

    /// When something in the room is next due by itself (ms since the epoch): a membership
    /// lapsing or our own call's next request.
    pub fn next_wakeup_ms(&self) -> Option<u64> {
        let own = self.own.as_ref().and_then(OwnCall::next_wakeup_ms);
        self.lobby.next_expiry_ms().into_iter().chain(own).min()
    }
}

/// The event a redaction takes back, and who sent it (`redacts` is top-level before room
/// version 11, in the content since).
fn redaction_of(event: &Value) -> Option<(&str, &str)> {
    let redacts = event
        .get("redacts")
        .or_else(|| event.pointer("/content/redacts"))
        .and_then(Value::as_str)?;
    let sender = event.get("sender").and_then(Value::as_str).unwrap_or("");
    Some((redacts, sender))
}

fn event_type(event: &Value) -> &str {
    event
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
}
