//! Vestibule's worker as the tests drive it: started on a fresh data root, signed in (or not),
//! with a recording ringer, reading updates until one is picked.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use matrix_sdk::ruma::RoomId;
use tokio::sync::mpsc;
use vestibule::config::{ProfilePaths, Settings};
use vestibule::history::{CallOutcome, CallRecord};
use vestibule::matrix::{self, Command, RoomLobby, Update, WorkerConfig};
use vestibule::ring::RecordingRinger;
use vestibule::secrets::SecretStoreKind;

use super::{TestUser, homeserver};

pub const WAIT: Duration = Duration::from_secs(30);

/// A fresh data root for one app instance.
pub fn data_root() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "vestibule-it-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn paths_in(root: &std::path::Path) -> ProfilePaths {
    let dir = root.join("default");
    ProfilePaths {
        profile: "default".into(),
        config_file: dir.join("config.toml"),
        state_dir: dir.join("state"),
        data_dir: dir,
    }
}

/// Vestibule's worker signed in as `user` (a second device of that user), with a recording ringer.
pub struct App {
    pub commands: mpsc::UnboundedSender<Command>,
    pub updates: mpsc::UnboundedReceiver<Update>,
    pub ringer: Arc<RecordingRinger>,
    pub lobbies: HashMap<String, RoomLobby>,
    pub log: Vec<Update>,
    pub device_id: String,
    pub root: PathBuf,
}

impl App {
    pub async fn start(user: &TestUser) -> Self {
        Self::start_on(&homeserver().url, user).await
    }

    pub async fn start_on(url: &str, user: &TestUser) -> Self {
        Self::start_with(url, user, Settings::default()).await
    }

    pub async fn start_with(url: &str, user: &TestUser, settings: Settings) -> Self {
        let mut app = Self::unsigned_with(data_root(), settings).await;
        app.commands
            .send(Command::Login {
                homeserver: url.to_owned(),
                user: user.user_id.to_string(),
                password: user.password.clone(),
            })
            .unwrap();
        app.device_id = app
            .expect("sign-in", |u| match u {
                Update::SignedIn { device_id, .. } => Some(device_id.clone()),
                Update::LoginFailed { reason } => panic!("login failed: {reason}"),
                _ => None,
            })
            .await;
        app.expect("first sync", |u| {
            matches!(u, Update::Rooms { .. }).then_some(())
        })
        .await;
        app
    }

    /// A worker that has not signed in (it asks for a login).
    pub async fn unsigned(root: PathBuf) -> Self {
        Self::unsigned_with(root, Settings::default()).await
    }

    pub async fn unsigned_with(root: PathBuf, settings: Settings) -> Self {
        let mut app = Self::spawned(root, settings);
        app.expect("the login prompt", |u| {
            matches!(u, Update::NeedsLogin).then_some(())
        })
        .await;
        app
    }

    /// A worker on `root` as it starts, before any update is read.
    pub fn spawned(root: PathBuf, settings: Settings) -> Self {
        Self::spawned_configured(root, settings, |_| {})
    }

    /// [`App::spawned`], with the worker's config changed by `adjust` first.
    pub fn spawned_configured(
        root: PathBuf,
        settings: Settings,
        adjust: impl FnOnce(&mut WorkerConfig),
    ) -> Self {
        // `RUST_LOG=vestibule=debug` shows the worker's decisions beside a failing test.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let ringer = Arc::new(RecordingRinger::default());
        let mut config = WorkerConfig::new(
            paths_in(&root),
            settings,
            ringer.clone(),
            SecretStoreKind::File,
        );
        config.sync_timeout = Duration::from_secs(5);
        adjust(&mut config);
        let handle = matrix::spawn(config, Arc::new(|| {}));
        Self {
            commands: handle.commands,
            updates: handle.updates,
            ringer,
            lobbies: HashMap::new(),
            log: Vec::new(),
            device_id: String::new(),
            root,
        }
    }

    pub fn send(&self, cmd: Command) {
        self.commands.send(cmd).unwrap();
    }

    /// Reads updates until `f` picks one (earlier ones are kept in the log).
    /// The newest call with `outcome` in the history, among the updates already read or still
    /// to come.
    pub async fn history_call(&mut self, what: &str, outcome: CallOutcome) -> CallRecord {
        let pick = |u: &Update| match u {
            Update::History { history } => history
                .calls()
                .iter()
                .find(|c| c.outcome == outcome)
                .cloned(),
            _ => None,
        };
        if let Some(call) = self.log.iter().find_map(pick) {
            return call;
        }
        self.expect(what, pick).await
    }

    pub async fn expect<T>(&mut self, what: &str, mut f: impl FnMut(&Update) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let update = tokio::time::timeout_at(deadline, self.updates.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "timed out waiting for {what}; saw {:#?}",
                        self.log.iter().rev().take(8).collect::<Vec<_>>()
                    )
                })
                .unwrap_or_else(|| panic!("worker stopped while waiting for {what}"));
            match &update {
                Update::Rooms { rooms } => {
                    for r in rooms {
                        self.lobbies.insert(r.room_id.clone(), r.clone());
                    }
                }
                Update::Lobby { lobby } => {
                    self.lobbies.insert(lobby.room_id.clone(), lobby.clone());
                }
                Update::Fatal { message } => panic!("worker failed: {message}"),
                _ => {}
            }
            let picked = f(&update);
            self.log.push(update);
            if let Some(v) = picked {
                return v;
            }
        }
    }

    /// Waits until the lobby of `room` satisfies `f`.
    pub async fn lobby_where(
        &mut self,
        room: &RoomId,
        what: &str,
        f: impl Fn(&RoomLobby) -> bool,
    ) -> RoomLobby {
        let id = room.to_string();
        if let Some(l) = self.lobbies.get(&id).filter(|l| f(l)) {
            return l.clone();
        }
        self.expect(what, |u| match u {
            Update::Lobby { lobby } if lobby.room_id == id && f(lobby) => Some(lobby.clone()),
            Update::Rooms { rooms } => rooms.iter().find(|l| l.room_id == id && f(l)).cloned(),
            _ => None,
        })
        .await
    }

    pub async fn quit(mut self) {
        self.send(Command::Quit);
        self.expect("stop", |u| matches!(u, Update::Stopped).then_some(()))
            .await;
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
