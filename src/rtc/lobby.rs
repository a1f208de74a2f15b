//! A room's call lobby: who is in which call, on which device, since when, on which SFU (§2).
//!
//! The lobby keeps the current membership of every slot (state key, or sender and sticky key)
//! of one room and derives the active calls from it at a given `now_ms`. Applying one event
//! re-derives only the participants whose memberships it touched;
//! [`Lobby::next_expiry_ms`] says when a membership lapses so the caller can [`Lobby::tick`] then.
//!
//! A hostile room cannot make the lobby grow without bound: a sender holds at most
//! [`MAX_SLOTS_PER_SENDER`] slots and a room [`MAX_SLOTS_PER_ROOM`], and slots none of whose
//! memberships is alive any more are forgotten [`TOMBSTONE_RETENTION_MS`] after their event.

mod index;
mod store;

use std::collections::HashSet;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::focus::{Focus, FocusSelection};
use super::membership::{
    CallIntent, Membership, MembershipEvent, Rejection, SlotKey, WireForm, membership_type,
    parse_membership_event,
};
use super::{APPLICATION_CALL, DEFAULT_MEMBERSHIP_EXPIRES_MS, RTC_MEMBER_STICKY, SCOPE_ROOM};
use index::CallIndex;
use store::{SlotStore, Stored};

/// The most slots one sender holds in a room; past it, the sender's oldest slot is dropped.
///
/// A person in a call fills one slot per device and wire form: three devices in the session,
/// the brief's and the sticky form fill nine, the array form one more; every join in the sticky
/// form takes a new sticky key, whose slot lapses within an hour. Only a sender flooding the room reaches 16, and it only loses its own slots.
pub const MAX_SLOTS_PER_SENDER: usize = 16;

/// The most slots a room holds; past it, the room's oldest slot none of whose memberships is
/// alive is dropped, or, when all are, its oldest slot.
///
/// The biggest calls Element Call holds have a few hundred devices; 2,048 slots are 128 senders
/// at [`MAX_SLOTS_PER_SENDER`] each, and cost a few megabytes. Dropping the oldest keeps the
/// newest memberships: a flood must keep going to keep anyone out.
pub const MAX_SLOTS_PER_ROOM: usize = 2_048;

/// The most memberships one slot holds (the array form lists one per device of its user);
/// the rest of a longer list is ignored.
pub const MAX_MEMBERSHIPS_PER_SLOT: usize = 16;

/// How long a slot none of whose memberships is alive (emptied, unreadable or lapsed) is kept
/// after the event it holds: 4 h, the default membership lifetime.
///
/// The slot is kept so that a stale event for it (older than the one it holds: a sync's state
/// block can lag behind its timeline, sticky events arrive in any order) changes nothing. Once
/// it is gone, such a stale event fills the slot again, but it counts only if its membership is
/// still alive. Any event older than the slot's lives no longer than the retention past it when
/// it is sticky (MSC4354 caps sticky memberships at 1 h) or when it keeps Element Call's rule
/// that a membership lapses within 4 h of being sent (`created_ts + expires`, refreshed before):
/// such an event has lapsed by the time the slot is dropped. Only a stale state event claiming a
/// longer life, delivered more than 4 h after the event that replaced it, could count again.
pub const TOMBSTONE_RETENTION_MS: u64 = DEFAULT_MEMBERSHIP_EXPIRES_MS;

/// How many users who are not joined to the room the lobby remembers as such.
///
/// Their memberships do not count. Past this many, only those holding a slot are kept: a room
/// whose members leave by the ten thousand costs no more than a quiet one, and a stale membership
/// of someone forgotten that way counts only until it lapses.
pub const MAX_NOT_JOINED_REMEMBERED: usize = 4_096;

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
    /// How many people take part: someone on two devices counts once.
    pub fn people(&self) -> usize {
        self.by_person().len()
    }

    /// The participants by person: each person once, in the order they first joined, with
    /// their devices oldest first.
    pub fn by_person(&self) -> Vec<(&str, Vec<&Participant>)> {
        let mut people: Vec<(&str, Vec<&Participant>)> = Vec::new();
        for p in &self.participants {
            match people.iter_mut().find(|(user, _)| *user == p.user_id) {
                Some((_, devices)) => devices.push(p),
                None => people.push((p.user_id.as_str(), vec![p])),
            }
        }
        people
    }

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

