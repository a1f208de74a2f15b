//! Shared support for integration tests: a real Synapse on loopback, fresh users and call rooms.
//!
//! Include it from a test binary with `mod support;`. Each test binary uses only a subset.
//!
//! * [`homeserver()`]: one Synapse per test binary, started lazily by `scripts/synapse.sh start DIR`
//!   (or the server at `$VESTIBULE_TEST_HOMESERVER`, in which case nothing is started). It stops when
//!   the test process ends: a detached watchdog shell waits for our pid to disappear, then runs
//!   `scripts/synapse.sh stop DIR` and removes DIR.
//! * [`dedicated_homeserver()`]: a server of its own (own DIR and port) for tests that restart it;
//!   stopped on drop (plus the same watchdog).
//! * [`Homeserver::register`]: a fresh, logged-in user with a matrix-sdk [`Client`] (in-memory store).
//! * [`TestUser::create_call_room`], [`TestUser::join`], [`TestUser::sync_once`], [`wait_for`].
#![allow(dead_code)]

pub mod app;
pub mod calls;
pub mod desktop;
pub mod figures;
pub mod oidc;
pub mod proxy;
pub mod scripted;

use std::hash::{BuildHasher, Hasher};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use matrix_sdk::Client;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::api::client::account::register;
use matrix_sdk::ruma::api::client::room::create_room;
use matrix_sdk::ruma::api::client::uiaa;
use matrix_sdk::ruma::serde::Raw;
use matrix_sdk::ruma::{OwnedDeviceId, OwnedRoomId, OwnedUserId, RoomId, RoomVersionId, UserId};
use serde_json::json;

/// Env var: base URL of an already running homeserver to use instead of starting Synapse.
pub const EXTERNAL_HOMESERVER_ENV: &str = "VESTIBULE_TEST_HOMESERVER";

/// The `org.matrix.msc3401.call.member` state event type.
pub const CALL_MEMBER: &str = "org.matrix.msc3401.call.member";
/// The `m.rtc.member` state event type (not modelled by ruma).
pub const RTC_MEMBER: &str = "m.rtc.member";

/// A running homeserver.
#[derive(Debug)]
pub struct Homeserver {
    /// Base URL, e.g. `http://127.0.0.1:38123` (no trailing slash).
    pub url: String,
    /// Server name, e.g. `127.0.0.1:38123` (for an external server: the URL's authority).
    pub server_name: String,
    /// The server's data dir; `None` for an external server (nothing to stop or restart).
    dir: Option<PathBuf>,
    /// Stop the server (and remove `dir`) on drop: dedicated servers only.
    stop_on_drop: bool,
}

/// A registered, logged-in user.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub user_id: OwnedUserId,
    pub password: String,
    pub device_id: OwnedDeviceId,
    /// Logged in, in-memory store, not syncing by itself (see [`TestUser::sync_once`]).
    pub client: Client,
}

/// Options for [`TestUser::create_call_room`].
#[derive(Debug, Clone)]
pub struct RoomOpts {
    /// Let everybody (power level 0) send `org.matrix.msc3401.call.member` and `m.rtc.member`
    /// state. With `false` the server's defaults apply (state_default 50: only the creator can).
    pub lower_call_power_levels: bool,
    /// e.g. `Some("org.matrix.msc3757.11".into())`; `None`: the server's default (12 on Synapse 1.163).
    pub room_version: Option<String>,
    /// Create the room as a DM (`is_direct`; matrix-sdk also marks it in `m.direct`).
    pub is_direct: bool,
    /// Add `m.room.encryption` (`m.megolm.v1.aes-sha2`) to the initial state.
    pub encrypted: bool,
    /// Optional room name.
    pub name: Option<String>,
}

impl Default for RoomOpts {
    fn default() -> Self {
        Self {
            lower_call_power_levels: true,
            room_version: None,
            is_direct: false,
            encrypted: false,
            name: None,
        }
    }
}

