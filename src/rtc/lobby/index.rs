//! The calls of one room's lobby, kept per call and per device, so that an event re-derives only
//! the participants whose memberships it touched.
//!
//! A membership *counts* while it is active, is a call's and its user is joined; the index holds
//! exactly the counting memberships, each under its call and (user, device), and derives one
//! [`Participant`] per device. Whether the calls changed is decided from the touched devices
//! alone.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::super::focus::{Focus, FocusSelection};
use super::super::membership::{Membership, SlotKey, WireForm};
use super::store::{SlotId, SlotStore};
use super::{Call, CallKey, Participant};

/// One membership in the store: its slot and its place there.
type MemberRef = (SlotId, usize);
/// A participant: (user, device).
type DevKey = (String, String);

/// A device's participant as its forms give it, before the call's focus rules pick its focus.
#[derive(Debug, Clone)]
struct Derived {
    /// The participant, `active_focus` left out.
    participant: Participant,
}

impl Derived {
    fn own_focus(&self) -> Option<&Focus> {
        self.participant.foci_preferred.first()
    }

    /// The focus it uses when the call's oldest member prefers `oldest`.
    fn active<'a>(&'a self, oldest: Option<&'a Focus>) -> Option<&'a Focus> {
        let own = self.own_focus();
        match self.participant.focus_selection {
            Some(FocusSelection::OldestMembership) => oldest.or(own),
            _ => own.or(oldest),
        }
    }
}

/// A device's counting memberships, and where its participant sits in the call's order.
#[derive(Debug, Clone, Default)]
struct Device {
    refs: Vec<MemberRef>,
    joined_ts: Option<u64>,
}

/// One call: its devices and their participants, oldest first.
#[derive(Debug, Clone, Default)]
struct CallState {
    devices: HashMap<DevKey, Device>,
    order: BTreeMap<(u64, DevKey), Derived>,
}

/// The counting memberships of a room, by call and device, with when each lapses.
#[derive(Debug, Clone, Default)]
pub(super) struct CallIndex {
    calls: BTreeMap<CallKey, CallState>,
    expiries: BTreeSet<(u64, SlotId, usize)>,
    touched: BTreeMap<CallKey, BTreeSet<DevKey>>,
}

fn keys_of(m: &Membership) -> (CallKey, DevKey) {
    (
        CallKey {
            application: m.application.clone(),
            call_id: m.call_id.clone(),
            scope: m.scope.clone(),
        },
        (m.user_id.clone(), m.device_id.clone()),
    )
}

impl CallIndex {
    /// Forgets every membership.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// When the next counting membership lapses.
    pub fn next_expiry(&self) -> Option<u64> {
        self.expiries.first().map(|(at, _, _)| *at)
    }

    /// Whether a membership was counted or dropped since the last [`CallIndex::settle`].
    pub fn has_touched(&self) -> bool {
        !self.touched.is_empty()
    }

    /// Counts membership `idx` of slot `id` (once).
    pub fn count(&mut self, id: SlotId, idx: usize, m: &Membership) {
        if !self.expiries.insert((m.expires_at_ms(), id, idx)) {
            return;
        }
        let (call, dev) = keys_of(m);
        // Keys are cloned only for a new call or device.
        if !self.calls.contains_key(&call) {
            self.calls.insert(call.clone(), CallState::default());
        }
        if let Some(state) = self.calls.get_mut(&call) {
            match state.devices.get_mut(&dev) {
                Some(device) => device.refs.push((id, idx)),
                None => {
                    let device = Device {
                        refs: vec![(id, idx)],
                        joined_ts: None,
                    };
                    state.devices.insert(dev.clone(), device);
                }
            }
        }
        self.touched.entry(call).or_default().insert(dev);
    }

    /// Stops counting membership `idx` of slot `id`, if it counted.
    pub fn uncount(&mut self, id: SlotId, idx: usize, m: &Membership) {
        if self.expiries.remove(&(m.expires_at_ms(), id, idx)) {
            self.drop_ref(id, idx, m);
        }
    }

