//! Our own membership's state machine (MATRIXRTC.md §5).

use serde_json::json;
use vestibule::rtc::own::{
    Action, Failure, MAX_RETRY_AFTER_MS, Notice, OwnConfig, OwnMembership, OwnState, Reply,
};
use vestibule::rtc::publish::PublishForm;

use super::factory::*;
use super::publish::params;

const CFG: OwnConfig = OwnConfig {
    delay_ms: 10_000,
    restart_interval_ms: 5_000,
    expires_step_ms: HOUR,
    refresh_headroom_ms: 60_000,
    base_backoff_ms: 1_000,
    max_backoff_ms: 8_000,
};

fn machine(delayed: bool) -> OwnMembership {
    OwnMembership::new(PublishForm::Session, params("10"), delayed, CFG)
}

/// Joins with delayed events up to the first restart; returns the machine at `T0`.
fn joined() -> OwnMembership {
    let mut m = machine(true);
    m.join();
    assert!(matches!(
        m.poll(T0),
        Some(Action::ScheduleDelayedLeave {
            delay_ms: 10_000,
            ..
        })
    ));
    m.on_response(Ok(Reply::DelayId("d1".into())), T0);
    let Some(Action::SendState { content, .. }) = m.poll(T0) else {
        panic!("join expected")
    };
    assert_eq!(content["expires"], json!(HOUR));
    assert!(content.get("created_ts").is_none());
    m.on_response(Ok(Reply::EventId("$join".into())), T0);
    assert_eq!(m.state(), OwnState::Joined);
    m
}

#[test]
fn schedules_the_delayed_leave_before_joining_and_restarts_it() {
    let mut m = joined();
    assert_eq!(m.event_id(), Some("$join"));
    // Restarted once right after the join, then every 5 s.
    assert_eq!(
        m.poll(T0),
        Some(Action::RestartDelayedLeave {
            delay_id: "d1".into()
        })
    );
    assert_eq!(m.poll(T0), None, "one request in flight at a time");
    m.on_response(Ok(Reply::Done), T0);
    assert_eq!(m.next_wakeup_ms(), Some(T0 + 5_000));
    assert_eq!(m.poll(T0 + 4_999), None);
    assert_eq!(
        m.poll(T0 + 5_000),
        Some(Action::RestartDelayedLeave {
            delay_id: "d1".into()
        })
    );
    assert_eq!(m.take_notice(), None);
}

#[test]
fn a_lost_delayed_leave_is_scheduled_again_and_we_publish_again() {
    let mut m = joined();
    m.poll(T0);
    m.on_response(Err(Failure::NotFound), T0);
    assert_eq!(m.state(), OwnState::Joining);
    assert!(matches!(
        m.poll(T0),
        Some(Action::ScheduleDelayedLeave { .. })
    ));
    m.on_response(Ok(Reply::DelayId("d2".into())), T0);
    let Some(Action::SendState { content, .. }) = m.poll(T0) else {
        panic!("join expected")
    };
    assert_eq!(
        content["created_ts"],
        json!(T0),
        "the first join's time is kept"
    );
    m.on_response(Ok(Reply::EventId("$join2".into())), T0 + 1);
    assert_eq!(
        m.poll(T0 + 1),
        Some(Action::RestartDelayedLeave {
            delay_id: "d2".into()
        })
    );
}

#[test]
fn vanished_membership_is_published_again() {
    let mut m = joined();
    m.on_room_state(true, Some("$join"), T0);
    assert_eq!(m.state(), OwnState::Joined);
    m.on_room_state(false, None, T0);
    assert_eq!(m.state(), OwnState::Joining);
    assert!(matches!(
        m.poll(T0),
        Some(Action::ScheduleDelayedLeave { .. })
    ));
}

#[test]
fn expires_is_refreshed_before_it_runs_out_with_changed_content() {
    let mut m = joined();
    m.poll(T0);
    m.on_response(Ok(Reply::Done), T0);
    let refresh_at = T0 + HOUR - 60_000;
    // Keep restarting until the refresh is due.
    let mut now = T0;
    while now + 5_000 < refresh_at {
        now += 5_000;
        assert!(matches!(
            m.poll(now),
            Some(Action::RestartDelayedLeave { .. })
        ));
        m.on_response(Ok(Reply::Done), now);
    }
    assert_eq!(m.next_wakeup_ms(), Some(refresh_at.min(now + 5_000)));
    // A restart due at the same time goes first: the delayed leave is the more urgent.
    let mut action = m.poll(refresh_at);
    if let Some(Action::RestartDelayedLeave { .. }) = action {
        m.on_response(Ok(Reply::Done), refresh_at);
        action = m.poll(refresh_at);
    }
    let Some(Action::SendState { content, .. }) = action else {
        panic!("refresh expected")
    };
    assert_eq!(content["expires"], json!(2 * HOUR));
    assert_eq!(content["created_ts"], json!(T0));
    m.on_response(Ok(Reply::EventId("$refresh".into())), refresh_at);
    assert_eq!(m.event_id(), Some("$refresh"));
    assert_eq!(m.state(), OwnState::Joined);
}

