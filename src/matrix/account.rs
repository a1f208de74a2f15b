//! The signed-in account: starting work once a session is there (restored or new), and ending
//! it when it is signed out here or elsewhere.

use std::time::Duration;

use matrix_sdk::Client;
use matrix_sdk::ruma::api::FeatureFlag;
use tokio::task::{AbortHandle, JoinHandle};

use super::browser_login::{self, BrowserLogin};
use super::error::WorkerError;
use super::foci::advertised_foci;
use super::session::{self, RestoreError};
use super::sync::sync_loop;
use super::types::{Connection, LoginMethods, Update};
use super::worker::{Internal, Stopping, Worker};
use crate::rtc::focus_list::{FocusInfo, FocusList};
use crate::rtc::ring::{Me, RingTracker};

/// What exists while an account is signed in.
pub(super) struct Account {
    /// The SDK client (cheap to clone: handles share one client).
    pub client: Client,
    /// Our user and device.
    pub me: Me,
    /// The incoming rings of every room.
    pub tracker: RingTracker,
    /// Whether the homeserver has delayed events (MSC4140); `None` until it said.
    pub delayed_events: Option<bool>,
    /// The sync loop.
    pub sync_task: Option<JoinHandle<()>>,
    /// Saves the session whenever its tokens are refreshed.
    pub tokens_task: Option<JoinHandle<()>>,
    /// Tells the loop about room keys as they arrive.
    pub keys_task: Option<JoinHandle<()>>,
    /// Whether the first sync came back, so that we know which rooms we are in.
    pub synced: bool,
}

impl Account {
    /// Whether commands about rooms can be carried out: the first sync told us our rooms and
    /// the server told us whether it has delayed events.
    pub fn ready(&self) -> bool {
        self.synced && self.delayed_events.is_some()
    }
}

/// What a task beside the loop found out about the account.
pub(super) enum AccountEvent {
    /// The saved session, restored (or not).
    Restored(Result<Option<Client>, RestoreError>),
    /// A sign-in (with a password or in the browser) finished.
    LoggedIn(Result<Client, String>),
    /// How a homeserver signs people in.
    LoginMethods {
        homeserver: String,
        methods: Result<LoginMethods, String>,
    },
    /// What the homeserver can do (`None`: not asked) and the foci it advertises.
    Discovered {
        delayed_events: Option<bool>,
        foci: Vec<FocusInfo>,
    },
}

/// How long stopping waits for the SDK's encryption set-up begun at sign-in.
const E2EE_SETUP_WAIT: Duration = Duration::from_secs(3);

/// How long asking the homeserver for its features or its foci may take.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(10);

impl Account {
    /// The tasks beside the loop, taken.
    fn take_tasks(&mut self) -> impl Iterator<Item = JoinHandle<()>> {
        [
            self.sync_task.take(),
            self.tokens_task.take(),
            self.keys_task.take(),
        ]
        .into_iter()
        .flatten()
    }

    /// Stops the tasks beside the loop and waits until they are gone, and for the SDK's own
    /// encryption set-up (recovery state, backups) started at sign-in: cut off by the runtime's
    /// shutdown inside a store request, it panics in the store's pool.
    pub async fn end_tasks(&mut self) {
        for task in self.take_tasks() {
            task.abort();
            // Its end is the point; being cancelled is how it ends.
            let _cancelled = task.await;
        }
        let e2ee = self.client.encryption();
        if tokio::time::timeout(E2EE_SETUP_WAIT, e2ee.wait_for_e2ee_initialization_tasks())
            .await
            .is_err()
        {
            tracing::debug!("stopping while the encryption set-up still runs");
        }
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        for task in self.take_tasks() {
            task.abort();
        }
    }
}

impl Worker {
    /// The client, while signed in.
    pub(super) fn client(&self) -> Option<Client> {
        self.account.as_ref().map(|a| a.client.clone())
    }

    /// The client and who we are, while signed in.
    pub(super) fn signed_in_as(&self) -> Result<(Client, Me), WorkerError> {
        self.account
            .as_ref()
            .map(|a| (a.client.clone(), a.me.clone()))
            .ok_or(WorkerError::NotSignedIn)
    }

    /// Runs `task` beside the loop; its outcome comes back as an internal message.
    pub(super) fn run_beside(
        &mut self,
        task: impl std::future::Future<Output = AccountEvent> + Send + 'static,
    ) -> AbortHandle {
        let tx = self.internal_tx.clone();
        self.spawn_beside(async move {
            // The loop is gone only when the worker stops; nobody waits for the outcome then.
            tx.send(Internal::Account(task.await)).ok();
        })
    }