// ------------------------------------------------------------------------------------- homeservers

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/synapse.sh")
}

/// The shared homeserver of this test binary (started on first use).
///
/// Panics (in every test that calls it) with the script's stderr when Synapse cannot be started.
pub fn homeserver() -> &'static Homeserver {
    static SHARED: OnceLock<Result<Homeserver, String>> = OnceLock::new();
    let shared = SHARED.get_or_init(|| match std::env::var(EXTERNAL_HOMESERVER_ENV) {
        Ok(url) if !url.trim().is_empty() => Ok(Homeserver::external(url.trim())),
        _ => Homeserver::start_local(false),
    });
    match shared {
        Ok(hs) => hs,
        Err(e) => panic!("{e}"),
    }
}

/// A homeserver of its own (own DIR and port; never the external one), for tests that restart
/// it. Stopped, and its DIR removed, on drop.
pub fn dedicated_homeserver() -> Homeserver {
    Homeserver::start_local(true).unwrap_or_else(|e| panic!("{e}"))
}

impl Homeserver {
    fn external(url: &str) -> Self {
        let url = url.trim_end_matches('/').to_owned();
        let server_name = url
            .split_once("://")
            .map_or(url.as_str(), |(_, rest)| rest)
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        Homeserver {
            url,
            server_name,
            dir: None,
            stop_on_drop: false,
        }
    }

    fn start_local(stop_on_drop: bool) -> Result<Self, String> {
        let dir = fresh_dir().map_err(|e| format!("cannot create a temp dir for Synapse: {e}"))?;
        // The watchdog first, so that the server is stopped even if we die during start-up.
        spawn_watchdog(&dir).map_err(|e| format!("cannot spawn the Synapse watchdog: {e}"))?;
        let started = Instant::now();
        let url = run_start(&dir, None)?;
        eprintln!(
            "support: Synapse at {url} (dir {}) started in {:?}",
            dir.display(),
            started.elapsed()
        );
        let server_name = url.trim_start_matches("http://").to_owned();
        Ok(Homeserver {
            url,
            server_name,
            dir: Some(dir),
            stop_on_drop,
        })
    }

    /// The server's data dir (`None` for an external server).
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The port of the server's URL.
    pub fn port(&self) -> u16 {
        self.server_name
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in server name {}", self.server_name))
    }

