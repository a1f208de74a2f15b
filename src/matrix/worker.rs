//! The worker: one tokio task that owns the SDK client, feeds every relevant event through the
//! protocol core, executes what the core decides, and reports [`Update`]s.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::api::FeatureFlag;
use matrix_sdk::ruma::api::client::delayed_events::{
    DelayParameters, delayed_state_event, update_delayed_event,
};
use matrix_sdk::ruma::api::client::rtc::RtcTransport;
use matrix_sdk::ruma::api::client::rtc::transports;
use matrix_sdk::ruma::api::error::ErrorKind;
use matrix_sdk::ruma::events::{AnyStateEventContent, StateEventType};
use matrix_sdk::ruma::serde::Raw;
use matrix_sdk::ruma::{OwnedRoomId, RoomId, RoomOrAliasId, UserId};
use matrix_sdk::sync::State;
use matrix_sdk::{Client, Room, RoomState};
use serde_json::Value;
use tokio::sync::mpsc;

use super::error::{failure_of, failure_of_http, failure_sentence, sentence};
use super::session;
use super::types::{
    Command, Connection, FocusInfo, FocusSource, OwnCallState, Profile, RingAlert, RoomLobby,
    Update,
};
use crate::config::{ProfilePaths, Settings};
use crate::ring::Ringer;
use crate::rtc::membership::{MembershipEvent, is_leave_content, is_membership_type};
use crate::rtc::own::{Action, Failure, Notice, OwnConfig, OwnMembership, OwnState, Reply};
use crate::rtc::publish::{self, JoinParams, PublishForm};
use crate::rtc::ring::{
    DEFAULT_LIFETIME_MS, Me, NotificationEvent, NotifyKind, RingOutput, RingTracker,
    is_decline_type, is_notification_type, parse_decline, parse_notification,
};
use crate::rtc::{CallIntent, CallKey, Focus, Lobby};
use crate::secrets::{SecretStore, SecretStoreKind};

/// Called after every update, e.g. to wake the UI.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// What the worker needs to start.
pub struct WorkerConfig {
    /// The profile's paths.
    pub paths: ProfilePaths,
    /// The profile's settings.
    pub settings: Settings,
    /// What rings on the desktop.
    pub ringer: Arc<dyn Ringer>,
    /// Timings of our own membership.
    pub own: OwnConfig,
    /// How long the sync long-poll waits.
    pub sync_timeout: Duration,
    /// Where the session secret is kept.
    pub secret_store: SecretStoreKind,
}

impl WorkerConfig {
    /// A config with the default timings, keeping the secret where `secret_store` says.
    pub fn new(
        paths: ProfilePaths,
        settings: Settings,
        ringer: Arc<dyn Ringer>,
        secret_store: SecretStoreKind,
    ) -> Self {
        Self {
            paths,
            settings,
            ringer,
            own: OwnConfig::default(),
            sync_timeout: Duration::from_secs(30),
            secret_store,
        }
    }
}

