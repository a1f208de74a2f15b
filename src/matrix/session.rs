//! Signing in, restoring a saved session, and signing out with every local trace removed.

use std::time::Duration;

use matrix_sdk::authentication::matrix::MatrixSession;
use matrix_sdk::config::RequestConfig;
use matrix_sdk::encryption::{BackupDownloadStrategy, EncryptionSettings};
use matrix_sdk::{AuthSession, Client, SessionChange};
use rand::Rng;
use rand::distr::Alphanumeric;

use super::browser_login::BrowserLogin;
use super::error::{WorkerError, build_sentence, login_sentence, sentence};
use super::worker::{Internal, Outbox};
use crate::config::ProfilePaths;
use crate::secrets::{SecretError, SecretStore, StoredSecret};
use tokio::sync::mpsc;

/// Requests give up after this long; the sync loop and the membership machine retry themselves.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long telling the homeserver about a sign-out may take.
const LOGOUT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long finding the homeserver behind a name may take when signing in.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(20);

/// A random alphanumeric string of `len` characters.
pub fn random_id(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

async fn build_client(
    paths: &ProfilePaths,
    homeserver: &str,
    discover: bool,
    passphrase: &str,
) -> Result<Client, String> {
    // OAuth 2.0 access tokens are short-lived: the SDK refreshes them when the server says one
    // expired, and the account saves the new ones. A password session has no refresh token and
    // ends as before.
    let builder = Client::builder()
        .handle_refresh_tokens()
        // A session verified with the recovery key fetches the room keys it lacks from the
        // backup, so rings in encrypted rooms sent before it existed still decrypt.
        .with_encryption_settings(EncryptionSettings {
            backup_download_strategy: BackupDownloadStrategy::AfterDecryptionFailure,
            ..EncryptionSettings::default()
        });
    let builder = if discover {
        builder.server_name_or_homeserver_url(homeserver)
    } else {
        builder.homeserver_url(homeserver)
    };
    let client = builder
        .sqlite_store(paths.store_dir(), Some(passphrase))
        // Our own loops retry with back-off and report offline states; the SDK's silent retries
        // (up to 15 minutes) would hide them.
        .request_config(RequestConfig::new().retry_limit(2).timeout(REQUEST_TIMEOUT))
        .build()
        .await
        .map_err(|e| build_sentence(homeserver, &e))?;
    // The store's files are the SDK's: make them owner-only like the rest of the data.
    paths.create_data_dir().map_err(|e| e.to_string())?;
    Ok(client)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SecretError> + Send + 'static,
) -> Result<T, String> {
    blocking_secret(f).await.map_err(|e| e.to_string())
}

async fn blocking_secret<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SecretError> + Send + 'static,
) -> Result<T, SecretError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) => Err(SecretError::Keyring(format!(
            "it stopped unexpectedly ({e})"
        ))),
    }
}

/// Why a saved session was not restored.
#[derive(Debug)]
pub enum RestoreError {
    /// The saved secret is there but cannot be read now (a locked keyring): signing in anew
    /// would leave its device behind, so nothing else may happen until it can be read.
    Unreadable(String),
    /// Restoring failed otherwise, as a sentence.
    Failed(String),
}

/// Restores the saved session of the profile, if there is one.
pub async fn restore(
    paths: &ProfilePaths,
    secrets: &SecretStore,
) -> Result<Option<Client>, RestoreError> {
    let store = secrets.clone();
    let secret = match blocking_secret(move || store.load()).await {
        Ok(Some(secret)) => secret,
        Ok(None) => return Ok(None),
        Err(e) if e.is_unreadable() => return Err(RestoreError::Unreadable(e.to_string())),
        Err(e) => return Err(RestoreError::Failed(e.to_string())),
    };
    let client = build_client(paths, &secret.homeserver, false, &secret.store_passphrase)
        .await
        .map_err(RestoreError::Failed)?;
    client
        .restore_session(secret.auth_session())
        .await
        .map_err(|e| {
            RestoreError::Failed(format!(
                "The saved session could not be restored: {}",
                sentence(&e)
            ))
        })?;
    Ok(Some(client))
}

