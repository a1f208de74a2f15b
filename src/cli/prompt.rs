//! Secrets the command line reads before it starts: a password or a recovery key, prompted
//! without echo on a terminal, else the first line of stdin.

use std::io::{IsTerminal, Read};

/// The account's password, for `login`.
pub(super) fn read_password(user: &str) -> Result<String, String> {
    read_secret(&format!("Password for {user}: "), "password")
}

/// A secret from stdin's first line, or prompted without echo on a terminal.
pub(super) fn read_secret(prompt: &str, what: &str) -> Result<String, String> {
    let stdin = std::io::stdin();
    let secret = if stdin.is_terminal() {
        rpassword::prompt_password(prompt)
            .map_err(|e| format!("Could not read the {what}: {e}."))?
    } else {
        let mut s = String::new();
        stdin
            .lock()
            .read_to_string(&mut s)
            .map_err(|e| format!("Could not read the {what}: {e}."))?;
        s.lines().next().unwrap_or_default().to_owned()
    };
    if secret.trim().is_empty() {
        return Err(format!("No {what} was given."));
    }
    Ok(secret)
}
