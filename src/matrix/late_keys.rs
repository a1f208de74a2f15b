//! Encrypted timeline events whose room key comes late — from the key backup once this session
//! is verified, or from another device — are decrypted when it arrives and go through their
//! room's reducer then, so that a ring sent before this session had its key still rings.
//!
//! Only recent events are kept (a ring lasts at most 90 s), and only a few of them.

use std::collections::VecDeque;

use futures_util::StreamExt;
use matrix_sdk::Client;
use matrix_sdk::deserialized_responses::TimelineEventKind;
use matrix_sdk::ruma::OwnedRoomId;
use matrix_sdk::ruma::events::room::encrypted::OriginalSyncRoomEncryptedEvent;
use matrix_sdk::ruma::serde::Raw;
use matrix_sdk::sync::JoinedRoomUpdate;
use serde_json::Value;
use tokio::sync::mpsc;

use super::worker::{Internal, Worker};
use crate::clock::now_ms;
use crate::rtc::room::RoomSync;

/// How many undecrypted events wait for their key at most; the oldest goes first.
const MAX_WAITING: usize = 64;
/// How old an event may be and still wait: past the longest ring.
const MAX_AGE_MS: u64 = 120_000;

/// An encrypted event waiting for its room key.
pub(super) struct Waiting {
    room_id: OwnedRoomId,
    session_id: String,
    origin_ts: u64,
    event: Raw<OriginalSyncRoomEncryptedEvent>,
}

/// The encrypted events waiting for their room keys, oldest first.
#[derive(Default)]
pub(super) struct LateKeys {
    waiting: VecDeque<Waiting>,
}

impl LateKeys {
    /// Keeps the recent events of `update` that could not be decrypted.
    pub fn keep_undecrypted(&mut self, room_id: &OwnedRoomId, update: &JoinedRoomUpdate, now: u64) {
        for event in &update.timeline.events {
            let TimelineEventKind::UnableToDecrypt { event, .. } = &event.kind else {
                continue;
            };
            let Ok(json) = event.deserialize_as::<Value>() else {
                continue;
            };
            let origin_ts = json["origin_server_ts"].as_u64().unwrap_or(0);
            let Some(session_id) = json["content"]["session_id"].as_str() else {
                continue;
            };
            if now.saturating_sub(origin_ts) > MAX_AGE_MS {
                continue;
            }
            if self.waiting.len() >= MAX_WAITING {
                self.waiting.pop_front();
            }
            self.waiting.push_back(Waiting {
                room_id: room_id.clone(),
                session_id: session_id.to_owned(),
                origin_ts,
                event: event.clone().cast_unchecked(),
            });
        }
    }

    /// Takes the events whose keys arrived (all of them when `keys` is `None`: arrivals were
    /// missed), and forgets those too old to matter.
    fn take(&mut self, keys: Option<&[(OwnedRoomId, String)]>, now: u64) -> Vec<Waiting> {
        self.waiting
            .retain(|w| now.saturating_sub(w.origin_ts) <= MAX_AGE_MS);
        let (ready, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|w| {
                keys.is_none_or(|keys| {
                    keys.iter()
                        .any(|(room, session)| *room == w.room_id && *session == w.session_id)
                })
            });
        self.waiting = rest.into();
        ready
    }

    /// How many events wait.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }
}

/// Tells the loop about every room key that arrives, for as long as the client runs.
pub(super) async fn watch_room_keys(client: Client, tx: mpsc::UnboundedSender<Internal>) {
    let Some(mut keys) = client.encryption().room_keys_received_stream().await else {
        return;
    };
    while let Some(arrived) = keys.next().await {
        let keys = arrived.ok().map(|infos| {
            infos
                .into_iter()
                .map(|info| (info.room_id, info.session_id))
                .collect()
        });
        if tx.send(Internal::RoomKeys(keys)).is_err() {
            return;
        }
    }
}

impl Worker {
    /// Room keys arrived (`None`: some arrivals were missed): the events that waited for them
    /// are decrypted and go through their room's reducer.
    pub(super) async fn on_room_keys(&mut self, keys: Option<Vec<(OwnedRoomId, String)>>) {
        let now = now_ms();
        let ready = self.late_keys.take(keys.as_deref(), now);
        let Some(client) = self.client() else { return };
        let mut rings = Vec::new();
        for waiting in ready {
            let Some(room) = client.get_room(&waiting.room_id) else {
                continue;
            };
            let decrypted = match room.decrypt_event(&waiting.event, None).await {
                Ok(event) if matches!(event.kind, TimelineEventKind::Decrypted(_)) => event,
                // Still not: another key, maybe; it waits again.
                Ok(_) => {
                    self.late_keys.waiting.push_back(waiting);
                    continue;
                }
                Err(e) => {
                    tracing::debug!("{}: a late key did not decrypt: {e}", waiting.room_id);
                    continue;
                }
            };
            let Ok(json) = decrypted.raw().deserialize_as::<Value>() else {
                continue;
            };
            let (Some(account), Some(entry)) =
                (self.account.as_mut(), self.rooms.get_mut(&waiting.room_id))
            else {
                continue;
            };
            let sync = RoomSync {
                state: &[],
                timeline: std::slice::from_ref(&json),
                state_is_after: false,
            };
            let changes =
                entry
                    .call
                    .apply_sync(waiting.room_id.as_str(), sync, &mut account.tracker, now);
            tracing::debug!("{}: decrypted with a late key", waiting.room_id);
            rings.extend(changes.rings);
        }
        self.handle_ring_outputs(rings).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(room: &str, session: &str, origin_ts: u64) -> Waiting {
        Waiting {
            room_id: OwnedRoomId::try_from(room).unwrap(),
            session_id: session.into(),
            origin_ts,
            event: Raw::from_json_string("{}".into()).unwrap(),
        }
    }

    #[test]
    fn only_events_whose_key_came_are_taken_and_old_ones_are_forgotten() {
        let mut late = LateKeys::default();
        late.waiting.push_back(waiting("!a:x", "s1", 1_000));
        late.waiting.push_back(waiting("!a:x", "s2", 100_000));
        late.waiting.push_back(waiting("!b:x", "s1", 100_000));
        let key = [(OwnedRoomId::try_from("!b:x").unwrap(), "s1".to_owned())];
        let ready = late.take(Some(&key), 1_000 + MAX_AGE_MS + 1);
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].room_id.as_str(), "!b:x");
        // The first was past its age: forgotten; the second still waits.
        assert_eq!(late.len(), 1);
        assert_eq!(late.take(None, 100_000 + MAX_AGE_MS + 1).len(), 0);
        assert_eq!(late.len(), 0);
    }
}