    fn drop_ref(&mut self, id: SlotId, idx: usize, m: &Membership) {
        let (call, dev) = keys_of(m);
        if let Some(device) = self
            .calls
            .get_mut(&call)
            .and_then(|c| c.devices.get_mut(&dev))
        {
            device.refs.retain(|r| *r != (id, idx));
        }
        self.touched.entry(call).or_default().insert(dev);
    }

    /// Stops counting the memberships that lapsed by `now_ms`.
    pub fn expire(&mut self, now_ms: u64, store: &SlotStore) {
        while let Some(&(at, id, idx)) = self.expiries.first()
            && at <= now_ms
        {
            self.expiries.pop_first();
            if let Some(m) = store.get(id).and_then(|s| s.memberships.get(idx)) {
                self.drop_ref(id, idx, m);
            }
        }
    }

    /// Re-derives the participants of the touched devices; returns whether the calls changed.
    pub fn settle(&mut self, store: &SlotStore) -> bool {
        let mut changed = false;
        for (key, devices) in std::mem::take(&mut self.touched) {
            let Some(call) = self.calls.get_mut(&key) else {
                continue;
            };
            changed |= call.settle(devices, store);
            if call.devices.is_empty() {
                self.calls.remove(&key);
            }
        }
        changed
    }

    /// The active calls in [`CallKey`] order, participants oldest first.
    pub fn calls(&self) -> Vec<Call> {
        self.calls
            .iter()
            .map(|(key, call)| shown(key.clone(), call.order.values()))
            .collect()
    }
}

/// A call as shown: its participants, oldest first, each on the focus the call's rules pick.
fn shown<'a>(key: CallKey, participants: impl Iterator<Item = &'a Derived> + Clone) -> Call {
    let oldest = participants.clone().next().and_then(Derived::own_focus);
    let participants = participants
        .map(|d| {
            let mut p = d.participant.clone();
            p.active_focus = d.active(oldest).cloned();
            p
        })
        .collect();
    Call { key, participants }
}

/// [`shown`], taking the participants.
fn shown_owned(key: CallKey, derived: Vec<Derived>) -> Call {
    let oldest = derived.first().and_then(Derived::own_focus).cloned();
    let participants = derived
        .into_iter()
        .map(|d| {
            let active = d.active(oldest.as_ref()).cloned();
            let mut p = d.participant;
            p.active_focus = active;
            p
        })
        .collect();
    Call { key, participants }
}

/// A call's key, borrowed from a membership: (application, call id, scope).
type CallRef<'a> = (&'a str, &'a str, &'a str);
/// A participant's key, borrowed from a membership: (user, device).
type DevRef<'a> = (&'a str, &'a str);

/// Derives every call afresh from every slot, in one pass that borrows its keys, without
/// building the index: the calls and when the first counting membership lapses. `counts`
/// says which memberships count. This is how a lobby built at once is shown until an event
/// needs the index.
pub(super) fn calls_afresh(
    store: &SlotStore,
    counts: impl Fn(&Membership) -> bool,
) -> (Vec<Call>, Option<u64>) {
    let mut next_expiry: Option<u64> = None;
    let mut grouped: BTreeMap<CallRef<'_>, BTreeMap<DevRef<'_>, Vec<Form<'_>>>> = BTreeMap::new();
    for (_, slot) in store.iter() {
        for (idx, m) in slot.memberships.iter().enumerate() {
            if !counts(m) {
                continue;
            }
            let at = m.expires_at_ms();
            next_expiry = Some(next_expiry.map_or(at, |n| n.min(at)));
            grouped
                .entry((&m.application, &m.call_id, &m.scope))
                .or_default()
                .entry((&m.user_id, &m.device_id))
                .or_default()
                .push((m, &slot.key, idx));
        }
    }
    let calls = grouped
        .into_iter()
        .map(|((application, call_id, scope), devices)| {
            let mut derived: Vec<Derived> =
                devices.into_values().filter_map(derive_forms).collect();
            derived.sort_by(|a, b| {
                let (a, b) = (&a.participant, &b.participant);
                (a.joined_ts, &a.user_id, &a.device_id).cmp(&(
                    b.joined_ts,
                    &b.user_id,
                    &b.device_id,
                ))
            });
            let key = CallKey {
                application: application.to_owned(),
                call_id: call_id.to_owned(),
                scope: scope.to_owned(),
            };
            shown_owned(key, derived)
        })
        .collect();
    (calls, next_expiry)
}

