//! The slots of one room's lobby, bounded in number and kept in the orders the caps and the
//! pruning need: by age, by sender, and whether any of their memberships is still alive.

use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use super::super::membership::{Membership, SlotKey};
use super::{
    MAX_MEMBERSHIPS_PER_SLOT, MAX_SLOTS_PER_ROOM, MAX_SLOTS_PER_SENDER, TOMBSTONE_RETENTION_MS,
};

/// Names one stored event: a fresh id each time a slot is filled, so ids also tell arrival order.
pub(super) type SlotId = u64;

/// A slot's age: the timestamp of the event it holds, ties broken by arrival.
type Age = (u64, SlotId);

/// What one slot holds: its memberships (none once left or unreadable), who sent the event that
/// filled it and when. Emptied and lapsed slots are kept for a while so that a stale event cannot
/// bring a member back.
#[derive(Debug, Clone)]
pub(super) struct Slot {
    /// The slot's key.
    pub key: SlotKey,
    /// Who sent the event held (for a forgery, the forger: the slot counts against them);
    /// shared with the store's index by sender.
    pub sender: Arc<str>,
    /// The event's timestamp, never past the `now_ms` it arrived at.
    pub ts: u64,
    /// The memberships it holds.
    pub memberships: Vec<Membership>,
    /// When its last membership lapses; 0 when it holds none.
    lapse_at: u64,
}

/// Every slot of a room, at most [`MAX_SLOTS_PER_SENDER`] per sender and [`MAX_SLOTS_PER_ROOM`]
/// in all.
#[derive(Debug, Clone, Default)]
pub(super) struct SlotStore {
    ids: HashMap<SlotKey, SlotId>,
    slots: HashMap<SlotId, Slot, BuildHasherDefault<IdHasher>>,
    /// Each sender's slots, oldest first (never more than the cap, so a sorted list).
    by_sender: HashMap<Arc<str>, Ages>,
    by_age: BTreeSet<Age>,
    /// Slots none of whose memberships is alive, oldest first: pruned after the retention.
    dead: BTreeSet<Age>,
    /// Slots with a live membership, by when the last one lapses.
    lapses: BTreeSet<(u64, SlotId)>,
    next_id: SlotId,
}

/// What storing one event did to the slots.
#[derive(Debug, Default)]
pub(super) struct Stored {
    /// The slot now holding the event, unless the event changed nothing or was evicted at once.
    pub added: Option<SlotId>,
    /// Slots that left the store: the one replaced and any evicted by the caps.
    pub removed: Vec<(SlotId, Slot)>,
}

impl SlotStore {
    /// How many slots are held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// The slot `id`.
    pub fn get(&self, id: SlotId) -> Option<&Slot> {
        self.slots.get(&id)
    }

    /// Every slot with its id.
    pub fn iter(&self) -> impl Iterator<Item = (SlotId, &Slot)> {
        self.slots.iter().map(|(id, slot)| (*id, slot))
    }