/// Removes the saved secret, first of all when signing out: while it cannot be removed (a
/// locked keyring), nothing else is, and the session stays as it was.
pub async fn forget_secret(secrets: &SecretStore) -> Result<(), String> {
    let store = secrets.clone();
    blocking(move || store.delete())
        .await
        .map_err(|e| format!("Could not sign out: {e} Nothing was removed; try again."))
}

/// Signs in with a password and saves the session. `homeserver` is a server name or URL,
/// `user` a localpart or a full user id. A session kept after it expired (a soft logout) of the
/// same user on the same server is resumed: the same device, the same store and its keys.
pub async fn login(
    paths: &ProfilePaths,
    secrets: &SecretStore,
    homeserver: &str,
    user: &str,
    password: &str,
) -> Result<Client, String> {
    let store = secrets.clone();
    if let Some(kept) = blocking(move || store.load()).await?
        && let Some(client) = resume(paths, &kept, homeserver, user, password).await?
    {
        return keep(paths, secrets, client, kept.store_passphrase).await;
    }
    // A new account gets a new store with a new passphrase.
    remove_dir(&paths.store_dir())?;
    let passphrase = random_id(48);
    let client = discover(paths, homeserver, &passphrase).await?;
    client
        .matrix_auth()
        .login_username(user, password)
        .initial_device_display_name("Vestibule")
        .await
        .map_err(|e| login_sentence(&e))?;
    keep(paths, secrets, client, passphrase).await
}

/// Builds a client for `homeserver` (a name or a URL), within [`DISCOVERY_TIMEOUT`].
async fn discover(
    paths: &ProfilePaths,
    homeserver: &str,
    passphrase: &str,
) -> Result<Client, String> {
    // Discovery of an unresponsive host could otherwise take several request timeouts.
    tokio::time::timeout(
        DISCOVERY_TIMEOUT,
        build_client(paths, homeserver, true, passphrase),
    )
    .await
    .map_err(|_| {
        format!("{homeserver} did not answer in time; check the address and your connection.")
    })?
}

/// Signs in again on the device of the `kept` session, with its store, when it is the same
/// user on the same server; `None` when it is not (the caller starts afresh).
async fn resume(
    paths: &ProfilePaths,
    kept: &StoredSecret,
    homeserver: &str,
    user: &str,
    password: &str,
) -> Result<Option<Client>, String> {
    let kept_user = &kept.session.meta.user_id;
    if user != kept_user.as_str() && user != kept_user.localpart() {
        return Ok(None);
    }
    let client = match discover(paths, homeserver, &kept.store_passphrase).await {
        Ok(client) => client,
        Err(reason) => {
            tracing::info!("the kept store cannot be used ({reason}); starting afresh");
            return Ok(None);
        }
    };
    let same_server =
        client.homeserver().as_str().trim_end_matches('/') == kept.homeserver.trim_end_matches('/');
    if !same_server || client.user_id().is_some() {
        return Ok(None);
    }
    client
        .matrix_auth()
        .login_username(user, password)
        .device_id(kept.session.meta.device_id.as_str())
        .initial_device_display_name("Vestibule")
        .await
        .map_err(|e| login_sentence(&e))?;
    if client.user_id() != Some(kept_user.as_ref()) {
        // Another account after all: its store holds someone else's keys.
        client.matrix_auth().logout().await.ok();
        return Ok(None);
    }
    tracing::info!(
        "resumed the session of device {}",
        kept.session.meta.device_id
    );
    Ok(Some(client))
}

/// What to keep of the signed-in `client`'s session.
pub fn secret_of(client: &Client, store_passphrase: String) -> Option<StoredSecret> {
    let (session, oauth_client_id) = match client.session()? {
        AuthSession::Matrix(session) => (session, None),
        AuthSession::OAuth(oauth) => (
            MatrixSession {
                meta: oauth.user.meta,
                tokens: oauth.user.tokens,
            },
            Some(oauth.client_id.as_str().to_owned()),
        ),
        _ => return None,
    };
    Some(StoredSecret {
        homeserver: client.homeserver().to_string(),
        session,
        store_passphrase,
        oauth_client_id,
    })
}

