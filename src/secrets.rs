//! The profile's secret: the Matrix session and the passphrase of the encrypted store.
//!
//! It lives in the OS keyring (the Secret Service on Linux) under the service [`APP_ID`] and the
//! profile's name. Where no keyring can be reached we refuse with a sentence naming the fix;
//! `VESTIBULE_SECRET_STORE=file` opts into an owner-only (0600) file in the profile's data
//! directory instead. The secret never reaches a log: its `Debug` is redacted.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Arc;

use matrix_sdk::authentication::matrix::MatrixSession;
use serde::{Deserialize, Serialize};

use crate::config::{APP_ID, ProfilePaths};

/// What we keep secret for a profile.
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredSecret {
    /// The homeserver URL the session belongs to.
    pub homeserver: String,
    /// The Matrix session (user, device, access token).
    pub session: MatrixSession,
    /// The passphrase of the encrypted sqlite store.
    pub store_passphrase: String,
    /// The OAuth 2.0 client the session was granted to; `None` for a session of the Matrix
    /// login API (a password or single sign-on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth_client_id: Option<String>,
}

impl StoredSecret {
    /// The session as the SDK restores it.
    pub fn auth_session(&self) -> matrix_sdk::AuthSession {
        use matrix_sdk::authentication::oauth::{ClientId, OAuthSession, UserSession};
        match &self.oauth_client_id {
            None => self.session.clone().into(),
            Some(id) => OAuthSession {
                client_id: ClientId::new(id.clone()),
                user: UserSession {
                    meta: self.session.meta.clone(),
                    tokens: self.session.tokens.clone(),
                },
            }
            .into(),
        }
    }
}

impl fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSecret")
            .field("homeserver", &self.homeserver)
            .field("user_id", &self.session.meta.user_id)
            .field("device_id", &self.session.meta.device_id)
            .field("oauth_client_id", &self.oauth_client_id)
            .finish_non_exhaustive()
    }
}

/// Why the secret could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// No keyring answered.
    #[error(
        "No keyring could be reached to keep your session safe. Start your desktop's keyring \
         (for example GNOME Keyring or KeePassXC's Secret Service), or set \
         VESTIBULE_SECRET_STORE=file to keep it in a file only you can read."
    )]
    NoKeyring,
    /// The keyring is there but locked (or its unlock prompt was dismissed).
    #[error("Your keyring is locked; unlock it and start Vestibule again.")]
    Locked,
    /// The keyring answered with an error.
    #[error("The keyring refused to keep the session: {0}.")]
    Keyring(String),
    /// The secret file could not be read or written.
    #[error("Could not use the secret file {path}: {source}.")]
    File {
        /// The file.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// The stored secret is unreadable.
    #[error("The saved session is damaged; sign in again.")]
    Corrupt,
    /// `VESTIBULE_SECRET_STORE` names no known store.
    #[error("VESTIBULE_SECRET_STORE must be \"keyring\" or \"file\", not {0:?}.")]
    UnknownStore(String),
}

/// Where the secret is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretStoreKind {
    /// The OS keyring.
    Keyring,
    /// An owner-only file.
    File,
}

impl SecretStoreKind {
    /// The store chosen by `VESTIBULE_SECRET_STORE` (`keyring`, the default, or `file`).
    pub fn from_env() -> Result<Self, SecretError> {
        match std::env::var("VESTIBULE_SECRET_STORE").ok().as_deref() {
            None | Some("") | Some("keyring") => Ok(Self::Keyring),
            Some("file") => Ok(Self::File),
            Some(other) => Err(SecretError::UnknownStore(other.to_owned())),
        }
    }
}

/// The secret store of one profile.
#[derive(Debug, Clone)]
pub struct SecretStore {
    kind: SecretStoreKind,
    paths: ProfilePaths,
}

impl SecretStore {
    /// The store of `kind` for the profile at `paths`.
    pub fn new(kind: SecretStoreKind, paths: &ProfilePaths) -> Self {
        Self {
            kind,
            paths: paths.clone(),
        }
    }

    /// Which store this is.
    pub fn kind(&self) -> SecretStoreKind {
        self.kind
    }

