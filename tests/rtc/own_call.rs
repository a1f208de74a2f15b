//! Our part in one room's call (MATRIXRTC.md §3–§5): the forms together, our ring once they
//! are out, and leaving when nobody answers it.

use serde_json::json;
use vestibule::rtc::Lobby;
use vestibule::rtc::own::{Action, Failure, OwnConfig, OwnState, Reply};
use vestibule::rtc::own_call::{JoinPlan, OwnCall, OwnCallEffect};
use vestibule::rtc::publish::{OutgoingMessage, PublishForm};
use vestibule::rtc::ring::{DEFAULT_LIFETIME_MS, Me, NotifyKind};
use vestibule::rtc::{CALL_MEMBER_STABLE, RTC_MEMBER, RTC_NOTIFICATION, RTC_NOTIFY};

use super::factory::*;
use super::publish::params;

pub const CFG: OwnConfig = OwnConfig {
    delay_ms: 10_000,
    restart_interval_ms: 5_000,
    expires_step_ms: HOUR,
    refresh_headroom_ms: 60_000,
    base_backoff_ms: 1_000,
    max_backoff_ms: 8_000,
};

/// When the first refresh of a form joined at `T0` is due.
pub const REFRESH_AT: u64 = T0 + HOUR - 60_000;

const SESSION: PublishForm = PublishForm::Session;
const RTC: PublishForm = PublishForm::RtcMember;
const BOTH: [PublishForm; 2] = [SESSION, RTC];

/// Our state keys in a room of version 10 (see `publish::params`).
const SESSION_KEY: &str = "_@me:example.org_MYDEV_m.call";
const RTC_KEY: &str = "_@me:example.org_m3mb3r";

pub fn me() -> Me {
    Me {
        user_id: ME.into(),
        device_id: "MYDEV".into(),
    }
}

/// Joining with `forms`, ringing with `notify`.
pub fn plan(forms: &[PublishForm], delayed_events: bool, notify: Option<NotifyKind>) -> JoinPlan {
    JoinPlan {
        params: params("10"),
        forms: forms.to_vec(),
        delayed_events,
        config: CFG,
        notify,
        with_rtc_notify: false,
    }
}

/// The event id the server gives our join in `form`.
pub fn join_id(form: PublishForm) -> String {
    format!("$join-{form:?}")
}

/// What a server that accepts everything answers to `action` of `form`.
pub fn ok_reply(form: PublishForm, action: &Action) -> Reply {
    match action {
        Action::ScheduleDelayedLeave { .. } => Reply::DelayId(format!("delay-{form:?}")),
        Action::SendState { content, .. } if content == &json!({}) => {
            Reply::EventId(format!("$leave-{form:?}"))
        }
        Action::SendState { .. } => Reply::EventId(join_id(form)),
        _ => Reply::Done,
    }
}

pub fn performs(effects: &[OwnCallEffect]) -> Vec<(PublishForm, Action)> {
    effects
        .iter()
        .filter_map(|e| match e {
            OwnCallEffect::Perform { form, action } => Some((*form, action.clone())),
            _ => None,
        })
        .collect()
}

fn forms_asked(effects: &[OwnCallEffect]) -> Vec<PublishForm> {
    performs(effects).into_iter().map(|(f, _)| f).collect()
}

fn rings(effects: &[OwnCallEffect]) -> Vec<Vec<OutgoingMessage>> {
    effects
        .iter()
        .filter_map(|e| match e {
            OwnCallEffect::SendRing(messages) => Some(messages.clone()),
            _ => None,
        })
        .collect()
}

