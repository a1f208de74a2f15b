//! The worker: one tokio task per profile that owns the SDK client. This file holds its shape —
//! starting it, the loop that waits for commands, internal messages and deadlines, and stopping.
//! What it does is split by concept: [`account`](super::account) (signing in and out),
//! [`sync`](super::sync) (the sync loop and each room's reducer), [`rooms`](super::rooms),
//! [`membership`](super::membership) (joining and leaving), [`ringing`](super::ringing) and
//! [`foci`](super::foci).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use matrix_sdk::ruma::{OwnedRoomId, RoomId};
use tokio::sync::mpsc;

use super::account::{Account, AccountEvent};
use super::error::WorkerError;
use super::lock::{BUSY_WAIT, ProfileLock, lock_profile_waiting};
use super::rooms::Rooms;
use super::types::{Command, Connection, Update};
use crate::clock::now_ms;
use crate::config::{ProfilePaths, Settings};
use crate::ring::Ringer;
use crate::rtc::focus_list::FocusList;
use crate::rtc::own::{Failure, OwnConfig, Reply};
use crate::rtc::publish::PublishForm;
use crate::secrets::{SecretStore, SecretStoreKind};

/// Called after every update, e.g. to wake the UI.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// How long Quit and Logout wait for the calls to be left before stopping anyway.
const STOP_GRACE: Duration = Duration::from_secs(5);

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
    /// How long a sign-in in the browser waits for the person.
    pub browser_login_timeout: Duration,
    /// The profile's lock when the front end took it already (so that nothing could open the
    /// profile while it started); without it the worker takes the lock itself.
    pub lock: Option<ProfileLock>,
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
            browser_login_timeout: super::browser_login::BROWSER_LOGIN_TIMEOUT,
            lock: None,
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

/// Where updates go: the front end's channel, waking it after each.
#[derive(Clone)]
pub(super) struct Outbox {
    tx: mpsc::UnboundedSender<Update>,
    waker: Waker,
}

impl Outbox {
    pub(super) fn send(&self, update: Update) {
        // The receiver is gone only when the front end is closing; nobody is left to tell then.
        self.tx.send(update).ok();
        (self.waker)();
    }

    /// Reports `error`, naming the command (`join`, `decline`, …) and the room it was about.
    pub(super) fn error(
        &self,
        error: WorkerError,
        command: Option<&'static str>,
        room: Option<&RoomId>,
    ) {
        tracing::debug!("{}: {error}", command.unwrap_or("worker"));
        self.send(Update::Error {
            message: error.to_string(),
            command: command.map(str::to_owned),
            room_id: room.map(ToString::to_string),
        });
    }
}