    /// The saved secret, if any. Blocking: call it off the async runtime's threads.
    pub fn load(&self) -> Result<Option<StoredSecret>, SecretError> {
        let text = match self.kind {
            SecretStoreKind::File => {
                let path = self.paths.secret_file();
                match std::fs::read_to_string(&path) {
                    Ok(text) => text,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(source) => {
                        return Err(SecretError::File {
                            path: path.display().to_string(),
                            source,
                        });
                    }
                }
            }
            SecretStoreKind::Keyring => match keyring_entry(&self.paths.profile)?.get_password() {
                Ok(text) => text,
                Err(keyring_core::Error::NoEntry) => return Ok(None),
                Err(e) => return Err(keyring_error(e)),
            },
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|_| SecretError::Corrupt)
    }

    /// Saves the secret. Blocking.
    pub fn save(&self, secret: &StoredSecret) -> Result<(), SecretError> {
        let text = serde_json::to_string(secret).map_err(|_| SecretError::Corrupt)?;
        match self.kind {
            SecretStoreKind::File => {
                let path = self.paths.secret_file();
                let file_err = |source| SecretError::File {
                    path: path.display().to_string(),
                    source,
                };
                let tmp = path.with_extension("json.tmp");
                // A fresh file, so that it is born owner-only whatever a leftover one allowed.
                match std::fs::remove_file(&tmp) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(file_err(e)),
                }
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&tmp)
                    .map_err(file_err)?;
                file.write_all(text.as_bytes()).map_err(file_err)?;
                file.sync_all().map_err(file_err)?;
                std::fs::rename(&tmp, &path).map_err(file_err)
            }
            SecretStoreKind::Keyring => keyring_entry(&self.paths.profile)?
                .set_password(&text)
                .map_err(keyring_error),
        }
    }

    /// Removes the secret; a missing one is not an error. Blocking.
    pub fn delete(&self) -> Result<(), SecretError> {
        match self.kind {
            SecretStoreKind::File => {
                let path = self.paths.secret_file();
                match std::fs::remove_file(&path) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(source) => Err(SecretError::File {
                        path: path.display().to_string(),
                        source,
                    }),
                }
            }
            SecretStoreKind::Keyring => {
                match keyring_entry(&self.paths.profile)?.delete_credential() {
                    Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
                    Err(e) => Err(keyring_error(e)),
                }
            }
        }
    }
}

fn keyring_entry(profile: &str) -> Result<keyring_core::Entry, SecretError> {
    let store: Arc<keyring_core::CredentialStore> = zbus_secret_service_keyring_store::Store::new()
        .map_err(|e| {
            tracing::debug!("secret service unavailable: {e}");
            SecretError::NoKeyring
        })?;
    keyring_core::Entry::new_in_store(&store, APP_ID, profile).map_err(keyring_error)
}

fn keyring_error(e: keyring_core::Error) -> SecretError {
    match e {
        keyring_core::Error::NoStorageAccess(inner) => {
            tracing::debug!("keyring not accessible: {inner}");
            // The Secret Service answered: the collection or item is locked, or the prompt to
            // unlock it was dismissed.
            let text = inner.to_string();
            if ["locked", "prompt"].iter().any(|w| text.contains(w)) {
                SecretError::Locked
            } else {
                SecretError::NoKeyring
            }
        }
        other => SecretError::Keyring(other.to_string()),
    }
}

impl SecretError {
    /// Whether a saved secret is there but cannot be read now (a locked keyring, an unreadable
    /// file): signing in anew would leave the saved session's device behind.
    pub fn is_unreadable(&self) -> bool {
        matches!(self, Self::Locked | Self::File { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locked_keyring_is_said_as_locked() {
        for inner in ["SS Error: object locked", "SS error: prompt dismissed"] {
            let e = keyring_core::Error::NoStorageAccess(inner.into());
            let said = keyring_error(e);
            assert!(matches!(said, SecretError::Locked), "{inner}");
            assert_eq!(
                said.to_string(),
                "Your keyring is locked; unlock it and start Vestibule again."
            );
        }
        let missing = keyring_core::Error::NoStorageAccess(
            "no secret service provider or dbus session found".into(),
        );
        assert!(matches!(keyring_error(missing), SecretError::NoKeyring));
    }
}
