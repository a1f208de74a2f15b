//! Property tests: parsers neither panic on arbitrary JSON nor accept what breaks their rules;
//! what we build parses back; our own membership's machine never spins and never stalls.

use proptest::prelude::*;
use serde_json::Value;
use vestibule::rtc::membership::{MembershipEvent, parse_membership_event};
use vestibule::rtc::notification::MAX_LIFETIME_MS;
use vestibule::rtc::own::{Failure, OwnConfig, OwnMembership, OwnState, Reply};
use vestibule::rtc::publish::{JoinParams, PublishForm, membership_state};
use vestibule::rtc::ring::{NotificationEvent, parse_decline, parse_notification};
use vestibule::rtc::state_key::StateKey;
use vestibule::rtc::{CallIntent, Focus, Lobby, WireForm};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-z_.@:]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let keys = prop_oneof![
            Just("application".to_owned()),
            Just("device_id".to_owned()),
            Just("call_id".to_owned()),
            Just("expires".to_owned()),
            Just("created_ts".to_owned()),
            Just("memberships".to_owned()),
            Just("member".to_owned()),
            Just("session".to_owned()),
            Just("user_id".to_owned()),
            Just("foci_preferred".to_owned()),
            Just("focus_active".to_owned()),
            Just("id".to_owned()),
            Just("m.relates_to".to_owned()),
            Just("notification_type".to_owned()),
            Just("lifetime".to_owned()),
            Just("sender_ts".to_owned()),
            Just("m.mentions".to_owned()),
            Just("msc4354_sticky_key".to_owned()),
            "[a-z]{1,6}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const TYPES: [&str; 9] = [
    "org.matrix.msc3401.call.member",
    "m.call.member",
    "m.rtc.member",
    "org.matrix.msc4143.rtc.member",
    "org.matrix.msc4075.rtc.notification",
    "m.call.notify",
    "m.rtc.notify",
    "org.matrix.msc4310.rtc.decline",
    "m.room.message",
];

