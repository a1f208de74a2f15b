//! The sync loop, and handing each room's part of a sync response to its reducer
//! ([`CallRoom::apply_sync`](crate::rtc::room::CallRoom::apply_sync)).

use std::time::Duration;

use matrix_sdk::Client;
use matrix_sdk::config::{SyncSettings, SyncToken};
use matrix_sdk::ruma::api::error::ErrorKind;
use matrix_sdk::ruma::serde::Raw;
use matrix_sdk::ruma::{OwnedRoomId, RoomId};
use matrix_sdk::sync::{JoinedRoomUpdate, State, SyncResponse};
use serde_json::Value;
use tokio::sync::mpsc;

use super::error::sentence;
use super::peek::{news, peek_then_sync};
use super::rooms::room_name;
use super::types::{Connection, Update};
use super::worker::{Internal, Worker};
use crate::clock::now_ms;
use crate::rtc::room::{RoomChanges, RoomSync};

/// The longest wait between two tries while the homeserver cannot be reached.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl Worker {
    /// Takes one sync response: every joined room's events through its reducer, rooms we
    /// joined or left, then the ring decisions and the changed lobbies.
    #[tracing::instrument(level = "debug", skip_all)]
    pub(super) async fn on_sync(&mut self, response: SyncResponse) {
        let now = now_ms();
        let Some(client) = self.client() else { return };
        let mut changed: Vec<OwnedRoomId> = Vec::new();
        let mut rings = Vec::new();
        for (room_id, update) in response.rooms.joined {
            if !self.rooms.contains(&room_id)
                && let Some(room) = client.get_room(&room_id)
            {
                // A room joined since the last sync: its whole state is in the store now, and
                // its timeline may hold a live ring.
                self.rooms.insert(&room, now).await;
                changed.push(room_id.clone());
            }
            if !self.rooms.contains(&room_id) {
                continue;
            }
            self.late_keys.keep_undecrypted(&room_id, &update, now);
            let (state, timeline, state_is_after) = room_events(&update);
            tracing::trace!(
                "{room_id}: {} state events ({}), {} timeline events",
                state.len(),
                if state_is_after { "after" } else { "before" },
                timeline.len()
            );
            let sync = RoomSync {
                state: &state,
                timeline: &timeline,
                state_is_after,
            };
            let Some(changes) = self.reduce(&room_id, sync, now) else {
                continue;
            };
            for reason in &changes.ignored {
                tracing::debug!("{room_id}: ignored {reason}");
            }
            let mut room_changed = changes.lobby_changed;
            if changes.name_may_change
                && let Some(room) = client.get_room(&room_id)
                && let Some(entry) = self.rooms.get_mut(&room_id)
            {
                room_changed |= entry.refresh_direct(&room).await;
                let name = room_name(&room).await;
                if name != entry.name {
                    entry.name = name;
                    room_changed = true;
                }
                let avatar_url = room.avatar_url().map(|url| url.to_string());
                if avatar_url != entry.avatar_url {
                    entry.avatar_url = avatar_url;
                    room_changed = true;
                }
            }
            // A room peeked at had its notifications decided then: that they come again here
            // is no news.
            rings.extend(news(changes.rings, self.peeked.contains(&room_id)));
            if room_changed {
                changed.push(room_id);
            }
        }
        self.peeked.clear();
        for room_id in response.rooms.left.keys() {
            if self.rooms.remove(room_id) {
                changed.push(room_id.clone());
            }
        }
        self.handle_ring_outputs(rings).await;
        if self.first_sync_done() {
            for room_id in &changed {
                self.send_lobby(room_id);
            }
        } else {
            self.on_first_sync().await;
        }
        self.out.send(Update::Connection {
            connection: Connection::Online,
        });
    }

    /// Runs a room's part of a sync through its reducer; `None` when the room or the account
    /// is not known.
    pub(super) fn reduce(
        &mut self,
        room_id: &RoomId,
        sync: RoomSync<'_>,
        now: u64,
    ) -> Option<RoomChanges> {
        let account = self.account.as_mut()?;
        let entry = self.rooms.get_mut(room_id)?;
        Some(
            entry
                .call
                .apply_sync(room_id.as_str(), sync, &mut account.tracker, now),
        )
    }

    pub(super) fn first_sync_done(&self) -> bool {
        self.account.as_ref().is_some_and(|a| a.synced)
    }

    /// After the first sync we know our rooms: carry out the commands that waited for it and
    /// send every lobby.
    async fn on_first_sync(&mut self) {
        if let Some(account) = self.account.as_mut() {
            account.synced = true;
        }
        self.run_waiting().await;
        self.out.send(Update::Rooms {
            rooms: self.rooms.sorted_snapshots(),
        });
        // The first sync is the most the worker ever holds at once; most of it is freed now.
        crate::memory::give_back_freed();
    }

    /// Carries out the commands about rooms that waited, once the account is ready for them.
    pub(super) async fn run_waiting(&mut self) {
        if !self.account.as_ref().is_some_and(|a| a.ready()) {
            return;
        }
        for cmd in std::mem::take(&mut self.waiting_for_sync) {
            Box::pin(self.on_command(cmd)).await;
        }
    }

    /// Time passed: lapsed memberships leave their lobbies and rings run out.
    pub(super) async fn on_tick(&mut self) {
        let now = now_ms();
        let Some(account) = self.account.as_mut() else {
            return;
        };
        let mut rings = Vec::new();
        let mut changed = Vec::new();
        for (room_id, entry) in self.rooms.iter_mut() {
            let changes = entry.call.tick(room_id.as_str(), &mut account.tracker, now);
            if changes.lobby_changed {
                changed.push(room_id.clone());
            }
            rings.extend(changes.rings);
        }
        rings.extend(account.tracker.tick(now));
        self.handle_ring_outputs(rings).await;
        for room_id in changed {
            self.send_lobby(&room_id);
        }
    }
}

