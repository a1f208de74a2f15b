//! The signed-in account: starting work once a session is there (restored or new), and ending
//! it when it is signed out here or elsewhere.

use matrix_sdk::Client;
use matrix_sdk::ruma::api::FeatureFlag;
use tokio::task::JoinHandle;

use super::error::WorkerError;
use super::session::{self, RestoreError};
use super::sync::sync_loop;
use super::types::{Connection, Update};
use super::worker::Worker;
use crate::rtc::ring::{Me, RingTracker};

/// What exists while an account is signed in.
pub(super) struct Account {
    /// The SDK client (cheap to clone: handles share one client).
    pub client: Client,
    /// Our user and device.
    pub me: Me,
    /// The incoming rings of every room.
    pub tracker: RingTracker,
    /// Whether the homeserver has delayed events (MSC4140).
    pub delayed_events: bool,
    /// The sync loop.
    pub sync_task: Option<JoinHandle<()>>,
    /// Whether the first sync came back, so that we know which rooms we are in.
    pub synced: bool,
}

impl Drop for Account {
    fn drop(&mut self) {
        if let Some(task) = self.sync_task.take() {
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

    /// Restores the profile's saved session, or asks for a sign-in. `false` when the worker
    /// cannot go on: the saved secret is there but cannot be read (a locked keyring), and a new
    /// sign-in would leave its device behind.
    pub(super) async fn restore(&mut self) -> bool {
        match session::restore(&self.config.paths, &self.secrets).await {
            Ok(Some(client)) => self.signed_in(client).await,
            Ok(None) => self.out.send(Update::NeedsLogin),
            Err(RestoreError::Unreadable(message)) => {
                self.out.send(Update::Fatal { message });
                return false;
            }
            Err(RestoreError::Failed(reason)) => {
                self.out
                    .error(WorkerError::Session(reason), Some("restore"), None);
                self.out.send(Update::NeedsLogin);
            }
        }
        true
    }

    /// Signs in with a password.
    pub(super) async fn login(&mut self, homeserver: &str, user: &str, password: &str) {
        if self.account.is_some() {
            self.out.send(Update::LoginFailed {
                reason: "Already signed in; sign out first.".into(),
            });
            return;
        }
        let paths = &self.config.paths;
        match session::login(paths, &self.secrets, homeserver, user, password).await {
            Ok(client) => self.signed_in(client).await,
            Err(reason) => self.out.send(Update::LoginFailed { reason }),
        }
    }

    /// A session is there: load the rooms the store knows, find the foci and start syncing.
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
        let delayed_events = match client.unstable_features().await {
            Ok(features) => features.contains(&FeatureFlag::Msc4140),
            Err(e) => {
                tracing::debug!("could not read the server's features: {e}");
                false
            }
        };
        self.rooms.load(&client).await;
        self.account = Some(Account {
            client: client.clone(),
            tracker: RingTracker::new(me.clone()),
            me,
            delayed_events,
            sync_task: None,
            synced: false,
        });
        // The window shows the remembered lobbies at once; the first sync then corrects them.
        self.out.send(Update::StoredRooms {
            rooms: self.rooms.sorted_snapshots(),
        });
        self.discover_foci(&client).await;
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
        // The loop ended by itself.
        account.sync_task = None;
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
        if let Err(message) = session::logout(&client, &self.config.paths, &self.secrets).await {
            tracing::debug!("cleaning up a session ended elsewhere: {message}");
        }
        self.out.error(WorkerError::SignedOutElsewhere, None, None);
        self.out.send(Update::NeedsLogin);
    }
}
