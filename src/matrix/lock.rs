//! The profile's lock: only one process opens a profile's store at a time.

use std::fs::File;

use crate::config::ProfilePaths;

/// Takes the profile's lock file so that a second process cannot open the same store; the lock
/// is held until the returned file is dropped. `Err` is the sentence to show.
pub fn lock_profile(paths: &ProfilePaths) -> Result<File, String> {
    paths.create_data_dir().map_err(|e| e.to_string())?;
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(paths.lock_file())
        .map_err(|e| format!("Could not open {}: {e}.", paths.lock_file().display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "Vestibule is already running for the profile \"{}\"; use that window, or stop it first.",
            paths.profile
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(format!(
            "Could not lock {}: {e}.",
            paths.lock_file().display()
        )),
    }
}
