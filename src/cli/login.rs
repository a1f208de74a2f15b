//! `vestibule login`, `logout` and `verify`: a password, or the browser (OAuth 2.0 or single
//! sign-on) with the address printed when no browser can be opened; the session verified with
//! the recovery key.

use super::CliSession;
use super::inert::inert;
use crate::matrix::{Command, SessionTrust, Update};

/// How `login` signs in.
pub(super) enum LoginWay {
    /// With a user name and password.
    Password { user: String, password: String },
    /// In the browser, through this single sign-on provider if one was named.
    Browser { provider: Option<String> },
}

impl CliSession {
    /// Signs in, unless the profile is signed in already.
    pub(super) async fn login(&mut self, homeserver: String, way: LoginWay) -> Result<(), String> {
        let mut asked = false;
        loop {
            match self.next().await? {
                Update::NeedsLogin => {
                    asked = true;
                    self.send(match &way {
                        LoginWay::Password { user, password } => Command::Login {
                            homeserver: homeserver.clone(),
                            user: user.clone(),
                            password: password.clone(),
                        },
                        LoginWay::Browser { provider } => Command::LoginInBrowser {
                            homeserver: homeserver.clone(),
                            provider: provider.clone(),
                        },
                    });
                }
                Update::SignedIn { user_id, .. } if !asked => {
                    return Err(format!(
                        "This profile is already signed in as {user_id}: run `vestibule logout` first, or use --profile."
                    ));
                }
                Update::SignedIn { user_id, device_id } => {
                    println!(
                        "Signed in as {} (device {}).",
                        inert(&user_id),
                        inert(&device_id)
                    );
                    return Ok(());
                }
                Update::BrowserLogin { url } => open_browser(url).await,
                Update::LoginFailed { reason } => return Err(reason),
                _ => {}
            }
        }
    }

    /// Verifies this session with `key`, or sets recovery up (`set_up`) and prints its key.
    pub(super) async fn verify(&mut self, set_up: bool, key: Option<String>) -> Result<(), String> {
        self.signed_in().await?;
        // What the account said at sign-in comes first: only what follows answers us.
        let trust = self.trust().await?;
        if trust == SessionTrust::Verified && !set_up {
            println!("This session is already verified.");
            return Ok(());
        }
        self.send(match key {
            Some(key) if !set_up => Command::Recover { key },
            _ => Command::SetUpRecovery,
        });
        loop {
            match self.next().await? {
                Update::RecoveryKey { key } => {
                    println!("Recovery key: {}", key.0);
                    eprintln!(
                        "Save this recovery key somewhere safe (a password manager): it verifies your other sessions and opens your key backup. It is not shown again."
                    );
                }
                Update::Trust {
                    trust: SessionTrust::Verified,
                } => {
                    println!("This session is verified.");
                    return Ok(());
                }
                Update::Trust { .. } => {
                    return Err("The recovery key was taken, but this session is still not verified; verify it from another of your sessions.".into());
                }
                Update::Error {
                    message, command, ..
                } if matches!(command.as_deref(), Some("verify" | "set_up_recovery")) => {
                    return Err(message);
                }
                _ => {}
            }
        }
    }

    /// The next word on this session's trust.
    async fn trust(&mut self) -> Result<SessionTrust, String> {
        loop {
            if let Update::Trust { trust } = self.next().await? {
                return Ok(trust);
            }
        }
    }

    /// Signs out the profile's account.
    pub(super) async fn logout(&mut self) -> Result<(), String> {
        let (user_id, _) = self.signed_in().await?;
        self.send(Command::Logout);
        loop {
            match self.next().await? {
                Update::SignedOut => {
                    println!("Signed out {}.", inert(&user_id));
                    return Ok(());
                }
                Update::Error { message, .. } => return Err(message),
                _ => {}
            }
        }
    }
}

/// Opens the sign-in page, or says where it is (a terminal over SSH has no browser).
async fn open_browser(url: String) {
    let shown = inert(&url).into_owned();
    let opened = tokio::task::spawn_blocking(move || crate::browser::open(&url))
        .await
        .unwrap_or(false);
    if opened {
        eprintln!("Waiting for you to sign in in your browser… (Ctrl-C cancels)");
    } else {
        eprintln!(
            "No browser could be opened. To sign in, open this address in a browser on this computer:\n  {shown}\nWaiting… (Ctrl-C cancels)"
        );
    }
}