#[test]
fn leave_fires_the_delayed_leave_else_sends_empty_content() {
    let mut m = joined();
    m.leave();
    assert_eq!(m.state(), OwnState::Leaving);
    assert_eq!(
        m.poll(T0),
        Some(Action::SendDelayedLeaveNow {
            delay_id: "d1".into()
        })
    );
    m.on_response(Ok(Reply::Done), T0);
    assert_eq!(m.state(), OwnState::NotJoined);
    assert!(m.is_idle());
    assert_eq!(m.poll(T0), None);

    let mut m = joined();
    m.leave();
    m.poll(T0);
    m.on_response(Err(Failure::NotFound), T0);
    let Some(Action::SendState {
        content, state_key, ..
    }) = m.poll(T0)
    else {
        panic!("leave expected")
    };
    assert_eq!(content, json!({}));
    assert_eq!(state_key, "_@me:example.org_MYDEV_m.call");
    m.on_response(Ok(Reply::EventId("$leave".into())), T0);
    assert!(m.is_idle());
}

#[test]
fn without_delayed_events_joins_directly_and_says_so_once() {
    let mut m = machine(false);
    m.join();
    assert_eq!(m.take_notice(), Some(Notice::NoDelayedEvents));
    assert_eq!(m.take_notice(), None);
    assert!(matches!(m.poll(T0), Some(Action::SendState { .. })));
    m.on_response(Ok(Reply::EventId("$j".into())), T0);
    assert_eq!(
        m.next_wakeup_ms(),
        Some(T0 + HOUR - 60_000),
        "only the refresh is due"
    );
    assert_eq!(m.poll(T0 + 10_000), None);
    m.leave();
    m.join();
    assert_eq!(m.take_notice(), None, "told once");
    m.leave();
    let Some(Action::SendState { content, .. }) = m.poll(T0) else {
        panic!("leave expected")
    };
    assert_eq!(content, json!({}));
}

#[test]
fn a_server_refusing_delayed_events_falls_back() {
    let mut m = machine(true);
    m.join();
    m.poll(T0);
    m.on_response(Err(Failure::Unsupported), T0);
    assert_eq!(m.take_notice(), Some(Notice::NoDelayedEvents));
    assert!(matches!(m.poll(T0), Some(Action::SendState { .. })));
}

#[test]
fn forbidden_join_fails_and_cancels_the_delayed_leave() {
    let mut m = machine(true);
    m.join();
    m.poll(T0);
    m.on_response(Ok(Reply::DelayId("d1".into())), T0);
    m.poll(T0);
    m.on_response(Err(Failure::Forbidden), T0);
    assert_eq!(m.state(), OwnState::Failed(Failure::Forbidden));
    assert_eq!(
        m.poll(T0),
        Some(Action::CancelDelayedLeave {
            delay_id: "d1".into()
        })
    );
    m.on_response(Ok(Reply::Done), T0);
    assert_eq!(m.poll(T0), None);
    assert_eq!(m.state(), OwnState::Failed(Failure::Forbidden));
    // Trying again starts over.
    m.join();
    assert!(matches!(
        m.poll(T0),
        Some(Action::ScheduleDelayedLeave { .. })
    ));
}