impl CallState {
    /// Re-derives `touched` devices; returns whether the call as shown changed. The call is
    /// shown from its participants alone (the active foci follow from them), so it changed
    /// exactly when a touched device's participant did.
    fn settle(&mut self, touched: BTreeSet<DevKey>, store: &SlotStore) -> bool {
        let mut changed = false;
        for dev in touched {
            let old = self.take(&dev);
            let new = self.devices.get(&dev).and_then(|d| derive(&d.refs, store));
            changed |= old.as_ref().map(|d| &d.participant) != new.as_ref().map(|d| &d.participant);
            match new {
                Some(new) => self.put(dev, new),
                None => {
                    self.devices.remove(&dev);
                }
            }
        }
        changed
    }

    /// Takes a device's participant out of the order.
    fn take(&mut self, dev: &DevKey) -> Option<Derived> {
        let joined = self.devices.get_mut(dev)?.joined_ts.take()?;
        self.order.remove(&(joined, dev.clone()))
    }

    /// Puts a device's participant into the order.
    fn put(&mut self, dev: DevKey, new: Derived) {
        let joined = new.participant.joined_ts;
        if let Some(device) = self.devices.get_mut(&dev) {
            device.joined_ts = Some(joined);
        }
        self.order.insert((joined, dev), new);
    }
}

/// Merges one device's memberships into its participant: the session form first (it is what
/// Element Call reads), the earliest join, the latest lapse, the first foci and intent given.
fn derive(refs: &[MemberRef], store: &SlotStore) -> Option<Derived> {
    let forms: Vec<Form<'_>> = refs
        .iter()
        .filter_map(|&(id, idx)| {
            let slot = store.get(id)?;
            Some((slot.memberships.get(idx)?, &slot.key, idx))
        })
        .collect();
    derive_forms(forms)
}

/// One form of a device: the membership, its slot and its place there.
type Form<'a> = (&'a Membership, &'a SlotKey, usize);

/// Merges one device's forms into its participant (see [`derive`]); ties between forms are
/// broken by slot and place, so the result does not depend on the order they come in.
fn derive_forms(mut forms: Vec<Form<'_>>) -> Option<Derived> {
    forms.sort_by(|(a, a_key, a_idx), (b, b_key, b_idx)| {
        (a.form, a.created_ts, a_key, a_idx).cmp(&(b.form, b.created_ts, b_key, b_idx))
    });
    let (first, _, _) = forms.first()?;
    let mut wire_forms: Vec<WireForm> = forms.iter().map(|(m, _, _)| m.form).collect();
    wire_forms.dedup();
    let focus_selection = forms
        .iter()
        .find_map(|(m, _, _)| m.focus_active.as_ref())
        .map(|f| f.focus_selection.clone());
    let participant = Participant {
        user_id: first.user_id.clone(),
        device_id: first.device_id.clone(),
        member_id: first.member_id.clone(),
        joined_ts: forms
            .iter()
            .map(|(m, _, _)| m.created_ts)
            .min()
            .unwrap_or(first.created_ts),
        expires_at_ms: forms
            .iter()
            .map(|(m, _, _)| m.expires_at_ms())
            .max()
            .unwrap_or(0),
        active_focus: None,
        focus_selection,
        foci_preferred: forms
            .iter()
            .find(|(m, _, _)| !m.foci_preferred.is_empty())
            .map(|(m, _, _)| m.foci_preferred.clone())
            .unwrap_or_default(),
        intent: forms.iter().find_map(|(m, _, _)| m.intent.clone()),
        forms: wire_forms,
    };
    Some(Derived { participant })
}