/// Saves the session again whenever the SDK has refreshed its tokens (an OAuth 2.0 refresh
/// token is good for one use only: losing the new one would sign the person out at the next
/// start), and tells the loop when the session ended because a refresh was refused (the failed
/// request then looks like a passing problem). Subscribes at once; the future it returns runs
/// for as long as the client.
pub(super) fn save_refreshed_tokens(
    client: Client,
    secrets: SecretStore,
    out: Outbox,
    internal: mpsc::UnboundedSender<Internal>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::sync::broadcast::error::RecvError;
    let mut changes = client.subscribe_to_session_changes();
    async move {
        loop {
            match changes.recv().await {
                Ok(SessionChange::TokensRefreshed) | Err(RecvError::Lagged(_)) => {}
                Ok(SessionChange::UnknownToken(data)) => {
                    let soft_logout = data.soft_logout;
                    internal.send(Internal::SessionEnded { soft_logout }).ok();
                    return;
                }
                Err(RecvError::Closed) => return,
            }
            let Some(tokens) = client.session_tokens() else {
                continue;
            };
            let store = secrets.clone();
            let saved = blocking(move || match store.load()? {
                Some(mut secret) => {
                    secret.session.tokens = tokens;
                    store.save(&secret)
                }
                None => Ok(()),
            })
            .await;
            match saved {
                Ok(()) => tracing::debug!("saved the refreshed session"),
                Err(e) => out.error(
                    WorkerError::Session(format!(
                        "The renewed session could not be saved ({e}); after a restart you may have to sign in again."
                    )),
                    None,
                    None,
                ),
            }
        }
    }
}

/// Signs in in the browser (OAuth 2.0, else single sign-on) and saves the session.
pub(super) async fn login_in_browser(
    paths: &ProfilePaths,
    secrets: &SecretStore,
    login: BrowserLogin<'_>,
) -> Result<Client, String> {
    let store = secrets.clone();
    if let Some(kept) = blocking(move || store.load()).await? {
        // Only a session that expired is kept while signed out; a new sign-in replaces it.
        tracing::info!(
            "replacing the kept session of {}",
            kept.session.meta.user_id
        );
    }
    remove_dir(&paths.store_dir())?;
    let passphrase = random_id(48);
    let client = discover(paths, login.homeserver, &passphrase).await?;
    login.run(&client).await?;
    keep(paths, secrets, client, passphrase).await
}

/// Saves the session of the signed-in `client`; without a safe place for it the sign-in is
/// undone.
async fn keep(
    paths: &ProfilePaths,
    secrets: &SecretStore,
    client: Client,
    passphrase: String,
) -> Result<Client, String> {
    let Some(secret) = secret_of(&client, passphrase) else {
        return Err("The homeserver did not start a session.".to_owned());
    };
    let store = secrets.clone();
    if let Err(sentence) = blocking(move || store.save(&secret)).await {
        if let Err(e) = client.logout().await {
            tracing::debug!("logout after failed save: {e}");
        }
        remove_dir(&paths.store_dir())?;
        return Err(sentence);
    }
    Ok(client)
}

/// Signs out: invalidates the token on the server (if it can be reached), then removes the
/// store, the secret and the profile's config. Returns a sentence when the server could not be
/// told; the local traces are gone either way.
pub async fn logout(
    client: &Client,
    paths: &ProfilePaths,
    secrets: &SecretStore,
) -> Result<(), String> {
    // A homeserver that does not answer must not hold up the sign-out for long.
    let server = match tokio::time::timeout(LOGOUT_TIMEOUT, client.logout()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!(
            "Signed out here, but the homeserver could not be told: {}",
            sentence(&e)
        )),
        Err(_) => Err(
            "Signed out here, but the homeserver did not answer in time; its session for this device may stay until it is removed there.".to_owned(),
        ),
    };
    let store = secrets.clone();
    blocking(move || store.delete()).await?;
    remove_dir(&paths.store_dir())?;
    match std::fs::remove_file(&paths.config_file) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(format!(
                "Could not remove {}: {e}.",
                paths.config_file.display()
            ));
        }
    }
    server
}

fn remove_dir(dir: &std::path::Path) -> Result<(), String> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("Could not remove {}: {e}.", dir.display())),
    }
}