    /// The slots whose event `sender` sent.
    pub fn of_sender(&self, sender: &str) -> impl Iterator<Item = SlotId> + '_ {
        self.by_sender
            .get(sender)
            .into_iter()
            .flat_map(Ages::as_slice)
            .map(|(_, id)| *id)
    }

    /// Stores an event of `sender` at `ts` in `key`, holding `memberships`, at `now_ms`.
    /// An event older than the one the slot holds changes nothing; otherwise it replaces it,
    /// and the caps then evict the oldest slot of the sender, and the room's oldest dead slot
    /// (or, with none dead, its oldest slot).
    pub fn store(
        &mut self,
        key: SlotKey,
        sender: &str,
        ts: u64,
        mut memberships: Vec<Membership>,
        now_ms: u64,
    ) -> Stored {
        let mut stored = Stored::default();
        if let Some(&held) = self.ids.get(&key) {
            // Servers may send state older than what we hold (a sync's state block can lag
            // behind its timeline): the newer event wins.
            if self.slots.get(&held).is_some_and(|slot| slot.ts > ts) {
                return stored;
            }
            stored.removed.extend(self.remove(held));
        }
        memberships.truncate(MAX_MEMBERSHIPS_PER_SLOT);
        let id = self.next_id;
        self.next_id += 1;
        let lapse_at = memberships
            .iter()
            .map(Membership::expires_at_ms)
            .max()
            .unwrap_or(0);
        let slot = Slot {
            key,
            sender: self
                .by_sender
                .get_key_value(sender)
                .map_or_else(|| Arc::from(sender), |(known, _)| Arc::clone(known)),
            ts,
            memberships,
            lapse_at,
        };
        self.insert(id, slot, now_ms);
        stored.added = Some(id);
        self.enforce_caps(sender, &mut stored);
        stored
    }

    fn insert(&mut self, id: SlotId, slot: Slot, now_ms: u64) {
        let age = (slot.ts, id);
        self.ids.insert(slot.key.clone(), id);
        match self.by_sender.get_mut(&slot.sender) {
            Some(ages) => ages.insert(age),
            None => {
                self.by_sender
                    .insert(Arc::clone(&slot.sender), Ages::One(age));
            }
        }
        self.by_age.insert(age);
        if slot.lapse_at > now_ms {
            self.lapses.insert((slot.lapse_at, id));
        } else {
            self.dead.insert(age);
        }
        self.slots.insert(id, slot);
    }

    fn remove(&mut self, id: SlotId) -> Option<(SlotId, Slot)> {
        let slot = self.slots.remove(&id)?;
        let age = (slot.ts, id);
        self.ids.remove(&slot.key);
        if let Some(ages) = self.by_sender.get_mut(&slot.sender)
            && ages.remove(age)
        {
            self.by_sender.remove(&slot.sender);
        }
        self.by_age.remove(&age);
        self.dead.remove(&age);
        self.lapses.remove(&(slot.lapse_at, id));
        Some((id, slot))
    }

    fn enforce_caps(&mut self, sender: &str, stored: &mut Stored) {
        while let Some(ages) = self.by_sender.get(sender).map(Ages::as_slice)
            && ages.len() > MAX_SLOTS_PER_SENDER
            && let Some(&(_, oldest)) = ages.first()
        {
            self.evict(oldest, stored);
        }
        while self.slots.len() > MAX_SLOTS_PER_ROOM
            && let Some(&(_, oldest)) = self.dead.first().or_else(|| self.by_age.first())
        {
            self.evict(oldest, stored);
        }
    }

    fn evict(&mut self, id: SlotId, stored: &mut Stored) {
        if stored.added == Some(id) {
            stored.added = None;
        }
        stored.removed.extend(self.remove(id));
    }

    /// Moves the slots whose last membership lapsed by `now_ms` to the dead, and prunes the
    /// dead whose event is older than the retention. Returns how many were pruned.
    pub fn advance(&mut self, now_ms: u64) -> usize {
        while let Some(&(at, id)) = self.lapses.first()
            && at <= now_ms
        {
            self.lapses.pop_first();
            if let Some(slot) = self.slots.get(&id) {
                self.dead.insert((slot.ts, id));
            }
        }
        let mut pruned = 0;
        while let Some(&(ts, id)) = self.dead.first()
            && ts.saturating_add(TOMBSTONE_RETENTION_MS) <= now_ms
        {
            self.remove(id);
            pruned += 1;
        }
        pruned
    }

    /// Sorts every slot into dead or alive again at `now_ms` (the clock went back).
    pub fn reclassify(&mut self, now_ms: u64) {
        self.dead.clear();
        self.lapses.clear();
        for (id, slot) in &self.slots {
            if slot.lapse_at > now_ms {
                self.lapses.insert((slot.lapse_at, *id));
            } else {
                self.dead.insert((slot.ts, *id));
            }
        }
    }
}

/// A sender's slots by age, oldest first: most senders hold one, none more than the cap (and
/// one over it, until the cap evicts), so a short sorted list does.
#[derive(Debug, Clone)]
enum Ages {
    One(Age),
    Many(Vec<Age>),
}

impl Ages {
    fn as_slice(&self) -> &[Age] {
        match self {
            Self::One(age) => std::slice::from_ref(age),
            Self::Many(ages) => ages,
        }
    }

    fn insert(&mut self, age: Age) {
        if let Self::One(first) = *self {
            *self = Self::Many(vec![first]);
        }
        if let Self::Many(ages) = self {
            let at = ages.partition_point(|a| *a < age);
            ages.insert(at, age);
        }
    }

    /// Removes `age`; returns whether none is left.
    fn remove(&mut self, age: Age) -> bool {
        let single = match self {
            Self::One(only) => return *only == age,
            Self::Many(ages) => {
                ages.retain(|a| *a != age);
                match ages.as_slice() {
                    [last] => Some(*last),
                    _ => None,
                }
            }
        };
        if let Some(last) = single {
            *self = Self::One(last);
        }
        matches!(self, Self::Many(ages) if ages.is_empty())
    }
}

/// Hashes slot ids, which the store hands out in sequence, as they are: no one else picks them.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
