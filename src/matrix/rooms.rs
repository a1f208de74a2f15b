//! The room registry: every joined room's call state, name and kind, built in one place from the
//! SDK's store; resolving what a person typed to a joined room; members' names and avatars.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use matrix_sdk::deserialized_responses::RawAnySyncOrStrippedState;
use matrix_sdk::ruma::events::StateEventType;
use matrix_sdk::ruma::events::room::member::MembershipState;
use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId, RoomId, RoomOrAliasId};
use matrix_sdk::{Client, Room, RoomState};
use serde_json::Value;

use super::error::{WorkerError, sentence};
use super::types::{OwnCallState, Profile, RoomAvatar, RoomLobby, Update};
use super::worker::Worker;
use crate::clock::now_ms;
use crate::rtc::power::PowerLevels;
use crate::rtc::room::CallRoom;
use crate::rtc::{CALL_MEMBER, CALL_MEMBER_STABLE, Lobby, MembershipEvent, RTC_MEMBER};

/// One joined room.
pub(super) struct RoomEntry {
    /// Its lobby and our part in its call.
    pub call: CallRoom,
    /// Its display name, as the SDK computes it.
    pub name: String,
    /// Whether it is a direct chat (rings go out as `ring` there, else as `notification`).
    pub is_direct: bool,
    /// The other person of a direct chat.
    pub peer: Option<String>,
    /// The room's own avatar (`mxc://`).
    pub avatar_url: Option<String>,
    /// Why joining failed, shown in the lobby while no call machine holds a reason.
    pub failed: Option<String>,
}

impl RoomEntry {
    /// The entry of `room` as the store knows it at `now_ms`: its call memberships, power
    /// levels, name and kind.
    pub async fn load(room: &Room, now_ms: u64) -> Self {
        let mut entry = Self {
            call: CallRoom::new(
                lobby_from_store(room, now_ms).await,
                power_levels_from_store(room).await,
            ),
            name: room_name(room).await,
            is_direct: false,
            peer: None,
            avatar_url: room.avatar_url().map(|url| url.to_string()),
            failed: None,
        };
        entry.refresh_direct(room).await;
        entry
    }

    /// Reads again whether the room is a direct chat: marked so (`m.direct`), or a room of
    /// exactly two joined members (who then may ring each other aloud). Returns whether the
    /// room's `m.direct` mark changed.
    pub async fn refresh_direct(&mut self, room: &Room) -> bool {
        let was_direct = self.is_direct;
        self.is_direct = match room.is_direct().await {
            Ok(direct) => direct,
            Err(e) => {
                tracing::debug!("{}: is it direct? {e}", room.room_id());
                false
            }
        };
        self.call
            .set_direct(self.is_direct || room.joined_members_count() == 2);
        // The least user id, so that the same chat always names the same person.
        self.peer = room
            .direct_targets()
            .iter()
            .map(|target| target.as_str())
            .filter(|target| target.starts_with('@'))
            .min()
            .map(str::to_owned)
            .filter(|_| self.is_direct);
        was_direct != self.is_direct
    }

    /// The lobby as the front ends show it.
    pub fn snapshot(&self, room_id: &RoomId) -> RoomLobby {
        let own = match (self.call.own(), &self.failed) {
            (Some(own), _) => OwnCallState::from(&own.state()),
            (None, Some(reason)) => OwnCallState::Failed {
                reason: reason.clone(),
            },
            (None, None) => OwnCallState::NotJoined,
        };
        RoomLobby {
            room_id: room_id.to_string(),
            name: self.name.clone(),
            is_direct: self.is_direct,
            peer: self.peer.clone(),
            calls: self.call.lobby().calls().to_vec(),
            own,
            avatar_url: self.avatar_url.clone(),
        }
    }
}

/// Every joined room, by id.
#[derive(Default)]
pub(super) struct Rooms {
    entries: HashMap<OwnedRoomId, RoomEntry>,
}

impl Rooms {
    /// Loads every joined room from the client's store.
    pub async fn load(&mut self, client: &Client) {
        let now = now_ms();
        for room in client.joined_rooms() {
            self.insert(&room, now).await;
        }
    }

    /// Adds (or reloads) `room`.
    pub async fn insert(&mut self, room: &Room, now_ms: u64) {
        let entry = RoomEntry::load(room, now_ms).await;
        self.entries.insert(room.room_id().to_owned(), entry);
    }

