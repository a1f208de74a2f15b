//! Smoke tests of the test support: a real Synapse, users, call rooms, raw call membership state.

mod support;

use std::time::{Duration, Instant};

use matrix_sdk::deserialized_responses::RawAnySyncOrStrippedState;
use matrix_sdk::ruma::events::StateEventType;
use matrix_sdk::ruma::{RoomId, RoomVersionId};
use matrix_sdk::{EncryptionState, RoomState};
use serde_json::{Value, json};
use support::{CALL_MEMBER, RoomOpts, TestUser, homeserver, wait_for};

const TIMEOUT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn versions_advertise_delayed_events() {
    let hs = homeserver();
    let user = hs.register("versions").await;
    let features = user.client.unstable_features().await.expect("/versions");
    assert!(
        features.iter().any(|f| f.as_str() == "org.matrix.msc4140"),
        "/versions does not advertise org.matrix.msc4140: {features:?}"
    );
}

#[tokio::test]
async fn registers_unique_logged_in_users() {
    let hs = homeserver();
    let started = Instant::now();
    let a = hs.register("Alice").await;
    let b = hs.register("Alice").await;
    eprintln!("two registrations took {:?}", started.elapsed());
    assert_ne!(a.user_id, b.user_id);
    assert_eq!(a.user_id.server_name().as_str(), hs.server_name);
    assert!(a.user_id.localpart().starts_with("alice"), "{}", a.user_id);
    for u in [&a, &b] {
        let whoami = u
            .client
            .whoami()
            .await
            .expect("whoami with the registered session");
        assert_eq!(whoami.user_id, u.user_id);
        assert_eq!(whoami.device_id.as_deref(), Some(&*u.device_id));
    }
}

#[tokio::test]
async fn call_room_with_lowered_power_levels() {
    let (alice, bob) = pair("lowered").await;
    let room = alice
        .create_call_room(&[&bob.user_id], RoomOpts::default())
        .await;
    bob.join(&room).await;
    // Both may write call membership.
    exchange_call_member(&alice, &bob, &room, &state_key(&alice)).await;
    exchange_call_member(&bob, &alice, &room, &state_key(&bob)).await;
    let r = alice.room(&room);
    let pl = r.power_levels().await.expect("power levels");
    // The override keeps Synapse's other defaults.
    assert_eq!(
        pl.events.get(&"m.room.name".into()).copied(),
        Some(50.into())
    );
    assert_eq!(
        pl.events.get(&"m.rtc.member".into()).copied(),
        Some(0.into())
    );
    assert_eq!(pl.events.get(&CALL_MEMBER.into()).copied(), Some(0.into()));
}

#[tokio::test]
async fn call_room_with_default_power_levels() {
    let (alice, bob) = pair("default").await;
    let opts = RoomOpts {
        lower_call_power_levels: false,
        ..Default::default()
    };
    let room = alice.create_call_room(&[&bob.user_id], opts).await;
    bob.join(&room).await;
    exchange_call_member(&alice, &bob, &room, &state_key(&alice)).await;
    // state_default is 50: bob (power 0) may not write call membership.
    bob.sync_once().await;
    let err = bob
        .room(&room)
        .send_state_event_raw(CALL_MEMBER, &state_key(&bob), call_member_content(&bob))
        .await
        .expect_err("bob must not be allowed to send call membership with default power levels");
    let status = err.as_client_api_error().map(|e| e.status_code.as_u16());
    assert_eq!(status, Some(403), "{err}");
}

#[tokio::test]
async fn call_room_msc3757_version() {
    let (alice, bob) = pair("msc3757").await;
    let opts = RoomOpts {
        room_version: Some("org.matrix.msc3757.11".into()),
        ..Default::default()
    };
    let room = alice.create_call_room(&[&bob.user_id], opts).await;
    bob.join(&room).await;
    exchange_call_member(&alice, &bob, &room, &state_key(&alice)).await;
    assert_eq!(
        bob.room(&room).version(),
        Some(RoomVersionId::try_from("org.matrix.msc3757.11").unwrap())
    );
    // MSC3757: a state key owned by alice is refused for bob.
    let err = bob
        .room(&room)
        .send_state_event_raw(CALL_MEMBER, &format!("{}_XYZ", alice.user_id), json!({}))
        .await
        .expect_err("bob must not write a state key owned by alice in an MSC3757 room");
    let status = err.as_client_api_error().map(|e| e.status_code.as_u16());
    assert_eq!(status, Some(403), "{err}");
}