    /// Runs `task` beside the loop; the worker stops it, and waits for its end, when it goes.
    pub(super) fn spawn_beside(
        &mut self,
        task: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> AbortHandle {
        // Reap what finished.
        while self.beside.try_join_next().is_some() {}
        self.beside.spawn(task)
    }

    /// Why a sign-in cannot start now, if it cannot.
    fn login_busy(&self) -> Option<&'static str> {
        if self.account.is_some() {
            Some("Already signed in; sign out first.")
        } else if self.signing_in {
            Some("Already signing in; wait for it to finish.")
        } else {
            None
        }
    }

    /// Asks a homeserver beside the loop how it signs people in.
    pub(super) fn start_login_methods(&mut self, homeserver: String) {
        self.run_beside(async move {
            let methods = browser_login::login_methods(&homeserver).await;
            AccountEvent::LoginMethods {
                homeserver,
                methods,
            }
        });
    }

    /// Signs in in the browser, beside the loop, until it is done, times out or is cancelled.
    pub(super) fn start_browser_login(&mut self, homeserver: String, provider: Option<String>) {
        if let Some(reason) = self.login_busy() {
            self.out.send(Update::LoginFailed {
                reason: reason.into(),
            });
            return;
        }
        self.signing_in = true;
        let (paths, secrets) = (self.config.paths.clone(), self.secrets.clone());
        let (out, timeout) = (self.out.clone(), self.config.browser_login_timeout);
        let task = self.run_beside(async move {
            let login = BrowserLogin {
                paths: &paths,
                homeserver: &homeserver,
                provider: provider.as_deref(),
                out: &out,
                timeout,
            };
            AccountEvent::LoggedIn(session::login_in_browser(&paths, &secrets, login).await)
        });
        self.browser_login = Some(task);
    }

    /// Gives up the sign-in in the browser: its local redirect server closes with it.
    pub(super) fn cancel_login(&mut self) {
        // A sign-in that finished already has its outcome on the way: that outcome stands.
        if let Some(task) = self.browser_login.take_if(|task| !task.is_finished()) {
            task.abort();
            self.signing_in = false;
            // Aborted before it saved anything, or after: either way nothing half-made stays.
            let store = self.config.paths.store_dir();
            if self.account.is_none() && store.exists() && std::fs::remove_dir_all(&store).is_err()
            {
                tracing::debug!("could not remove the store of a cancelled sign-in");
            }
            self.out.send(Update::LoginFailed {
                reason: "Sign-in cancelled.".into(),
            });
        }
    }

    /// Restores the profile's saved session beside the loop (a keyring may take its time).
    pub(super) fn start_restore(&mut self) {
        let (paths, secrets) = (self.config.paths.clone(), self.secrets.clone());
        self.run_beside(
            async move { AccountEvent::Restored(session::restore(&paths, &secrets).await) },
        );
    }

    /// Signs in with a password, beside the loop.
    pub(super) fn start_login(&mut self, homeserver: String, user: String, password: String) {
        if let Some(reason) = self.login_busy() {
            self.out.send(Update::LoginFailed {
                reason: reason.into(),
            });
            return;
        }
        self.signing_in = true;
        let (paths, secrets) = (self.config.paths.clone(), self.secrets.clone());
        self.run_beside(async move {
            let result = session::login(&paths, &secrets, &homeserver, &user, &password).await;
            AccountEvent::LoggedIn(result)
        });
    }

    /// Asks the homeserver beside the loop what it can do and which foci it advertises.
    pub(super) fn start_discovery(&mut self, client: Client, features: bool) {
        self.run_beside(async move {
            let delayed_events = async {
                if !features {
                    return None;
                }
                let asked = tokio::time::timeout(DISCOVERY_TIMEOUT, client.unstable_features());
                Some(match asked.await {
                    Ok(Ok(features)) => features.contains(&FeatureFlag::Msc4140),
                    Ok(Err(e)) => {
                        tracing::debug!("could not read the server's features: {e}");
                        false
                    }
                    Err(_) => {
                        tracing::debug!("the server's features did not come in time");
                        false
                    }
                })
            };
            let foci = tokio::time::timeout(DISCOVERY_TIMEOUT, advertised_foci(&client));
            let (delayed_events, foci) = tokio::join!(delayed_events, foci);
            AccountEvent::Discovered {
                delayed_events,
                foci: foci.unwrap_or_default(),
            }
        });
    }