/// The UI's or CLI's end of a running worker.
pub struct WorkerHandle {
    /// Send commands here.
    pub commands: mpsc::UnboundedSender<Command>,
    /// Updates arrive here.
    pub updates: mpsc::UnboundedReceiver<Update>,
    /// The worker task; it ends after [`Update::Stopped`] or [`Update::Fatal`].
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts the worker on the current tokio runtime. It restores the profile's saved session or
/// asks for a login ([`Update::NeedsLogin`]).
pub fn spawn(config: WorkerConfig, waker: Waker) -> WorkerHandle {
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (upd_tx, upd_rx) = mpsc::unbounded_channel();
    let out = Outbox { tx: upd_tx, waker };
    let task = tokio::spawn(run(config, cmd_rx, out));
    WorkerHandle {
        commands: cmd_tx,
        updates: upd_rx,
        task,
    }
}

#[derive(Clone)]
struct Outbox {
    tx: mpsc::UnboundedSender<Update>,
    waker: Waker,
}

impl Outbox {
    fn send(&self, update: Update) {
        // The receiver may be gone when the app is closing; nothing is left to tell then.
        let _ = self.tx.send(update);
        (self.waker)();
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

enum Internal {
    Sync(Box<matrix_sdk::sync::SyncResponse>),
    SyncFailed {
        reason: String,
        retry_in: Duration,
    },
    ActionDone {
        room_id: OwnedRoomId,
        form: PublishForm,
        result: Result<Reply, Failure>,
    },
    Problem(String),
    /// The homeserver no longer knows our access token.
    SessionEnded,
}

/// Our part in one room's call.
struct OwnCall {
    machines: Vec<OwnMembership>,
    intent: CallIntent,
    call_id: String,
    /// A ring/notification to send once our membership is published.
    pending_notify: Option<NotifyKind>,
    /// When our ring went out; if nobody joins within its lifetime we leave.
    rang_at_ms: Option<u64>,
    /// Someone else was in the call after we rang.
    answered: bool,
    last_state: OwnCallState,
}

impl OwnCall {
    fn state(&self) -> OwnCallState {
        let states: Vec<OwnState> = self.machines.iter().map(OwnMembership::state).collect();
        let any = |f: fn(&OwnState) -> bool| states.iter().any(f);
        // Joined once every form we publish is out (a refused form does not hold us back).
        if any(|s| matches!(s, OwnState::Joining)) {
            OwnCallState::Joining
        } else if any(|s| matches!(s, OwnState::Joined)) {
            OwnCallState::Joined
        } else if any(|s| matches!(s, OwnState::Leaving)) {
            OwnCallState::Leaving
        } else if let Some(OwnState::Failed(f)) =
            states.iter().find(|s| matches!(s, OwnState::Failed(_)))
        {
            OwnCallState::Failed {
                reason: failure_sentence(f),
            }
        } else {
            OwnCallState::NotJoined
        }
    }

    /// The membership event a ring relates to: the session form's when we publish it (that is
    /// what Element Call looks up), else the first published one.
    fn membership_event_id(&self) -> Option<String> {
        let session = self
            .machines
            .iter()
            .find(|m| m.form() == PublishForm::Session);
        match session {
            Some(m) => m.event_id().map(str::to_owned),
            None => self
                .machines
                .iter()
                .find_map(|m| m.event_id().map(str::to_owned)),
        }
    }
}

struct RoomEntry {
    lobby: Lobby,
    name: String,
    is_direct: bool,
    own: Option<OwnCall>,
    /// A failure sentence to show in the lobby when no call machine holds it.
    failed: Option<String>,
}

struct Worker {
    config: WorkerConfig,
    secrets: SecretStore,
    out: Outbox,
    internal_tx: mpsc::UnboundedSender<Internal>,
    client: Option<Client>,
    me: Option<Me>,
    rooms: HashMap<OwnedRoomId, RoomEntry>,
    tracker: Option<RingTracker>,
    delayed_events: bool,
    foci: Vec<FocusInfo>,
    sync_task: Option<tokio::task::JoinHandle<()>>,
    first_sync_done: bool,
    told: HashSet<String>,
    stopping: Option<Stopping>,
    stop_deadline: Option<Instant>,
    /// Commands about rooms that arrived before the first sync told us which rooms we are in.
    waiting_for_sync: Vec<Command>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stopping {
    Quit,
    Logout,
}

async fn run(config: WorkerConfig, mut commands: mpsc::UnboundedReceiver<Command>, out: Outbox) {
    let (internal_tx, mut internal_rx) = mpsc::unbounded_channel();
    let secrets = SecretStore::new(config.secret_store, &config.paths);
    let _lock = match lock_profile(&config.paths) {
        Ok(lock) => lock,
        Err(message) => {
            out.send(Update::Fatal { message });
            return;
        }
    };
    let mut worker = Worker {
        config,
        secrets,
        out,
        internal_tx,
        client: None,
        me: None,
        rooms: HashMap::new(),
        tracker: None,
        delayed_events: false,
        foci: Vec::new(),
        sync_task: None,
        first_sync_done: false,
        told: HashSet::new(),
        stopping: None,
        stop_deadline: None,
        waiting_for_sync: Vec::new(),
    };
    match session::restore(&worker.config.paths, &worker.secrets).await {
        Ok(Some(client)) => worker.signed_in(client).await,
        Ok(None) => worker.out.send(Update::NeedsLogin),
        Err(reason) => {
            worker.out.send(Update::Error { message: reason });
            worker.out.send(Update::NeedsLogin);
        }
    }
    let mut commands_closed = false;
    loop {
        let deadline = worker.next_deadline();
        tokio::select! {
            cmd = commands.recv(), if !commands_closed => match cmd {
                Some(cmd) => worker.on_command(cmd).await,
                None => {
                    // Whoever held the sender is gone: leave calls and stop.
                    commands_closed = true;
                    worker.begin_stop(Stopping::Quit);
                }
            },
            Some(msg) = internal_rx.recv() => worker.on_internal(msg).await,
            () = sleep_until(deadline) => worker.on_tick().await,
        }
        worker.drive();
        if worker.finish_if_stopped().await {
            break;
        }
    }
    if let Some(task) = worker.sync_task.take() {
        task.abort();
    }
    // Release the client and the profile before saying so: a new worker (after signing out)
    // takes the profile's lock at once.
    let out = worker.out.clone();
    drop(worker);
    drop(_lock);
    out.send(Update::Stopped);
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Holds the profile's lock file so that a second process cannot open the same store.
fn lock_profile(paths: &ProfilePaths) -> Result<File, String> {
    paths.create_data_dir().map_err(|e| e.to_string())?;
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(paths.lock_file())
        .map_err(|e| format!("Could not open {}: {e}.", paths.lock_file().display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "Vestibule is already running for the profile \"{}\"; use that window, or stop it first.",
            paths.profile
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(format!(
            "Could not lock {}: {e}.",
            paths.lock_file().display()
        )),
    }
}

impl Worker {
    fn client(&self) -> Option<Client> {
        self.client.clone()
    }

    async fn signed_in(&mut self, client: Client) {
        let (Some(user_id), Some(device_id)) = (client.user_id(), client.device_id()) else {
            self.out.send(Update::Error {
                message: "The session has no user; sign in again.".into(),
            });
            self.out.send(Update::NeedsLogin);
            return;
        };
        let me = Me {
            user_id: user_id.to_string(),
            device_id: device_id.to_string(),
        };
        self.out.send(Update::SignedIn {
            user_id: me.user_id.clone(),
            device_id: me.device_id.clone(),
        });
        self.tracker = Some(RingTracker::new(me.clone()));
        self.me = Some(me);
        self.delayed_events = match client.unstable_features().await {
            Ok(features) => features.contains(&FeatureFlag::Msc4140),
            Err(e) => {
                tracing::debug!("could not read the server's features: {e}");
                false
            }
        };
        self.client = Some(client.clone());
        self.load_rooms_from_store(&client).await;
        // The window shows the remembered lobbies at once; the first sync then corrects them.
        self.out.send(Update::StoredRooms {
            rooms: self.sorted_lobbies(),
        });
        self.discover_foci(&client).await;
        self.out.send(Update::Connection {
            connection: Connection::Syncing,
        });
        self.sync_task = Some(tokio::spawn(sync_loop(
            client,
            self.internal_tx.clone(),
            self.config.sync_timeout,
        )));
    }

    async fn load_rooms_from_store(&mut self, client: &Client) {
        let now = now_ms();
        for room in client.joined_rooms() {
            let lobby = lobby_from_store(&room, now).await;
            let entry = RoomEntry {
                lobby,
                name: room_name(&room).await,
                is_direct: room.is_direct().await.unwrap_or(false),
                own: None,
                failed: None,
            };
            self.rooms.insert(room.room_id().to_owned(), entry);
        }
    }

    /// The user's own foci, best first.
    fn user_foci(&self) -> Vec<FocusInfo> {
        self.config
            .settings
            .calls
            .foci
            .iter()
            .map(|url| FocusInfo {
                focus: Focus::livekit(url),
                source: FocusSource::User,
            })
            .collect()
    }

    /// Keeps `foci` (the first of each URL) as the ones we use, and says so.
    fn set_foci(&mut self, mut foci: Vec<FocusInfo>) {
        let mut seen = HashSet::new();
        foci.retain(|f| seen.insert(f.focus.livekit_service_url.clone()));
        self.foci = foci.clone();
        self.out.send(Update::Foci { foci });
    }

    async fn discover_foci(&mut self, client: &Client) {
        let mut foci = self.user_foci();
        match client.send(transports::v1::Request::new()).await {
            Ok(response) => foci.extend(livekit_foci(
                &response.rtc_transports,
                FocusSource::Transports,
            )),
            Err(e) => tracing::debug!("rtc/transports: {e}"),
        }
        match client.rtc_foci().await {
            Ok(found) => foci.extend(livekit_foci(&found, FocusSource::WellKnown)),
            Err(e) => tracing::debug!("well-known rtc_foci: {e}"),
        }
        self.set_foci(foci);
    }

    fn lobby_of(&self, room_id: &RoomId) -> Option<RoomLobby> {
        let entry = self.rooms.get(room_id)?;
        let own = match (&entry.own, &entry.failed) {
            (Some(own), _) => own.state(),
            (None, Some(reason)) => OwnCallState::Failed {
                reason: reason.clone(),
            },
            (None, None) => OwnCallState::NotJoined,
        };
        Some(RoomLobby {
            room_id: room_id.to_string(),
            name: entry.name.clone(),
            is_direct: entry.is_direct,
            calls: entry.lobby.calls().to_vec(),
            own,
        })
    }

    /// Every room's lobby, by name.
    fn sorted_lobbies(&self) -> Vec<RoomLobby> {
        let mut rooms: Vec<RoomLobby> = self
            .rooms
            .keys()
            .filter_map(|id| self.lobby_of(id))
            .collect();
        rooms.sort_by(|a, b| a.name.cmp(&b.name).then(a.room_id.cmp(&b.room_id)));
        rooms
    }

    fn send_lobby(&self, room_id: &RoomId) {
        if let Some(lobby) = self.lobby_of(room_id) {
            self.out.send(Update::Lobby { lobby });
        }
    }

    fn tell_once(&mut self, key: String, message: String) {
        if self.told.insert(key) {
            self.out.send(Update::Notice { message });
        }
    }

    async fn on_command(&mut self, cmd: Command) {
        tracing::debug!("command: {cmd:?}");
        if self.stopping.is_some() {
            return;
        }
        let about_rooms = matches!(
            cmd,
            Command::Join { .. }
                | Command::Ring { .. }
                | Command::Leave { .. }
                | Command::Answer { .. }
                | Command::Decline { .. }
        );
        if about_rooms && self.client.is_none() {
            self.out.send(Update::Error {
                message: "Not signed in.".into(),
            });
            return;
        }
        if about_rooms && !self.first_sync_done {
            self.waiting_for_sync.push(cmd);
            return;
        }
        match cmd {
            Command::Login {
                homeserver,
                user,
                password,
            } => {
                if self.client.is_some() {
                    self.out.send(Update::LoginFailed {
                        reason: "Already signed in; sign out first.".into(),
                    });
                    return;
                }
                match session::login(
                    &self.config.paths,
                    &self.secrets,
                    &homeserver,
                    &user,
                    &password,
                )
                .await
                {
                    Ok(client) => self.signed_in(client).await,
                    Err(reason) => self.out.send(Update::LoginFailed { reason }),
                }
            }
            Command::Logout => {
                if self.client.is_none() {
                    self.out.send(Update::Error {
                        message: "Not signed in.".into(),
                    });
                    return;
                }
                self.begin_stop(Stopping::Logout);
            }
            Command::Join {
                room,
                intent,
                notify,
                foci,
            } => {
                self.join(&room, intent, notify, foci).await;
            }
            Command::Ring { room, intent } => {
                let Some(room_id) = self.resolve(&room).await else {
                    return;
                };
                let kind = match self.rooms.get(&room_id) {
                    Some(entry) if entry.is_direct => NotifyKind::Ring,
                    _ => NotifyKind::Notification,
                };
                self.join(room_id.as_str(), intent, Some(kind), Vec::new())
                    .await;
            }
            Command::Leave { room } => self.leave(&room).await,
            Command::Answer { room } => {
                let intent = self
                    .tracker
                    .as_ref()
                    .and_then(|t| {
                        t.ringing()
                            .find(|c| c.room_id == room)
                            .and_then(|c| c.intent.clone())
                    })
                    .unwrap_or(CallIntent::Video);
                self.join(&room, intent, None, Vec::new()).await;
            }
            Command::Decline { room } => self.decline(room).await,
            Command::DiscoverFoci => {
                if let Some(client) = self.client() {
                    self.discover_foci(&client).await;
                }
            }
            Command::CheckFocus { url } => {
                let out = self.out.clone();
                let http = self.client().map(|c| c.http_client().clone());
                tokio::spawn(async move {
                    let http = http.unwrap_or_default();
                    let (ok, message) = check_focus(&http, &url).await;
                    out.send(Update::FocusChecked { url, ok, message });
                });
            }
            Command::ApplySettings(settings) => {
                let (old, new) = (&self.config.settings.ring, &settings.ring);
                if old.ringtone != new.ringtone || old.volume != new.volume {
                    self.config
                        .ringer
                        .configure(new.ringtone.as_deref(), new.volume);
                }
                let foci_changed = settings.calls.foci != self.config.settings.calls.foci;
                self.config.settings = *settings;
                if foci_changed {
                    // The user's foci first, then what the homeserver advertised: no new
                    // requests, so the loop is not held up.
                    let mut foci = self.user_foci();
                    foci.extend(
                        self.foci
                            .iter()
                            .filter(|f| f.source != FocusSource::User)
                            .cloned(),
                    );
                    self.set_foci(foci);
                }
            }
            Command::TestRing => {
                const TEST_RING: Duration = Duration::from_secs(3);
                let alert = crate::ring::test_alert(now_ms() + TEST_RING.as_millis() as u64);
                let ringer = self.config.ringer.clone();
                ringer.start(&alert);
                tokio::spawn(async move {
                    tokio::time::sleep(TEST_RING).await;
                    ringer.stop(&alert.call, crate::rtc::ring::StopReason::Answered);
                });
            }
            Command::Profiles { room, users } => {
                let Some(client) = self.client() else { return };
                let Some(room) = <&RoomId>::try_from(room.as_str())
                    .ok()
                    .and_then(|id| client.get_room(id))
                else {
                    return;
                };
                // Media can be slow: fetch beside the worker loop, names first.
                let out = self.out.clone();
                tokio::spawn(async move {
                    let room_id = room.room_id().to_string();
                    let names = profiles_of(&client, &room, &users, false).await;
                    out.send(Update::Profiles {
                        room_id: room_id.clone(),
                        profiles: names,
                    });
                    let with_avatars = profiles_of(&client, &room, &users, true).await;
                    if with_avatars.iter().any(|p| p.avatar.is_some()) {
                        out.send(Update::Profiles {
                            room_id,
                            profiles: with_avatars,
                        });
                    }
                });
            }
            Command::Quit => self.begin_stop(Stopping::Quit),
        }
    }

    /// Resolves a room id or alias to a joined room, reporting a sentence when it is not one.
    async fn resolve(&mut self, room: &str) -> Option<OwnedRoomId> {
        let client = self.client()?;
        let Ok(id) = <&RoomOrAliasId>::try_from(room) else {
            self.out.send(Update::Error {
                message: format!("\"{room}\" is not a room id or alias."),
            });
            return None;
        };
        let room_id = match OwnedRoomId::try_from(id.as_str()) {
            Ok(room_id) => room_id,
            Err(_) => {
                let alias = match matrix_sdk::ruma::RoomAliasId::parse(id.as_str()) {
                    Ok(alias) => alias,
                    Err(_) => {
                        self.out.send(Update::Error {
                            message: format!("\"{room}\" is not a room id or alias."),
                        });
                        return None;
                    }
                };
                match client.resolve_room_alias(&alias).await {
                    Ok(response) => response.room_id,
                    Err(e) => {
                        self.out.send(Update::Error {
                            message: format!(
                                "The room {room} could not be found: {}",
                                sentence(&matrix_sdk::Error::Http(Box::new(e)))
                            ),
                        });
                        return None;
                    }
                }
            }
        };
        match client.get_room(&room_id) {
            Some(r) if r.state() == RoomState::Joined => {
                if !self.rooms.contains_key(&room_id) {
                    self.add_room(&r).await;
                }
                Some(room_id)
            }
            _ => {
                self.out.send(Update::Error {
                    message: format!("You are not in the room {room}."),
                });
                None
            }
        }
    }

    async fn add_room(&mut self, room: &Room) {
        let entry = RoomEntry {
            lobby: lobby_from_store(room, now_ms()).await,
            name: room_name(room).await,
            is_direct: room.is_direct().await.unwrap_or(false),
            own: None,
            failed: None,
        };
        self.rooms.insert(room.room_id().to_owned(), entry);
    }

    async fn join(
        &mut self,
        room: &str,
        intent: CallIntent,
        notify: Option<NotifyKind>,
        extra_foci: Vec<String>,
    ) {
        let Some(room_id) = self.resolve(room).await else {
            return;
        };
        let (Some(client), Some(me)) = (self.client(), self.me.clone()) else {
            return;
        };
        let Some(sdk_room) = client.get_room(&room_id) else {
            return;
        };
        // Answering here stops the ring.
        let stopped = self
            .tracker
            .as_mut()
            .map(|t| t.answer(room_id.as_str()))
            .unwrap_or_default();
        self.handle_ring_outputs(stopped).await;
        if let Some(own) = self.rooms.get_mut(&room_id).and_then(|e| e.own.as_mut()) {
            // Already joined, joining, or still leaving: the same machines carry on (their
            // in-flight requests stay theirs), now wanting to be in the call.
            for m in &mut own.machines {
                m.join();
            }
            if notify.is_some() {
                own.pending_notify = notify;
            }
            return;
        }
        let (forms, refused) = self.allowed_forms(&sdk_room, &me).await;
        for (form, sentence) in refused {
            self.tell_once(format!("forbidden:{room_id}:{form:?}"), sentence);
        }
        let Some(entry) = self.rooms.get_mut(&room_id) else {
            return;
        };
        if forms.is_empty() {
            let reason = power_level_sentence(&sdk_room, &me, &entry.name).await;
            entry.own = None;
            entry.failed = Some(reason.clone());
            self.out.send(Update::Error { message: reason });
            self.send_lobby(&room_id);
            return;
        }
        entry.failed = None;
        let mut foci: Vec<Focus> = extra_foci.iter().map(|u| Focus::livekit(u)).collect();
        foci.extend(self.foci.iter().map(|f| f.focus.clone()));
        let mut seen = HashSet::new();
        foci.retain(|f| seen.insert(f.livekit_service_url.clone()));
        let params = JoinParams {
            room_id: room_id.to_string(),
            room_version: sdk_room
                .version()
                .map(|v| v.to_string())
                .unwrap_or_else(|| "1".into()),
            user_id: me.user_id.clone(),
            device_id: me.device_id.clone(),
            member_id: session::random_id(16),
            call_id: String::new(),
            intent: intent.clone(),
            foci,
        };
        let machines = forms
            .into_iter()
            .map(|form| {
                let mut m =
                    OwnMembership::new(form, params.clone(), self.delayed_events, self.config.own);
                m.join();
                m
            })
            .collect();
        entry.own = Some(OwnCall {
            machines,
            intent,
            call_id: String::new(),
            pending_notify: notify,
            rang_at_ms: None,
            answered: false,
            last_state: OwnCallState::NotJoined,
        });
    }

    /// The configured forms our power level lets us publish, and a sentence for each refused one.
    async fn allowed_forms(
        &self,
        room: &Room,
        me: &Me,
    ) -> (Vec<PublishForm>, Vec<(PublishForm, String)>) {
        let configured = self.config.settings.calls.publish_forms.clone();
        let Ok(user) = <&UserId>::try_from(me.user_id.as_str()) else {
            return (configured, Vec::new());
        };
        let Ok(levels) = room.power_levels().await else {
            return (configured, Vec::new());
        };
        let mut allowed = Vec::new();
        let mut refused = Vec::new();
        for form in configured {
            if levels.user_can_send_state(user, StateEventType::from(form.event_type())) {
                allowed.push(form);
            } else {
                tracing::info!(
                    "{}: the power levels forbid publishing {}",
                    room.room_id(),
                    form.event_type()
                );
                refused.push((
                    form,
                    format!(
                        "This room does not let you publish {}; joined without it.",
                        form.event_type()
                    ),
                ));
            }
        }
        (allowed, refused)
    }

    async fn leave(&mut self, room: &str) {
        let Some(room_id) = self.resolve(room).await else {
            return;
        };
        let (Some(client), Some(me)) = (self.client(), self.me.clone()) else {
            return;
        };
        let Some(entry) = self.rooms.get_mut(&room_id) else {
            return;
        };
        if let Some(own) = entry.own.as_mut() {
            own.pending_notify = None;
            for m in &mut own.machines {
                m.leave();
            }
            return;
        }
        // Not joined from this process: clear whatever this device has published in the room.
        let Some(sdk_room) = client.get_room(&room_id) else {
            return;
        };
        let slots: Vec<_> = entry
            .lobby
            .slots()
            .filter(|(slot, ms)| {
                slot.event_type != crate::rtc::RTC_MEMBER_STICKY
                    && ms
                        .iter()
                        .any(|m| m.user_id == me.user_id && m.device_id == me.device_id)
            })
            .map(|(slot, _)| slot.clone())
            .collect();
        for slot in slots {
            if let Err(e) = sdk_room
                .send_state_event_raw(slot.event_type, &slot.key, serde_json::json!({}))
                .await
            {
                self.out.send(Update::Error {
                    message: sentence(&e),
                });
            }
        }
    }

    async fn decline(&mut self, room: Option<String>) {
        let room_id = match room {
            Some(room) => match self.resolve(&room).await {
                Some(id) => Some(id),
                None => return,
            },
            None => None,
        };
        let Some(tracker) = self.tracker.as_mut() else {
            return;
        };
        let outputs = match &room_id {
            Some(room_id) => tracker.decline(room_id.as_str()),
            None => {
                let rooms: HashSet<String> = tracker.ringing().map(|c| c.room_id.clone()).collect();
                rooms.iter().flat_map(|r| tracker.decline(r)).collect()
            }
        };
        if outputs.is_empty() {
            self.out.send(Update::Error {
                message: "Nothing is ringing there.".into(),
            });
            return;
        }
        let Some(client) = self.client() else { return };
        for output in &outputs {
            if let RingOutput::Stop { call, .. } = output {
                let decline = publish::decline(&call.notification_event_id);
                let room = OwnedRoomId::try_from(call.room_id.as_str())
                    .ok()
                    .and_then(|id| client.get_room(&id));
                if let Some(room) = room
                    && let Err(e) = room.send_raw(decline.event_type, decline.content).await
                {
                    self.out.send(Update::Error {
                        message: format!("The decline could not be sent: {}", sentence(&e)),
                    });
                }
            }
        }
        self.handle_ring_outputs(outputs).await;
    }

    fn begin_stop(&mut self, how: Stopping) {
        if self.stopping.is_some() {
            return;
        }
        self.stopping = Some(how);
        for entry in self.rooms.values_mut() {
            if let Some(own) = entry.own.as_mut() {
                own.pending_notify = None;
                for m in &mut own.machines {
                    m.leave();
                }
            }
        }
        self.stop_deadline = Some(Instant::now() + Duration::from_secs(5));
    }

    /// Ends the worker once every call is left (or the grace period is over) after Quit/Logout.
    async fn finish_if_stopped(&mut self) -> bool {
        let Some(how) = self.stopping else {
            return false;
        };
        let all_left = self.rooms.values().all(|e| {
            e.own
                .as_ref()
                .is_none_or(|own| own.machines.iter().all(OwnMembership::is_idle))
        });
        let timed_out = self.stop_deadline.is_some_and(|at| Instant::now() >= at);
        if !all_left && !timed_out {
            return false;
        }
        if how == Stopping::Logout {
            if let Some(task) = self.sync_task.take() {
                task.abort();
            }
            if let Some(client) = self.client.take() {
                if let Err(message) =
                    session::logout(&client, &self.config.paths, &self.secrets).await
                {
                    self.out.send(Update::Error { message });
                }
                self.out.send(Update::SignedOut);
            }
        }
        true
    }

    async fn on_internal(&mut self, msg: Internal) {
        match msg {
            Internal::Sync(response) => self.on_sync(*response).await,
            Internal::SyncFailed { reason, retry_in } => {
                self.out.send(Update::Connection {
                    connection: Connection::Offline {
                        retry_in_secs: retry_in.as_secs().max(1),
                        reason,
                    },
                });
            }
            Internal::ActionDone {
                room_id,
                form,
                result,
            } => {
                if let Err(failure) = &result {
                    tracing::debug!("{room_id}: {form:?} action failed: {failure:?}");
                }
                let now = now_ms();
                let failed_forbidden = matches!(result, Err(Failure::Forbidden));
                if let Some(m) = self
                    .rooms
                    .get_mut(&room_id)
                    .and_then(|e| e.own.as_mut())
                    .and_then(|own| own.machines.iter_mut().find(|m| m.form() == form))
                {
                    m.on_response(result, now);
                }
                if failed_forbidden {
                    self.explain_forbidden(&room_id).await;
                }
            }
            Internal::Problem(message) => self.out.send(Update::Error { message }),
            Internal::SessionEnded => self.session_ended().await,
        }
    }

    /// The session was signed out elsewhere: forget it here too and ask for a new sign-in.
    async fn session_ended(&mut self) {
        self.sync_task = None;
        let Some(client) = self.client.take() else {
            return;
        };
        // The token is dead, so the server part of the logout fails; the local cleanup is what
        // matters.
        let _ = session::logout(&client, &self.config.paths, &self.secrets).await;
        self.rooms.clear();
        self.tracker = None;
        self.me = None;
        self.first_sync_done = false;
        self.out.send(Update::Error {
            message: "This session was signed out from another device; sign in again.".into(),
        });
        self.out.send(Update::NeedsLogin);
    }

    /// When a join was refused, say which power level it takes.
    async fn explain_forbidden(&mut self, room_id: &RoomId) {
        let (Some(client), Some(me)) = (self.client(), self.me.clone()) else {
            return;
        };
        let Some(room) = client.get_room(room_id) else {
            return;
        };
        let Some(entry) = self.rooms.get_mut(room_id) else {
            return;
        };
        let still_joining = entry.own.as_ref().is_some_and(|own| {
            own.machines
                .iter()
                .any(|m| matches!(m.state(), OwnState::Joined | OwnState::Joining))
        });
        if !still_joining {
            let reason = power_level_sentence(&room, &me, &entry.name).await;
            entry.failed = Some(reason.clone());
            entry.own = None;
            self.out.send(Update::Error { message: reason });
            self.send_lobby(room_id);
        }
    }

    async fn on_sync(&mut self, response: matrix_sdk::sync::SyncResponse) {
        let now = now_ms();
        let Some(client) = self.client() else { return };
        let mut changed: Vec<OwnedRoomId> = Vec::new();
        let mut ring_outputs = Vec::new();
        for (room_id, update) in response.rooms.joined {
            if !self.rooms.contains_key(&room_id)
                && let Some(room) = client.get_room(&room_id)
            {
                // A room joined since the last sync: its whole state is in the store now, and
                // its timeline may hold a live ring.
                self.add_room(&room).await;
                changed.push(room_id.clone());
            }
            // With `state_after` the state list is complete; without it, state events in the
            // timeline come on top of it.
            let (state_events, timeline_has_state) = match update.state {
                State::After(events) => (events, false),
                State::Before(events) => (events, true),
            };
            tracing::trace!(
                "{room_id}: {} state events ({}), {} timeline events",
                state_events.len(),
                if timeline_has_state {
                    "before"
                } else {
                    "after"
                },
                update.timeline.events.len()
            );
            let Some(entry) = self.rooms.get_mut(&room_id) else {
                continue;
            };
            let mut room_changed = false;
            let mut name_may_change = false;
            for raw in &state_events {
                let Ok(value) = raw.deserialize_as::<Value>() else {
                    continue;
                };
                let event_type = value
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if is_membership_type(event_type) {
                    room_changed |= apply_membership(&mut entry.lobby, &value, now);
                    if let Some(own) = entry.own.as_mut() {
                        note_own_state(own, &value, self.me.as_ref());
                    }
                } else if event_type == "m.room.member" {
                    room_changed |= apply_room_member(&mut entry.lobby, &value, now);
                    name_may_change = true;
                } else if matches!(event_type, "m.room.name" | "m.room.canonical_alias") {
                    name_may_change = true;
                }
            }
            let mut notifications = Vec::new();
            for event in &update.timeline.events {
                let Ok(value) = event.raw().deserialize_as::<Value>() else {
                    continue;
                };
                let event_type = value
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let is_state = value.get("state_key").is_some();
                if is_membership_type(event_type) && (!is_state || timeline_has_state) {
                    room_changed |= apply_membership(&mut entry.lobby, &value, now);
                    if let Some(own) = entry.own.as_mut().filter(|_| is_state) {
                        note_own_state(own, &value, self.me.as_ref());
                    }
                } else if is_state && timeline_has_state && event_type == "m.room.member" {
                    room_changed |= apply_room_member(&mut entry.lobby, &value, now);
                } else if is_notification_type(event_type) {
                    notifications.push(value);
                } else if is_decline_type(event_type) {
                    let content = value.get("content").cloned().unwrap_or(Value::Null);
                    let sender = value
                        .get("sender")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    match parse_decline(event_type, &content) {
                        Ok(declined) => {
                            if let Some(t) = self.tracker.as_mut() {
                                ring_outputs.extend(t.on_decline(
                                    room_id.as_str(),
                                    sender,
                                    &declined,
                                    now,
                                ));
                            }
                        }
                        Err(e) => tracing::debug!("{room_id}: ignored a decline: {e}"),
                    }
                } else if event_type == "m.room.redaction" {
                    let redacts = value
                        .get("redacts")
                        .or_else(|| value.pointer("/content/redacts"))
                        .and_then(Value::as_str);
                    if let (Some(redacts), Some(t)) = (redacts, self.tracker.as_mut()) {
                        ring_outputs.extend(t.on_redaction(room_id.as_str(), redacts));
                    }
                }
            }
            if name_may_change && let Some(room) = client.get_room(&room_id) {
                let name = room_name(&room).await;
                if name != entry.name {
                    entry.name = name;
                    room_changed = true;
                }
            }
            if let Some(t) = self.tracker.as_mut() {
                if room_changed {
                    ring_outputs.extend(t.on_lobby(room_id.as_str(), &entry.lobby, now));
                }
                for value in notifications {
                    let Some(event) = NotificationEvent::from_event_json(&value) else {
                        continue;
                    };
                    match parse_notification(&event) {
                        Ok(n) => ring_outputs.push(t.on_notification(
                            room_id.as_str(),
                            &n,
                            &entry.lobby,
                            now,
                        )),
                        Err(e) => tracing::debug!("{room_id}: ignored a notification: {e}"),
                    }
                }
            }
            if room_changed {
                changed.push(room_id.clone());
            }
        }
        for room_id in response.rooms.left.keys() {
            if self.rooms.remove(room_id).is_some() {
                changed.push(room_id.clone());
            }
        }
        self.handle_ring_outputs(ring_outputs).await;
        if !self.first_sync_done {
            self.first_sync_done = true;
            for cmd in std::mem::take(&mut self.waiting_for_sync) {
                Box::pin(self.on_command(cmd)).await;
            }
            self.out.send(Update::Rooms {
                rooms: self.sorted_lobbies(),
            });
        } else {
            for room_id in &changed {
                self.send_lobby(room_id);
            }
        }
        self.out.send(Update::Connection {
            connection: Connection::Online,
        });
    }

    async fn on_tick(&mut self) {
        let now = now_ms();
        let mut outputs = Vec::new();
        let mut changed = Vec::new();
        for (room_id, entry) in &mut self.rooms {
            if entry.lobby.tick(now) {
                changed.push(room_id.clone());
                if let Some(t) = self.tracker.as_mut() {
                    outputs.extend(t.on_lobby(room_id.as_str(), &entry.lobby, now));
                }
            }
        }
        if let Some(t) = self.tracker.as_mut() {
            outputs.extend(t.tick(now));
        }
        self.handle_ring_outputs(outputs).await;
        for room_id in changed {
            self.send_lobby(&room_id);
        }
    }

    /// Turns ring decisions into ringer calls and updates.
    async fn handle_ring_outputs(&mut self, outputs: Vec<RingOutput>) {
        for output in outputs {
            tracing::debug!("ring decision: {output:?}");
            match &output {
                RingOutput::Ring(call) | RingOutput::Notify(call) => {
                    let entry = OwnedRoomId::try_from(call.room_id.as_str())
                        .ok()
                        .and_then(|id| self.rooms.get(&id));
                    let room_name = entry
                        .map(|e| e.name.clone())
                        .unwrap_or_else(|| call.room_id.clone());
                    let caller_name = self.caller_name(call.room_id.as_str(), &call.caller).await;
                    let ring = &self.config.settings.ring;
                    let muted = ring.do_not_disturb || ring.muted_rooms.contains(&call.room_id);
                    let alert = RingAlert {
                        call: call.clone(),
                        caller_name,
                        room_name,
                        muted,
                    };
                    if !muted {
                        self.config.ringer.start(&alert);
                    }
                    self.out.send(Update::RingDecision {
                        decision: output.clone(),
                    });
                    self.out.send(Update::Ringing { alert });
                }
                RingOutput::Stop { call, reason } => {
                    self.config.ringer.stop(call, *reason);
                    self.out.send(Update::RingDecision {
                        decision: output.clone(),
                    });
                    self.out.send(Update::RingStopped {
                        call: call.clone(),
                        reason: *reason,
                    });
                }
                RingOutput::Waiting { .. } | RingOutput::Ignore { .. } => {
                    self.out.send(Update::RingDecision {
                        decision: output.clone(),
                    });
                }
            }
        }
    }

    async fn caller_name(&self, room_id: &str, user_id: &str) -> String {
        let room = self
            .client
            .as_ref()
            .and_then(|client| client.get_room(<&RoomId>::try_from(room_id).ok()?));
        if let (Some(room), Ok(user)) = (room, <&UserId>::try_from(user_id))
            && let Ok(Some(member)) = room.get_member_no_sync(user).await
        {
            return member.name().to_owned();
        }
        user_id.to_owned()
    }

    /// Polls every own-membership machine, starts what is due, and reports state changes.
    fn drive(&mut self) {
        let Some(client) = self.client() else { return };
        let now = now_ms();
        let mut lobby_changes = Vec::new();
        let mut notices = Vec::new();
        let mut to_leave = Vec::new();
        for (room_id, entry) in &mut self.rooms {
            let Some(own) = entry.own.as_mut() else {
                continue;
            };
            for m in &mut own.machines {
                if let Some(action) = m.poll(now) {
                    tokio::spawn(perform(
                        client.clone(),
                        room_id.clone(),
                        m.form(),
                        action,
                        self.internal_tx.clone(),
                    ));
                }
                if let Some(Notice::NoDelayedEvents) = m.take_notice() {
                    notices.push(());
                }
            }
            let state = own.state();
            // Ring once our membership is published.
            if state == OwnCallState::Joined
                && let (Some(kind), Some(event_id)) =
                    (own.pending_notify, own.membership_event_id())
            {
                own.pending_notify = None;
                own.rang_at_ms = Some(now);
                tokio::spawn(send_notifications(
                    client.clone(),
                    room_id.clone(),
                    publish::notifications(
                        kind,
                        &event_id,
                        &own.call_id,
                        &own.intent,
                        now,
                        self.config.settings.calls.publish_rtc_notify,
                    ),
                    self.internal_tx.clone(),
                ));
            }
            // The caller leaves when nobody answers within the ring's lifetime, as Element Call does.
            if let (Some(rang_at), Some(me)) = (own.rang_at_ms, self.me.as_ref()) {
                let others = entry
                    .lobby
                    .call(&CallKey::room_call())
                    .is_some_and(|c| c.participants.iter().any(|p| p.user_id != me.user_id));
                own.answered |= others;
                if !own.answered && now >= rang_at + DEFAULT_LIFETIME_MS {
                    own.rang_at_ms = None;
                    to_leave.push(room_id.clone());
                }
            }
            if state != own.last_state {
                own.last_state = state;
                lobby_changes.push(room_id.clone());
            }
            if own.machines.iter().all(OwnMembership::is_idle) {
                entry.own = None;
            }
        }
        for room_id in to_leave {
            if let Some(own) = self.rooms.get_mut(&room_id).and_then(|e| e.own.as_mut()) {
                for m in &mut own.machines {
                    m.leave();
                }
            }
            self.out.send(Update::Notice {
                message: "Nobody answered; the call was left.".into(),
            });
            lobby_changes.push(room_id);
        }
        if !notices.is_empty() {
            self.tell_once(
                "no-delayed-events".into(),
                "This homeserver cannot remove a call entry by itself: if Vestibule stops unexpectedly, others may see you in the call for a while.".into(),
            );
        }
        for room_id in lobby_changes {
            self.send_lobby(&room_id);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let now = now_ms();
        let mut at: Option<u64> = None;
        let mut consider = |t: Option<u64>| {
            if let Some(t) = t {
                at = Some(at.map_or(t, |a| a.min(t)));
            }
        };
        for entry in self.rooms.values() {
            consider(entry.lobby.next_expiry_ms());
            if let Some(own) = &entry.own {
                for m in &own.machines {
                    consider(m.next_wakeup_ms());
                }
                consider(
                    own.rang_at_ms
                        .filter(|_| !own.answered)
                        .map(|t| t + DEFAULT_LIFETIME_MS),
                );
            }
        }
        consider(
            self.tracker
                .as_ref()
                .and_then(RingTracker::next_deadline_ms),
        );
        if let Some(stop) = self.stop_deadline {
            let ms = u64::try_from(stop.saturating_duration_since(Instant::now()).as_millis())
                .unwrap_or(0);
            consider(Some(now + ms));
        }
        at.map(|t| Instant::now() + Duration::from_millis(t.saturating_sub(now)))
    }
}

/// Applies one membership event given as JSON to a lobby; returns whether the calls changed.
fn apply_membership(lobby: &mut Lobby, value: &Value, now: u64) -> bool {
    tracing::trace!(
        "membership event {} {} {} empty={}",
        value["event_id"],
        value["state_key"],
        value["origin_server_ts"],
        value["content"].as_object().is_some_and(|c| c.is_empty())
    );
    let Some(ev) = MembershipEvent::from_event_json(value) else {
        return false;
    };
    match lobby.apply(&ev, now) {
        Ok(changed) => changed,
        Err(reason) => {
            // Forged or malformed: ignored, and logged for whoever debugs.
            tracing::debug!("ignored a membership event from {}: {reason}", ev.sender);
            true
        }
    }
}

/// Applies an `m.room.member` event: only joined users count in a lobby.
fn apply_room_member(lobby: &mut Lobby, value: &Value, now: u64) -> bool {
    let joined = value.pointer("/content/membership").and_then(Value::as_str) == Some("join");
    match value.get("state_key").and_then(Value::as_str) {
        Some(user) => lobby.set_room_membership(user, joined, now),
        None => false,
    }
}

/// Tells our machines whether their state key still holds our membership.
fn note_own_state(own: &mut OwnCall, value: &Value, me: Option<&Me>) {
    let (Some(me), Some(key)) = (me, value.get("state_key").and_then(Value::as_str)) else {
        return;
    };
    let event_type = value
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    for m in &mut own.machines {
        if m.form().event_type() != event_type {
            continue;
        }
        let ours = value.get("sender").and_then(Value::as_str) == Some(me.user_id.as_str());
        let present = ours && value.get("content").is_some_and(|c| !is_leave_content(c));
        if m.state_key() == key {
            let event_id = value.get("event_id").and_then(Value::as_str);
            let ts = value
                .get("origin_server_ts")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            m.on_room_state(present, event_id, ts);
        }
    }
}

async fn lobby_from_store(room: &Room, now: u64) -> Lobby {
    let mut values = Vec::new();
    for event_type in [
        crate::rtc::CALL_MEMBER,
        crate::rtc::CALL_MEMBER_STABLE,
        crate::rtc::RTC_MEMBER,
    ] {
        match room
            .get_state_events(StateEventType::from(event_type))
            .await
        {
            Ok(events) => {
                for raw in events {
                    if let matrix_sdk::deserialized_responses::RawAnySyncOrStrippedState::Sync(raw) =
                        raw
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
        let Ok(user) = <&UserId>::try_from(owner.as_str()) else {
            continue;
        };
        if let Ok(Some(member)) = room.get_member_no_sync(user).await
            && *member.membership() != matrix_sdk::ruma::events::room::member::MembershipState::Join
        {
            lobby.set_room_membership(&owner, false, now);
        }
    }
    lobby
}

async fn room_name(room: &Room) -> String {
    match room.display_name().await {
        Ok(name) => name.to_string(),
        Err(_) => room.room_id().to_string(),
    }
}

/// Asks a LiveKit JWT service whether it is up (`GET /healthz`, as lk-jwt-service serves).
async fn check_focus(http: &matrix_sdk::reqwest::Client, url: &str) -> (bool, String) {
    let health = format!("{}/healthz", url.trim_end_matches('/'));
    let request = http.get(&health).timeout(Duration::from_secs(10)).send();
    match request.await {
        Ok(response) if response.status().is_success() => (true, "The focus answers.".into()),
        Ok(response) => (
            false,
            format!(
                "The focus answered with HTTP {}: it may not be a LiveKit JWT service.",
                response.status().as_u16()
            ),
        ),
        Err(e) if e.is_builder() => (false, "That is not a valid URL.".into()),
        Err(e) if e.is_timeout() => (false, "The focus did not answer within 10 s.".into()),
        Err(e) => {
            tracing::debug!("checking focus {url}: {e}");
            (false, "The focus could not be reached.".into())
        }
    }
}

/// The display names (and, with `avatars`, the avatar thumbnails) of `users` in `room`; a user
/// without a member entry is left out, a missing avatar is `None`.
async fn profiles_of(
    client: &Client,
    room: &Room,
    users: &[String],
    avatars: bool,
) -> Vec<Profile> {
    use matrix_sdk::media::{MediaFormat, MediaRequestParameters, MediaThumbnailSettings};
    use matrix_sdk::ruma::events::room::MediaSource;
    const AVATAR_PX: u32 = 96;
    let mut profiles = Vec::new();
    for user in users {
        let Ok(user_id) = <&UserId>::try_from(user.as_str()) else {
            continue;
        };
        let member = match room.get_member_no_sync(user_id).await {
            Ok(Some(member)) => member,
            Ok(None) => continue,
            Err(e) => {
                tracing::debug!("member {user}: {e}");
                continue;
            }
        };
        let mut avatar = None;
        if let Some(mxc) = member.avatar_url().filter(|_| avatars) {
            let request = MediaRequestParameters {
                source: MediaSource::Plain(mxc.to_owned()),
                format: MediaFormat::Thumbnail(MediaThumbnailSettings::new(
                    AVATAR_PX.into(),
                    AVATAR_PX.into(),
                )),
            };
            match client.media().get_media_content(&request, true).await {
                Ok(bytes) => avatar = Some(Arc::from(bytes)),
                Err(e) => tracing::debug!("avatar of {user}: {e}"),
            }
        }
        profiles.push(Profile {
            user_id: user.clone(),
            display_name: member.name().to_owned(),
            avatar,
        });
    }
    profiles
}

fn livekit_foci(transports: &[RtcTransport], source: FocusSource) -> Vec<FocusInfo> {
    transports
        .iter()
        .filter_map(|t| match t {
            RtcTransport::LiveKit(info) => Some(FocusInfo {
                focus: Focus::livekit(&info.service_url),
                source,
            }),
            _ => None,
        })
        .collect()
}

/// The sentence for a join the power levels forbid, naming the level it takes.
async fn power_level_sentence(room: &Room, me: &Me, room_name: &str) -> String {
    let Ok(levels) = room.power_levels().await else {
        return format!("You may not join calls in {room_name}.");
    };
    let event_type = StateEventType::from(crate::rtc::CALL_MEMBER);
    let needed = levels
        .events
        .get(&event_type.to_string().into())
        .copied()
        .unwrap_or(levels.state_default);
    let mine = <&UserId>::try_from(me.user_id.as_str())
        .map(|u| match levels.for_user(u) {
            matrix_sdk::ruma::events::room::power_levels::UserPowerLevel::Int(i) => i.to_string(),
            _ => "creator".to_owned(),
        })
        .unwrap_or_else(|_| "0".to_owned());
    format!(
        "You may not join calls in {room_name}: call membership needs power level {needed}, and you have {mine}. Ask a room admin to lower it."
    )
}

/// Executes one own-membership action and reports the outcome.
async fn perform(
    client: Client,
    room_id: OwnedRoomId,
    form: PublishForm,
    action: Action,
    done: mpsc::UnboundedSender<Internal>,
) {
    tracing::debug!("{room_id}: {form:?}: {action:?}");
    let result = match action {
        Action::ScheduleDelayedLeave {
            event_type,
            state_key,
            delay_ms,
        } => match Raw::<AnyStateEventContent>::from_json_string("{}".to_owned()) {
            Ok(body) => {
                let request = delayed_state_event::unstable::Request::new_raw(
                    room_id.clone(),
                    state_key,
                    StateEventType::from(event_type),
                    DelayParameters::Timeout {
                        timeout: Duration::from_millis(delay_ms),
                    },
                    body,
                );
                client
                    .send(request)
                    .await
                    .map(|r| Reply::DelayId(r.delay_id))
                    .map_err(|e| failure_of_http(&e))
            }
            Err(e) => Err(Failure::Other(e.to_string())),
        },
        Action::SendState {
            event_type,
            state_key,
            content,
        } => match client.get_room(&room_id) {
            Some(room) => room
                .send_state_event_raw(event_type, &state_key, content)
                .await
                .map(|r| Reply::EventId(r.event_id.to_string()))
                .map_err(|e| failure_of(&e)),
            None => Err(Failure::Other("not in the room".into())),
        },
        Action::RestartDelayedLeave { delay_id } => {
            update_delayed(
                &client,
                delay_id,
                update_delayed_event::unstable::UpdateAction::Restart,
            )
            .await
        }
        Action::SendDelayedLeaveNow { delay_id } => {
            update_delayed(
                &client,
                delay_id,
                update_delayed_event::unstable::UpdateAction::Send,
            )
            .await
        }
        Action::CancelDelayedLeave { delay_id } => {
            update_delayed(
                &client,
                delay_id,
                update_delayed_event::unstable::UpdateAction::Cancel,
            )
            .await
        }
    };
    let _ = done.send(Internal::ActionDone {
        room_id,
        form,
        result,
    });
}

async fn update_delayed(
    client: &Client,
    delay_id: String,
    action: update_delayed_event::unstable::UpdateAction,
) -> Result<Reply, Failure> {
    client
        .send(update_delayed_event::unstable::Request::new(
            delay_id, action,
        ))
        .await
        .map(|_| Reply::Done)
        .map_err(|e| failure_of_http(&e))
}

async fn send_notifications(
    client: Client,
    room_id: OwnedRoomId,
    messages: Vec<publish::OutgoingMessage>,
    done: mpsc::UnboundedSender<Internal>,
) {
    let Some(room) = client.get_room(&room_id) else {
        return;
    };
    for message in messages {
        if let Err(e) = room.send_raw(message.event_type, message.content).await {
            let _ = done.send(Internal::Problem(format!(
                "The ring could not be sent: {}",
                sentence(&e)
            )));
        }
    }
}

/// Syncs forever, with back-off while the homeserver cannot be reached.
async fn sync_loop(client: Client, tx: mpsc::UnboundedSender<Internal>, timeout: Duration) {
    let mut first = true;
    let mut backoff = Duration::from_secs(1);
    loop {
        // The first sync returns at once so the lobbies show quickly.
        let settings =
            SyncSettings::default().timeout(if first { Duration::ZERO } else { timeout });
        match client.sync_once(settings).await {
            Ok(response) => {
                first = false;
                backoff = Duration::from_secs(1);
                if tx.send(Internal::Sync(Box::new(response))).is_err() {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.client_api_error_kind(),
                    Some(ErrorKind::UnknownToken { .. })
                ) =>
            {
                // Signed out elsewhere: syncing again cannot help.
                let _ = tx.send(Internal::SessionEnded);
                return;
            }
            Err(e) => {
                let reason = sentence(&e);
                if tx
                    .send(Internal::SyncFailed {
                        reason,
                        retry_in: backoff,
                    })
                    .is_err()
                {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}
