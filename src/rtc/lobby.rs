//! A room's call lobby: who is in which call, on which device, since when, on which SFU (§2).
//!
//! The lobby keeps the current membership of every slot (state key) of one room and derives
//! the active calls from it at a given `now_ms`. Applying one event re-derives only that room;
//! [`Lobby::next_expiry_ms`] says when a membership lapses so the caller can [`Lobby::tick`] then.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::focus::{Focus, FocusSelection};
use super::membership::{
    CallIntent, Membership, MembershipEvent, Rejection, SlotKey, WireForm, membership_type,
    parse_membership_event,
};
use super::{APPLICATION_CALL, RTC_MEMBER_STICKY, SCOPE_ROOM};

/// Identifies one call in a room: application, call id and scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CallKey {
    /// The application (`m.call`).
    pub application: String,
    /// The call id (`""` for the room's call).
    pub call_id: String,
    /// The scope (`m.room`).
    pub scope: String,
}

impl CallKey {
    /// The room's own call: `m.call`, call id `""`, scope `m.room`.
    pub fn room_call() -> Self {
        Self {
            application: APPLICATION_CALL.to_owned(),
            call_id: String::new(),
            scope: SCOPE_ROOM.to_owned(),
        }
    }
}

/// One device in a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// The user.
    pub user_id: String,
    /// The device.
    pub device_id: String,
    /// The member id of the preferred wire form.
    pub member_id: String,
    /// When the device joined (the earliest of its forms), ms since the epoch.
    pub joined_ts: u64,
    /// When its last form lapses, ms since the epoch.
    pub expires_at_ms: u64,
    /// The SFU this participant uses, per the call's focus selection.
    pub active_focus: Option<Focus>,
    /// How the participant's membership says the SFU is chosen (`focus_active`), when given.
    pub focus_selection: Option<FocusSelection>,
    /// The foci it prefers, best first.
    pub foci_preferred: Vec<Focus>,
    /// Audio or video, when known.
    pub intent: Option<CallIntent>,
    /// Every wire form the device was published in.
    pub forms: Vec<WireForm>,
}

/// An active call: its key and its participants, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    /// Which call.
    pub key: CallKey,
    /// Participants, one per (user, device), oldest first.
    pub participants: Vec<Participant>,
}

impl Call {
    /// When the call started: its oldest participant's join time.
    pub fn started_ts(&self) -> u64 {
        self.participants.first().map_or(0, |p| p.joined_ts)
    }

    /// Video when any participant intends video, else the first intent given.
    pub fn intent(&self) -> Option<&CallIntent> {
        self.participants
            .iter()
            .filter_map(|p| p.intent.as_ref())
            .find(|i| **i == CallIntent::Video)
            .or_else(|| self.participants.iter().find_map(|p| p.intent.as_ref()))
    }

    /// How the call chooses its SFU: as its oldest participant's membership says.
    pub fn focus_selection(&self) -> Option<&FocusSelection> {
        self.participants
            .first()
            .and_then(|p| p.focus_selection.as_ref())
    }

    /// Whether `user_id` takes part with any device.
    pub fn has_user(&self, user_id: &str) -> bool {
        self.participants.iter().any(|p| p.user_id == user_id)
    }

    /// Whether `user_id` takes part on `device_id`.
    pub fn has_device(&self, user_id: &str, device_id: &str) -> bool {
        self.participants
            .iter()
            .any(|p| p.user_id == user_id && p.device_id == device_id)
    }
}

/// What one slot holds: its memberships (none once left or unreadable) and the timestamp of the
/// event that filled it. Left slots are kept so that a stale event cannot bring a member back.
#[derive(Debug, Clone)]
struct Slot {
    origin_server_ts: u64,
    memberships: Vec<Membership>,
}

/// The live call lobby of one room.
#[derive(Debug, Clone, Default)]
pub struct Lobby {
    slots: HashMap<SlotKey, Slot>,
    not_joined: HashSet<String>,
    calls: Vec<Call>,
    next_expiry_ms: Option<u64>,
}