    /// Takes what a task beside the loop found.
    pub(super) async fn on_account_event(&mut self, event: AccountEvent) {
        match event {
            AccountEvent::Restored(Ok(Some(client))) => self.signed_in(client).await,
            AccountEvent::Restored(Ok(None)) => self.out.send(Update::NeedsLogin),
            AccountEvent::Restored(Err(RestoreError::Unreadable(message))) => {
                // A new sign-in would leave the saved session's device behind: stop instead.
                self.out.send(Update::Fatal { message });
                self.begin_stop(Stopping::Quit);
            }
            AccountEvent::Restored(Err(RestoreError::Failed(reason))) => {
                self.out
                    .error(WorkerError::Session(reason), Some("restore"), None);
                self.out.send(Update::NeedsLogin);
            }
            AccountEvent::LoginMethods {
                homeserver,
                methods,
            } => self.out.send(match methods {
                Ok(methods) => Update::LoginMethods {
                    homeserver,
                    methods,
                },
                Err(reason) => Update::LoginFailed { reason },
            }),
            AccountEvent::LoggedIn(result) => {
                self.signing_in = false;
                self.browser_login = None;
                match result {
                    Ok(client) => self.signed_in(client).await,
                    Err(reason) => self.out.send(Update::LoginFailed { reason }),
                }
            }
            AccountEvent::Discovered {
                delayed_events,
                foci,
            } => {
                let user = &self.config.settings.calls.foci;
                self.set_foci(FocusList::new(user, foci));
                if let (Some(known), Some(account)) = (delayed_events, self.account.as_mut()) {
                    account.delayed_events = Some(known);
                    self.run_waiting().await;
                }
            }
        }
    }

    /// A session is there: load the rooms the store knows, find out beside the loop what the
    /// server can do and which foci it has, and start syncing.
    async fn signed_in(&mut self, client: Client) {
        let (Some(user_id), Some(device_id)) = (client.user_id(), client.device_id()) else {
            self.out.error(WorkerError::NoUser, None, None);
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
        self.send_history();
        let tokens_task = tokio::spawn(session::save_refreshed_tokens(
            client.clone(),
            self.secrets.clone(),
            self.out.clone(),
            self.internal_tx.clone(),
        ));
        self.rooms.load(&client).await;
        self.account = Some(Account {
            client: client.clone(),
            tracker: RingTracker::new(me.clone()),
            me,
            delayed_events: None,
            sync_task: None,
            tokens_task: Some(tokens_task),
            keys_task: Some(tokio::spawn(super::late_keys::watch_room_keys(
                client.clone(),
                self.internal_tx.clone(),
            ))),
            synced: false,
        });
        // The window shows the remembered lobbies at once; the first sync then corrects them.
        self.out.send(Update::StoredRooms {
            rooms: self.rooms.sorted_snapshots(),
        });
        self.start_discovery(client.clone(), true);
        self.check_trust(client.clone());
        self.out.send(Update::Connection {
            connection: Connection::Syncing,
        });
        let task = tokio::spawn(sync_loop(
            client,
            self.internal_tx.clone(),
            self.config.sync_timeout,
        ));
        if let Some(account) = self.account.as_mut() {
            account.sync_task = Some(task);
        }
    }

    /// Signs out for good: the secret, the token, the store and the config go. `false` when
    /// the secret could not be removed: then nothing is, and we stay signed in.
    pub(super) async fn sign_out(&mut self) -> bool {
        if self.account.is_none() {
            return true;
        }
        if let Err(message) = session::forget_secret(&self.secrets).await {
            self.out
                .error(WorkerError::Session(message), Some("logout"), None);
            return false;
        }
        let Some(account) = self.account.take() else {
            return true;
        };
        let client = account.client.clone();
        drop(account);
        self.forget_history();
        if let Err(message) = session::logout(&client, &self.config.paths, &self.secrets).await {
            self.out
                .error(WorkerError::Session(message), Some("logout"), None);
        }
        self.out.send(Update::SignedOut);
        true
    }

    /// The session ended on the server. Signed out from another device (`soft_logout` false):
    /// forget it here too. Expired (`soft_logout`): keep the store, its keys and the saved
    /// secret, so that signing in again resumes this device. Either way, ask for a sign-in.
    pub(super) async fn session_ended(&mut self, soft_logout: bool) {
        let Some(mut account) = self.account.take() else {
            return;
        };
        // Told by the sync loop (it ended by itself) or by a refused refresh (it keeps trying
        // until stopped here).
        if let Some(task) = account.sync_task.take() {
            task.abort();
        }
        let client = account.client.clone();
        drop(account);
        self.rooms.clear();
        if soft_logout {
            drop(client);
            self.out.error(WorkerError::SessionExpired, None, None);
            self.out.send(Update::NeedsLogin);
            return;
        }
        // The token is dead, so the server part of the logout fails; the local cleanup is what
        // matters.
        self.forget_history();
        if let Err(message) = session::logout(&client, &self.config.paths, &self.secrets).await {
            tracing::debug!("cleaning up a session ended elsewhere: {message}");
        }
        self.out.error(WorkerError::SignedOutElsewhere, None, None);
        self.out.send(Update::NeedsLogin);
    }
}