#[tokio::test]
async fn call_room_encrypted_dm() {
    let (alice, bob) = pair("dm").await;
    let opts = RoomOpts {
        is_direct: true,
        encrypted: true,
        ..Default::default()
    };
    let room = alice.create_call_room(&[&bob.user_id], opts).await;
    bob.sync_once().await;
    let invite = bob.room(&room);
    assert_eq!(invite.state(), RoomState::Invited);
    assert!(
        invite.is_direct().await.unwrap(),
        "bob's invite is not marked direct"
    );
    bob.join(&room).await;
    exchange_call_member(&alice, &bob, &room, &state_key(&alice)).await;
    let r = bob.room(&room);
    assert!(
        matches!(
            r.latest_encryption_state().await.unwrap(),
            EncryptionState::Encrypted
        ),
        "room is not encrypted"
    );
    alice.sync_once().await;
    assert!(
        alice.room(&room).is_direct().await.unwrap(),
        "alice's room is not a DM"
    );
}

async fn pair(prefix: &str) -> (TestUser, TestUser) {
    let hs = homeserver();
    let alice = hs.register(&format!("{prefix}-alice")).await;
    let bob = hs.register(&format!("{prefix}-bob")).await;
    (alice, bob)
}

fn state_key(user: &TestUser) -> String {
    format!("_{}_{}", user.user_id, user.device_id)
}

fn call_member_content(user: &TestUser) -> Value {
    json!({
        "application": "m.call",
        "call_id": "",
        "scope": "m.room",
        "device_id": user.device_id,
        "expires": 14_400_000,
        "focus_active": { "type": "livekit", "focus_selection": "oldest_membership" },
        "foci_preferred": [{
            "type": "livekit",
            "livekit_service_url": "https://sfu.test.invalid/livekit/jwt",
            "livekit_alias": "alias",
        }],
    })
}

/// `from` writes a raw call.member state event under `key`; `to` sees it in room state after syncing.
async fn exchange_call_member(from: &TestUser, to: &TestUser, room: &RoomId, key: &str) {
    from.sync_once().await;
    let content = call_member_content(from);
    let sent = Instant::now();
    let response = from
        .room(room)
        .send_state_event_raw(CALL_MEMBER, key, content.clone())
        .await
        .unwrap_or_else(|e| panic!("{} sending {CALL_MEMBER} in {room}: {e}", from.user_id));
    let event: Value = wait_for(
        &format!("{} to see {key} in {room}", to.user_id),
        TIMEOUT,
        async || {
            to.sync_once().await;
            let state = to
                .client
                .get_room(room)?
                .get_state_event(StateEventType::from(CALL_MEMBER), key)
                .await
                .unwrap();
            match state? {
                RawAnySyncOrStrippedState::Sync(raw) => {
                    let event: Value = raw.deserialize_as_unchecked().unwrap();
                    (event["event_id"] == response.event_id.as_str()).then_some(event)
                }
                RawAnySyncOrStrippedState::Stripped(_) => None,
            }
        },
    )
    .await;
    eprintln!(
        "{CALL_MEMBER} reached {} after {:?}",
        to.user_id,
        sent.elapsed()
    );
    assert_eq!(event["sender"], from.user_id.as_str());
    assert_eq!(event["content"], content);
}

#[tokio::test]
async fn dedicated_server_restarts_and_stops_on_drop() {
    let hs = support::dedicated_homeserver();
    assert_ne!(
        hs.url,
        homeserver().url,
        "a dedicated server has its own port"
    );
    let dir = hs.dir().expect("a local server has a dir").to_owned();
    let pid: u32 = std::fs::read_to_string(dir.join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let user = hs.register("restart").await;
    let started = Instant::now();
    hs.restart().await;
    eprintln!("restart took {:?}", started.elapsed());
    // Same server identity and database: the old session still works.
    let whoami = user.client.whoami().await.expect("whoami after restart");
    assert_eq!(whoami.user_id, user.user_id);
    let new_pid: u32 = std::fs::read_to_string(dir.join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_ne!(pid, new_pid);
    assert!(!alive(pid), "old Synapse {pid} still runs after restart");
    drop(hs);
    assert!(!alive(new_pid), "Synapse {new_pid} still runs after drop");
    assert!(!dir.exists(), "{} not removed on drop", dir.display());
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}
