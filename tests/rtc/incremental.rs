//! The lobby re-derives only what an event touches; these property tests check that it always
//! agrees with deriving every call afresh from every slot, as the rules of MATRIXRTC.md §2 say.

use std::collections::{BTreeMap, HashSet};

use proptest::prelude::*;
use serde_json::{Value, json};
use vestibule::rtc::lobby::MAX_MEMBERSHIPS_PER_SLOT;
use vestibule::rtc::membership::parse_membership_event;
use vestibule::rtc::{
    APPLICATION_CALL, CALL_MEMBER, Call, CallKey, FocusSelection, Lobby, Membership, Participant,
    RTC_MEMBER, RTC_MEMBER_STICKY, SlotKey,
};

use super::factory::*;

/// The lobby as the rules define it: every slot kept, every call derived from all of them.
#[derive(Default)]
struct Reference {
    slots: BTreeMap<SlotKey, (u64, Vec<Membership>)>,
    not_joined: HashSet<String>,
    calls: Vec<Call>,
    next_expiry: Option<u64>,
}

impl Reference {
    fn apply(&mut self, ev: &Ev, now: u64) -> bool {
        let ev = ev.event();
        let ts = ev.origin_server_ts.min(now);
        let (key, mut memberships) = match parse_membership_event(&ev) {
            Ok(parsed) => (Some(parsed.slot), parsed.memberships),
            Err(_) => (
                ev.state_key.map(|key| SlotKey {
                    event_type: match ev.event_type {
                        RTC_MEMBER => RTC_MEMBER,
                        _ => CALL_MEMBER,
                    },
                    key: key.to_owned(),
                }),
                Vec::new(),
            ),
        };
        memberships.truncate(MAX_MEMBERSHIPS_PER_SLOT);
        for m in &mut memberships {
            m.created_ts = m.created_ts.min(now);
        }
        if let Some(key) = key
            && self.slots.get(&key).is_none_or(|(held, _)| *held <= ts)
        {
            self.slots.insert(key, (ts, memberships));
        }
        self.evaluate(now)
    }

    fn set_room_membership(&mut self, user: &str, joined: bool, now: u64) -> bool {
        let updated = if joined {
            self.not_joined.remove(user)
        } else {
            self.not_joined.insert(user.to_owned())
        };
        updated && self.evaluate(now)
    }

    fn tick(&mut self, now: u64) -> bool {
        self.next_expiry.is_some_and(|at| now >= at) && self.evaluate(now)
    }

    fn evaluate(&mut self, now: u64) -> bool {
        let mut next_expiry: Option<u64> = None;
        let mut grouped: BTreeMap<CallKey, BTreeMap<(String, String), Vec<&Membership>>> =
            BTreeMap::new();
        // Slots in key order, then each slot's memberships in order: the tie-break of forms.
        for m in self.slots.values().flat_map(|(_, ms)| ms) {
            if !m.is_active_at(now)
                || m.application != APPLICATION_CALL
                || self.not_joined.contains(&m.user_id)
            {
                continue;
            }
            let at = m.expires_at_ms();
            next_expiry = Some(next_expiry.map_or(at, |n| n.min(at)));
            let key = CallKey {
                application: m.application.clone(),
                call_id: m.call_id.clone(),
                scope: m.scope.clone(),
            };
            grouped
                .entry(key)
                .or_default()
                .entry((m.user_id.clone(), m.device_id.clone()))
                .or_default()
                .push(m);
        }
        let calls: Vec<Call> = grouped
            .into_iter()
            .map(|(key, devices)| reference_call(key, devices.into_values()))
            .collect();
        self.next_expiry = next_expiry;
        let changed = calls != self.calls;
        self.calls = calls;
        changed
    }
}