/// A room's state and timeline events as JSON, and whether the state is the state after the
/// timeline. Events that are not JSON objects are left out.
fn room_events(update: &JoinedRoomUpdate) -> (Vec<Value>, Vec<Value>, bool) {
    let (state, state_is_after) = match &update.state {
        State::After(events) => (events, true),
        State::Before(events) => (events, false),
    };
    let timeline = json_events(update.timeline.events.iter().map(|event| event.raw()));
    (json_events(state), timeline, state_is_after)
}

/// Events as JSON, leaving out those that are not JSON objects.
pub(super) fn json_events<'a, T: 'a>(raws: impl IntoIterator<Item = &'a Raw<T>>) -> Vec<Value> {
    raws.into_iter()
        .filter_map(|raw| raw.deserialize_as::<Value>().ok())
        .collect()
}

/// What to do after a failed sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncStep {
    /// A passing problem (the network, a 5xx, a rate limit): try again after a back-off.
    Retry,
    /// The server refuses this sync for good (an invalid `since` token, another 4xx): forget
    /// the token and start a fresh sync, once.
    Reset,
    /// A fresh sync was refused too: stop syncing, and say so.
    Stop,
    /// The server no longer knows our token; with `soft_logout` the session may be resumed by
    /// signing in again on the same device.
    SessionEnded {
        /// The server's `soft_logout`.
        soft_logout: bool,
    },
}

/// Decides what a failed sync means. `reset_tried` says whether this sync already started
/// afresh.
pub fn sync_step(err: &matrix_sdk::Error, reset_tried: bool) -> SyncStep {
    if let Some(ErrorKind::UnknownToken(data)) = err.client_api_error_kind() {
        return SyncStep::SessionEnded {
            soft_logout: data.soft_logout,
        };
    }
    let Some(api) = err.as_client_api_error() else {
        return SyncStep::Retry;
    };
    let status = api.status_code.as_u16();
    let limited = matches!(
        err.client_api_error_kind(),
        Some(ErrorKind::LimitExceeded(_))
    );
    if !(400..500).contains(&status) || status == 408 || status == 429 || limited {
        return SyncStep::Retry;
    }
    if reset_tried {
        SyncStep::Stop
    } else {
        SyncStep::Reset
    }
}

/// Syncs until the loop is gone or the session ended, with back-off while the homeserver
/// cannot be reached; a sync the server refuses for good starts afresh once, then stops.
pub(super) async fn sync_loop(
    client: Client,
    tx: mpsc::UnboundedSender<Internal>,
    timeout: Duration,
) {
    let mut first = true;
    let mut afresh = false;
    let mut backoff = Duration::from_secs(1);
    // Where the last sync ended: from there on, each long-poll is peeked at for rings first.
    let mut since: Option<String> = None;
    loop {
        // The first sync returns at once so the lobbies show quickly.
        let mut settings =
            SyncSettings::default().timeout(if first { Duration::ZERO } else { timeout });
        if afresh {
            settings = settings.token(SyncToken::NoToken);
        }
        let synced = match since.as_deref().filter(|_| !first && !afresh) {
            Some(token) => peek_then_sync(&client, &tx, token, timeout).await,
            None => client.sync_once(settings).await.map(Some),
        };
        let error = match synced {
            Ok(Some(response)) => {
                (first, afresh) = (false, false);
                backoff = Duration::from_secs(1);
                since = Some(response.next_batch.clone());
                if tx.send(Internal::Sync(Box::new(response))).is_err() {
                    return;
                }
                continue;
            }
            // The worker is gone.
            Ok(None) => return,
            Err(e) => e,
        };
        let reason = sentence(&error);
        let message = match sync_step(&error, afresh) {
            SyncStep::Retry => Internal::SyncFailed {
                reason,
                retry_in: backoff,
            },
            SyncStep::Reset => {
                tracing::info!("the homeserver refused the sync; starting a fresh one");
                // With the long-poll's timeout: Synapse would answer a repeated first request
                // from its cache, with the token it just refused.
                afresh = true;
                continue;
            }
            SyncStep::Stop => {
                // The loop hears of it, or is gone already.
                tx.send(Internal::SyncStopped { reason }).ok();
                return;
            }
            SyncStep::SessionEnded { soft_logout } => {
                // Signed out elsewhere, or the token expired: syncing again cannot help.
                tx.send(Internal::SessionEnded { soft_logout }).ok();
                return;
            }
        };
        if tx.send(message).is_err() {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
