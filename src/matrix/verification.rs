//! Whether this session is trusted by the account, and making it so: recovery with the
//! account's recovery key (which signs this device with the self-signing key and opens the key
//! backup), and setting recovery up for an account that has none.

use matrix_sdk::Client;
use matrix_sdk::encryption::recovery::RecoveryError;

use super::error::WorkerError;
use super::types::{Concealed, SessionTrust, Update};
use super::worker::{Internal, Worker};

/// What a verification step beside the loop found.
pub(super) enum TrustEvent {
    /// The session's trust, as now known.
    Known(SessionTrust),
    /// Recovery was set up with this key.
    RecoverySetUp(String),
    /// A step failed, as a sentence, for `command`.
    Failed {
        command: &'static str,
        reason: String,
    },
}

/// Where this session stands.
pub(super) async fn trust_of(client: &Client) -> SessionTrust {
    let encryption = client.encryption();
    encryption.wait_for_e2ee_initialization_tasks().await;
    let identity = encryption
        .cross_signing_status()
        .await
        .is_some_and(|s| s.has_master);
    let account_has_identity = match client.user_id() {
        Some(me) => matches!(encryption.request_user_identity(me).await, Ok(Some(_))),
        None => false,
    };
    let signed = matches!(
        encryption.get_own_device().await,
        Ok(Some(device)) if device.is_cross_signed_by_owner()
    );
    if signed {
        SessionTrust::Verified
    } else if identity || account_has_identity {
        SessionTrust::Unverified
    } else {
        SessionTrust::NoCrossSigning
    }
}

async fn recover(client: Client, key: String) -> TrustEvent {
    match client.encryption().recovery().recover(key.trim()).await {
        Ok(()) => TrustEvent::Known(trust_of(&client).await),
        Err(e) => TrustEvent::Failed {
            command: "verify",
            reason: recovery_sentence(&e),
        },
    }
}

async fn set_up(client: Client) -> TrustEvent {
    let encryption = client.encryption();
    if let Err(e) = encryption.bootstrap_cross_signing_if_needed(None).await {
        tracing::debug!("cross-signing bootstrap: {e:?}");
        return TrustEvent::Failed {
            command: "set_up_recovery",
            reason: if e.as_uiaa_response().is_some() {
                "The homeserver wants your password again to set up verification; set it up in another app of yours (Element), then verify here with its recovery key.".to_owned()
            } else {
                format!("Could not set up verification: {e}.")
            },
        };
    }
    match encryption.recovery().enable().await {
        Ok(key) => TrustEvent::RecoverySetUp(key),
        Err(e) => TrustEvent::Failed {
            command: "set_up_recovery",
            reason: recovery_sentence(&e),
        },
    }
}

fn recovery_sentence(e: &RecoveryError) -> String {
    use matrix_sdk::encryption::secret_storage::SecretStorageError;
    tracing::debug!("recovery: {e:?}");
    match e {
        RecoveryError::SecretStorage(SecretStorageError::SecretStorageKey(_)) => {
            "That recovery key (or passphrase) does not open this account's secret storage; check it and try again.".to_owned()
        }
        RecoveryError::SecretStorage(SecretStorageError::MissingKeyInfo { .. }) => {
            "This account has no recovery set up: set it up with `vestibule verify --set-up` or in another app of yours.".to_owned()
        }
        RecoveryError::BackupExistsOnServer => {
            "This account already has a key backup: verify with its recovery key instead.".to_owned()
        }
        other => format!("Could not verify this session: {other}."),
    }
}

impl Worker {
    fn run_trust_step(
        &mut self,
        step: impl std::future::Future<Output = TrustEvent> + Send + 'static,
    ) {
        let tx = self.internal_tx.clone();
        self.beside.spawn(async move {
            tx.send(Internal::Trust(step.await)).ok();
        });
    }

    /// Finds out beside the loop whether this session is verified.
    pub(super) fn check_trust(&mut self, client: Client) {
        self.run_trust_step(async move { TrustEvent::Known(trust_of(&client).await) });
    }

    /// Verifies this session with the recovery key, beside the loop.
    pub(super) fn start_recover(&mut self, key: String) -> Result<(), WorkerError> {
        let client = self.client().ok_or(WorkerError::NotSignedIn)?;
        self.run_trust_step(recover(client, key));
        Ok(())
    }

    /// Sets up recovery beside the loop.
    pub(super) fn start_set_up_recovery(&mut self) -> Result<(), WorkerError> {
        let client = self.client().ok_or(WorkerError::NotSignedIn)?;
        self.run_trust_step(set_up(client));
        Ok(())
    }

    /// Takes what a verification step found.
    pub(super) async fn on_trust_event(&mut self, event: TrustEvent) {
        match event {
            TrustEvent::Known(trust) => {
                self.out.send(Update::Trust { trust });
                if trust == SessionTrust::Verified && self.late_keys.len() > 0 {
                    // The key backup may be open now: what could not be decrypted asks it.
                    self.on_room_keys(None).await;
                }
            }
            TrustEvent::RecoverySetUp(key) => {
                self.out.send(Update::RecoveryKey {
                    key: Concealed(key),
                });
                if let Some(client) = self.client() {
                    self.check_trust(client);
                }
            }
            TrustEvent::Failed { command, reason } => {
                self.out
                    .error(WorkerError::Session(reason), Some(command), None);
            }
        }
    }
}