    /// Stop the server (idempotent). Panics for an external server.
    ///
    /// Async (the script runs on a blocking thread) so that the runtime keeps polling meanwhile:
    /// matrix-sdk clients' pooled connections then notice the server is gone. Blocking the runtime
    /// instead makes the first request after a restart fail with hyper's `IncompleteMessage`.
    pub async fn stop(&self) {
        let dir = self
            .dir
            .clone()
            .expect("cannot stop an external homeserver");
        tokio::task::spawn_blocking(move || run_stop(&dir))
            .await
            .expect("stop task")
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Start the stopped server again on the same port with the same database and signing key.
    /// Panics for an external server or when the start fails.
    pub async fn start(&self) {
        let dir = self
            .dir
            .clone()
            .expect("cannot start an external homeserver");
        let port = self.port();
        let url = tokio::task::spawn_blocking(move || run_start(&dir, Some(port)))
            .await
            .expect("start task")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(url, self.url, "restarted Synapse answers on another URL");
    }

    /// [`stop`](Self::stop), then [`start`](Self::start) (same port, database and signing key).
    pub async fn restart(&self) {
        self.stop().await;
        self.start().await;
    }

    /// Register a fresh user (localpart `prefix` + counter + pid + random suffix) and log it in.
    pub async fn register(&self, prefix: &str) -> TestUser {
        let localpart = unique_localpart(prefix);
        let password = format!("pw-{localpart}");
        let client = Client::builder()
            .homeserver_url(&self.url)
            .build()
            .await
            .unwrap_or_else(|e| panic!("building a client for {}: {e}", self.url));

        let mut request = register::v3::Request::new();
        request.username = Some(localpart.clone());
        request.password = Some(password.clone());
        request.initial_device_display_name = Some(format!("vestibule-test {localpart}"));
        request.auth = Some(uiaa::AuthData::Dummy(uiaa::Dummy::new()));
        let auth = client.matrix_auth();
        let response = match auth.register(request.clone()).await {
            Ok(response) => response,
            Err(e) => {
                // User-interactive auth: repeat the dummy stage within the server's session.
                let Some(info) = e.as_uiaa_response() else {
                    panic!("registering {localpart} on {}: {e}", self.url);
                };
                let mut dummy = uiaa::Dummy::new();
                dummy.session = info.session.clone();
                request.auth = Some(uiaa::AuthData::Dummy(dummy));
                auth.register(request)
                    .await
                    .unwrap_or_else(|e| panic!("registering {localpart} (UIA round 2): {e}"))
            }
        };

        // `register` logs the client in with the returned access token; log in explicitly if the
        // server did not return one.
        if client.session_meta().is_none() {
            auth.login_username(&localpart, &password)
                .initial_device_display_name("vestibule-test")
                .send()
                .await
                .unwrap_or_else(|e| panic!("logging in {localpart}: {e}"));
        }
        let meta = client
            .session_meta()
            .expect("client is logged in after registration");
        assert_eq!(
            meta.user_id, response.user_id,
            "session user differs from the registered one"
        );
        TestUser {
            user_id: meta.user_id.clone(),
            password,
            device_id: meta.device_id.clone(),
            client,
        }
    }
}

impl Drop for Homeserver {
    fn drop(&mut self) {
        if !self.stop_on_drop {
            return;
        }
        if let Some(dir) = &self.dir {
            if let Err(e) = run_stop(dir) {
                eprintln!("support: {e}");
            }
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn fresh_dir() -> std::io::Result<PathBuf> {
    static N: AtomicU64 = AtomicU64::new(0);
    loop {
        let dir = std::env::temp_dir().join(format!(
            "vestibule-synapse-{}-{}-{:x}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            random_u64() & 0xffff_ffff,
        ));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `scripts/synapse.sh start DIR` (with `SYNAPSE_PORT` when given); the printed base URL.
fn run_start(dir: &Path, port: Option<u16>) -> Result<String, String> {
    let mut cmd = Command::new(script());
    cmd.arg("start").arg(dir).stdin(Stdio::null());
    match port {
        Some(port) => cmd.env("SYNAPSE_PORT", port.to_string()),
        None => cmd.env_remove("SYNAPSE_PORT"),
    };
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script().display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let url = stdout.trim();
    if !out.status.success() || !url.starts_with("http://") {
        return Err(format!(
            "`scripts/synapse.sh start {}` failed ({}):\n{}\n{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            stdout,
        ));
    }
    Ok(url.to_owned())
}

fn run_stop(dir: &Path) -> Result<(), String> {
    let out = Command::new(script())
        .arg("stop")
        .arg(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script().display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`scripts/synapse.sh stop {}` failed ({}): {}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A detached shell that waits for this process to end, then stops the server in `dir` and
/// removes `dir`. It ends early when `dir` disappears (a dedicated server dropped cleanly).
/// Own process group and SIGHUP/SIGINT ignored, so a Ctrl-C or a closed terminal that kills the
/// test binary does not kill the watchdog too.
fn spawn_watchdog(dir: &Path) -> std::io::Result<()> {
    const WATCHDOG: &str = r#"trap '' HUP INT
while kill -0 "$1" 2>/dev/null && [ -d "$3" ]; do sleep 1; done
if [ -d "$3" ]; then "$2" stop "$3" >/dev/null 2>&1; rm -rf "$3"; fi"#;
    Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg("vestibule-synapse-watchdog")
        .arg(std::process::id().to_string())
        .arg(script())
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()?;
    // The child is never waited for: it outlives us and is reaped by init.
    Ok(())
}

fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish()
}

fn unique_localpart(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix: String = prefix
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._=-/".contains(*c))
        .collect();
    format!(
        "{prefix}{}-{}-{:06x}",
        COUNTER.fetch_add(1, Ordering::Relaxed),
        std::process::id(),
        random_u64() & 0xff_ffff
    )
}

// ------------------------------------------------------------------------------------------ users

impl TestUser {
    /// Create a room for calls, inviting `invite`. See [`RoomOpts`].
    pub async fn create_call_room(&self, invite: &[&UserId], opts: RoomOpts) -> OwnedRoomId {
        let mut request = create_room::v3::Request::new();
        request.invite = invite.iter().map(|u| (*u).to_owned()).collect();
        request.is_direct = opts.is_direct;
        request.name = opts.name.clone();
        if let Some(version) = &opts.room_version {
            request.room_version = Some(
                RoomVersionId::try_from(version.as_str())
                    .unwrap_or_else(|e| panic!("bad room version {version}: {e}")),
            );
        }
        if opts.lower_call_power_levels {
            // Synapse merges the override shallowly (`dict.update`): an `events` map replaces the
            // default one, so repeat Synapse's defaults next to the call membership types.
            let creator_power = matches!(opts.room_version.as_deref(), None | Some("12"))
                || opts
                    .room_version
                    .as_deref()
                    .is_some_and(|v| v.starts_with("org.matrix.hydra"));
            let content = json!({
                "events": {
                    "m.room.name": 50,
                    "m.room.power_levels": 100,
                    "m.room.history_visibility": 100,
                    "m.room.canonical_alias": 50,
                    "m.room.avatar": 50,
                    "m.room.tombstone": if creator_power { 150 } else { 100 },
                    "m.room.server_acl": 100,
                    "m.room.encryption": 100,
                    CALL_MEMBER: 0,
                    RTC_MEMBER: 0,
                }
            });
            request.power_level_content_override = Some(raw(&content));
        }
        if opts.encrypted {
            request.initial_state.push(raw(&json!({
                "type": "m.room.encryption",
                "state_key": "",
                "content": { "algorithm": "m.megolm.v1.aes-sha2" },
            })));
        }
        let room =
            self.client.create_room(request).await.unwrap_or_else(|e| {
                panic!("{} creating a call room ({opts:?}): {e}", self.user_id)
            });
        room.room_id().to_owned()
    }

    /// Join a room this user was invited to.
    pub async fn join(&self, room: &RoomId) {
        self.client
            .join_room_by_id(room)
            .await
            .unwrap_or_else(|e| panic!("{} joining {room}: {e}", self.user_id));
    }

    /// One `/sync` that returns at once (timeout 0), continuing from the previous one.
    pub async fn sync_once(&self) {
        self.client
            .sync_once(SyncSettings::default().timeout(Duration::ZERO))
            .await
            .unwrap_or_else(|e| panic!("{} syncing: {e}", self.user_id));
    }

    /// The room, as this user's client knows it. Panics if unknown (sync first).
    pub fn room(&self, room: &RoomId) -> matrix_sdk::Room {
        self.client
            .get_room(room)
            .unwrap_or_else(|| panic!("{} does not know room {room} (sync first?)", self.user_id))
    }
}

fn raw<T>(value: &serde_json::Value) -> Raw<T> {
    Raw::from_json(serde_json::value::to_raw_value(value).expect("JSON value serialises"))
}

// ---------------------------------------------------------------------------------------- waiting

/// Poll `f` (every 50 ms) until it returns `Some`; panic with `what` after `timeout`.
///
/// `f` is an async closure (`async || ...`) or a closure returning a future; wrap a plain
/// closure as `async || f()`.
pub async fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut f: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = f().await {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