proptest! {
    #[test]
    fn no_parser_panics_on_arbitrary_json(
        content in arb_json(),
        type_idx in 0..TYPES.len(),
        key in prop::option::of("_?@[a-z_]{0,4}:?[a-z.:_]{0,8}"),
        sender in "@[a-z]{1,4}:[a-z]{1,4}",
        ts in any::<u64>(),
        now in any::<u64>(),
    ) {
        let event_type = TYPES[type_idx];
        let ev = MembershipEvent {
            event_type, state_key: key.as_deref(), sender: &sender, content: &content,
            origin_server_ts: ts, event_id: Some("$e"), sticky_duration_ms: Some(ts),
        };
        if let Ok(parsed) = parse_membership_event(&ev) {
            // Nobody publishes a membership for someone else.
            for m in &parsed.memberships {
                prop_assert_eq!(&m.user_id, &sender);
            }
        }
        let mut lobby = Lobby::new();
        let _ = lobby.apply(&ev, now);
        let _ = lobby.tick(now);
        // What the lobby shows is live, the sender's, and the next expiry is the earliest one.
        let mut earliest = None::<u64>;
        for call in lobby.calls() {
            prop_assert!(!call.participants.is_empty());
            for p in &call.participants {
                prop_assert!(p.expires_at_ms > now, "{} lapsed by {now}", p.expires_at_ms);
                prop_assert_eq!(&p.user_id, &sender);
                earliest = Some(earliest.map_or(p.expires_at_ms, |e| e.min(p.expires_at_ms)));
            }
        }
        if let Some(next) = lobby.next_expiry_ms() {
            prop_assert!(next > now);
            prop_assert!(earliest.is_none_or(|e| next <= e));
        }
        if let Some(k) = &key
            && let Ok(parsed) = StateKey::parse(k)
        {
            prop_assert!(parsed.owner.starts_with('@') && parsed.owner.contains(':'));
            prop_assert_eq!(parsed.leading_underscore, k.starts_with('_'));
            prop_assert!(k.contains(&parsed.owner));
        }
        let n = NotificationEvent { event_type, event_id: "$n", sender: &sender, content: &content, origin_server_ts: ts };
        if let Ok(n) = parse_notification(&n) {
            // No ring outlives its longest lifetime, however its timestamps were crafted.
            let ends = n.expires_at_ms_by(now);
            prop_assert!(ends <= now.saturating_add(MAX_LIFETIME_MS), "{ends} vs {now}");
            prop_assert!(ends >= n.start_ms_by(now));
        }
        let _ = parse_decline(event_type, &content);
    }

    #[test]
    fn what_we_publish_parses_back_to_what_we_built(
        local in "[a-z0-9._=-]{1,12}",
        server in "[a-z0-9]{1,8}(\\.[a-z]{2,3})?(:[0-9]{2,5})?",
        device in "[A-Z0-9]{1,10}",
        member in "[a-zA-Z0-9]{1,16}",
        call_id in prop_oneof![Just(String::new()), "[a-z0-9]{1,8}"],
        video in any::<bool>(),
        sfus in prop::collection::vec("https://[a-z]{1,8}\\.org/[a-z]{0,5}", 0..3),
        msc3757 in any::<bool>(),
        created in prop::option::of(0u64..4_000_000_000_000),
        expires in 1u64..100_000_000,
        origin in 0u64..4_000_000_000_000,
    ) {
        let user = format!("@{local}:{server}");
        let params = JoinParams {
            room_id: "!r:hs".into(),
            room_version: if msc3757 { "org.matrix.msc3757.11".into() } else { "11".into() },
            user_id: user.clone(),
            device_id: device.clone(),
            member_id: member.clone(),
            call_id: call_id.clone(),
            intent: if video { CallIntent::Video } else { CallIntent::Audio },
            foci: sfus.iter().map(|s| Focus::livekit(s)).collect(),
        };
        for form in PublishForm::DEFAULT {
            let out = membership_state(form, &params, created, expires);
            let ev = MembershipEvent {
                event_type: out.event_type, state_key: Some(&out.state_key), sender: &user,
                content: &out.content, origin_server_ts: origin, event_id: None, sticky_duration_ms: None,
            };
            let parsed = parse_membership_event(&ev).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(parsed.memberships.len(), 1);
            let m = &parsed.memberships[0];
            prop_assert_eq!(&m.user_id, &user);
            prop_assert_eq!(&m.device_id, &device);
            prop_assert_eq!(&m.call_id, &call_id);
            prop_assert_eq!(m.application.as_str(), "m.call");
            prop_assert_eq!(m.scope.as_str(), "m.room");
            prop_assert_eq!(m.created_ts, created.unwrap_or(origin));
            prop_assert_eq!(m.expires_ms, expires);
            prop_assert_eq!(m.intent.as_ref(), Some(&params.intent));
            prop_assert_eq!(m.foci_preferred.len(), sfus.len());
            for (f, url) in m.foci_preferred.iter().zip(&sfus) {
                prop_assert_eq!(f.livekit_service_url.as_deref(), Some(url.as_str()));
                prop_assert_eq!(f.livekit_alias.as_deref(), Some("!r:hs"));
            }
            match form {
                PublishForm::Session => {
                    prop_assert_eq!(m.form, WireForm::Session);
                    prop_assert_eq!(m.member_id.clone(), format!("{user}:{device}"));
                }
                PublishForm::RtcMember => {
                    prop_assert_eq!(m.form, WireForm::RtcMember);
                    prop_assert_eq!(&m.member_id, &member);
                }
            }
            let key = StateKey::parse(&out.state_key).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&key.owner, &user);
            prop_assert_eq!(key.leading_underscore, !msc3757);
        }
    }
}