/// The live call lobby of one room.
#[derive(Debug, Clone, Default)]
pub struct Lobby {
    store: SlotStore,
    not_joined: HashSet<String>,
    index: CallIndex,
    /// The `now_ms` of the last evaluation: memberships count as of then.
    clock: u64,
    /// The calls, derived from the index when first asked for after a change.
    view: OnceLock<Vec<Call>>,
    /// Built at once ([`Lobby::from_events`]), the lobby shows calls derived afresh and builds
    /// its index only when an event, a room membership or a tick needs it: most rooms of an
    /// account never do.
    unindexed: bool,
    /// When the first counting membership lapses, while unindexed.
    unindexed_expiry: Option<u64>,
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
        let mut lobby = Self {
            clock: now_ms,
            unindexed: true,
            ..Self::default()
        };
        let mut rejected = Vec::new();
        for ev in events {
            if let Err(reason) = lobby.store(&ev, now_ms) {
                rejected.push(reason);
            }
        }
        lobby.store.advance(now_ms);
        let (calls, next_expiry) =
            index::calls_afresh(&lobby.store, |m| counts(m, now_ms, &lobby.not_joined));
        lobby.view = OnceLock::from(calls);
        lobby.unindexed_expiry = next_expiry;
        (lobby, rejected)
    }

    /// Applies one membership event. Returns whether the calls changed. A rejected event
    /// still replaces its slot (the server's state holds it now), so what it replaced is gone;
    /// an event older than the one its slot holds changes nothing.
    pub fn apply(&mut self, ev: &MembershipEvent<'_>, now_ms: u64) -> Result<bool, Rejection> {
        let before = self.begin(now_ms);
        let stored = self.store(ev, now_ms);
        let changed = self.finish(before);
        stored.map(|()| changed)
    }

    /// Records whether `user_id`'s room membership is `join`; only joined users count.
    /// Returns whether the calls changed.
    pub fn set_room_membership(&mut self, user_id: &str, joined: bool, now_ms: u64) -> bool {
        // The index must hold what counted before the change, to tell what it changed.
        self.build_index();
        let updated = if joined {
            self.not_joined.remove(user_id)
        } else {
            self.remember_not_joined(user_id)
        };
        if !updated {
            return false;
        }
        let before = self.begin(now_ms);
        let ids: Vec<_> = self.store.of_sender(user_id).collect();
        for id in ids {
            let Some(slot) = self.store.get(id) else {
                continue;
            };
            for (idx, m) in slot.memberships.iter().enumerate() {
                if !joined {
                    self.index.uncount(id, idx, m);
                } else if counts(m, self.clock, &self.not_joined) {
                    self.index.count(id, idx, m);
                }
            }
        }
        self.finish(before)
    }

    /// Records that `user_id` is not joined, within [`MAX_NOT_JOINED_REMEMBERED`]. Returns
    /// whether it was new.
    fn remember_not_joined(&mut self, user_id: &str) -> bool {
        if self.not_joined.contains(user_id) {
            return false;
        }
        if self.not_joined.len() >= MAX_NOT_JOINED_REMEMBERED {
            let store = &self.store;
            self.not_joined
                .retain(|u| store.of_sender(u).next().is_some());
            if self.not_joined.len() >= MAX_NOT_JOINED_REMEMBERED
                && self.store.of_sender(user_id).next().is_none()
            {
                // Nothing of theirs counts now, and too many others who do hold slots are
                // remembered already.
                return false;
            }
        }
        self.not_joined.insert(user_id.to_owned())
    }

    /// How many users the lobby remembers as not joined: never much more than
    /// [`MAX_NOT_JOINED_REMEMBERED`].
    pub fn not_joined_count(&self) -> usize {
        self.not_joined.len()
    }

    /// Re-derives the calls when a membership has lapsed by `now_ms`, and forgets the slots
    /// past their retention. Returns whether the calls changed.
    pub fn tick(&mut self, now_ms: u64) -> bool {
        if now_ms < self.clock {
            // Nothing that counted as of a later time can have lapsed by an earlier one.
            return false;
        }
        let before = self.begin(now_ms);
        self.finish(before)
    }

    /// The active calls as of the last evaluation, in [`CallKey`] order.
    pub fn calls(&self) -> &[Call] {
        self.view.get_or_init(|| self.index.calls())
    }

    /// The call with `key`, if active.
    pub fn call(&self, key: &CallKey) -> Option<&Call> {
        let calls = self.calls();
        calls
            .binary_search_by(|c| c.key.cmp(key))
            .ok()
            .and_then(|i| calls.get(i))
    }

    /// When the next active membership lapses (ms since the epoch): tick then.
    pub fn next_expiry_ms(&self) -> Option<u64> {
        if self.unindexed {
            self.unindexed_expiry
        } else {
            self.index.next_expiry()
        }
    }

    /// How many slots the lobby holds, alive or not: never more than [`MAX_SLOTS_PER_ROOM`].
    pub fn slot_count(&self) -> usize {
        self.store.len()
    }

    /// Every slot (state key) with the memberships it holds, active or not, as long as it is
    /// kept (see [`TOMBSTONE_RETENTION_MS`]).
    pub fn slots(&self) -> impl Iterator<Item = (&SlotKey, &[Membership])> {
        self.store
            .iter()
            .map(|(_, slot)| (&slot.key, slot.memberships.as_slice()))
    }

    /// The state slots holding a membership of `user_id`'s `device_id`, active or not: what to
    /// empty when leaving a call joined elsewhere on this device. Sticky memberships have no
    /// state to empty (they lapse by themselves), so they are left out.
    pub fn own_slots(&self, user_id: &str, device_id: &str) -> Vec<SlotKey> {
        self.store
            .iter()
            .map(|(_, slot)| slot)
            .filter(|slot| {
                slot.key.event_type != RTC_MEMBER_STICKY
                    && slot
                        .memberships
                        .iter()
                        .any(|m| m.user_id == user_id && m.device_id == device_id)
            })
            .map(|slot| slot.key.clone())
            .collect()
    }

    /// Every stored membership, active or not.
    pub fn memberships(&self) -> impl Iterator<Item = &Membership> {
        self.store.iter().flat_map(|(_, slot)| &slot.memberships)
    }

    /// Brings the lobby to `now_ms`: lapsed memberships stop counting, slots past their
    /// retention go. When the clock went back, everything is counted again as of `now_ms`, and
    /// the calls before are returned to tell whether they changed.
    fn begin(&mut self, now_ms: u64) -> Option<Vec<Call>> {
        self.build_index();
        if now_ms < self.clock {
            let before = self.calls().to_vec();
            self.view = OnceLock::new();
            self.clock = now_ms;
            self.store.reclassify(now_ms);
            self.index.clear();
            let ids: Vec<_> = self.store.iter().map(|(id, _)| id).collect();
            for id in ids {
                self.count_slot(id);
            }
            return Some(before);
        }
        self.clock = now_ms;
        self.index.expire(now_ms, &self.store);
        self.store.advance(now_ms);
        None
    }

    /// Re-derives what was touched; returns whether the calls changed (compared with `before`
    /// when [`Lobby::begin`] counted everything again).
    fn finish(&mut self, before: Option<Vec<Call>>) -> bool {
        if self.index.has_touched() {
            self.view = OnceLock::new();
        }
        let changed = self.index.settle(&self.store);
        // What just arrived may be dead already and past its retention.
        self.store.advance(self.clock);
        match before {
            Some(before) => before != self.calls(),
            None => changed,
        }
    }

    /// Counts every membership as of the last evaluation into the index, if not yet done: the
    /// calls it derives are the ones shown.
    fn build_index(&mut self) {
        if !self.unindexed {
            return;
        }
        self.unindexed = false;
        self.unindexed_expiry = None;
        let ids: Vec<_> = self.store.iter().map(|(id, _)| id).collect();
        for id in ids {
            self.count_slot(id);
        }
        self.index.settle(&self.store);
    }

    fn count_slot(&mut self, id: store::SlotId) {
        let Some(slot) = self.store.get(id) else {
            return;
        };
        for (idx, m) in slot.memberships.iter().enumerate() {
            if counts(m, self.clock, &self.not_joined) {
                self.index.count(id, idx, m);
            }
        }
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
            let Stored { added, removed } =
                self.store
                    .store(key, ev.sender, origin_server_ts, memberships, now_ms);
            if self.unindexed {
                return result;
            }
            for (id, slot) in &removed {
                for (idx, m) in slot.memberships.iter().enumerate() {
                    self.index.uncount(*id, idx, m);
                }
            }
            if let Some(id) = added {
                self.count_slot(id);
            }
        }
        result
    }
}

/// Whether `m` counts at `now_ms`: active, a call's, and its user joined.
fn counts(m: &Membership, now_ms: u64, not_joined: &HashSet<String>) -> bool {
    m.is_active_at(now_ms)
        && m.application == APPLICATION_CALL
        && (not_joined.is_empty() || !not_joined.contains(&m.user_id))
}