/// What the worker's own tasks tell its loop.
pub(super) enum Internal {
    /// A sync response as it arrived, before the SDK processed it (see `sync::peek_then_sync`).
    Peek(Box<matrix_sdk::ruma::api::client::sync::sync_events::v3::Response>),
    /// A sync response.
    Sync(Box<matrix_sdk::sync::SyncResponse>),
    /// A sync failed; the loop tries again in `retry_in`.
    SyncFailed { reason: String, retry_in: Duration },
    /// A request of an own-call machine finished.
    ActionDone {
        room_id: OwnedRoomId,
        form: PublishForm,
        result: Result<Reply, Failure>,
    },
    /// Something done beside the loop failed.
    Problem {
        error: WorkerError,
        room_id: OwnedRoomId,
    },
    /// The sync loop stopped for good: the server refuses even a fresh sync.
    SyncStopped { reason: String },
    /// The homeserver no longer knows our access token (`soft_logout`: it expired, and signing
    /// in again on the same device resumes the session).
    SessionEnded { soft_logout: bool },
    /// A sign-in, restore or discovery beside the loop finished.
    Account(AccountEvent),
    /// A verification step beside the loop finished.
    Trust(super::verification::TrustEvent),
    /// Room keys arrived (`None`: some arrivals were missed).
    RoomKeys(Option<Vec<(OwnedRoomId, String)>>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Stopping {
    Quit,
    Logout,
}

/// The worker's state; each concept's methods live in the module named after it.
pub(super) struct Worker {
    pub(super) config: WorkerConfig,
    pub(super) secrets: SecretStore,
    pub(super) out: Outbox,
    /// Where tasks beside the loop report back.
    pub(super) internal_tx: mpsc::UnboundedSender<Internal>,
    /// Present while signed in.
    pub(super) account: Option<Account>,
    pub(super) rooms: Rooms,
    /// The foci we offer when joining, best first.
    pub(super) foci: FocusList,
    /// Keys of the notices already given (each is said once).
    told: HashSet<String>,
    /// Quit or Logout asked, and when to stop even if calls are still being left.
    stopping: Option<(Stopping, Instant)>,
    /// Commands about rooms that arrived before the first sync told us which rooms we are in.
    pub(super) waiting_for_sync: Vec<Command>,
    /// Sign-in, restore and discovery, running beside the loop.
    pub(super) beside: tokio::task::JoinSet<()>,
    /// A sign-in with a password is under way.
    pub(super) signing_in: bool,
    /// A sign-in in the browser is under way: cancelling aborts it.
    pub(super) browser_login: Option<tokio::task::AbortHandle>,
    /// Encrypted events waiting for their room keys.
    pub(super) late_keys: super::late_keys::LateKeys,
    /// The call history.
    pub(super) history: super::history::History,
    /// Rooms whose raw sync response went through their reducer before the SDK processed it.
    pub(super) peeked: HashSet<OwnedRoomId>,
}

async fn run(
    mut config: WorkerConfig,
    mut commands: mpsc::UnboundedReceiver<Command>,
    out: Outbox,
) {
    let (internal_tx, mut internal_rx) = mpsc::unbounded_channel();
    let lock = match config.lock.take() {
        Some(lock) => lock,
        None => match lock_profile_waiting(&config.paths, BUSY_WAIT).await {
            Ok(lock) => lock,
            Err(e) => {
                out.send(Update::Fatal {
                    message: e.to_string(),
                });
                return;
            }
        },
    };
    let (history, history_problem) =
        super::history::History::load(crate::history::HistoryFile::in_dir(&config.paths.data_dir));
    if let Some(message) = history_problem {
        out.send(Update::Notice { message });
    }
    let mut worker = Worker {
        secrets: SecretStore::new(config.secret_store, &config.paths),
        config,
        out,
        internal_tx,
        account: None,
        rooms: Rooms::default(),
        foci: FocusList::default(),
        told: HashSet::new(),
        stopping: None,
        waiting_for_sync: Vec::new(),
        beside: tokio::task::JoinSet::new(),
        signing_in: false,
        browser_login: None,
        late_keys: Default::default(),
        history,
        peeked: HashSet::new(),
    };
    worker.start_restore();
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
        worker.drive_own_calls();
        if worker.finish_if_stopped().await {
            break;
        }
    }
    // The sync loop and the tasks beside the loop end while the runtime still runs: stopped by its
    // shutdown instead, one inside a store request could find the store's threads gone.
    if let Some(account) = worker.account.as_mut() {
        account.end_tasks().await;
    }
    worker.beside.shutdown().await;
    // Release the client and the profile before saying so: a new worker (after signing out)
    // takes the profile's lock at once.
    let out = worker.out.clone();
    drop(worker);
    drop(lock);
    out.send(Update::Stopped);
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

impl Worker {
    pub(super) async fn on_command(&mut self, cmd: Command) {
        tracing::debug!("command: {cmd:?}");
        if self.stopping.is_some() {
            return;
        }
        if cmd.is_about_rooms() {
            let Some(account) = &self.account else {
                self.out
                    .error(WorkerError::NotSignedIn, Some(cmd.name()), None);
                return;
            };
            if !account.ready() {
                self.waiting_for_sync.push(cmd);
                return;
            }
        }
        let name = cmd.name();
        let result = match cmd {
            Command::Login {
                homeserver,
                user,
                password,
            } => {
                self.start_login(homeserver, user, password);
                Ok(())
            }
            Command::LoginMethods { homeserver } => {
                self.start_login_methods(homeserver);
                Ok(())
            }
            Command::LoginInBrowser {
                homeserver,
                provider,
            } => {
                self.start_browser_login(homeserver, provider);
                Ok(())
            }
            Command::CancelLogin => {
                self.cancel_login();
                Ok(())
            }
            Command::Recover { key } => self.start_recover(key),
            Command::SetUpRecovery => self.start_set_up_recovery(),
            Command::Logout => match self.account {
                Some(_) => {
                    self.begin_stop(Stopping::Logout);
                    Ok(())
                }
                None => Err(WorkerError::NotSignedIn),
            },
            Command::Join {
                room,
                intent,
                notify,
                foci,
            } => self.join(&room, intent, notify, &foci).await,
            Command::Ring { room, intent } => self.ring(&room, intent).await,
            Command::Leave { room } => self.leave(&room).await,
            Command::Answer { room } => self.answer(&room).await,
            Command::Decline { room } => self.decline(room.as_deref()).await,
            Command::DiscoverFoci => {
                if let Some(client) = self.client() {
                    self.start_discovery(client, false);
                }
                Ok(())
            }
            Command::CheckFocus { url } => {
                self.check_focus(url);
                Ok(())
            }
            Command::ApplySettings(settings) => {
                self.apply_settings(*settings);
                Ok(())
            }
            Command::TestRing => {
                self.test_ring();
                Ok(())
            }
            Command::Profiles { room, users } => {
                self.fetch_profiles(room, users);
                Ok(())
            }
            Command::RoomAvatars { rooms } => {
                self.fetch_room_avatars(rooms);
                Ok(())
            }
            Command::MarkCallsSeen { room } => {
                self.mark_calls_seen(room.as_deref());
                Ok(())
            }
            Command::Quit => {
                self.begin_stop(Stopping::Quit);
                Ok(())
            }
        };
        if let Err(error) = result {
            self.out.error(error, Some(name), None);
        }
    }

    async fn on_internal(&mut self, msg: Internal) {
        match msg {
            Internal::Peek(response) => self.on_peek(*response).await,
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
            } => self.on_action_done(room_id, form, result).await,
            Internal::Problem { error, room_id } => {
                self.out.error(error, None, Some(&room_id));
            }
            Internal::SyncStopped { reason } => {
                self.out.error(WorkerError::SyncStopped(reason), None, None);
            }
            Internal::SessionEnded { soft_logout } => self.session_ended(soft_logout).await,
            Internal::Account(event) => self.on_account_event(event).await,
            Internal::Trust(event) => self.on_trust_event(event).await,
            Internal::RoomKeys(keys) => self.on_room_keys(keys).await,
        }
    }

    /// Says `message` once per `key` for the life of the worker.
    pub(super) fn tell_once(&mut self, key: String, message: String) {
        if self.told.insert(key) {
            self.out.send(Update::Notice { message });
        }
    }

    /// Starts leaving every call before stopping (Quit) or signing out (Logout).
    pub(super) fn begin_stop(&mut self, how: Stopping) {
        if self.stopping.is_some() {
            return;
        }
        self.stopping = Some((how, Instant::now() + STOP_GRACE));
        for (_, entry) in self.rooms.iter_mut() {
            if let Some(own) = entry.call.own_mut() {
                own.leave();
            }
        }
    }

    /// Ends the worker once every call is left (or the grace period is over) after Quit/Logout.
    async fn finish_if_stopped(&mut self) -> bool {
        let Some((how, deadline)) = self.stopping else {
            return false;
        };
        let all_left = self.rooms.iter().all(|(_, e)| e.call.own().is_none());
        if !all_left && Instant::now() < deadline {
            return false;
        }
        // A sign-out that could not begin leaves us signed in, and running.
        let signed_out = how != Stopping::Logout || self.sign_out().await;
        if !signed_out {
            self.stopping = None;
        }
        signed_out
    }

    /// When the loop must wake by itself: a membership lapsing, an own-call request, a ring
    /// running out, or the end of the grace period when stopping.
    fn next_deadline(&self) -> Option<Instant> {
        let now = now_ms();
        let rooms = self
            .rooms
            .iter()
            .filter_map(|(_, e)| e.call.next_wakeup_ms());
        let rings = self
            .account
            .as_ref()
            .and_then(|a| a.tracker.next_deadline_ms());
        let at = rooms.chain(rings).min();
        let wall = at.map(|t| Instant::now() + Duration::from_millis(t.saturating_sub(now)));
        let stop = self.stopping.map(|(_, deadline)| deadline);
        wall.into_iter().chain(stop).min()
    }
}
