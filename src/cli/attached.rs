//! The command line attached to the profile's running instance (the window, or another
//! command): the same commands, answered from its live state, carried out by its worker.

use std::time::Duration;

use tokio::sync::mpsc;

use super::{CliSession, Cmd};
use crate::config::ProfilePaths;
use crate::interrupts::Interrupts;
use crate::matrix::lock::{BUSY_RETRY, BUSY_WAIT, LockError, ProfileLock, lock_profile};
use crate::matrix::{Command, OwnCallState, Update};
use crate::remote;
use crate::remote::{Remote, Request};
use crate::rtc::ring::StopReason;

/// How long a leave or decline carried out by the instance may take to show.
const OUTCOME_WAIT: Duration = Duration::from_secs(15);

/// Runs `cmd` through the running instance, until it is done or `interrupts` come (`watch`
/// and `status --follow` run until then).
pub(super) async fn drive(
    instance: Remote,
    cmd: Cmd,
    mut interrupts: Interrupts,
) -> Result<(), String> {
    let runs_until_interrupted = cmd.stays();
    let (commands, mut to_send) = mpsc::unbounded_channel::<Command>();
    let requests = instance.requests;
    tokio::spawn(async move {
        while let Some(command) = to_send.recv().await {
            // Quitting, signing in and out, and settings stay with the instance.
            if let Some(request) = Request::from_command(command)
                && requests.send(request).is_err()
            {
                return;
            }
        }
    });
    let mut session = CliSession {
        commands,
        updates: instance.updates,
        failure: None,
        hub: None,
        remote: true,
    };
    let result = tokio::select! {
        result = session.drive(cmd, None) => result,
        () = interrupts.reached(1) => {
            if runs_until_interrupted { Ok(()) } else { Err("Interrupted.".into()) }
        }
    };
    result.and(session.failure.map_or(Ok(()), Err))
}

/// Waits until the instance shows that `command` (`leave` or `decline`) was carried out, or
/// says why not.
pub(super) async fn outcome(session: &mut CliSession, command: &str) -> Result<(), String> {
    let wait = async {
        loop {
            match session.next().await? {
                Update::Error {
                    message,
                    command: Some(failed),
                    ..
                } if failed == command => return Err(message),
                Update::RingStopped {
                    reason: StopReason::Declined,
                    ..
                } if command == "decline" => return Ok(()),
                Update::Lobby { lobby }
                    if command == "leave"
                        && matches!(lobby.own, OwnCallState::Leaving | OwnCallState::NotJoined) =>
                {
                    return Ok(());
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(OUTCOME_WAIT, wait)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "The running Vestibule did not confirm the {command} in time."
            ))
        })
}

/// How the command reaches the profile.
pub(super) enum Opened {
    /// The profile's running instance answers.
    Attached(remote::Remote),
    /// This process holds the profile and runs its own worker.
    Own(ProfileLock),
}

/// Attaches to the profile's running instance (when `may_attach`) or takes the profile. While
/// another process holds the profile without offering its socket yet (the window or a staying
/// command that is starting, or a one-shot command), it is asked again until [`BUSY_WAIT`].
pub(super) async fn open_profile(paths: &ProfilePaths, may_attach: bool) -> Result<Opened, String> {
    let deadline = tokio::time::Instant::now() + BUSY_WAIT;
    loop {
        if may_attach && let Some(instance) = remote::connect(&paths.data_dir).await {
            return Ok(Opened::Attached(instance));
        }
        match lock_profile(paths) {
            Ok(lock) => return Ok(Opened::Own(lock)),
            Err(LockError::Busy(_)) if tokio::time::Instant::now() < deadline => {
                tracing::debug!("the profile is busy; asking again");
                tokio::time::sleep(BUSY_RETRY).await;
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}
