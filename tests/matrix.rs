//! The worker against a real homeserver: lobbies from every wire form, joining and leaving,
//! ringing in and out, declines, errors as sentences, and a homeserver restart.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use matrix_sdk::ruma::RoomId;
use serde_json::{Value, json};
use support::calls::{
    SFU, ec_join, element_call_content, raw_state, ring_content, send_ring, shared_room, timeline,
};
use support::{RoomOpts, TestUser, homeserver, wait_for};
use vestibule::config::Settings;
use vestibule::history::CallOutcome;
use vestibule::matrix::{
    self, Command, Connection, OwnCallState, RingAlert, RoomLobby, SessionTrust, Update,
    WorkerConfig,
};
use vestibule::ring::{RecordingRinger, RingerEvent};
use vestibule::rtc::ring::{IgnoreReason, NotifyKind, QuietReason, RingOutput, StopReason};
use vestibule::rtc::{CallIntent, Participant};
use vestibule::secrets::SecretStoreKind;

use support::app::{App, WAIT, data_root, paths_in};

fn participants(lobby: &RoomLobby) -> Vec<&Participant> {
    lobby.calls.iter().flat_map(|c| &c.participants).collect()
}

fn devices(lobby: &RoomLobby) -> Vec<String> {
    let mut d: Vec<String> = participants(lobby)
        .iter()
        .map(|p| p.device_id.clone())
        .collect();
    d.sort();
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memberships_in_every_wire_form_appear_in_the_lobby() {
    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    let room = shared_room(&alice, &bob, RoomOpts::default()).await;
    let mut app = App::start(&bob).await;
    let a = alice.user_id.as_str();
    let r = alice.room(&room);
    ec_join(&alice, &room, "ECDEV").await;
    r.send_state_event_raw(
        "m.rtc.member",
        &format!("_{a}_m3mb3r"),
        json!({"member":{"id":"m3mb3r","device_id":"BRIEFDEV","user_id":a},
         "focus_active":{"type":"livekit","focus_selection":"oldest_membership"},
         "foci_preferred":[{"type":"livekit","livekit_service_url":SFU,"livekit_alias":room}],
         "session":{"application":"m.call","call_id":"","scope":"m.room"}}),
    )
    .await
    .unwrap();
    r.send_state_event_raw(
        "org.matrix.msc3401.call.member",
        a,
        json!({"memberships":[{"application":"m.call","call_id":"","scope":"m.room","device_id":"ARRAYDEV",
            "expires":3600000,"created_ts":vestibule::clock::now_ms(),"membershipID":"old",
            "foci_active":[{"type":"livekit","livekit_service_url":SFU,"livekit_alias":room}]}]}),
    )
    .await
    .unwrap();
    r.send_raw(
        "org.matrix.msc4143.rtc.member",
        json!({"application":{"type":"m.call","m.call.intent":"video"},"slot_id":"m.call#ROOM",
         "rtc_transports":[{"type":"livekit","livekit_service_url":SFU}],
         "member":{"id":"sticky1","device_id":"STICKYDEV","user_id":a},"msc4354_sticky_key":"sticky1"}),
    )
    .await
    .unwrap();
    let lobby = app
        .lobby_where(&room, "all four forms", |l| devices(l).len() == 4)
        .await;
    assert_eq!(
        devices(&lobby),
        ["ARRAYDEV", "BRIEFDEV", "ECDEV", "STICKYDEV"]
    );
    for p in participants(&lobby) {
        assert_eq!(p.user_id, a);
        assert_eq!(
            p.active_focus
                .as_ref()
                .and_then(|f| f.livekit_service_url.as_deref()),
            Some(SFU),
            "{p:?}"
        );
    }
    let ec = participants(&lobby)
        .into_iter()
        .find(|p| p.device_id == "ECDEV")
        .unwrap();
    assert_eq!(ec.intent, Some(CallIntent::Audio));
    let sticky = participants(&lobby)
        .into_iter()
        .find(|p| p.device_id == "STICKYDEV")
        .unwrap();
    assert_eq!(sticky.intent, Some(CallIntent::Video));
    // Leaving in the session form removes just that device.
    r.send_state_event_raw(
        "org.matrix.msc3401.call.member",
        &format!("_{a}_ECDEV_m.call"),
        json!({}),
    )
    .await
    .unwrap();
    app.lobby_where(&room, "the EC device gone", |l| {
        devices(l) == ["ARRAYDEV", "BRIEFDEV", "STICKYDEV"]
    })
    .await;
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_expired_memberships_are_not_shown() {
    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    let room = shared_room(&alice, &bob, RoomOpts::default()).await;
    let mut app = App::start(&bob).await;
    let r = alice.room(&room);
    // Alice forges a key of Bob's (the server does not protect `_@bob…` keys).
    let forged_key = format!("_{}_FORGED_m.call", bob.user_id);
    r.send_state_event_raw(
        "org.matrix.msc3401.call.member",
        &forged_key,
        element_call_content(bob.user_id.as_str(), "FORGED", &room, "video"),
    )
    .await
    .unwrap();
    // An expired membership of Alice's: joined 5 h ago with a 4 h lifetime.
    let mut expired = element_call_content(alice.user_id.as_str(), "EXPIRED", &room, "video");
    expired["created_ts"] = json!(vestibule::clock::now_ms() - 5 * 3600 * 1000);
    r.send_state_event_raw(
        "org.matrix.msc3401.call.member",
        &format!("_{}_EXPIRED_m.call", alice.user_id),
        expired,
    )
    .await
    .unwrap();
    // Then a valid one, so we know the others have been seen.
    ec_join(&alice, &room, "VALID").await;
    let lobby = app
        .lobby_where(&room, "the valid member", |l| {
            devices(l).contains(&"VALID".to_owned())
        })
        .await;
    assert_eq!(
        devices(&lobby),
        ["VALID"],
        "forged and expired entries stay hidden"
    );
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_join_is_published_in_both_forms_and_leave_clears_it() {
    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    let room = shared_room(&alice, &bob, RoomOpts::default()).await;
    let mut app = App::start(&bob).await;
    app.send(Command::Join {
        room: room.to_owned().into(),
        intent: CallIntent::Video,
        notify: None,
        foci: vec![SFU.into()],
    });
    app.lobby_where(&room, "joined", |l| l.own == OwnCallState::Joined)
        .await;
    let lobby = app
        .lobby_where(&room, "ourselves in the lobby", |l| {
            devices(l).contains(&app_device(&bob, l))
        })
        .await;
    assert!(
        participants(&lobby)
            .iter()
            .any(|p| p.user_id == bob.user_id.as_str())
    );

    let session = raw_state(&alice, &room, "org.matrix.msc3401.call.member").await;
    let key = format!("_{}_{}_m.call", bob.user_id, app.device_id);
    let ev = session
        .iter()
        .find(|e| e["state_key"] == key)
        .unwrap_or_else(|| panic!("no {key} in {session:#?}"));
    let c = &ev["content"];
    assert_eq!(c["application"], "m.call");
    assert_eq!(c["call_id"], "");
    assert_eq!(c["scope"], "m.room");
    assert_eq!(c["device_id"], app.device_id.as_str());
    assert_eq!(c["m.call.intent"], "video");
    assert_eq!(c["expires"], 14_400_000);
    assert_eq!(c["focus_active"]["focus_selection"], "multi_sfu");
    assert_eq!(
        c["foci_preferred"][0]["livekit_service_url"], SFU,
        "the user's focus first"
    );
    assert_eq!(c["foci_preferred"][0]["livekit_alias"], room.as_str());
    let brief = raw_state(&alice, &room, "m.rtc.member").await;
    let ev = brief
        .iter()
        .find(|e| {
            e["sender"] == bob.user_id.as_str() && !e["content"].as_object().unwrap().is_empty()
        })
        .expect("our m.rtc.member");
    assert_eq!(ev["content"]["member"]["user_id"], bob.user_id.as_str());
    assert_eq!(ev["content"]["member"]["device_id"], app.device_id.as_str());
    assert_eq!(ev["content"]["session"]["application"], "m.call");
    assert!(
        ev["state_key"]
            .as_str()
            .unwrap()
            .starts_with(&format!("_{}_", bob.user_id))
    );

    app.send(Command::Leave {
        room: room.to_owned().into(),
    });
    app.lobby_where(&room, "left", |l| l.own == OwnCallState::NotJoined)
        .await;
    wait_for("alice to see us leave", WAIT, async || {
        let session = raw_state(&alice, &room, "org.matrix.msc3401.call.member").await;
        let ev = session.iter().find(|e| e["state_key"] == key)?;
        eprintln!("{ev}");
        (ev["content"] == json!({})).then_some(())
    })
    .await;
    app.lobby_where(&room, "nobody left in the call", |l| {
        participants(l).is_empty()
    })
    .await;
    let brief = raw_state(&alice, &room, "m.rtc.member").await;
    assert!(
        brief
            .iter()
            .filter(|e| e["sender"] == bob.user_id.as_str())
            .all(|e| e["content"] == json!({}))
    );
    app.quit().await;
}

/// What a reverse proxy in front of a homeserver without MSC4140 answers with an empty 404:
/// delayed events (scheduling and updating them) and, so that the client stays behind the
/// proxy, `.well-known`.
fn no_delayed_events(method: &str, path: &str) -> bool {
    path.contains("/delayed_events")
        || (method == "PUT"
            && path.contains("/state/")
            && path.contains("org.matrix.msc4140.delay="))
        || path.starts_with("/.well-known/")
}

const NO_DELAYED_EVENTS_NOTICE: &str = "cannot remove a call entry by itself";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_proxy_without_delayed_events_we_join_with_expires_and_say_so_once() {
    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    let room = shared_room(&alice, &bob, RoomOpts::default()).await;
    let proxy = support::proxy::start(&hs.url, no_delayed_events);
    let mut app = App::start_on(&proxy.url, &bob).await;
    let key = format!("_{}_{}_m.call", bob.user_id, app.device_id);
    for round in 0..2 {
        app.send(Command::Join {
            room: room.to_owned().into(),
            intent: CallIntent::Audio,
            notify: None,
            foci: vec![SFU.into()],
        });
        app.lobby_where(&room, "joined", |l| l.own == OwnCallState::Joined)
            .await;
        let content = wait_for("our membership with expires", WAIT, async || {
            let session = raw_state(&alice, &room, "org.matrix.msc3401.call.member").await;
            let ev = session.iter().find(|e| e["state_key"] == key)?;
            (ev["content"]["application"] == "m.call").then(|| ev["content"].clone())
        })
        .await;
        assert_eq!(content["expires"], 14_400_000, "round {round}");
        let told = |u: &Update| matches!(u, Update::Notice { message } if message.contains(NO_DELAYED_EVENTS_NOTICE));
        if round == 0 && !app.log.iter().any(told) {
            app.expect("the notice", |u| told(u).then_some(())).await;
        }
        let refused = proxy.refused.lock().unwrap().clone();
        assert!(
            refused
                .iter()
                .any(|r| r.starts_with("PUT ") && r.contains("delay=")),
            "the delayed leave was tried: {refused:?}"
        );
        assert!(
            !refused.iter().any(|r| r.contains("/delayed_events")),
            "nothing to restart without a delayed leave: {refused:?}"
        );
        app.send(Command::Leave {
            room: room.to_owned().into(),
        });
        app.lobby_where(&room, "left", |l| l.own == OwnCallState::NotJoined)
            .await;
        wait_for("alice to see us leave", WAIT, async || {
            let session = raw_state(&alice, &room, "org.matrix.msc3401.call.member").await;
            let ev = session.iter().find(|e| e["state_key"] == key)?;
            (ev["content"] == json!({})).then_some(())
        })
        .await;
    }
    let scheduled = proxy
        .refused
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.contains("delay="))
        .count();
    // Once per form published on the first join; the second join knows better.
    assert_eq!(scheduled, 2, "{:?}", proxy.refused.lock().unwrap());
    let notices = app
        .log
        .iter()
        .filter(|u| matches!(u, Update::Notice { message } if message.contains(NO_DELAYED_EVENTS_NOTICE)))
        .count();
    assert_eq!(notices, 1);
    assert!(proxy.forwarded.load(std::sync::atomic::Ordering::SeqCst) > 0);
    app.quit().await;
}

fn app_device(bob: &TestUser, lobby: &RoomLobby) -> String {
    participants(lobby)
        .iter()
        .find(|p| p.user_id == bob.user_id.as_str())
        .map(|p| p.device_id.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_owned_state_keys_in_msc3757_rooms() {
    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    let opts = RoomOpts {
        room_version: Some("org.matrix.msc3757.11".into()),
        ..RoomOpts::default()
    };
    let room = shared_room(&alice, &bob, opts).await;
    let mut app = App::start(&bob).await;
    app.send(Command::Join {
        room: room.to_owned().into(),
        intent: CallIntent::Audio,
        notify: None,
        foci: vec![],
    });
    app.lobby_where(&room, "joined", |l| l.own == OwnCallState::Joined)
        .await;
    let key = format!("{}_{}_m.call", bob.user_id, app.device_id);
    wait_for("our key without a leading _", WAIT, async || {
        let session = raw_state(&alice, &room, "org.matrix.msc3401.call.member").await;
        session.iter().any(|e| e["state_key"] == key).then_some(())
    })
    .await;
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_levels_decide_which_forms_we_publish() {
    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    let opts = RoomOpts {
        lower_call_power_levels: false,
        room_version: Some("11".into()),
        ..RoomOpts::default()
    };
    let room = shared_room(&alice, &bob, opts).await;
    let mut app = App::start(&bob).await;
    app.send(Command::Join {
        room: room.to_owned().into(),
        intent: CallIntent::Video,
        notify: None,
        foci: vec![],
    });
    let error = app
        .expect("the power-level sentence", |u| match u {
            Update::Error { message, .. } => Some(message.clone()),
            _ => None,
        })
        .await;
    assert!(
        error.contains("power level 50") && error.contains("you have 0"),
        "{error}"
    );
    app.lobby_where(&room, "failed", |l| {
        matches!(l.own, OwnCallState::Failed { .. })
    })
    .await;

    // Lower it for Element Call's type only, as real rooms often do.
    let levels = raw_state(&alice, &room, "m.room.power_levels").await;
    let mut content = levels[0]["content"].clone();
    content["events"]["org.matrix.msc3401.call.member"] = json!(0);
    alice
        .room(&room)
        .send_state_event_raw("m.room.power_levels", "", content)
        .await
        .unwrap();
    bob_waits_for_power_levels(&mut app, &alice, &room).await;
    app.send(Command::Join {
        room: room.to_owned().into(),
        intent: CallIntent::Video,
        notify: None,
        foci: vec![],
    });
    app.lobby_where(&room, "joined with the allowed form", |l| {
        l.own == OwnCallState::Joined
    })
    .await;
    assert!(
        app.log
            .iter()
            .any(|u| matches!(u, Update::Notice { message } if message.contains("m.rtc.member")))
    );
    let brief = raw_state(&alice, &room, "m.rtc.member").await;
    assert!(
        brief.iter().all(|e| e["sender"] != bob.user_id.as_str()),
        "m.rtc.member was skipped"
    );
    app.quit().await;
}

/// The worker reads power levels from its store: waits until its sync brought Alice's change.
/// Alice renames the room after it, and a sync brings a room's events in order: once the
/// lobby has the new name, the power levels before it are in the store too.
async fn bob_waits_for_power_levels(app: &mut App, alice: &TestUser, room: &RoomId) {
    let name = "After the power levels";
    alice
        .room(room)
        .send_state_event_raw("m.room.name", "", json!({ "name": name }))
        .await
        .unwrap();
    app.lobby_where(room, "the rename after the power levels", |l| {
        l.name == name
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rings_in_and_stops_when_the_caller_leaves() {
    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    let dm = shared_room(
        &alice,
        &bob,
        RoomOpts {
            is_direct: true,
            ..RoomOpts::default()
        },
    )
    .await;
    let other = shared_room(&alice, &bob, RoomOpts::default()).await;
    let mut app = App::start(&bob).await;
    let member = ec_join(&alice, &dm, "ALICEDEV").await;
    let notification = send_ring(&alice, &dm, &member, 30_000).await;
    let alert: RingAlert = app
        .expect("a ring", |u| match u {
            Update::Ringing { alert } => Some(alert.clone()),
            _ => None,
        })
        .await;
    assert_eq!(alert.call.notification_event_id, notification);
    assert_eq!(alert.call.caller, alice.user_id.as_str());
    assert_eq!(alert.call.room_id, dm.as_str());
    assert!(!alert.muted);
    assert!(
        matches!(app.ringer.events().as_slice(), [RingerEvent::Started(a)] if a.call.notification_event_id == notification)
    );

    // An expired ring in another room: decided, never rung.
    let member2 = ec_join(&alice, &other, "ALICEDEV").await;
    let expired = send_ring(&alice, &other, &member2, 1).await;
    app.expect("the expired ring ignored", |u| match u {
        Update::RingDecision {
            decision:
                RingOutput::Ignore {
                    event_id,
                    reason: IgnoreReason::Expired,
                    ..
                },
        } => (*event_id == expired).then_some(()),
        Update::Ringing { alert } if alert.call.notification_event_id == expired => {
            panic!("an expired ring rang")
        }
        _ => None,
    })
    .await;

    // The caller leaves: the ring stops, as a missed call.
    alice
        .room(&dm)
        .send_state_event_raw(
            "org.matrix.msc3401.call.member",
            &format!("_{}_ALICEDEV_m.call", alice.user_id),
            json!({}),
        )
        .await
        .unwrap();
    let reason = app
        .expect("the ring to stop", |u| match u {
            Update::RingStopped { call, reason } if call.notification_event_id == notification => {
                Some(*reason)
            }
            _ => None,
        })
        .await;
    assert!(
        matches!(reason, StopReason::CallEnded | StopReason::CallerLeft),
        "{reason:?}"
    );
    assert!(reason.is_missed());
    assert!(app.ringer.events().iter().any(
        |e| matches!(e, RingerEvent::Stopped(c, _) if c.notification_event_id == notification)
    ));

    // The history keeps it as a missed call, unseen, in an owner-only file that the command
    // line reads beside the running worker.
    let missed = app
        .history_call("the missed call in the history", CallOutcome::Missed)
        .await;
    assert_eq!(missed.outcome, CallOutcome::Missed);
    assert_eq!(missed.room_id, dm.as_str());
    assert_eq!(missed.caller.as_deref(), Some(alice.user_id.as_str()));
    assert!(missed.is_unseen_missed());
    let file = app.root.join("default").join("history.json");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    let root = app.root.clone();
    let cli_history = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vestibule"))
            .args(["history", "--json"])
            .env("VESTIBULE_DATA_DIR", &root)
            .env_remove("VESTIBULE_PROFILE")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let printed = cli_history();
    assert_eq!(printed["history"][0]["outcome"], "missed", "{printed}");
    assert_eq!(printed["history"][0]["caller"], alice.user_id.as_str());
    assert_eq!(printed["history"][0]["seen"], false);
    // Seen in the window: the file says so too.
    app.send(Command::MarkCallsSeen {
        room: Some(dm.to_owned()),
    });
    app.expect("the call seen", |u| match u {
        Update::History { history } => (history.unseen_missed(None) == 0).then_some(()),
        _ => None,
    })
    .await;
    assert_eq!(cli_history()["history"][0]["seen"], true);
    app.quit().await;
}

/// A room Alice creates for `others`, all joined: a group room, not a direct chat.
async fn group_room(alice: &TestUser, others: &[&TestUser]) -> matrix_sdk::ruma::OwnedRoomId {
    let invite: Vec<_> = others.iter().map(|u| u.user_id.as_ref()).collect();
    let room = alice.create_call_room(&invite, RoomOpts::default()).await;
    for user in others {
        user.sync_once().await;
        user.join(&room).await;
    }
    alice.sync_once().await;
    room
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_at_power_level_0_rings_a_group_room_only_quietly_unless_they_mention_us() {
    let hs = homeserver();
    let (alice, bob, carol) = (
        hs.register("alice").await,
        hs.register("bob").await,
        hs.register("carol").await,
    );
    let group = group_room(&alice, &[&bob, &carol]).await;
    let mentioned = group_room(&alice, &[&bob, &carol]).await;
    let mut app = App::start(&bob).await;
    let alert_of = |event: String| {
        move |u: &Update| match u {
            Update::Ringing { alert } if alert.call.notification_event_id == event => {
                Some(alert.clone())
            }
            _ => None,
        }
    };

    // Carol (power level 0) joins the call and rings @room: at most a quiet notification.
    let member = ec_join(&carol, &group, "CAROLDEV").await;
    let quiet = send_ring(&carol, &group, &member, 30_000).await;
    let alert = app
        .expect("Carol's @room ring", alert_of(quiet.clone()))
        .await;
    assert_eq!(alert.call.kind, NotifyKind::Notification);
    assert_eq!(alert.call.quieted, Some(QuietReason::MayNotRingRoom));
    assert!(
        app.ringer.events().iter().any(
            |e| matches!(e, RingerEvent::Started(a) if a.call.notification_event_id == quiet && a.call.kind == NotifyKind::Notification)
        ),
        "the ringer shows it without a ringtone"
    );

    // In the other room she mentions Bob by user id: that rings aloud.
    let member = ec_join(&carol, &mentioned, "CAROLDEV").await;
    let mut content = ring_content(&member, 30_000);
    content["m.mentions"] = json!({"user_ids": [bob.user_id.as_str()], "room": false});
    let loud = carol
        .room(&mentioned)
        .send_raw("org.matrix.msc4075.rtc.notification", content)
        .await
        .unwrap()
        .response
        .event_id
        .to_string();
    let alert = app.expect("Carol's ring for Bob", alert_of(loud)).await;
    assert_eq!(alert.call.kind, NotifyKind::Ring);
    assert_eq!(alert.call.quieted, None);
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decline_from_our_other_device_stops_the_ring_and_ours_reaches_the_caller() {
    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    let dm = shared_room(
        &alice,
        &bob,
        RoomOpts {
            is_direct: true,
            ..RoomOpts::default()
        },
    )
    .await;
    let mut app = App::start(&bob).await;
    let member = ec_join(&alice, &dm, "ALICEDEV").await;
    let first = send_ring(&alice, &dm, &member, 30_000).await;
    app.expect("a ring", |u| {
        matches!(u, Update::Ringing { alert } if alert.call.notification_event_id == first)
            .then_some(())
    })
    .await;
    // Bob's other device (the test client) declines.
    bob.sync_once().await;
    bob.room(&dm)
        .send_raw(
            "org.matrix.msc4310.rtc.decline",
            json!({"m.relates_to":{"rel_type":"m.reference","event_id":first}}),
        )
        .await
        .unwrap();
    app.expect("declined elsewhere", |u| match u {
        Update::RingStopped { call, reason } if call.notification_event_id == first => {
            assert_eq!(*reason, StopReason::DeclinedElsewhere);
            Some(())
        }
        _ => None,
    })
    .await;

    // A new call rings; we decline here and Alice sees our decline.
    alice
        .room(&dm)
        .send_state_event_raw(
            "org.matrix.msc3401.call.member",
            &format!("_{}_ALICEDEV_m.call", alice.user_id),
            json!({}),
        )
        .await
        .unwrap();
    app.lobby_where(&dm, "the first call over", |l| l.calls.is_empty())
        .await;
    let member = ec_join(&alice, &dm, "ALICEDEV2").await;
    let second = send_ring(&alice, &dm, &member, 30_000).await;
    app.expect("the second ring", |u| {
        matches!(u, Update::Ringing { alert } if alert.call.notification_event_id == second)
            .then_some(())
    })
    .await;
    app.send(Command::Decline {
        room: Some(dm.to_owned().into()),
    });
    app.expect("declined here", |u| {
        matches!(
            u,
            Update::RingStopped {
                reason: StopReason::Declined,
                ..
            }
        )
        .then_some(())
    })
    .await;
    wait_for("alice to see the decline", WAIT, async || {
        timeline(&alice, &dm).await.into_iter().find_map(|v| {
            (v["type"] == "org.matrix.msc4310.rtc.decline"
                && v["sender"] == bob.user_id.as_str()
                && v["content"]["m.relates_to"]["event_id"] == second.as_str())
            .then_some(())
        })
    })
    .await;
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ring_in_an_encrypted_dm_decrypts_and_rings() {
    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    let dm = shared_room(
        &alice,
        &bob,
        RoomOpts {
            is_direct: true,
            encrypted: true,
            ..RoomOpts::default()
        },
    )
    .await;
    let mut app = App::start(&bob).await;
    // Alice learns Bob's devices (the app's included) before encrypting for them.
    alice.sync_once().await;
    let member = ec_join(&alice, &dm, "ALICEDEV").await;
    let sent = alice
        .room(&dm)
        .send_raw(
            "org.matrix.msc4075.rtc.notification",
            ring_content(&member, 30_000),
        )
        .await
        .unwrap();
    assert!(
        sent.encryption_info.is_some(),
        "the ring went out encrypted"
    );
    let notification = sent.response.event_id.to_string();
    app.expect("the encrypted ring", |u| match u {
        Update::Ringing { alert } => {
            (alert.call.notification_event_id == notification).then_some(())
        }
        _ => None,
    })
    .await;
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answering_joins_and_ringing_out_reaches_the_callee() {
    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    let dm = shared_room(
        &alice,
        &bob,
        RoomOpts {
            is_direct: true,
            ..RoomOpts::default()
        },
    )
    .await;
    let mut app = App::start(&bob).await;
    // Bob rings Alice: he joins, then the ring relates to his membership.
    app.send(Command::Ring {
        room: dm.to_owned().into(),
        intent: CallIntent::Audio,
    });
    app.lobby_where(&dm, "joined", |l| l.own == OwnCallState::Joined)
        .await;
    let ring = wait_for("alice to receive the ring", WAIT, async || {
        timeline(&alice, &dm).await.into_iter().find_map(|v| {
            (v["type"] == "org.matrix.msc4075.rtc.notification"
                && v["sender"] == bob.user_id.as_str())
            .then_some(v)
        })
    })
    .await;
    assert_eq!(ring["content"]["notification_type"], "ring", "a DM rings");
    assert_eq!(ring["content"]["m.call.intent"], "audio");
    let related = ring["content"]["m.relates_to"]["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let related = matrix_sdk::ruma::OwnedEventId::try_from(related).unwrap();
    let member = alice.room(&dm).event(&related, None).await.unwrap();
    let member = member.raw().deserialize_as::<Value>().unwrap();
    assert_eq!(
        member["type"], "org.matrix.msc3401.call.member",
        "the ring relates to Bob's membership"
    );
    assert_eq!(member["sender"], bob.user_id.as_str());
    assert_eq!(member["content"]["device_id"], app.device_id.as_str());
    let outgoing = app
        .history_call("the outgoing call in the history", CallOutcome::Outgoing)
        .await;
    assert_eq!(outgoing.outcome, CallOutcome::Outgoing);
    assert_eq!(outgoing.intent.as_deref(), Some("audio"));
    app.send(Command::Leave {
        room: dm.to_owned().into(),
    });
    app.lobby_where(&dm, "left", |l| l.own == OwnCallState::NotJoined)
        .await;

    // Alice rings Bob; Bob answers here.
    let member = ec_join(&alice, &dm, "ALICEDEV").await;
    send_ring(&alice, &dm, &member, 30_000).await;
    app.expect("a ring", |u| {
        matches!(u, Update::Ringing { .. }).then_some(())
    })
    .await;
    app.send(Command::Answer {
        room: dm.to_owned(),
    });
    app.expect("answered", |u| {
        matches!(
            u,
            Update::RingStopped {
                reason: StopReason::Answered,
                ..
            }
        )
        .then_some(())
    })
    .await;
    app.lobby_where(&dm, "joined after answering", |l| {
        l.own == OwnCallState::Joined
    })
    .await;
    let answered = app
        .history_call("the answered call in the history", CallOutcome::Answered)
        .await;
    assert!(!answered.elsewhere && answered.seen);
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_errors_are_sentences() {
    let hs = homeserver();
    let bob = hs.register("bob").await;
    let mut app = App::unsigned(data_root()).await;
    app.send(Command::Login {
        homeserver: hs.url.clone(),
        user: bob.user_id.to_string(),
        password: "wrong".into(),
    });
    let reason = app
        .expect("a login failure", |u| match u {
            Update::LoginFailed { reason } => Some(reason.clone()),
            _ => None,
        })
        .await;
    assert_eq!(reason, "The user name or password is wrong.");
    app.send(Command::Login {
        homeserver: "http://127.0.0.1:9".into(),
        user: "bob".into(),
        password: "x".into(),
    });
    let reason = app
        .expect("a login failure", |u| match u {
            Update::LoginFailed { reason } => Some(reason.clone()),
            _ => None,
        })
        .await;
    assert!(
        reason.contains("could not be reached") || reason.contains("Could not reach"),
        "{reason}"
    );
    // With the right password it works, as a localpart too.
    let localpart = bob.user_id.localpart().to_owned();
    app.send(Command::Login {
        homeserver: hs.url.clone(),
        user: localpart,
        password: bob.password.clone(),
    });
    app.expect("signed in", |u| {
        matches!(u, Update::SignedIn { .. }).then_some(())
    })
    .await;
    // A second worker on the same profile stops with a sentence instead of sharing the store.
    let ringer = Arc::new(RecordingRinger::default());
    let config = WorkerConfig::new(
        paths_in(&app.root),
        Settings::default(),
        ringer,
        SecretStoreKind::File,
    );
    let mut second = matrix::spawn(config, Arc::new(|| {}));
    match tokio::time::timeout(WAIT, second.updates.recv())
        .await
        .unwrap()
    {
        Some(Update::Fatal { message }) => {
            assert!(message.contains("already running"), "{message}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_homeserver_restart_while_joined_ends_with_us_joined_and_the_lobby_current() {
    let hs = support::dedicated_homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    let room = shared_room(&alice, &bob, RoomOpts::default()).await;
    let mut app = App::start_on(&hs.url, &bob).await;
    app.send(Command::Join {
        room: room.to_owned().into(),
        intent: CallIntent::Video,
        notify: None,
        foci: vec![],
    });
    app.lobby_where(&room, "joined", |l| l.own == OwnCallState::Joined)
        .await;
    hs.restart().await;
    // The long-poll in flight when the server went away fails: we say we are offline, then
    // come back.
    let reason = app
        .expect("offline during the restart", |u| match u {
            Update::Connection {
                connection: Connection::Offline { reason, .. },
            } => Some(reason.clone()),
            _ => None,
        })
        .await;
    assert!(reason.contains("could not be reached"), "{reason}");
    app.expect("back online", |u| {
        matches!(
            u,
            Update::Connection {
                connection: Connection::Online
            }
        )
        .then_some(())
    })
    .await;
    ec_join(&alice, &room, "AFTER").await;
    let lobby = app
        .lobby_where(&room, "alice's new device after the restart", |l| {
            devices(l).contains(&"AFTER".to_owned())
        })
        .await;
    assert_eq!(lobby.own, OwnCallState::Joined);
    // Longer than the delayed leave: we kept it alive (or published again), so we are still in.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let session = raw_state(&alice, &room, "org.matrix.msc3401.call.member").await;
    let key = format!("_{}_{}_m.call", bob.user_id, app.device_id);
    let ours = session
        .iter()
        .find(|e| e["state_key"] == key)
        .expect("our membership");
    assert_ne!(ours["content"], json!({}), "still joined after the restart");
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn muted_rings_show_nothing_but_still_reach_the_app() {
    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    let dm = shared_room(
        &alice,
        &bob,
        RoomOpts {
            is_direct: true,
            ..RoomOpts::default()
        },
    )
    .await;
    let mut settings = Settings::default();
    settings.ring.muted_rooms = vec![dm.to_string()];
    let mut app = App::start_with(&hs.url, &bob, settings).await;
    let member = ec_join(&alice, &dm, "ALICEDEV").await;
    let notification = send_ring(&alice, &dm, &member, 30_000).await;
    let alert = app
        .expect("the muted ring", |u| match u {
            Update::Ringing { alert } => Some(alert.clone()),
            _ => None,
        })
        .await;
    assert_eq!(alert.call.notification_event_id, notification);
    assert!(alert.muted, "the room is muted");
    assert!(app.ringer.events().is_empty(), "nothing played or shown");
    app.quit().await;

    // Do-not-disturb mutes every room.
    let other = shared_room(
        &alice,
        &bob,
        RoomOpts {
            is_direct: true,
            ..RoomOpts::default()
        },
    )
    .await;
    let mut settings = Settings::default();
    settings.ring.do_not_disturb = true;
    let mut app = App::start_with(&hs.url, &bob, settings).await;
    let member = ec_join(&alice, &other, "ALICEDEV").await;
    send_ring(&alice, &other, &member, 30_000).await;
    let alert = app
        .expect("the ring under do-not-disturb", |u| match u {
            Update::Ringing { alert } if alert.call.room_id == other.as_str() => {
                Some(alert.clone())
            }
            _ => None,
        })
        .await;
    assert!(alert.muted);
    assert!(app.ringer.events().is_empty());
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_signed_out_elsewhere_asks_for_a_new_sign_in() {
    use matrix_sdk::ruma::OwnedDeviceId;
    use matrix_sdk::ruma::api::client::uiaa;
    let hs = homeserver();
    let bob = hs.register("bob").await;
    let mut app = App::start(&bob).await;
    // Bob removes the app's device from his other device.
    let devices = [OwnedDeviceId::from(app.device_id.as_str())];
    if let Err(e) = bob.client.delete_devices(&devices, None).await {
        let info = e
            .as_uiaa_response()
            .expect("the server asks for the password")
            .clone();
        let mut password = uiaa::Password::new(
            uiaa::UserIdentifier::Matrix(uiaa::MatrixUserIdentifier::new(bob.user_id.to_string())),
            bob.password.clone(),
        );
        password.session = info.session;
        bob.client
            .delete_devices(&devices, Some(uiaa::AuthData::Password(password)))
            .await
            .unwrap();
    }
    let message = app
        .expect("the sentence", |u| match u {
            Update::Error { message, .. } => Some(message.clone()),
            _ => None,
        })
        .await;
    assert!(
        message.contains("signed out from another device"),
        "{message}"
    );
    app.expect("the login prompt", |u| {
        matches!(u, Update::NeedsLogin).then_some(())
    })
    .await;
    assert!(
        !app.root.join("default/secret.json").exists(),
        "the dead session is forgotten"
    );
    app.quit().await;
}

/// Serves one LiveKit JWT service health check on loopback: `GET /healthz` gets `status`.
fn focus_service(status: &'static str) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request_line = String::new();
        BufReader::new(&stream)
            .read_line(&mut request_line)
            .unwrap();
        assert!(request_line.starts_with("GET /healthz "), "{request_line}");
        let reply = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        stream.write_all(reply.as_bytes()).unwrap();
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checking_a_focus_says_whether_its_service_answers() {
    let mut app = App::unsigned(data_root()).await;
    let mut check = async |url: String| {
        app.commands
            .send(Command::CheckFocus { url: url.clone() })
            .unwrap();
        app.expect("the focus check", |u| match u {
            Update::FocusChecked {
                url: checked,
                ok,
                message,
            } if *checked == url => Some((*ok, message.clone())),
            _ => None,
        })
        .await
    };
    let answers = check(format!("{}/", focus_service("200 OK"))).await;
    assert_eq!(answers, (true, "The focus answers.".to_owned()));
    let wrong = check(focus_service("404 Not Found")).await;
    assert_eq!(
        wrong,
        (
            false,
            "The focus answered with HTTP 404: it may not be a LiveKit JWT service.".to_owned()
        )
    );
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let unreachable = check(url).await;
    assert_eq!(
        unreachable,
        (false, "The focus could not be reached.".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ring_whose_key_is_only_in_the_backup_rings_once_the_session_is_verified() {
    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    // Bob's first device sets up cross-signing and a key backup, sealed by a recovery key.
    bob.client
        .encryption()
        .bootstrap_cross_signing(None)
        .await
        .unwrap();
    let key = bob.client.encryption().recovery().enable().await.unwrap();
    let dm = shared_room(
        &alice,
        &bob,
        RoomOpts {
            is_direct: true,
            encrypted: true,
            ..RoomOpts::default()
        },
    )
    .await;
    // Alice rings while Bob has only that device: its key reaches it, and it backs it up.
    alice.sync_once().await;
    let member = ec_join(&alice, &dm, "ALICEDEV").await;
    let sent = alice
        .room(&dm)
        .send_raw(
            "org.matrix.msc4075.rtc.notification",
            ring_content(&member, 60_000),
        )
        .await
        .unwrap();
    assert!(sent.encryption_info.is_some());
    let notification = sent.response.event_id.to_string();
    bob.sync_once().await;
    bob.client
        .encryption()
        .backups()
        .wait_for_steady_state()
        .await
        .unwrap();

    // Vestibule signs in as a new device: the ring is there but cannot be read.
    let mut app = App::start(&bob).await;
    app.send(Command::Recover { key });
    // Both follow the recovery, in either order: the backup opens as part of it.
    let (mut verified, mut rang) = (false, false);
    app.expect(
        "the session verified and the ring, decrypted with the backed-up key",
        |u| {
            match u {
                Update::Trust {
                    trust: SessionTrust::Verified,
                } => verified = true,
                Update::Ringing { alert } if alert.call.notification_event_id == notification => {
                    rang = true;
                }
                _ => {}
            }
            (verified && rang).then_some(())
        },
    )
    .await;
    app.quit().await;
}

/// A PNG of one colour, `side` pixels square.
fn png(side: u32) -> Vec<u8> {
    let picture = image::RgbaImage::from_pixel(side, side, image::Rgba([40, 90, 200, 255]));
    let mut out = std::io::Cursor::new(Vec::new());
    picture.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rooms_own_picture_reaches_its_lobby_and_its_thumbnail_is_fetched() {
    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    let room = shared_room(&alice, &bob, RoomOpts::default()).await;
    let mut app = App::start(&bob).await;
    // Alice uploads a picture and makes it the room's.
    let token = alice.client.access_token().unwrap();
    let uploaded: Value = reqwest::Client::new()
        .post(format!("{}/_matrix/media/v3/upload", hs.url))
        .bearer_auth(token)
        .header("Content-Type", "image/png")
        .body(png(640))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mxc = uploaded["content_uri"].as_str().unwrap().to_owned();
    alice
        .room(&room)
        .send_state_event_raw("m.room.avatar", "", json!({ "url": mxc }))
        .await
        .unwrap();
    app.lobby_where(&room, "the room's picture", |l| {
        l.avatar_url.as_deref() == Some(mxc.as_str())
    })
    .await;
    app.send(Command::RoomAvatars {
        rooms: vec![room.clone()],
    });
    let avatars = app
        .expect("the room's thumbnail", |u| match u {
            Update::RoomAvatars { avatars } => Some(avatars.clone()),
            _ => None,
        })
        .await;
    let [avatar] = avatars.as_slice() else {
        panic!("one avatar: {avatars:?}");
    };
    assert_eq!(avatar.room_id, room.as_str());
    assert_eq!(avatar.avatar_url.as_deref(), Some(mxc.as_str()));
    let bytes = avatar.avatar.as_ref().expect("a thumbnail");
    let thumbnail = image::load_from_memory(bytes).expect("a picture");
    assert!(
        thumbnail.width() < 640 && thumbnail.width() >= 32,
        "a thumbnail, not the original: {}",
        thumbnail.width()
    );
    app.quit().await;
}