    /// Forgets every room (signed out).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Forgets a room we left; returns whether we knew it.
    pub fn remove(&mut self, room_id: &RoomId) -> bool {
        self.entries.remove(room_id).is_some()
    }

    pub fn contains(&self, room_id: &RoomId) -> bool {
        self.entries.contains_key(room_id)
    }

    pub fn get(&self, room_id: &RoomId) -> Option<&RoomEntry> {
        self.entries.get(room_id)
    }

    pub fn get_mut(&mut self, room_id: &RoomId) -> Option<&mut RoomEntry> {
        self.entries.get_mut(room_id)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&OwnedRoomId, &RoomEntry)> {
        self.entries.iter()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&OwnedRoomId, &mut RoomEntry)> {
        self.entries.iter_mut()
    }

    /// A room's lobby as the front ends show it.
    pub fn snapshot(&self, room_id: &RoomId) -> Option<RoomLobby> {
        self.entries.get(room_id).map(|e| e.snapshot(room_id))
    }

    /// Every room's lobby, by name.
    pub fn sorted_snapshots(&self) -> Vec<RoomLobby> {
        let mut rooms: Vec<RoomLobby> = self
            .entries
            .iter()
            .map(|(id, entry)| entry.snapshot(id))
            .collect();
        rooms.sort_by(|a, b| a.name.cmp(&b.name).then(a.room_id.cmp(&b.room_id)));
        rooms
    }
}

impl Worker {
    /// Sends one room's lobby to the front ends.
    pub(super) fn send_lobby(&self, room_id: &RoomId) {
        if let Some(lobby) = self.rooms.snapshot(room_id) {
            self.out.send(Update::Lobby { lobby });
        }
    }

    /// Resolves a room id or alias to a room we are in.
    pub(super) async fn resolve(
        &mut self,
        room: &RoomOrAliasId,
    ) -> Result<OwnedRoomId, WorkerError> {
        let client = self.client().ok_or(WorkerError::NotSignedIn)?;
        let room_id = match OwnedRoomId::try_from(room.to_owned()) {
            Ok(room_id) => room_id,
            Err(alias) => match client.resolve_room_alias(&alias).await {
                Ok(response) => response.room_id,
                Err(e) => {
                    return Err(WorkerError::RoomNotFound {
                        room: room.to_string(),
                        reason: sentence(&matrix_sdk::Error::Http(Box::new(e))),
                    });
                }
            },
        };
        match client.get_room(&room_id) {
            Some(r) if r.state() == RoomState::Joined => {
                if !self.rooms.contains(&room_id) {
                    self.rooms.insert(&r, now_ms()).await;
                }
                Ok(room_id)
            }
            _ => Err(WorkerError::NotInRoom(room.to_string())),
        }
    }

    /// Looks up display names, then avatars, of `users` in `room_id`, beside the loop: media
    /// can be slow.
    pub(super) fn fetch_profiles(&mut self, room_id: OwnedRoomId, users: Vec<OwnedUserId>) {
        let Some(client) = self.client() else { return };
        let Some(room) = client.get_room(&room_id) else {
            return;
        };
        let out = self.out.clone();
        self.spawn_beside(async move {
            let names = profiles_of(&client, &room, &users, false).await;
            out.send(Update::Profiles {
                room_id: room_id.to_string(),
                profiles: names,
            });
            let with_avatars = profiles_of(&client, &room, &users, true).await;
            if with_avatars.iter().any(|p| p.avatar.is_some()) {
                out.send(Update::Profiles {
                    room_id: room_id.to_string(),
                    profiles: with_avatars,
                });
            }
        });
    }
}

impl Worker {
    /// Fetches the avatar thumbnails of `rooms` beside the loop, and sends them in one update.
    pub(super) fn fetch_room_avatars(&mut self, rooms: Vec<OwnedRoomId>) {
        let Some(client) = self.client() else { return };
        let out = self.out.clone();
        self.spawn_beside(async move {
            let mut avatars = Vec::new();
            for room_id in rooms {
                let Some(room) = client.get_room(&room_id) else {
                    continue;
                };
                let url = room.avatar_url();
                let avatar = match &url {
                    Some(mxc) => thumbnail(&client, mxc).await,
                    None => None,
                };
                avatars.push(RoomAvatar {
                    room_id: room_id.to_string(),
                    avatar_url: url.map(|u| u.to_string()),
                    avatar,
                });
            }
            out.send(Update::RoomAvatars { avatars });
        });
    }
}

/// The side of the avatar thumbnails asked for, in pixels.
const AVATAR_PX: u32 = 96;