/// One step of a caller driving an [`OwnMembership`]; after each, the caller polls as the
/// worker does after every event.
#[derive(Debug, Clone)]
enum Step {
    Join,
    Leave,
    /// Answer the action in flight.
    Respond(Result<Reply, Failure>),
    /// The room's state shows our membership present or not.
    RoomState(bool),
    /// Time passes.
    Advance(u64),
    /// Time passes up to the machine's wake-up, as the worker's deadline does.
    WakeUp,
}

fn arb_failure() -> impl Strategy<Value = Failure> {
    prop_oneof![
        1 => Just(Failure::RateLimited { retry_after_ms: None }),
        1 => prop_oneof![0u64..2_000, 0u64..100_000_000]
            .prop_map(|ms| Failure::RateLimited { retry_after_ms: Some(ms) }),
        2 => Just(Failure::Network),
        2 => Just(Failure::NotFound),
        2 => Just(Failure::Unsupported),
        1 => Just(Failure::Forbidden),
        1 => Just(Failure::NotInRoom),
        1 => "[A-Z_]{1,8}".prop_map(Failure::Other),
    ]
}

fn arb_step() -> impl Strategy<Value = Step> {
    let reply = prop_oneof![
        "[a-z]{1,4}".prop_map(Reply::DelayId),
        "\\$[a-z]{1,4}".prop_map(Reply::EventId),
        Just(Reply::Done),
    ];
    prop_oneof![
        1 => Just(Step::Join),
        1 => Just(Step::Leave),
        4 => reply.prop_map(|r| Step::Respond(Ok(r))),
        3 => arb_failure().prop_map(|f| Step::Respond(Err(f))),
        1 => any::<bool>().prop_map(Step::RoomState),
        1 => prop_oneof![0u64..12_000, 0u64..8 * 3_600_000].prop_map(Step::Advance),
        2 => Just(Step::WakeUp),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn the_own_membership_machine_never_spins_and_never_stalls(
        rtc_member in any::<bool>(),
        delayed in any::<bool>(),
        steps in prop::collection::vec(arb_step(), 1..60),
    ) {
        let form = if rtc_member { PublishForm::RtcMember } else { PublishForm::Session };
        let params = super::publish::params("10");
        let config = OwnConfig {
            expires_step_ms: 3_600_000,
            refresh_headroom_ms: 60_000,
            max_backoff_ms: 8_000,
            ..OwnConfig::default()
        };
        let mut m = OwnMembership::new(form, params, delayed, config);
        let mut now = 1_700_000_000_000u64;
        let mut wanted = false;
        let mut in_flight = false;
        for step in steps {
            match step {
                Step::Join => { m.join(); wanted = true; }
                Step::Leave => { m.leave(); wanted = false; }
                Step::Respond(result) if in_flight => {
                    m.on_response(result, now);
                    in_flight = false;
                }
                Step::Respond(_) => {}
                Step::RoomState(present) => {
                    let event_id = m.event_id().map(str::to_owned);
                    m.on_room_state(present, event_id.as_deref(), now);
                }
                Step::Advance(ms) => now += ms,
                Step::WakeUp => {
                    if let Some(t) = m.next_wakeup_ms() { now = now.max(t); }
                }
            }
            let wakeup = m.next_wakeup_ms();
            if in_flight {
                prop_assert_eq!(wakeup, None, "a wake-up while a request is in flight");
                prop_assert_eq!(m.poll(now), None, "two requests in flight");
                continue;
            }
            let action = m.poll(now);
            if let Some(t) = wakeup {
                // A wake-up that is due finds work: the worker does not spin.
                prop_assert!(t > now || action.is_some(), "wake-up {t} <= now {now} with nothing to do");
            }
            let failed = matches!(m.state(), OwnState::Failed(_));
            if wanted && !failed {
                // Wanting to be joined, the machine always has work now or a time to wake.
                prop_assert!(
                    action.is_some() || wakeup.is_some_and(|t| t > now),
                    "stalled in {:?}", m.state()
                );
            }
            in_flight = action.is_some();
        }
    }
}