fn state_changes(effects: &[OwnCallEffect]) -> Vec<OwnState> {
    effects
        .iter()
        .filter_map(|e| match e {
            OwnCallEffect::StateChanged(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

fn unanswered(effects: &[OwnCallEffect]) -> bool {
    effects.contains(&OwnCallEffect::Unanswered)
}

fn lobby_of(events: &[Ev], now: u64) -> Lobby {
    let (lobby, rejected) = Lobby::from_events(events.iter().map(Ev::event), now);
    assert!(rejected.is_empty(), "{rejected:?}");
    lobby
}

/// Our call and the lobby it is polled with.
struct Harness {
    own: OwnCall,
    lobby: Lobby,
}

impl Harness {
    fn join(plan: JoinPlan) -> Self {
        Self {
            own: OwnCall::join(plan),
            lobby: Lobby::new(),
        }
    }

    fn poll(&mut self, now: u64) -> Vec<OwnCallEffect> {
        self.own.poll(now, &self.lobby, &me())
    }

    fn answer(&mut self, form: PublishForm, result: Result<Reply, Failure>, now: u64) {
        self.own.on_response(form, result, now);
    }

    fn publish(&mut self, form: PublishForm, now: u64) {
        self.answer(form, Ok(Reply::EventId(join_id(form))), now);
    }

    /// Polls at `now` and answers every request with success until nothing is asked; returns
    /// every effect on the way.
    fn settle(&mut self, now: u64) -> Vec<OwnCallEffect> {
        let mut all = Vec::new();
        loop {
            let effects = self.poll(now);
            let asked = performs(&effects);
            all.extend(effects);
            if asked.is_empty() {
                return all;
            }
            for (form, action) in asked {
                self.answer(form, Ok(ok_reply(form, &action)), now);
            }
        }
    }

    /// Joins with `plan` at `T0`: every form's join is asked and published.
    fn joined(plan: JoinPlan) -> Self {
        let forms = plan.forms.clone();
        let mut h = Self::join(plan);
        let asked = performs(&h.poll(T0));
        assert_eq!(
            asked.iter().map(|(f, _)| *f).collect::<Vec<_>>(),
            forms,
            "every form sends its join"
        );
        for (form, action) in &asked {
            assert!(matches!(action, Action::SendState { .. }), "{action:?}");
            h.publish(*form, T0);
        }
        h
    }
}

/// What one form's machine is driven to.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    /// Its join is in flight.
    Joining,
    /// Its join was answered.
    Joined,
    /// Its refresh was refused, so it withdraws (its leave not yet sent or in flight).
    Leaving,
    /// Its join was refused.
    Failed(Failure),
    /// It was joined, and its leave completed after we left.
    NotJoined,
}

/// Drives a call with one machine per `(form, target)` to those targets through real requests
/// and answers (no delayed events).
fn reach(targets: &[(PublishForm, Target)]) -> OwnCall {
    let target_of = |form: PublishForm| &targets.iter().find(|(f, _)| *f == form).unwrap().1;
    let has = |t: &Target| targets.iter().any(|(_, x)| x == t);
    let forms: Vec<PublishForm> = targets.iter().map(|(f, _)| *f).collect();
    let mut h = Harness::join(plan(&forms, false, None));
    assert_eq!(forms_asked(&h.poll(T0)), forms, "every form sends its join");
    for (form, target) in targets {
        match target {
            Target::Joining => {}
            Target::Failed(f) => h.answer(*form, Err(f.clone()), T0),
            _ => h.publish(*form, T0),
        }
    }
    if has(&Target::Leaving) {
        // The refresh is due: the forms to leave are refused, the others renewed.
        for (form, action) in performs(&h.poll(REFRESH_AT)) {
            assert!(matches!(action, Action::SendState { .. }), "{action:?}");
            let result = match target_of(form) {
                Target::Leaving => Err(Failure::Forbidden),
                _ => Ok(Reply::EventId(format!("$refresh-{form:?}"))),
            };
            h.answer(form, result, REFRESH_AT);
        }
    }
    if has(&Target::NotJoined) {
        assert!(
            !has(&Target::Joined) && !has(&Target::Joining),
            "leaving takes every form out"
        );
        h.own.leave();
        for (form, action) in performs(&h.poll(REFRESH_AT + 1)) {
            let Action::SendState { content, .. } = &action else {
                panic!("a plain leave: {action:?}")
            };
            assert_eq!(content, &json!({}));
            if target_of(form) == &Target::NotJoined {
                h.answer(form, Ok(ok_reply(form, &action)), REFRESH_AT + 1);
            }
        }
    }
    h.own
}

#[test]
fn each_target_is_reached_by_one_form_alone() {
    let cases = [
        (Target::Joining, OwnState::Joining),
        (Target::Joined, OwnState::Joined),
        (Target::Leaving, OwnState::Leaving),
        (
            Target::Failed(Failure::Forbidden),
            OwnState::Failed(Failure::Forbidden),
        ),
        (Target::NotJoined, OwnState::NotJoined),
    ];
    for form in BOTH {
        for (target, expected) in &cases {
            let own = reach(&[(form, target.clone())]);
            assert_eq!(&own.state(), expected, "{form:?} driven to {target:?}");
        }
    }
}

#[test]
fn state_aggregates_the_forms() {
    use Target::*;
    let forbidden = || Failed(Failure::Forbidden);
    let other = || Failed(Failure::Other("M_UNKNOWN".into()));
    let cases = [
        // Any form on its way: joining.
        (Joining, Joining, OwnState::Joining),
        (Joining, Joined, OwnState::Joining),
        (Joined, Joining, OwnState::Joining),
        (Joining, forbidden(), OwnState::Joining),
        (forbidden(), Joining, OwnState::Joining),
        (Joining, Leaving, OwnState::Joining),
        // Else any form out: joined; a refused form does not hold us back.
        (Joined, Joined, OwnState::Joined),
        (Joined, forbidden(), OwnState::Joined),
        (forbidden(), Joined, OwnState::Joined),
        (Joined, Leaving, OwnState::Joined),
        (Leaving, Joined, OwnState::Joined),
        // Else any form withdrawing: leaving.
        (Leaving, Leaving, OwnState::Leaving),
        (Leaving, forbidden(), OwnState::Leaving),
        (forbidden(), Leaving, OwnState::Leaving),
        (Leaving, NotJoined, OwnState::Leaving),
        (NotJoined, Leaving, OwnState::Leaving),
        // Else the first failure, in the order of the forms.
        (forbidden(), other(), OwnState::Failed(Failure::Forbidden)),
        (
            other(),
            forbidden(),
            OwnState::Failed(Failure::Other("M_UNKNOWN".into())),
        ),
        (forbidden(), NotJoined, OwnState::Failed(Failure::Forbidden)),
        (NotJoined, forbidden(), OwnState::Failed(Failure::Forbidden)),
        // Else not joined.
        (NotJoined, NotJoined, OwnState::NotJoined),
    ];
    for (session, rtc, expected) in cases {
        let own = reach(&[(SESSION, session.clone()), (RTC, rtc.clone())]);
        assert_eq!(
            own.state(),
            expected,
            "session {session:?}, m.rtc.member {rtc:?}"
        );
        let is_in = matches!(expected, OwnState::Joining | OwnState::Joined);
        assert_eq!(
            own.is_joining_or_joined(),
            is_in,
            "session {session:?}, m.rtc.member {rtc:?}"
        );
    }
}

#[test]
fn ring_target_prefers_the_session_form() {
    let session_id = join_id(SESSION);
    let rtc_id = join_id(RTC);
    // (forms, those published, the ring target)
    let cases = [
        ("nothing published yet", BOTH.to_vec(), vec![], None),
        (
            "both published",
            BOTH.to_vec(),
            BOTH.to_vec(),
            Some(session_id.as_str()),
        ),
        (
            "both published, m.rtc.member first",
            vec![RTC, SESSION],
            vec![RTC, SESSION],
            Some(session_id.as_str()),
        ),
        (
            "only the session form is out",
            BOTH.to_vec(),
            vec![SESSION],
            Some(session_id.as_str()),
        ),
        (
            "only the session form is out, listed second",
            vec![RTC, SESSION],
            vec![SESSION],
            Some(session_id.as_str()),
        ),
        (
            "the brief's form alone",
            vec![RTC],
            vec![RTC],
            Some(rtc_id.as_str()),
        ),
        (
            "the session form alone",
            vec![SESSION],
            vec![SESSION],
            Some(session_id.as_str()),
        ),
    ];
    for (name, forms, published, expected) in cases {
        let mut h = Harness::join(plan(&forms, false, None));
        assert_eq!(h.own.ring_target(), None, "{name}: before any request");
        h.poll(T0);
        for form in published {
            h.publish(form, T0);
        }
        assert_eq!(h.own.ring_target(), expected, "{name}");
    }
}

#[test]
fn ring_target_falls_back_to_the_first_published_form() {
    let rtc_id = join_id(RTC);
    // The session form is still on its way / was refused; the brief's form is out.
    let cases: [(&str, Option<Failure>); 2] = [
        ("session form refused", Some(Failure::Forbidden)),
        ("session form in flight", None),
    ];
    for (name, session_answer) in cases {
        let mut h = Harness::join(plan(&BOTH, false, Some(NotifyKind::Ring)));
        h.poll(T0);
        h.publish(RTC, T0);
        let refused = session_answer.is_some();
        if let Some(failure) = session_answer {
            h.answer(SESSION, Err(failure), T0);
        }
        assert_eq!(h.own.ring_target(), Some(rtc_id.as_str()), "{name}");
        if refused {
            let effects = h.poll(T0 + 1);
            assert_eq!(h.own.state(), OwnState::Joined, "{name}");
            let sent = rings(&effects);
            assert_eq!(
                sent.len(),
                1,
                "{name}: our ring goes out once we are joined"
            );
            assert_eq!(
                sent[0][0].content["m.relates_to"]["event_id"],
                json!(rtc_id),
                "{name}"
            );
        }
    }
}

#[test]
fn our_ring_goes_out_once_when_every_form_is_out() {
    let cases: [(&[PublishForm], bool, &[&str], PublishForm); 4] = [
        (&BOTH, false, &[RTC_NOTIFICATION], SESSION),
        (&BOTH, true, &[RTC_NOTIFICATION, RTC_NOTIFY], SESSION),
        (&[RTC, SESSION], false, &[RTC_NOTIFICATION], SESSION),
        (&[RTC], true, &[RTC_NOTIFICATION, RTC_NOTIFY], RTC),
    ];
    for (forms, with_rtc_notify, types, target) in cases {
        let name = format!("{forms:?}, m.rtc.notify {with_rtc_notify}");
        let mut p = plan(forms, false, Some(NotifyKind::Ring));
        p.with_rtc_notify = with_rtc_notify;
        let mut h = Harness::join(p);
        let mut now = T0;
        assert!(rings(&h.poll(now)).is_empty(), "{name}: nothing is out");
        let (last, first) = forms.split_last().unwrap();
        for form in first {
            h.publish(*form, now);
            now += 1;
            assert!(
                rings(&h.poll(now)).is_empty(),
                "{name}: {last:?} is still on its way"
            );
        }
        h.publish(*last, now);
        now += 1;
        let effects = h.poll(now);
        assert_eq!(h.own.state(), OwnState::Joined, "{name}");
        let sent = rings(&effects);
        assert_eq!(sent.len(), 1, "{name}");
        let got: Vec<&str> = sent[0].iter().map(|m| m.event_type).collect();
        assert_eq!(got, types, "{name}");
        for message in &sent[0] {
            assert_eq!(
                message.content["m.relates_to"],
                json!({"rel_type":"m.reference","event_id":join_id(target)}),
                "{name}: {}",
                message.event_type
            );
            assert_eq!(message.content["sender_ts"], json!(now), "{name}");
            assert_eq!(message.content["lifetime"], json!(DEFAULT_LIFETIME_MS));
        }
        for later in [now, now + 1, now + 10_000, now + DEFAULT_LIFETIME_MS - 1] {
            assert!(rings(&h.poll(later)).is_empty(), "{name}: rang once");
        }
    }
}

#[test]
fn rejoining_replaces_a_pending_ring() {
    use NotifyKind::{Notification, Ring};
    let cases = [
        (Some(Ring), Some(Notification), Some("notification")),
        (Some(Notification), Some(Ring), Some("ring")),
        (Some(Ring), None, Some("ring")),
        (None, Some(Ring), Some("ring")),
        (None, None, None),
    ];
    for (first, again, expected) in cases {
        let mut h = Harness::join(plan(&BOTH, false, first));
        h.poll(T0);
        h.own.rejoin(again);
        for form in BOTH {
            h.publish(form, T0);
        }
        let sent = rings(&h.poll(T0 + 1));
        let kinds: Vec<&str> = sent
            .iter()
            .map(|m| m[0].content["notification_type"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            expected.into_iter().collect::<Vec<_>>(),
            "joined with {first:?}, again with {again:?}"
        );
    }
}

#[test]
fn leaving_drops_a_pending_ring() {
    // Left while joining, then back in without a ring of our own.
    let mut h = Harness::join(plan(&BOTH, false, Some(NotifyKind::Ring)));
    h.poll(T0);
    h.own.leave();
    h.own.rejoin(None);
    for form in BOTH {
        h.publish(form, T0);
    }
    let effects = h.settle(T0 + 1);
    assert_eq!(h.own.state(), OwnState::Joined);
    assert!(rings(&effects).is_empty(), "{effects:?}");

    // Left while joining and gone for good.
    let mut h = Harness::join(plan(&BOTH, false, Some(NotifyKind::Ring)));
    h.poll(T0);
    h.own.leave();
    for form in BOTH {
        h.publish(form, T0);
    }
    let effects = h.settle(T0 + 1);
    assert!(h.own.is_idle());
    assert!(rings(&effects).is_empty(), "{effects:?}");
}

/// When our ring goes out in the tests of the unanswered leave.
const RANG: u64 = T0 + 100;

/// Joined with both forms and rang at `RANG`.
fn rang() -> Harness {
    let mut h = Harness::joined(plan(&BOTH, false, Some(NotifyKind::Ring)));
    assert_eq!(
        h.own.next_wakeup_ms(),
        Some(REFRESH_AT),
        "only the refresh is due"
    );
    assert_eq!(rings(&h.poll(RANG)).len(), 1);
    h
}

#[test]
fn nobody_answering_our_ring_makes_us_leave() {
    let cases: [(&str, Vec<Ev>, bool); 8] = [
        ("nobody", vec![], true),
        ("only this device", vec![session(ME, "MYDEV")], true),
        ("our other device", vec![session(ME, "PHONE")], true),
        (
            "our devices in every form",
            vec![
                session(ME, "MYDEV"),
                rtc_member(ME, "PHONE", "p1"),
                sticky(ME, "TABLET"),
            ],
            true,
        ),
        (
            "Alice in another call of the room",
            vec![session(ALICE, "A").set("call_id", json!("side"))],
            true,
        ),
        ("Alice in the call", vec![session(ALICE, "A")], false),
        (
            "Alice in the brief's form",
            vec![rtc_member(ALICE, "A", "a1")],
            false,
        ),
        ("Alice sticky", vec![sticky(ALICE, "A")], false),
    ];
    let deadline = RANG + DEFAULT_LIFETIME_MS;
    for (name, events, leaves) in cases {
        let mut h = rang();
        assert_eq!(h.own.next_wakeup_ms(), Some(deadline), "{name}");
        h.lobby = lobby_of(&events, RANG + 1);
        let effects = h.poll(deadline - 1);
        assert!(!unanswered(&effects), "{name}: one ms early");
        assert!(performs(&effects).is_empty(), "{name}: {effects:?}");
        let next = if leaves { deadline } else { REFRESH_AT };
        assert_eq!(h.own.next_wakeup_ms(), Some(next), "{name}");

        let effects = h.poll(deadline);
        if leaves {
            let leave = |form: PublishForm, key: &str| OwnCallEffect::Perform {
                form,
                action: Action::SendState {
                    event_type: form.event_type(),
                    state_key: key.to_owned(),
                    content: json!({}),
                },
            };
            assert_eq!(
                effects,
                [
                    OwnCallEffect::Unanswered,
                    leave(SESSION, SESSION_KEY),
                    leave(RTC, RTC_KEY),
                    OwnCallEffect::StateChanged(OwnState::Leaving),
                ],
                "{name}"
            );
            assert_eq!(h.own.state(), OwnState::Leaving, "{name}");
            assert_eq!(h.own.next_wakeup_ms(), None, "{name}: leaves in flight");
            for form in BOTH {
                h.publish(form, deadline);
            }
            let effects = h.poll(deadline + HOUR);
            assert!(!unanswered(&effects), "{name}: said once");
            assert!(h.own.is_idle(), "{name}");
        } else {
            assert!(effects.is_empty(), "{name}: {effects:?}");
            assert_eq!(h.own.state(), OwnState::Joined, "{name}");
            for later in [deadline + 1, deadline + 10 * DEFAULT_LIFETIME_MS] {
                assert!(h.poll(later).is_empty(), "{name}");
            }
        }
    }
}

#[test]
fn someone_who_came_and_went_answered_our_ring() {
    let deadline = RANG + DEFAULT_LIFETIME_MS;
    // Who is in the room's call at each poll after the ring.
    let cases: [(&str, [bool; 3]); 4] = [
        ("Alice stays", [true, true, true]),
        ("Alice comes and goes", [false, true, false]),
        ("Alice only at the start", [true, false, false]),
        ("Alice only at the deadline", [false, false, true]),
    ];
    for (name, present) in cases {
        let mut h = rang();
        for (at, here) in [RANG + 1, RANG + 10_000, deadline].into_iter().zip(present) {
            let events = if here {
                vec![session(ALICE, "A")]
            } else {
                vec![]
            };
            h.lobby = lobby_of(&events, at);
            let effects = h.poll(at);
            assert!(!unanswered(&effects), "{name}: at {}", at - RANG);
        }
        h.lobby = Lobby::new();
        for later in [deadline + 1, deadline + 5 * DEFAULT_LIFETIME_MS] {
            assert!(!unanswered(&h.poll(later)), "{name}");
        }
        assert_eq!(h.own.state(), OwnState::Joined, "{name}");
        assert_eq!(h.own.next_wakeup_ms(), Some(REFRESH_AT), "{name}");
    }
}

#[test]
fn our_slot_vanishing_while_joined_makes_us_publish_again() {
    let stable = |e: Ev| Ev {
        event_type: CALL_MEMBER_STABLE.into(),
        ..e
    };
    let as_type = |e: Ev, t: &str| Ev {
        event_type: t.into(),
        ..e
    };
    let cases: [(&str, Ev, Option<PublishForm>); 10] = [
        (
            "our session slot emptied",
            session(ME, "MYDEV").left(),
            Some(SESSION),
        ),
        (
            "our m.rtc.member slot emptied",
            rtc_member(ME, "MYDEV", "m3mb3r").left(),
            Some(RTC),
        ),
        (
            "our session slot overwritten by Bob",
            session(BOB, "B").key(SESSION_KEY),
            Some(SESSION),
        ),
        (
            "our m.rtc.member slot overwritten by Bob",
            rtc_member(BOB, "B", "b1").key(RTC_KEY),
            Some(RTC),
        ),
        ("our session slot holding us", session(ME, "MYDEV"), None),
        (
            "our other device's slot emptied",
            session(ME, "PHONE").left(),
            None,
        ),
        ("Alice's slot emptied", session(ALICE, "A").left(), None),
        (
            "m.rtc.member under our session key",
            as_type(session(ME, "MYDEV").left(), RTC_MEMBER),
            None,
        ),
        (
            "the stable type under our session key",
            stable(session(ME, "MYDEV").left()),
            None,
        ),
        (
            "a sticky leave of ours",
            Ev {
                content: json!({"msc4354_sticky_key":"sticky-MYDEV"}),
                ..sticky(ME, "MYDEV")
            },
            None,
        ),
    ];
    for (name, event, republished) in cases {
        let mut h = Harness::joined(plan(&BOTH, false, None));
        h.poll(T0);
        h.own.on_membership_event(&event.event(), &me());
        let effects = h.poll(T0 + 1);
        match republished {
            Some(form) => {
                let asked = performs(&effects);
                assert_eq!(asked.len(), 1, "{name}: {asked:?}");
                let (
                    got,
                    Action::SendState {
                        event_type,
                        content,
                        ..
                    },
                ) = &asked[0]
                else {
                    panic!("{name}: a join: {asked:?}")
                };
                assert_eq!(*got, form, "{name}");
                assert_eq!(*event_type, form.event_type(), "{name}");
                assert_eq!(content["created_ts"], json!(T0), "{name}: same join time");
                assert_eq!(state_changes(&effects), [OwnState::Joining], "{name}");
                h.answer(form, Ok(Reply::EventId("$again".into())), T0 + 1);
                assert_eq!(h.own.state(), OwnState::Joined, "{name}");
            }
            None => {
                assert!(effects.is_empty(), "{name}: {effects:?}");
                assert_eq!(h.own.state(), OwnState::Joined, "{name}");
            }
        }
    }
}

#[test]
fn the_servers_time_of_our_join_becomes_created_ts() {
    let ours = join_id(SESSION);
    let ours = ours.as_str();
    // (our event ids echoed with their server times, the created_ts adopted)
    let cases = [
        ("our join echoed", vec![(ours, T0 - 2_000)], T0 - 2_000),
        ("our join echoed late", vec![(ours, T0 + 7_000)], T0 + 7_000),
        ("another event of ours", vec![("$other", T0 - 2_000)], T0),
        (
            "our join echoed twice",
            vec![(ours, T0 - 2_000), (ours, T0 + 5_000)],
            T0 - 2_000,
        ),
    ];
    for (name, echoes, created) in cases {
        let mut h = Harness::joined(plan(&BOTH, false, None));
        for (id, ts) in echoes {
            let echo = session(ME, "MYDEV").id(id).at(ts);
            h.own.on_membership_event(&echo.event(), &me());
        }
        let refresh_at = created + HOUR - 60_000;
        assert!(
            !forms_asked(&h.poll(refresh_at - 1)).contains(&SESSION),
            "{name}: not yet"
        );
        let asked = performs(&h.poll(refresh_at));
        let Some((_, Action::SendState { content, .. })) =
            asked.iter().find(|(f, _)| *f == SESSION)
        else {
            panic!("{name}: a refresh: {asked:?}")
        };
        assert_eq!(content["created_ts"], json!(created), "{name}");
        assert_eq!(content["expires"], json!(2 * HOUR), "{name}");
        assert_eq!(content["device_id"], json!("MYDEV"));
    }
}

#[test]
fn a_state_change_is_reported_once() {
    let mut h = Harness::join(plan(&BOTH, false, None));
    let mut seen = Vec::new();
    let mut now = T0;
    let mut step = |h: &mut Harness, seen: &mut Vec<Vec<OwnState>>| {
        now += 1;
        seen.push(state_changes(&h.poll(now)));
    };
    step(&mut h, &mut seen); // the joins go out
    step(&mut h, &mut seen);
    h.publish(SESSION, T0);
    step(&mut h, &mut seen);
    h.publish(RTC, T0);
    step(&mut h, &mut seen);
    step(&mut h, &mut seen);
    h.own.leave();
    step(&mut h, &mut seen); // the leaves go out
    step(&mut h, &mut seen);
    h.answer(SESSION, Ok(Reply::EventId("$l1".into())), T0);
    step(&mut h, &mut seen);
    h.answer(RTC, Ok(Reply::EventId("$l2".into())), T0);
    step(&mut h, &mut seen);
    step(&mut h, &mut seen);
    use OwnState::*;
    assert_eq!(
        seen,
        [
            vec![Joining],
            vec![],
            vec![],
            vec![Joined],
            vec![],
            vec![Leaving],
            vec![],
            vec![],
            vec![NotJoined],
            vec![],
        ]
    );
}

#[test]
fn idle_once_leaving_completes() {
    for delayed_events in [false, true] {
        let mut h = Harness::join(plan(&BOTH, delayed_events, None));
        assert!(!h.own.is_idle(), "delayed {delayed_events}: joining");
        h.settle(T0);
        assert_eq!(h.own.state(), OwnState::Joined, "delayed {delayed_events}");
        assert!(!h.own.is_idle(), "delayed {delayed_events}: joined");
        h.own.leave();
        let asked = performs(&h.poll(T0 + 1));
        assert_eq!(
            asked
                .iter()
                .map(|(_, a)| match a {
                    Action::SendDelayedLeaveNow { .. } => delayed_events,
                    Action::SendState { content, .. } => !delayed_events && content == &json!({}),
                    _ => false,
                })
                .collect::<Vec<_>>(),
            [true, true],
            "delayed {delayed_events}: {asked:?}"
        );
        assert!(
            !h.own.is_idle(),
            "delayed {delayed_events}: leaves in flight"
        );
        let (first, second) = (&asked[0], &asked[1]);
        h.answer(first.0, Ok(ok_reply(first.0, &first.1)), T0 + 1);
        assert!(
            !h.own.is_idle(),
            "delayed {delayed_events}: one leave in flight"
        );
        h.answer(second.0, Ok(ok_reply(second.0, &second.1)), T0 + 1);
        assert!(h.own.is_idle(), "delayed {delayed_events}");
        assert_eq!(h.own.state(), OwnState::NotJoined);
        assert!(
            h.poll(T0 + 2)
                .iter()
                .all(|e| !matches!(e, OwnCallEffect::Perform { .. }))
        );
    }
}