impl Lobby {
    /// An empty lobby.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a lobby from a room's current membership events in one pass; events that are
    /// rejected are returned with their reason, the rest count.
    pub fn from_events<'a>(
        events: impl IntoIterator<Item = MembershipEvent<'a>>,
        now_ms: u64,
    ) -> (Self, Vec<Rejection>) {
        let mut lobby = Self::new();
        let mut rejected = Vec::new();
        for ev in events {
            if let Err(reason) = lobby.store(&ev, now_ms) {
                rejected.push(reason);
            }
        }
        lobby.evaluate(now_ms);
        (lobby, rejected)
    }

    /// Applies one membership event. Returns whether the calls changed. A rejected event
    /// still replaces its slot (the server's state holds it now), so what it replaced is gone;
    /// an event older than the one its slot holds changes nothing.
    pub fn apply(&mut self, ev: &MembershipEvent<'_>, now_ms: u64) -> Result<bool, Rejection> {
        let stored = self.store(ev, now_ms);
        let changed = self.evaluate(now_ms);
        stored.map(|()| changed)
    }

    /// Records whether `user_id`'s room membership is `join`; only joined users count.
    /// Returns whether the calls changed.
    pub fn set_room_membership(&mut self, user_id: &str, joined: bool, now_ms: u64) -> bool {
        let updated = if joined {
            self.not_joined.remove(user_id)
        } else {
            self.not_joined.insert(user_id.to_owned())
        };
        updated && self.evaluate(now_ms)
    }

    /// Re-derives the calls when a membership has lapsed by `now_ms`. Returns whether they changed.
    pub fn tick(&mut self, now_ms: u64) -> bool {
        match self.next_expiry_ms {
            Some(at) if now_ms >= at => self.evaluate(now_ms),
            _ => false,
        }
    }

    /// The active calls as of the last evaluation, in [`CallKey`] order.
    pub fn calls(&self) -> &[Call] {
        &self.calls
    }

    /// The call with `key`, if active.
    pub fn call(&self, key: &CallKey) -> Option<&Call> {
        self.calls.iter().find(|c| &c.key == key)
    }

    /// When the next active membership lapses (ms since the epoch): tick then.
    pub fn next_expiry_ms(&self) -> Option<u64> {
        self.next_expiry_ms
    }

    /// Every slot (state key) with the memberships it holds, active or not.
    pub fn slots(&self) -> impl Iterator<Item = (&SlotKey, &[Membership])> {
        self.slots
            .iter()
            .map(|(k, v)| (k, v.memberships.as_slice()))
    }

    /// The state slots holding a membership of `user_id`'s `device_id`, active or not: what to
    /// empty when leaving a call joined elsewhere on this device. Sticky memberships have no
    /// state to empty (they lapse by themselves), so they are left out.
    pub fn own_slots(&self, user_id: &str, device_id: &str) -> Vec<SlotKey> {
        self.slots
            .iter()
            .filter(|(key, slot)| {
                key.event_type != RTC_MEMBER_STICKY
                    && slot
                        .memberships
                        .iter()
                        .any(|m| m.user_id == user_id && m.device_id == device_id)
            })
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// Every stored membership, active or not.
    pub fn memberships(&self) -> impl Iterator<Item = &Membership> {
        self.slots.values().flat_map(|s| &s.memberships)
    }

    /// Stores an event in its slot. No timestamp counts past `now_ms`: a crafted future time
    /// could otherwise keep a membership alive, or its slot shut to newer events, for good.
    fn store(&mut self, ev: &MembershipEvent<'_>, now_ms: u64) -> Result<(), Rejection> {
        let origin_server_ts = ev.origin_server_ts.min(now_ms);
        let (key, mut memberships, result) = match parse_membership_event(ev) {
            Ok(parsed) => (Some(parsed.slot), parsed.memberships, Ok(())),
            // A rejected state event still replaced its slot on the server.
            Err(reason) => {
                let key =
                    ev.state_key
                        .zip(membership_type(ev.event_type))
                        .map(|(key, event_type)| SlotKey {
                            event_type,
                            key: key.to_owned(),
                        });
                (key, Vec::new(), Err(reason))
            }
        };
        for m in &mut memberships {
            m.created_ts = m.created_ts.min(now_ms);
        }
        if let Some(key) = key {
            let slot = Slot {
                origin_server_ts,
                memberships,
            };
            match self.slots.entry(key) {
                // Servers may send state older than what we hold (a sync's state block can lag
                // behind its timeline): the newer event wins.
                Entry::Occupied(held) if held.get().origin_server_ts > origin_server_ts => {}
                Entry::Occupied(mut held) => *held.get_mut() = slot,
                Entry::Vacant(free) => {
                    free.insert(slot);
                }
            }
        }
        result
    }

    /// Derives the calls at `now_ms`; returns whether they changed.
    fn evaluate(&mut self, now_ms: u64) -> bool {
        let mut next_expiry: Option<u64> = None;
        // Borrowed keys: nothing is allocated per membership, only per call and participant.
        let mut grouped: BTreeMap<CallRef<'_>, BTreeMap<DeviceRef<'_>, Vec<&Membership>>> =
            BTreeMap::new();
        for m in self.slots.values().flat_map(|s| &s.memberships) {
            if !m.is_active_at(now_ms)
                || m.application != APPLICATION_CALL
                || self.not_joined.contains(&m.user_id)
            {
                continue;
            }
            let at = m.expires_at_ms();
            next_expiry = Some(next_expiry.map_or(at, |n| n.min(at)));
            grouped
                .entry((m.application.as_str(), m.call_id.as_str(), m.scope.as_str()))
                .or_default()
                .entry((m.user_id.as_str(), m.device_id.as_str()))
                .or_default()
                .push(m);
        }
        let calls: Vec<Call> = grouped
            .into_iter()
            .map(|((application, call_id, scope), devices)| {
                let key = CallKey {
                    application: application.to_owned(),
                    call_id: call_id.to_owned(),
                    scope: scope.to_owned(),
                };
                build_call(key, devices.into_values())
            })
            .collect();
        self.next_expiry_ms = next_expiry;
        let changed = calls != self.calls;
        self.calls = calls;
        changed
    }
}

