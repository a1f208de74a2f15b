//! Opening an address in the person's browser: `$BROWSER` when it is set (a list separated by
//! `:`, each a command whose `%s` is the address, else the address is its last argument, as
//! other tools read it), else `xdg-open`, which asks the desktop (and its portal).

use std::process::{Command, Stdio};

/// Opens `url` in the browser; returns whether a browser took it.
pub fn open(url: &str) -> bool {
    let browsers = std::env::var("BROWSER").unwrap_or_default();
    let mut candidates: Vec<&str> = browsers.split(':').filter(|b| !b.is_empty()).collect();
    if candidates.is_empty() {
        candidates.push("xdg-open");
    }
    candidates.into_iter().any(|browser| {
        let mut words = browser.split_whitespace();
        let Some(program) = words.next() else {
            return false;
        };
        let mut args: Vec<String> = words.map(|w| w.replace("%s", url)).collect();
        if !browser.contains("%s") {
            args.push(url.to_owned());
        }
        let opened = Command::new(program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match opened {
            Ok(status) => status.success(),
            Err(e) => {
                tracing::debug!("could not run {browser}: {e}");
                false
            }
        }
    })
}

/// Opens `url` in the browser without waiting for it (a browser's start can take seconds).
pub fn open_in_background(url: String) {
    let spawned = std::thread::Builder::new()
        .name("browser".into())
        .spawn(move || {
            if !open(&url) {
                tracing::info!("no browser could be opened for the sign-in");
            }
        });
    if let Err(e) = spawned {
        tracing::info!("no browser could be opened for the sign-in: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_browser_that_takes_the_address_wins() {
        let dir = std::env::temp_dir().join(format!("vestibule-browser-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let seen = dir.join("seen");
        let script = dir.join("browser.sh");
        std::fs::write(
            &script,
            format!("#!/bin/sh\necho \"$1\" > {}\n", seen.display()),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        // SAFETY: no other test of this binary reads or writes BROWSER.
        unsafe { std::env::set_var("BROWSER", format!("false:{}", script.display())) };
        assert!(open("http://127.0.0.1:1/auth?x=1"));
        assert_eq!(
            std::fs::read_to_string(&seen).unwrap().trim(),
            "http://127.0.0.1:1/auth?x=1"
        );
        // A command with %s takes the address there.
        let words = format!("{} --new-window %s", script.display());
        unsafe { std::env::set_var("BROWSER", &words) };
        std::fs::write(
            &script,
            format!("#!/bin/sh\necho \"$2\" > {}\n", seen.display()),
        )
        .unwrap();
        assert!(open("http://127.0.0.1:2/"));
        assert_eq!(
            std::fs::read_to_string(&seen).unwrap().trim(),
            "http://127.0.0.1:2/"
        );
        unsafe { std::env::set_var("BROWSER", "false") };
        assert!(!open("http://127.0.0.1:1/"));
        unsafe { std::env::remove_var("BROWSER") };
        std::fs::remove_dir_all(&dir).ok();
    }
}