fn reference_call<'a>(key: CallKey, devices: impl Iterator<Item = Vec<&'a Membership>>) -> Call {
    let mut participants: Vec<Participant> = devices
        .map(|mut forms| {
            forms.sort_by_key(|m| (m.form, m.created_ts));
            let first = forms[0];
            let mut wire_forms: Vec<_> = forms.iter().map(|m| m.form).collect();
            wire_forms.dedup();
            Participant {
                user_id: first.user_id.clone(),
                device_id: first.device_id.clone(),
                member_id: first.member_id.clone(),
                joined_ts: forms.iter().map(|m| m.created_ts).min().unwrap(),
                expires_at_ms: forms.iter().map(|m| m.expires_at_ms()).max().unwrap(),
                active_focus: None,
                focus_selection: forms
                    .iter()
                    .find_map(|m| m.focus_active.as_ref())
                    .map(|f| f.focus_selection.clone()),
                foci_preferred: forms
                    .iter()
                    .find(|m| !m.foci_preferred.is_empty())
                    .map(|m| m.foci_preferred.clone())
                    .unwrap_or_default(),
                intent: forms.iter().find_map(|m| m.intent.clone()),
                forms: wire_forms,
            }
        })
        .collect();
    participants.sort_by(|a, b| {
        (a.joined_ts, &a.user_id, &a.device_id).cmp(&(b.joined_ts, &b.user_id, &b.device_id))
    });
    let oldest = participants
        .first()
        .and_then(|p| p.foci_preferred.first().cloned());
    for p in &mut participants {
        let own = p.foci_preferred.first().cloned();
        p.active_focus = match p.focus_selection {
            Some(FocusSelection::OldestMembership) => oldest.clone().or(own),
            _ => own.or_else(|| oldest.clone()),
        };
    }
    Call { key, participants }
}

const USERS: [&str; 3] = [ALICE, BOB, ME];
const DEVICES: [&str; 2] = ["A", "B"];

/// One step: an event, a room membership, a tick; each after the clock moved.
#[derive(Debug, Clone)]
enum Step {
    Event(EventSpec),
    RoomMember { user: usize, joined: bool },
    Tick,
}

#[derive(Debug, Clone)]
struct EventSpec {
    form: u8,
    user: usize,
    device: usize,
    side_call: bool,
    sticky_key: u8,
    age_s: u64,
    created_ago_s: Option<u64>,
    expires_s: Option<u64>,
    selection: u8,
    sfu: u8,
    audio: bool,
}

fn event_spec() -> impl Strategy<Value = EventSpec> {
    (
        (
            0u8..9,
            0..USERS.len(),
            0..DEVICES.len(),
            any::<bool>(),
            0u8..3,
        ),
        (
            // Coarse times, so that forms of one device often tie.
            (0u64..4).prop_map(|m| m * 600),
            prop::option::of((0u64..4).prop_map(|h| h * 1_800)),
            prop::option::of(1u64..7_200),
            0u8..3,
            0u8..3,
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (form, user, device, side_call, sticky_key),
                (age_s, created_ago_s, expires_s, selection, sfu, audio),
            )| EventSpec {
                form,
                user,
                device,
                side_call,
                sticky_key,
                age_s,
                created_ago_s,
                expires_s,
                selection,
                sfu,
                audio,
            },
        )
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => event_spec().prop_map(Step::Event),
        1 => (0..USERS.len(), any::<bool>()).prop_map(|(user, joined)| Step::RoomMember { user, joined }),
        1 => Just(Step::Tick),
    ]
}

