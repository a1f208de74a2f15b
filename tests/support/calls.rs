//! Call traffic as other clients put it on the wire: Element Call's membership and ring, and
//! reading a room's state back raw.

use std::time::{SystemTime, UNIX_EPOCH};

use matrix_sdk::ruma::events::StateEventType;
use matrix_sdk::ruma::{OwnedRoomId, RoomId};
use serde_json::{Value, json};

use super::{RoomOpts, TestUser};

/// The SFU every test membership names.
pub const SFU: &str = "https://sfu.example.org/livekit/jwt";

fn now_ms() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_else(|e| panic!("the clock is before 1970: {e}"));
    since_epoch.as_millis() as u64
}

/// Alice creates a room with `opts`, invites Bob, and Bob joins.
pub async fn shared_room(alice: &TestUser, bob: &TestUser, opts: RoomOpts) -> OwnedRoomId {
    let room = alice.create_call_room(&[&bob.user_id], opts).await;
    bob.sync_once().await;
    bob.join(&room).await;
    alice.sync_once().await;
    room
}

/// Element Call's join content for `user` on `device`.
pub fn element_call_content(user: &str, device: &str, room: &RoomId, intent: &str) -> Value {
    json!({"application":"m.call","call_id":"","scope":"m.room","device_id":device,
     "membershipID":format!("{user}:{device}"),"expires":14400000,"m.call.intent":intent,
     "focus_active":{"type":"livekit","focus_selection":"multi_sfu"},
     "foci_preferred":[{"type":"livekit","livekit_alias":room,"livekit_service_url":SFU}]})
}

/// The state key of `user`'s session membership on `device`, as Element Call writes it.
fn session_key(user: &TestUser, device: &str) -> String {
    format!("_{}_{device}_m.call", user.user_id)
}

/// Writes Element Call's session membership for `user`'s `device`; returns its event id.
pub async fn ec_join(user: &TestUser, room: &RoomId, device: &str) -> String {
    let key = session_key(user, device);
    let content = element_call_content(user.user_id.as_str(), device, room, "audio");
    user.room(room)
        .send_state_event_raw("org.matrix.msc3401.call.member", &key, content)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{} joining the call in {room} from {device}: {e}",
                user.user_id
            )
        })
        .event_id
        .to_string()
}

/// Empties `user`'s session membership on `device` (leaving the call, as Element Call does).
pub async fn ec_leave(user: &TestUser, room: &RoomId, device: &str) {
    user.room(room)
        .send_state_event_raw(
            "org.matrix.msc3401.call.member",
            &session_key(user, device),
            json!({}),
        )
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{} leaving the call in {room} from {device}: {e}",
                user.user_id
            )
        });
}

/// Syncs `user` and returns the room's state events of `event_type` as JSON; panics when they
/// cannot be read (the user is not in the room, say).
pub async fn raw_state(user: &TestUser, room: &RoomId, event_type: &str) -> Vec<Value> {
    use matrix_sdk::deserialized_responses::RawAnySyncOrStrippedState;
    user.sync_once().await;
    user.room(room)
        .get_state_events(StateEventType::from(event_type))
        .await
        .unwrap_or_else(|e| panic!("{} reading {event_type} in {room}: {e}", user.user_id))
        .into_iter()
        .map(|raw| match raw {
            RawAnySyncOrStrippedState::Sync(r) => r
                .deserialize_as::<Value>()
                .unwrap_or_else(|e| panic!("a {event_type} event in {room} is not JSON: {e}")),
            RawAnySyncOrStrippedState::Stripped(_) => {
                panic!(
                    "{} sees only stripped state of {room}: not joined",
                    user.user_id
                )
            }
        })
        .collect()
}

/// js-sdk's ring relating to `member_event`, with `lifetime`.
pub fn ring_content(member_event: &str, lifetime: u64) -> Value {
    json!({"m.mentions":{"user_ids":[],"room":true},"notification_type":"ring",
     "m.relates_to":{"rel_type":"m.reference","event_id":member_event},
     "sender_ts":now_ms(),"lifetime":lifetime,"m.call.intent":"audio"})
}

pub async fn send_ring(
    user: &TestUser,
    room: &RoomId,
    member_event: &str,
    lifetime: u64,
) -> String {
    user.room(room)
        .send_raw(
            "org.matrix.msc4075.rtc.notification",
            ring_content(member_event, lifetime),
        )
        .await
        .unwrap_or_else(|e| panic!("{} ringing in {room}: {e}", user.user_id))
        .response
        .event_id
        .to_string()
}

/// Syncs `user` and returns the room's most recent timeline events as JSON, newest first;
/// panics when they cannot be read.
pub async fn timeline(user: &TestUser, room: &RoomId) -> Vec<Value> {
    user.sync_once().await;
    let messages = user
        .room(room)
        .messages(matrix_sdk::room::MessagesOptions::backward())
        .await
        .unwrap_or_else(|e| panic!("{} reading the timeline of {room}: {e}", user.user_id));
    messages
        .chunk
        .iter()
        .map(|e| {
            e.raw()
                .deserialize_as::<Value>()
                .unwrap_or_else(|err| panic!("an event in {room} is not JSON: {err}"))
        })
        .collect()
}

/// An account of `n` rooms Alice shares with Bob (direct chats), with Alice in a call in every
/// fourth; for the benchmarks of large accounts.
pub async fn large_account(alice: &TestUser, bob: &TestUser, n: usize) -> Vec<OwnedRoomId> {
    let rooms = dm_rooms(alice, bob, n).await;
    for room in rooms.iter().step_by(4) {
        let key = format!("_{}_ALICEDEV_m.call", alice.user_id);
        let content = json!({"application":"m.call","call_id":"","scope":"m.room",
            "device_id":"ALICEDEV","expires":14400000});
        alice
            .room(room)
            .send_state_event_raw("org.matrix.msc3401.call.member", &key, content)
            .await
            .unwrap_or_else(|e| panic!("{} joining the call in {room}: {e}", alice.user_id));
    }
    rooms
}

/// `n` direct chats Alice creates with Bob, all joined.
pub async fn dm_rooms(alice: &TestUser, bob: &TestUser, n: usize) -> Vec<OwnedRoomId> {
    let mut rooms = Vec::new();
    for _ in 0..n {
        let opts = RoomOpts {
            is_direct: true,
            ..RoomOpts::default()
        };
        rooms.push(alice.create_call_room(&[&bob.user_id], opts).await);
    }
    bob.sync_once().await;
    for room in &rooms {
        bob.join(room).await;
    }
    alice.sync_once().await;
    rooms
}
