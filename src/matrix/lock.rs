//! The profile's lock: only one process opens a profile's store at a time.

use std::fs::File;
use std::time::Duration;

use crate::config::ProfilePaths;

/// How long a front end waits for a profile whose lock another process holds: for the window or
/// a staying command that is starting to offer its socket, or for a one-shot command to end.
pub const BUSY_WAIT: Duration = Duration::from_secs(5);

/// The profile's lock, held until dropped. Taken before a front end starts (the window takes it
/// before its first frame) and handed to the worker, so that nothing else can open the store
/// in between.
#[derive(Debug)]
pub struct ProfileLock {
    _file: File,
}

/// Why the lock was not taken; the `Display` is the sentence to show.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the profile.
    #[error(
        "Vestibule is already running for the profile \"{0}\"; use that window, or stop it first."
    )]
    Busy(String),
    /// The lock file could not be opened or locked.
    #[error("{0}")]
    Failed(String),
}

impl From<LockError> for String {
    fn from(error: LockError) -> Self {
        error.to_string()
    }
}

/// Takes the profile's lock file so that a second process cannot open the same store.
pub fn lock_profile(paths: &ProfilePaths) -> Result<ProfileLock, LockError> {
    paths
        .create_data_dir()
        .map_err(|e| LockError::Failed(e.to_string()))?;
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(paths.lock_file())
        .map_err(|e| {
            LockError::Failed(format!(
                "Could not open {}: {e}.",
                paths.lock_file().display()
            ))
        })?;
    match file.try_lock() {
        Ok(()) => Ok(ProfileLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(LockError::Busy(paths.profile.clone())),
        Err(std::fs::TryLockError::Error(e)) => Err(LockError::Failed(format!(
            "Could not lock {}: {e}.",
            paths.lock_file().display()
        ))),
    }
}

/// How often a busy profile is tried again.
pub const BUSY_RETRY: Duration = Duration::from_millis(50);

/// Takes the profile's lock, waiting up to `wait` while another process holds it (a one-shot
/// command that is about to end, say).
pub async fn lock_profile_waiting(
    paths: &ProfilePaths,
    wait: Duration,
) -> Result<ProfileLock, LockError> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match lock_profile(paths) {
            Err(LockError::Busy(_)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(BUSY_RETRY).await;
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(dir: &std::path::Path) -> ProfilePaths {
        ProfilePaths {
            profile: "default".into(),
            config_file: dir.join("config.toml"),
            state_dir: dir.join("state"),
            data_dir: dir.join("data"),
        }
    }

    #[tokio::test]
    async fn a_held_profile_is_busy_until_its_lock_is_dropped() {
        let dir = std::env::temp_dir().join(format!("vestibule-lock-{}", std::process::id()));
        let paths = paths(&dir);
        let held = lock_profile(&paths).unwrap();
        let waited = lock_profile_waiting(&paths, Duration::from_millis(120)).await;
        assert!(matches!(waited, Err(LockError::Busy(ref p)) if p == "default"));
        assert!(
            waited
                .unwrap_err()
                .to_string()
                .contains("already running for the profile \"default\"")
        );
        drop(held);
        let taken = lock_profile_waiting(&paths, Duration::ZERO).await;
        assert!(taken.is_ok());
        std::fs::remove_dir_all(&dir).ok();
    }
}