impl EventSpec {
    /// The event at `now`: every form, leaves, forgeries and an unreadable one.
    fn event(&self, now: u64) -> Ev {
        let user = USERS[self.user];
        let device = DEVICES[self.device];
        let ts = now - self.age_s * 1_000;
        let mut e = match self.form {
            0 | 1 => session(user, device),
            2 => rtc_member(user, device, &format!("m{device}")),
            3 => array(user, &DEVICES[..=self.device]),
            4 | 5 => sticky(user, device)
                .set("msc4354_sticky_key", json!(format!("k{}", self.sticky_key))),
            6 => session(user, device).left(),
            7 => sticky(user, device)
                .left()
                .set("msc4354_sticky_key", json!(format!("k{}", self.sticky_key))),
            _ => session(user, device).sent_by(USERS[(self.user + 1) % USERS.len()]),
        };
        // Leaves stay leaves; the array form keeps the factory's times.
        if let Some(obj) = e.content.as_object_mut()
            && !matches!(self.form, 3 | 6 | 7)
        {
            if self.side_call {
                obj.insert("call_id".into(), json!("side"));
                if let Some(app) = obj.get_mut("application").and_then(Value::as_object_mut) {
                    app.insert("call_id".into(), json!("side"));
                }
                if let Some(session) = obj.get_mut("session").and_then(Value::as_object_mut) {
                    session.insert("call_id".into(), json!("side"));
                }
            }
            if let Some(ago) = self.created_ago_s {
                obj.insert("created_ts".into(), json!(ts - ago * 1_000));
            }
            if let Some(expires) = self.expires_s {
                obj.insert("expires".into(), json!(expires * 1_000));
            }
            let selection = ["oldest_membership", "multi_sfu"].get(usize::from(self.selection));
            match selection {
                Some(s) => {
                    obj.insert(
                        "focus_active".into(),
                        json!({"type":"livekit","focus_selection":s}),
                    );
                }
                None => {
                    obj.remove("focus_active");
                }
            }
            let foci = match self.sfu {
                0 => json!([]),
                1 => json!([{"type":"livekit","livekit_service_url":SFU_A}]),
                _ => json!([{"type":"livekit","livekit_service_url":SFU_B}]),
            };
            for field in ["foci_preferred", "rtc_transports"] {
                if obj.contains_key(field) {
                    obj.insert(field.into(), foci.clone());
                }
            }
            if self.audio {
                obj.insert("m.call.intent".into(), json!("audio"));
            }
        }
        if e.event_type == RTC_MEMBER_STICKY {
            e.sticky_duration_ms = self.expires_s.map(|s| s * 1_000);
        }
        e.at(ts)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn the_lobby_agrees_with_deriving_everything_afresh(
        initial in prop::collection::vec(event_spec(), 0..8),
        steps in prop::collection::vec((step(), (0u64..5).prop_map(|m| m * 60), 0u8..8), 1..40),
    ) {
        // A lobby built at once from a room's state, then fed one step at a time.
        let mut now = T0;
        let initial: Vec<Ev> = initial.iter().map(|spec| spec.event(now)).collect();
        let (mut lobby, _) = Lobby::from_events(initial.iter().map(Ev::event), now);
        let mut reference = Reference::default();
        for e in &initial {
            reference.apply(e, now);
        }
        prop_assert_eq!(lobby.calls(), reference.calls.as_slice(), "built at once");
        prop_assert_eq!(lobby.next_expiry_ms(), reference.next_expiry, "built at once");
        for (i, (step, advance_s, back)) in steps.iter().enumerate() {
            // Mostly forward, now and then a little back (a clock step).
            now = if *back == 0 { now - 5_000 } else { now + advance_s * 1_000 };
            let (got, want) = match step {
                Step::Event(spec) => {
                    let e = spec.event(now);
                    let got = lobby.apply(&e.event(), now);
                    let want = reference.apply(&e, now);
                    (got.unwrap_or(want), want)
                }
                Step::RoomMember { user, joined } => (
                    lobby.set_room_membership(USERS[*user], *joined, now),
                    reference.set_room_membership(USERS[*user], *joined, now),
                ),
                Step::Tick => (lobby.tick(now), reference.tick(now)),
            };
            prop_assert_eq!(lobby.calls(), reference.calls.as_slice(), "step {}: {:?}", i, step);
            prop_assert_eq!(got, want, "step {}: changed, {:?}", i, step);
            prop_assert_eq!(lobby.next_expiry_ms(), reference.next_expiry, "step {}", i);
            for call in lobby.calls() {
                prop_assert_eq!(lobby.call(&call.key), Some(call));
            }
        }
    }
}