/// The thumbnail of the picture at `mxc`, from the SDK's media cache or the server.
async fn thumbnail(client: &Client, mxc: &matrix_sdk::ruma::MxcUri) -> Option<Arc<[u8]>> {
    use matrix_sdk::media::{MediaFormat, MediaRequestParameters, MediaThumbnailSettings};
    use matrix_sdk::ruma::events::room::MediaSource;
    let request = MediaRequestParameters {
        source: MediaSource::Plain(mxc.to_owned()),
        format: MediaFormat::Thumbnail(MediaThumbnailSettings::new(
            AVATAR_PX.into(),
            AVATAR_PX.into(),
        )),
    };
    match client.media().get_media_content(&request, true).await {
        Ok(bytes) => Some(Arc::from(bytes)),
        Err(e) => {
            tracing::debug!("the picture {mxc}: {e}");
            None
        }
    }
}

/// The room's lobby from the store's call membership state, without members who have left.
async fn lobby_from_store(room: &Room, now: u64) -> Lobby {
    let mut values = Vec::new();
    for event_type in [CALL_MEMBER, CALL_MEMBER_STABLE, RTC_MEMBER] {
        match room
            .get_state_events(StateEventType::from(event_type))
            .await
        {
            Ok(events) => {
                for raw in events {
                    if let RawAnySyncOrStrippedState::Sync(raw) = raw
                        && let Ok(v) = raw.deserialize_as::<Value>()
                    {
                        values.push(v);
                    }
                }
            }
            Err(e) => tracing::debug!("{}: could not read {event_type}: {e}", room.room_id()),
        }
    }
    let (mut lobby, rejected) = Lobby::from_events(
        values.iter().filter_map(MembershipEvent::from_event_json),
        now,
    );
    for reason in rejected {
        tracing::debug!("{}: ignored a membership event: {reason}", room.room_id());
    }
    // Only joined users count: drop those the store knows have left since publishing.
    let owners: HashSet<String> = lobby.memberships().map(|m| m.user_id.clone()).collect();
    for owner in owners {
        let Ok(user) = OwnedUserId::try_from(owner.as_str()) else {
            continue;
        };
        if let Ok(Some(member)) = room.get_member_no_sync(&user).await
            && *member.membership() != MembershipState::Join
        {
            lobby.set_room_membership(&owner, false, now);
        }
    }
    lobby
}

/// The room's power levels (and, where they outrank everyone, its creators) from the store.
async fn power_levels_from_store(room: &Room) -> PowerLevels {
    let state = |event_type: StateEventType| async move {
        match room.get_state_event(event_type, "").await {
            Ok(Some(RawAnySyncOrStrippedState::Sync(raw))) => raw.deserialize_as::<Value>().ok(),
            Ok(_) => None,
            Err(e) => {
                tracing::debug!("{}: could not read the state: {e}", room.room_id());
                None
            }
        }
    };
    let mut power = state(StateEventType::RoomPowerLevels)
        .await
        .map(|ev| PowerLevels::from_content(&ev["content"]))
        .unwrap_or_default();
    if let Some(create) = state(StateEventType::RoomCreate).await {
        let sender = create["sender"].as_str().unwrap_or_default();
        power.set_creators_from_create_event(sender, &create["content"]);
    }
    power
}

/// The room's display name; its id when the store cannot say.
pub(super) async fn room_name(room: &Room) -> String {
    match room.display_name().await {
        Ok(name) => name.to_string(),
        Err(e) => {
            tracing::debug!("{}: no display name: {e}", room.room_id());
            room.room_id().to_string()
        }
    }
}

/// The display names (and, with `avatars`, the avatar thumbnails) of `users` in `room`; a user
/// without a member entry is left out, a missing avatar is `None`.
async fn profiles_of(
    client: &Client,
    room: &Room,
    users: &[OwnedUserId],
    avatars: bool,
) -> Vec<Profile> {
    let mut profiles = Vec::new();
    for user in users {
        let member = match room.get_member_no_sync(user).await {
            Ok(Some(member)) => member,
            Ok(None) => continue,
            Err(e) => {
                tracing::debug!("member {user}: {e}");
                continue;
            }
        };
        let mut avatar = None;
        if let Some(mxc) = member.avatar_url().filter(|_| avatars) {
            avatar = thumbnail(client, mxc).await;
        }
        profiles.push(Profile {
            user_id: user.to_string(),
            display_name: member.name().to_owned(),
            avatar,
        });
    }
    profiles
}