/// A call's key, borrowed from a membership: (application, call id, scope).
type CallRef<'a> = (&'a str, &'a str, &'a str);
/// A participant's key, borrowed from a membership: (user, device).
type DeviceRef<'a> = (&'a str, &'a str);

/// Merges each device's memberships into one participant and resolves the active foci.
fn build_call<'a>(key: CallKey, devices: impl Iterator<Item = Vec<&'a Membership>>) -> Call {
    let mut resolved: Vec<(Participant, Option<FocusSelection>)> = devices
        .filter_map(|mut forms| {
            // The session form first: it is what Element Call reads.
            forms.sort_by_key(|m| (m.form, m.created_ts));
            let first = forms.first()?;
            let mut wire_forms: Vec<WireForm> = forms.iter().map(|m| m.form).collect();
            wire_forms.dedup();
            let participant = Participant {
                user_id: first.user_id.clone(),
                device_id: first.device_id.clone(),
                member_id: first.member_id.clone(),
                joined_ts: forms
                    .iter()
                    .map(|m| m.created_ts)
                    .min()
                    .unwrap_or(first.created_ts),
                expires_at_ms: forms.iter().map(|m| m.expires_at_ms()).max().unwrap_or(0),
                active_focus: None,
                focus_selection: None,
                foci_preferred: forms
                    .iter()
                    .find(|m| !m.foci_preferred.is_empty())
                    .map(|m| m.foci_preferred.clone())
                    .unwrap_or_default(),
                intent: forms.iter().find_map(|m| m.intent.clone()),
                forms: wire_forms,
            };
            let selection = forms
                .iter()
                .find_map(|m| m.focus_active.as_ref())
                .map(|f| f.focus_selection.clone());
            Some((participant, selection))
        })
        .collect();
    resolved.sort_by(|(a, _), (b, _)| {
        (a.joined_ts, &a.user_id, &a.device_id).cmp(&(b.joined_ts, &b.user_id, &b.device_id))
    });
    let oldest_focus = resolved
        .first()
        .and_then(|(p, _)| p.foci_preferred.first().cloned());
    let participants = resolved
        .into_iter()
        .map(|(mut p, selection)| {
            let own = p.foci_preferred.first().cloned();
            p.active_focus = match selection {
                Some(FocusSelection::OldestMembership) => oldest_focus.clone().or(own),
                _ => own.or_else(|| oldest_focus.clone()),
            };
            p.focus_selection = selection;
            p
        })
        .collect();
    Call { key, participants }
}
