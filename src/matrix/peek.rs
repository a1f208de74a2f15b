//! Rings decided from a sync response as it arrives, before the SDK has processed and stored
//! it: the sync loop long-polls `/sync` itself, hands the response to the worker, then lets the
//! SDK sync from the same point (which Synapse answers from its sync cache).

use std::time::Duration;

use matrix_sdk::ruma::api::client::sync::sync_events;
use matrix_sdk::ruma::events::AnySyncTimelineEvent;
use matrix_sdk::ruma::serde::Raw;
use matrix_sdk::sync::SyncResponse;
use matrix_sdk::{Client, Room};
use serde_json::Value;
use tokio::sync::mpsc;

use super::sync::json_events;
use super::worker::{Internal, Worker};
use crate::clock::now_ms;
use crate::rtc::membership::is_membership_type;
use crate::rtc::notification::{is_decline_type, is_notification_type};
use crate::rtc::ring::{IgnoreReason, RingOutput};
use crate::rtc::room::RoomSync;

/// The time a request may take besides the long-poll's own wait, as the SDK allows its sync.
const REQUEST_SLACK: Duration = Duration::from_secs(30);

/// The type of encrypted room events.
const ENCRYPTED: &str = "m.room.encrypted";

/// Long-polls `/sync` from `since` and hands the response to the worker as it arrives, so that
/// a ring in it is decided before the SDK has processed and stored the response; then lets the
/// SDK sync from the same point with the same request, which it processes and stores as
/// always. Synapse answers that identical request from its sync cache; a server that computes
/// it afresh returns the same events and maybe newer ones, and the reducer takes an event it
/// has seen once more as it took it the first time. `None`: the worker is gone.
pub(super) async fn peek_then_sync(
    client: &Client,
    tx: &mpsc::UnboundedSender<Internal>,
    since: &str,
    timeout: Duration,
) -> matrix_sdk::Result<Option<SyncResponse>> {
    let mut request = sync_events::v3::Request::new();
    request.since = Some(since.to_owned());
    request.timeout = Some(timeout);
    // As the SDK asks: the state after the timeline, which is what the reducer is told.
    request.use_state_after = true;
    let config = client.request_config().timeout(REQUEST_SLACK + timeout);
    let raw = client.send(request).with_request_config(config).await?;
    if tx.send(Internal::Peek(Box::new(raw))).is_err() {
        return Ok(None);
    }
    let settings = matrix_sdk::config::SyncSettings::default()
        .timeout(timeout)
        .token(since);
    client.sync_once(settings).await.map(Some)
}

/// The ring decisions of a room's events, without "already handled" when `seen_before` (the
/// room's events came through its reducer once already).
pub(super) fn news(rings: Vec<RingOutput>, seen_before: bool) -> impl Iterator<Item = RingOutput> {
    rings.into_iter().filter(move |ring| {
        !(seen_before
            && matches!(
                ring,
                RingOutput::Ignore {
                    reason: IgnoreReason::Duplicate,
                    ..
                }
            ))
    })
}

fn event_type(raw: &Raw<AnySyncTimelineEvent>) -> Option<String> {
    raw.get_field::<String>("type").ok().flatten()
}

fn rings_or_declines(event_type: &str) -> bool {
    is_notification_type(event_type) || is_decline_type(event_type)
}

/// `raw` decrypted as JSON, or as it is when its key is not here (yet).
async fn decrypted(room: &Room, raw: &Raw<AnySyncTimelineEvent>) -> Option<Value> {
    // Its type was read as `m.room.encrypted`: the SDK reads the rest.
    if let Ok(event) = room.decrypt_event(raw.cast_ref_unchecked(), None).await
        && let Ok(value) = event.raw().deserialize_as::<Value>()
    {
        return Some(value);
    }
    raw.deserialize_as::<Value>().ok()
}

impl Worker {
    /// Takes a sync response before the SDK has processed it: each known room whose timeline
    /// holds a notification or decline goes through its reducer now, and its rings are
    /// decided. Encrypted events are decrypted for it where the room has a call (a ring waits
    /// for its call anyway) and the key is here. The same events come again with the processed
    /// response, and are known then.
    pub(super) async fn on_peek(&mut self, response: sync_events::v3::Response) {
        let now = now_ms();
        let Some(client) = self.client() else { return };
        let mut rings = Vec::new();
        let mut changed = Vec::new();
        for (room_id, room) in &response.rooms.join {
            let (state, state_is_after) = match &room.state {
                sync_events::v3::State::After(state) => (&state.events, true),
                sync_events::v3::State::Before(state) => (&state.events, false),
                _ => continue,
            };
            let Some(entry) = self.rooms.get(room_id) else {
                continue;
            };
            let types: Vec<Option<String>> = room.timeline.events.iter().map(event_type).collect();
            let clear = types.iter().flatten().any(|t| rings_or_declines(t));
            let encrypted = types.iter().flatten().any(|t| t == ENCRYPTED);
            let has_call = !entry.call.lobby().calls().is_empty()
                || state.iter().any(|raw| {
                    raw.get_field::<String>("type")
                        .ok()
                        .flatten()
                        .is_some_and(|t| is_membership_type(&t))
                });
            let sdk_room = (encrypted && has_call)
                .then(|| client.get_room(room_id))
                .flatten();
            if !clear && sdk_room.is_none() {
                continue;
            }
            let mut timeline = Vec::with_capacity(room.timeline.events.len());
            for (raw, event_type) in room.timeline.events.iter().zip(&types) {
                let value = match (&sdk_room, event_type.as_deref()) {
                    (Some(sdk_room), Some(ENCRYPTED)) => decrypted(sdk_room, raw).await,
                    _ => raw.deserialize_as::<Value>().ok(),
                };
                timeline.extend(value);
            }
            let rings_here = timeline.iter().any(|event| {
                event
                    .get("type")
                    .and_then(Value::as_str)
                    .is_some_and(rings_or_declines)
            });
            if !rings_here {
                continue;
            }
            let state = json_events(state);
            let sync = RoomSync {
                state: &state,
                timeline: &timeline,
                state_is_after,
            };
            let Some(changes) = self.reduce(room_id, sync, now) else {
                continue;
            };
            // Peeked at again after a failed sync: what was decided then is no news.
            let again = !self.peeked.insert(room_id.clone());
            rings.extend(news(changes.rings, again));
            if changes.lobby_changed {
                changed.push(room_id.clone());
            }
        }
        self.handle_ring_outputs(rings).await;
        if self.first_sync_done() {
            for room_id in &changed {
                self.send_lobby(room_id);
            }
        }
    }
}