#[test]
fn rate_limits_and_network_errors_back_off() {
    let mut m = machine(true);
    m.join();
    m.poll(T0);
    m.on_response(
        Err(Failure::RateLimited {
            retry_after_ms: Some(2_500),
        }),
        T0,
    );
    assert_eq!(m.state(), OwnState::Joining);
    assert_eq!(m.next_wakeup_ms(), Some(T0 + 2_500));
    assert_eq!(m.poll(T0 + 2_499), None);
    assert!(m.poll(T0 + 2_500).is_some());
    // Network errors: 1 s, 2 s, 4 s, 8 s, 8 s (capped) after the 429 counted as a failure.
    let mut now = T0 + 2_500;
    let mut waits = Vec::new();
    for _ in 0..4 {
        m.on_response(Err(Failure::Network), now);
        let at = m.next_wakeup_ms().unwrap();
        waits.push(at - now);
        now = at;
        assert!(m.poll(now).is_some());
    }
    assert_eq!(waits, [2_000, 4_000, 8_000, 8_000]);
    m.on_response(Ok(Reply::DelayId("d".into())), now);
    assert!(
        matches!(m.poll(now), Some(Action::SendState { .. })),
        "back-off resets on success"
    );
}

#[test]
fn a_final_failure_after_a_back_off_leaves_nothing_to_wake_for() {
    let mut m = machine(true);
    m.join();
    m.poll(T0);
    m.on_response(Err(Failure::Network), T0);
    assert!(m.poll(T0 + 1_000).is_some());
    m.on_response(Err(Failure::Other("M_UNKNOWN".into())), T0 + 1_000);
    assert!(matches!(m.state(), OwnState::Failed(_)));
    assert_eq!(m.poll(T0 + 5_000), None);
    assert_eq!(
        m.next_wakeup_ms(),
        None,
        "no busy loop on a past retry time"
    );
}

#[test]
fn a_restart_refused_after_a_network_error_leaves_no_past_wake_up() {
    let mut m = joined();
    m.poll(T0);
    m.on_response(Err(Failure::Network), T0);
    assert_eq!(m.next_wakeup_ms(), Some(T0 + 1_000));
    assert!(matches!(
        m.poll(T0 + 1_000),
        Some(Action::RestartDelayedLeave { .. })
    ));
    let now = T0 + 1_000;
    m.on_response(Err(Failure::Unsupported), now);
    assert_eq!(m.take_notice(), Some(Notice::NoDelayedEvents));
    assert_eq!(m.state(), OwnState::Joined);
    assert_eq!(m.poll(now + 10), None, "nothing to do until the refresh");
    let wakeup = m.next_wakeup_ms().expect("the refresh is still to come");
    assert_eq!(
        wakeup,
        T0 + HOUR - 60_000,
        "the refresh, not the spent back-off"
    );
    assert!(matches!(m.poll(wakeup), Some(Action::SendState { .. })));
}

#[test]
fn a_long_retry_after_is_capped() {
    let mut m = machine(true);
    m.join();
    m.poll(T0);
    m.on_response(
        Err(Failure::RateLimited {
            retry_after_ms: Some(24 * HOUR),
        }),
        T0,
    );
    assert_eq!(m.next_wakeup_ms(), Some(T0 + MAX_RETRY_AFTER_MS));
    assert_eq!(MAX_RETRY_AFTER_MS, 5 * 60 * 1000);
    assert!(m.poll(T0 + MAX_RETRY_AFTER_MS).is_some());
}

#[test]
fn leaving_during_a_lost_restart_still_sends_the_leave() {
    let mut m = joined();
    assert!(matches!(
        m.poll(T0),
        Some(Action::RestartDelayedLeave { .. })
    ));
    m.leave();
    m.on_response(Err(Failure::NotFound), T0);
    let Some(Action::SendState { content, .. }) = m.poll(T0) else {
        panic!("a plain leave")
    };
    assert_eq!(content, json!({}));
}

#[test]
fn refreshes_count_from_the_servers_time_of_our_join() {
    let mut m = joined();
    // The server stamped our join 2 s before our clock's idea of it.
    m.on_room_state(true, Some("$join"), T0 - 2_000);
    m.poll(T0);
    m.on_response(Ok(Reply::Done), T0);
    let refresh_at = T0 - 2_000 + HOUR - 60_000;
    assert_eq!(m.next_wakeup_ms(), Some((T0 + 5_000).min(refresh_at)));
    // Another event of ours (not the join) changes nothing.
    m.on_room_state(true, Some("$other"), T0 + 50_000);
    let mut now = T0;
    loop {
        now += 5_000;
        match m.poll(now.min(refresh_at)) {
            Some(Action::RestartDelayedLeave { .. }) => m.on_response(Ok(Reply::Done), now),
            Some(Action::SendState { content, .. }) => {
                assert_eq!(content["created_ts"], json!(T0 - 2_000));
                break;
            }
            other => assert!(now < refresh_at + 10_000, "no refresh: {other:?}"),
        }
    }
}
