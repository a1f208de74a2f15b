//! The `vestibule` command line against a real homeserver: its output, exit codes and sentences,
//! and what a killed process leaves behind.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use matrix_sdk::ruma::RoomId;
use serde_json::{Value, json};
use support::calls::{raw_state, shared_room, timeline};
use support::{RoomOpts, TestUser, homeserver, wait_for};

fn vestibule(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vestibule"));
    cmd.env("VESTIBULE_DATA_DIR", data)
        .env("VESTIBULE_SECRET_STORE", "file")
        .env_remove("VESTIBULE_PROFILE")
        .env_remove("RUST_LOG");
    cmd
}

fn run(data: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = vestibule(data)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    // No command ends in a panic of a task beside it: its backtrace would reach the terminal.
    let stderr = text(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "{args:?} panicked:
{stderr}"
    );
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vestibule-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn login(data: &Path, user: &TestUser) -> String {
    let out = run(
        data,
        &["login", &homeserver().url, user.user_id.as_str()],
        &format!("{}\n", user.password),
    );
    assert!(out.status.success(), "login: {}", text(&out.stderr));
    text(&out.stdout)
}

/// The content of the call membership under `key` as `user` reads it (`None`: there is none).
async fn membership_content(user: &TestUser, room: &RoomId, key: &str) -> Option<Value> {
    raw_state(user, room, "org.matrix.msc3401.call.member")
        .await
        .into_iter()
        .find(|v| v["state_key"] == key)
        .map(|v| v["content"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_lobbies_foci_and_logout() {
    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    let room = shared_room(
        &alice,
        &bob,
        RoomOpts {
            name: Some("Standup".into()),
            ..RoomOpts::default()
        },
    )
    .await;
    let key = format!("_{}_ALICEDEV_m.call", alice.user_id);
    alice.room(&room).send_state_event_raw(
        "org.matrix.msc3401.call.member",
        &key,
        json!({"application":"m.call","call_id":"","scope":"m.room","device_id":"ALICEDEV","expires":14400000,
            "m.call.intent":"audio","focus_active":{"type":"livekit","focus_selection":"multi_sfu"},
            "foci_preferred":[{"type":"livekit","livekit_service_url":"https://sfu.example.org","livekit_alias":room}]}),
    ).await.unwrap();

    let data = data_dir("login");
    // Wrong password: exit 1 and one sentence.
    let out = run(&data, &["login", &hs.url, bob.user_id.as_str()], "wrong\n");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        "The user name or password is wrong."
    );
    // Not signed in yet.
    let out = run(&data, &["lobbies"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("Not signed in"),
        "{}",
        text(&out.stderr)
    );

    let printed = login(&data, &bob);
    assert!(
        printed.contains(&format!("Signed in as {}", bob.user_id)),
        "{printed}"
    );
    let secret = data.join("default/secret.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let out = run(&data, &["lobbies", "--json"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let lobby = json["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["room_id"] == room.as_str())
        .expect("the room");
    assert_eq!(lobby["name"], "Standup");
    assert_eq!(lobby["own"]["state"], "not_joined");
    let p = &lobby["calls"][0]["participants"][0];
    assert_eq!(p["user_id"], alice.user_id.as_str());
    assert_eq!(p["device_id"], "ALICEDEV");
    assert_eq!(p["focus"]["livekit_service_url"], "https://sfu.example.org");
    assert!(!text(&out.stdout).contains(&bob.password));

    let out = run(&data, &["lobbies"], "");
    let human = text(&out.stdout);
    assert!(
        human.contains("Standup") && human.contains("1 in call") && human.contains("ALICEDEV"),
        "{human}"
    );

    let out = run(&data, &["foci", "--json"], "");
    let foci: Value = serde_json::from_slice(&out.stdout).unwrap();
    let sources: Vec<&str> = foci["foci"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["transports", "well_known"], "{foci}");

    // Usage errors exit 2.
    let out = run(&data, &["join"], "");
    assert_eq!(out.status.code(), Some(2));

    let out = run(&data, &["logout"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!secret.exists(), "the secret is gone");
    assert!(!data.join("default/store").exists(), "the store is gone");
    let out = run(&data, &["lobbies"], "");
    assert_eq!(out.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&data);
}

/// Every path under `dir` whose mode lets the group or others in, with its mode.
fn open_to_others(dir: &Path) -> Vec<(PathBuf, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut open = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        if !meta.file_type().is_symlink() && mode & 0o077 != 0 {
            open.push((path.clone(), mode));
        }
        if meta.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
    }
    open
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_and_all_in_it_are_owner_only() {
    let hs = homeserver();
    let bob = hs.register("bob").await;
    let data = data_dir("private");
    login(&data, &bob);
    let profile = data.join("default");
    assert!(profile.join("store").is_dir() && profile.join("state").is_dir());
    assert_eq!(
        open_to_others(&profile),
        [],
        "owner-only under {}",
        profile.display()
    );
    let out = run(&data, &["logout"], "");
    assert!(out.status.success(), "logout: {}", text(&out.stderr));
    std::fs::remove_dir_all(&data).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_from_others_cannot_steer_the_terminal() {
    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    // A colour, a line break and a right-to-left override in the name; a window-title change in
    // the device; clearing the screen in the focus.
    let name = "Red \x1b[31mAlert\x1b[0m\nsecond line \u{202e}txt.exe";
    let device = "EVIL\x1b]0;pwned\x07DEV";
    let focus = "https://sfu.example.org/\x1b[2Jjwt";
    let room = shared_room(
        &alice,
        &bob,
        RoomOpts {
            name: Some(name.into()),
            ..RoomOpts::default()
        },
    )
    .await;
    let key = format!("_{}_{device}_m.call", alice.user_id);
    alice
        .room(&room)
        .send_state_event_raw(
            "org.matrix.msc3401.call.member",
            &key,
            json!({"application":"m.call","call_id":"","scope":"m.room","device_id":device,
                "expires":14400000,"focus_active":{"type":"livekit","focus_selection":"multi_sfu"},
                "foci_preferred":[{"type":"livekit","livekit_service_url":focus,"livekit_alias":room}]}),
        )
        .await
        .unwrap();
    let data = data_dir("inert");
    login(&data, &bob);

    let out = run(&data, &["lobbies"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let human = text(&out.stdout);
    assert!(
        !human.contains('\x1b'),
        "no escape reaches the terminal: {human:?}"
    );
    assert!(
        !human.contains('\u{202e}') && !human.contains('\x07'),
        "{human:?}"
    );
    let line = human
        .lines()
        .find(|l| l.contains("Red Alert second line txt.exe"))
        .unwrap_or_else(|| panic!("the name on one line: {human:?}"));
    assert!(line.contains(room.as_str()), "{line:?}");
    assert!(
        human.contains("EVILDEV") && human.contains("https://sfu.example.org/jwt"),
        "{human:?}"
    );

    // Scripts get every value exactly.
    let out = run(&data, &["lobbies", "--json"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let lobby = json["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["room_id"] == room.as_str())
        .expect("the room");
    assert_eq!(lobby["name"], name);
    let p = &lobby["calls"][0]["participants"][0];
    assert_eq!(p["device_id"], device);
    assert_eq!(p["focus"]["livekit_service_url"], focus);
    std::fs::remove_dir_all(&data).unwrap();
}

/// `vestibule join ROOM` for `bob` in `room`, once Alice sees its membership; with the
/// membership's state key and the device.
async fn joined(name: &str, alice: &TestUser, bob: &TestUser, room: &RoomId) -> Joined {
    let data = data_dir(name);
    let printed = login(&data, bob);
    // "Signed in as USER (device DEVICE)."
    let device = printed
        .rsplit_once("(device ")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(device, _)| device.to_owned())
        .unwrap_or_else(|| panic!("no device in {printed:?}"));
    let key = format!("_{}_{device}_m.call", bob.user_id);
    let child = vestibule(&data)
        .args(["join", room.as_str(), "--intent", "audio"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the join to show", Duration::from_secs(30), async || {
        membership_content(alice, room, &key)
            .await
            .filter(|c| c["device_id"] == device.as_str())
    })
    .await;
    Joined { data, child, key }
}

struct Joined {
    data: PathBuf,
    child: std::process::Child,
    key: String,
}

/// Sends `signal` (a name such as `TERM`) to `child`.
fn signal(child: &std::process::Child, signal: &str) {
    let status = Command::new("kill")
        .args(["-s", signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -s {signal} {}", child.id());
}

/// Waits for `child` to exit, at most `timeout`; its status and stderr.
fn exited_within(
    child: std::process::Child,
    timeout: Duration,
) -> (std::process::ExitStatus, String) {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let out = rx
        .recv_timeout(timeout)
        .unwrap_or_else(|_| panic!("process {pid} still running after {timeout:?}"))
        .unwrap();
    (out.status, text(&out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_join_leaves_no_member_once_the_delay_passed() {
    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    let room = shared_room(&alice, &bob, RoomOpts::default()).await;
    let Joined {
        data,
        mut child,
        key,
    } = joined("kill", &alice, &bob, &room).await;
    // A crash: no chance to leave.
    child.kill().unwrap();
    child.wait().unwrap();
    let left = wait_for(
        "the delayed leave to fire",
        Duration::from_secs(40),
        async || {
            membership_content(&alice, &room, &key)
                .await
                .filter(|c| c == &json!({}))
        },
    )
    .await;
    assert_eq!(left, json!({}));
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hang_up_leaves_the_call_before_the_process_ends() {
    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    let room = shared_room(&alice, &bob, RoomOpts::default()).await;
    let Joined { data, child, key } = joined("hangup", &alice, &bob, &room).await;
    // The terminal closed.
    signal(&child, "HUP");
    let (status, stderr) = exited_within(child, Duration::from_secs(20));
    assert!(status.success(), "{status}: {stderr}");
    // Left, not merely abandoned to the delayed leave: the entry is empty as soon as it ended.
    let content = membership_content(&alice, &room, &key).await;
    assert_eq!(content, Some(json!({})), "{stderr}");
    std::fs::remove_dir_all(&data).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_during_the_wind_down_ends_at_once() {
    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    let room = shared_room(&alice, &bob, RoomOpts::default()).await;
    let Joined { data, child, key } = joined("twice", &alice, &bob, &room).await;
    // Both signals reach the process together: the first starts the wind-down, and the second
    // is already there when it starts, however soon the worker would have left.
    signal(&child, "STOP");
    signal(&child, "TERM");
    signal(&child, "INT");
    signal(&child, "CONT");
    let (status, stderr) = exited_within(child, Duration::from_secs(3));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("Interrupted again: stopped without waiting to leave calls."),
        "{stderr}"
    );
    // The homeserver still takes the entry away.
    wait_for(
        "the delayed leave to fire",
        Duration::from_secs(40),
        async || {
            membership_content(&alice, &room, &key)
                .await
                .filter(|c| c == &json!({}))
        },
    )
    .await;
    std::fs::remove_dir_all(&data).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_keyring_sign_in_refuses_with_the_fix() {
    let hs = homeserver();
    let bob = hs.register("bob").await;
    let data = data_dir("nokeyring");
    let mut child = Command::new(env!("CARGO_BIN_EXE_vestibule"))
        .args(["login", &hs.url, bob.user_id.as_str()])
        .env("VESTIBULE_DATA_DIR", &data)
        .env_remove("VESTIBULE_SECRET_STORE")
        // A session bus that is not there: no Secret Service can answer.
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", data.join("no-bus").display()),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{}\n", bob.password).as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("No keyring could be reached") && err.contains("VESTIBULE_SECRET_STORE=file"),
        "{err}"
    );
    assert!(!data.join("default/secret.json").exists());
    assert!(
        !data.join("default/store").exists(),
        "nothing is kept without a safe place for it"
    );
    let _ = std::fs::remove_dir_all(&data);
}

/// Runs `script` in a real session bus with GNOME Keyring's Secret Service (no display: an
/// unlock prompt cannot be shown), the profile in `data` keeping its secret there. The script
/// sees `$VESTIBULE`, `$VESTIBULE_DATA_DIR`, `$OUT` (= `data`), `$HS`, `$USER_ID` and `$PASSWORD`.
fn in_keyring_session(data: &Path, user: &TestUser, script: &str) -> Output {
    let (home, run) = (data.join("home"), data.join("run"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&run).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
    Command::new("dbus-run-session")
        .args(["--", "sh", "-c", script])
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", &run)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("VESTIBULE", env!("CARGO_BIN_EXE_vestibule"))
        .env("VESTIBULE_DATA_DIR", data)
        .env_remove("VESTIBULE_SECRET_STORE")
        .env("OUT", data)
        .env("HS", &homeserver().url)
        .env("USER_ID", user.user_id.as_str())
        .env("PASSWORD", &user.password)
        .output()
        .expect("dbus-run-session is installed (the test command installs it)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_lives_in_the_secret_service_and_leaves_with_logout() {
    let bob = homeserver().register("bob").await;
    let data = data_dir("keyring");
    // Unlocked as a desktop login would.
    let script = r#"
        echo -n test | gnome-keyring-daemon --unlock --components=secrets >/dev/null || exit 90
        printf '%s\n' "$PASSWORD" | "$VESTIBULE" login "$HS" "$USER_ID" || exit 91
        "$VESTIBULE" lobbies --json >/dev/null || exit 92
        [ ! -e "$VESTIBULE_DATA_DIR/default/secret.json" ] || exit 93
        "$VESTIBULE" logout || exit 94
        "$VESTIBULE" lobbies 2>/dev/null && exit 95
        exit 0
    "#;
    let out = in_keyring_session(&data, &bob, script);
    assert_eq!(
        out.status.code(),
        Some(0),
        "step {:?} failed: {}",
        out.status.code(),
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_keyring_is_said_as_locked_and_no_second_device_is_made() {
    let bob = homeserver().register("bob").await;
    let data = data_dir("locked-keyring");
    // GNOME Keyring's login collection locked after the sign-in, as a screen lock or a
    // `secret-tool lock` does; its unlock prompt cannot be shown here, so it is dismissed.
    let script = r#"
        echo -n test | gnome-keyring-daemon --unlock --components=secrets >/dev/null || exit 90
        printf '%s\n' "$PASSWORD" | "$VESTIBULE" login "$HS" "$USER_ID" || exit 91
        dbus-send --session --dest=org.freedesktop.secrets --type=method_call --print-reply \
            /org/freedesktop/secrets org.freedesktop.Secret.Service.Lock \
            array:objpath:/org/freedesktop/secrets/collection/login >/dev/null || exit 92
        "$VESTIBULE" lobbies 2>"$OUT/lobbies.err" && exit 93
        printf '%s\n' "$PASSWORD" | "$VESTIBULE" login "$HS" "$USER_ID" 2>"$OUT/login.err" && exit 94
        exit 0
    "#;
    let out = in_keyring_session(&data, &bob, script);
    let said = |name: &str| std::fs::read_to_string(data.join(name)).unwrap_or_default();
    assert_eq!(
        out.status.code(),
        Some(0),
        "step {:?} failed: {}\nlobbies: {}\nlogin: {}",
        out.status.code(),
        text(&out.stderr),
        said("lobbies.err"),
        said("login.err")
    );
    let locked = "Your keyring is locked; unlock it and start Vestibule again.";
    assert!(
        said("lobbies.err").contains(locked),
        "{}",
        said("lobbies.err")
    );
    assert!(said("login.err").contains(locked), "{}", said("login.err"));
    // Bob's own test device and the one Vestibule signed in with: no orphan from the refused login.
    let devices = bob.client.devices().await.unwrap().devices;
    assert_eq!(devices.len(), 2, "{devices:?}");
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_or_password_reaches_a_log_or_the_output() {
    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    let dm = shared_room(
        &alice,
        &bob,
        RoomOpts {
            is_direct: true,
            ..RoomOpts::default()
        },
    )
    .await;
    let data = data_dir("leak");
    // Debug logging everywhere, as someone chasing a problem would run it.
    // Output goes to files: a debug log would fill a pipe nobody reads until the end.
    let sink = |name: &str| std::fs::File::create(data.join(name)).unwrap();
    let debug = |args: &[&str], stdin: &str| {
        let name = args[0];
        let mut child = vestibule(&data)
            .args(args)
            .env("RUST_LOG", "debug")
            .stdin(Stdio::piped())
            .stdout(sink(&format!("{name}.out")))
            .stderr(sink(&format!("{name}.err")))
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child
    };
    let login = debug(
        &["login", &hs.url, bob.user_id.as_str()],
        &format!("{}\n", bob.password),
    );
    let out = login.wait_with_output().unwrap();
    assert!(out.status.success(), "login failed");
    let mut ring = debug(&["ring", dm.as_str(), "--intent", "audio"], "");
    let mut rang = false;
    for _ in 0..60 {
        rang = timeline(&alice, &dm)
            .await
            .iter()
            .any(|v| v["type"] == "org.matrix.msc4075.rtc.notification");
        if rang {
            break;
        }
        if let Ok(Some(status)) = ring.try_wait() {
            let out = ring.wait_with_output().unwrap();
            let said: Vec<_> = text(&out.stderr)
                .lines()
                .filter(|l| !l.contains("DEBUG"))
                .map(str::to_owned)
                .collect();
            panic!("ring exited ({status}): {}", said.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(rang, "alice got no ring");
    let _ = Command::new("kill").arg(ring.id().to_string()).status();
    ring.wait().unwrap();
    assert!(debug(&["lobbies", "--json"], "").wait().unwrap().success());

    let secret: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("default/secret.json")).unwrap())
            .unwrap();
    let token = secret["session"]["access_token"]
        .as_str()
        .expect("the session's token")
        .to_owned();
    let passphrase = secret["store_passphrase"].as_str().unwrap().to_owned();
    let mut logs = String::new();
    for name in ["vestibule.log", "vestibule.log.1"] {
        logs.push_str(
            &std::fs::read_to_string(data.join("default/state").join(name)).unwrap_or_default(),
        );
    }
    assert!(logs.contains("DEBUG"), "the log file holds the debug log");
    for name in ["login", "ring", "lobbies"] {
        for ext in ["out", "err"] {
            logs.push_str(
                &std::fs::read_to_string(data.join(format!("{name}.{ext}"))).unwrap_or_default(),
            );
        }
    }
    assert!(logs.contains("Signed in as"), "the outputs were read");
    for (what, secret) in [
        ("access token", &token),
        ("password", &bob.password),
        ("store passphrase", &passphrase),
    ] {
        assert!(!logs.contains(secret.as_str()), "the {what} leaked");
    }
    let _ = std::fs::remove_dir_all(&data);
}

/// Checks documents against `docs/cli.schema.json` with the jsonschema package of the test
/// homeserver's venv (Synapse depends on it): each entry is (the `$defs` name, the document).
fn validate_against_schema(docs: &[(&str, Value)]) {
    let venv = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/synapse.sh"))
        .arg("install")
        .output()
        .unwrap();
    assert!(venv.status.success(), "{}", text(&venv.stderr));
    let python = PathBuf::from(text(&venv.stdout).trim()).join("bin/python");
    let dir = data_dir("schema");
    let lines: String = docs
        .iter()
        .map(|(kind, doc)| format!("{kind}\t{doc}\n"))
        .collect();
    std::fs::write(dir.join("docs.tsv"), lines).unwrap();
    let script = r##"
import json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
failed = 0
for n, line in enumerate(open(sys.argv[2]), 1):
    kind, doc = line.rstrip("\n").split("\t", 1)
    validator = Draft202012Validator({"$ref": "#/$defs/" + kind, "$defs": schema["$defs"]})
    for error in validator.iter_errors(json.loads(doc)):
        failed += 1
        print(f"line {n} ({kind}): {error.message} at {list(error.absolute_path)}: {doc[:300]}")
sys.exit(1 if failed else 0)
"##;
    let out = Command::new(python)
        .args(["-c", script])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/cli.schema.json"))
        .arg(dir.join("docs.tsv"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the output does not match the schema:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_json_document_matches_the_schema() {
    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    let dm = shared_room(
        &alice,
        &bob,
        RoomOpts {
            is_direct: true,
            name: Some("Standup".into()),
            ..RoomOpts::default()
        },
    )
    .await;
    let mut docs: Vec<(&str, Value)> = Vec::new();
    let json_of = |out: &Output| -> Value {
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out.stdout)))
    };

    // A failing --json command says so on stdout too.
    let data = data_dir("schema-cmds");
    let out = run(&data, &["lobbies", "--json"], "");
    assert_eq!(out.status.code(), Some(1));
    let error = json_of(&out);
    assert_eq!(error["type"], "error");
    assert_eq!(error["command"], "lobbies");
    assert_eq!(error["message"].as_str(), Some(text(&out.stderr).trim()));
    docs.push(("error", error));

    login(&data, &bob);
    let member = support::calls::ec_join(&alice, &dm, "ALICEDEV").await;
    let out = run(&data, &["lobbies", "--json"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    docs.push(("lobbies", json_of(&out)));
    let out = run(&data, &["foci", "--json"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    docs.push(("foci", json_of(&out)));
    let state = support::calls::raw_state(&alice, &dm, "org.matrix.msc3401.call.member").await;
    let state_file = data.join("state.json");
    std::fs::write(&state_file, Value::Array(state).to_string()).unwrap();
    let out = run(
        &data,
        &["inspect", state_file.to_str().unwrap(), "--json"],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let calls = json_of(&out);
    assert_eq!(
        calls["calls"][0]["participants"][0]["forms"][0],
        "org.matrix.msc3401.call.member"
    );
    docs.push(("calls", calls));

    // The watch stream: its first state, a ring, and the ring stopping.
    let mut watcher = vestibule(&data)
        .args(["watch", "--json", "--silent"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stdout = watcher.stdout.take().unwrap();
    let sink = lines.clone();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            sink.lock().unwrap().push(line);
        }
    });
    let seen = |kind: &'static str| {
        let lines = lines.clone();
        move || {
            let needle = format!("\"type\":\"{kind}\"");
            let found = lines.lock().unwrap().iter().any(|l| l.contains(&needle));
            found.then_some(())
        }
    };
    let wait = async |kind: &'static str| {
        let seen = seen(kind);
        wait_for(kind, Duration::from_secs(30), async || seen()).await;
    };
    wait("rooms").await;
    support::calls::send_ring(&alice, &dm, &member, 30_000).await;
    wait("ring").await;
    alice
        .room(&dm)
        .send_state_event_raw(
            "org.matrix.msc3401.call.member",
            &format!("_{}_ALICEDEV_m.call", alice.user_id),
            json!({}),
        )
        .await
        .unwrap();
    wait("ring_stopped").await;
    // The lobby without Alice follows the ring's stop.
    wait("lobby").await;
    let _ = watcher.kill();
    let _ = watcher.wait();
    let lines = lines.lock().unwrap().clone();
    for kind in [
        "signed_in",
        "status",
        "foci",
        "rooms",
        "lobby",
        "ring_decision",
        "ring",
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!("\"type\":\"{kind}\""))),
            "no {kind} line in {lines:#?}"
        );
    }
    let ring: Value = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["type"] == "ring")
        .unwrap();
    assert_eq!(ring["sender"], alice.user_id.as_str());
    assert_eq!(ring["notification_type"], "ring");
    assert_eq!(ring["room_id"], dm.as_str());
    for line in &lines {
        docs.push(("watch_event", serde_json::from_str(line).unwrap()));
    }
    validate_against_schema(&docs);
    std::fs::remove_dir_all(&data).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_prints_a_line_and_follows_rings_for_a_bar() {
    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    let dm = shared_room(
        &alice,
        &bob,
        RoomOpts {
            is_direct: true,
            name: Some("Stand\u{1b}[31mup".into()),
            ..RoomOpts::default()
        },
    )
    .await;
    let data = data_dir("status");
    login(&data, &bob);
    let member = support::calls::ec_join(&alice, &dm, "ALICEDEV").await;
    let out = run(&data, &["status"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "1 call\n");

    let mut bar = vestibule(&data)
        .args(["status", "--format", "waybar", "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let stdout = bar.stdout.take().unwrap();
    let sink = lines.clone();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            sink.lock()
                .unwrap()
                .push(serde_json::from_str(&line).expect("waybar reads JSON"));
        }
    });
    let class_seen = async |class: &'static str, after: usize| {
        wait_for(class, Duration::from_secs(30), async || {
            let lines = lines.lock().unwrap();
            lines
                .iter()
                .skip(after)
                .position(|l| l["class"] == class)
                .map(|i| i + after)
        })
        .await
    };
    let first = class_seen("calls", 0).await;
    assert_eq!(lines.lock().unwrap()[first]["text"], "1");
    support::calls::send_ring(&alice, &dm, &member, 30_000).await;
    let ringing = class_seen("ringing", first).await;
    {
        let lines = lines.lock().unwrap();
        let line = &lines[ringing];
        let tooltip = line["tooltip"].as_str().unwrap();
        assert!(tooltip.contains("ringing: "), "{line}");
        assert!(
            tooltip.contains("Standup") && !tooltip.contains('\u{1b}'),
            "the room's name arrives without its escape: {line}"
        );
        assert_eq!(line["alt"], "ringing");
        for key in ["text", "tooltip", "class", "alt"] {
            assert!(line[key].is_string(), "{key} in {line}");
        }
    }
    alice
        .room(&dm)
        .send_state_event_raw(
            "org.matrix.msc3401.call.member",
            &format!("_{}_ALICEDEV_m.call", alice.user_id),
            json!({}),
        )
        .await
        .unwrap();
    class_seen("idle", ringing).await;
    let _ = bar.kill();
    let _ = bar.wait();
    std::fs::remove_dir_all(&data).ok();
}

/// A `vestibule` process whose stdout lines are collected as they come.
struct Streaming {
    child: std::process::Child,
    /// Each line with when it arrived.
    lines: std::sync::Arc<std::sync::Mutex<Vec<(std::time::Instant, String)>>>,
}

impl Streaming {
    fn start(data: &Path, args: &[&str]) -> Self {
        let mut child = vestibule(data)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                sink.lock().unwrap().push((std::time::Instant::now(), line));
            }
        });
        Self { child, lines }
    }

    /// Waits for a JSON line that `pick` accepts.
    async fn expect(&self, what: &str, pick: impl Fn(&Value) -> bool) -> Value {
        self.expect_at(what, pick).await.1
    }

    /// Waits for a JSON line that `pick` accepts, and says when it arrived.
    async fn expect_at(
        &self,
        what: &str,
        pick: impl Fn(&Value) -> bool,
    ) -> (std::time::Instant, Value) {
        wait_for(what, Duration::from_secs(30), async || {
            let lines = self.lines.lock().unwrap();
            lines
                .iter()
                .filter_map(|(at, l)| Some((*at, serde_json::from_str::<Value>(l).ok()?)))
                .find(|(_, v)| pick(v))
        })
        .await
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_are_answered_by_the_running_instance() {
    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    let dm = shared_room(
        &alice,
        &bob,
        RoomOpts {
            is_direct: true,
            name: Some("Standup".into()),
            ..RoomOpts::default()
        },
    )
    .await;
    let data = data_dir("instance");
    login(&data, &bob);
    let instance = Streaming::start(&data, &["watch", "--json", "--silent"]);
    // A command run while the instance starts is answered (by the instance once it offers its
    // socket, or by itself if it took the profile first) and keeps nobody out.
    let early = run(&data, &["lobbies", "--json"], "");
    assert!(early.status.success(), "{}", text(&early.stderr));
    let early: Value = serde_json::from_slice(&early.stdout).unwrap();
    assert!(
        early["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["room_id"] == dm.as_str()),
        "{early}"
    );
    instance
        .expect("the instance's first sync", |v| v["type"] == "rooms")
        .await;

    // Alice starts a call: `lobbies` sees it from the instance, without a sync of its own.
    let member = support::calls::ec_join(&alice, &dm, "ALICEDEV").await;
    instance
        .expect("Alice's call", |v| {
            v["type"] == "lobby" && v["calls"][0]["participants"][0]["device_id"] == "ALICEDEV"
        })
        .await;
    let started = std::time::Instant::now();
    let out = run(&data, &["lobbies", "--json"], "");
    let took = started.elapsed();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lobbies: Value = serde_json::from_slice(&out.stdout).unwrap();
    let room = lobbies["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["room_id"] == dm.as_str())
        .unwrap();
    assert_eq!(room["calls"][0]["participants"][0]["device_id"], "ALICEDEV");
    eprintln!("figure: lobbies --json answered by the running instance in {took:?}");

    // A second front end attaches, and a third that never reads what it is sent; the first
    // two both hear Alice's ring.
    let second = Streaming::start(&data, &["watch", "--json"]);
    second
        .expect("the second front end's state", |v| v["type"] == "rooms")
        .await;
    let mut stalled = std::os::unix::net::UnixStream::connect(data.join("default/front-ends.sock"))
        .expect("the instance serves front ends");
    stalled.write_all(b"{\"request\":\"follow\"}\n").unwrap();
    let ring = support::calls::send_ring(&alice, &dm, &member, 30_000).await;
    let is_ring = |v: &Value| v["type"] == "ring" && v["event_id"] == ring.as_str();
    let (at_instance, _) = instance.expect_at("the ring", is_ring).await;
    let (at_second, _) = second.expect_at("the ring", is_ring).await;
    eprintln!(
        "figure: the ring reached the attached front end {:?} after the instance (a stalled one attached)",
        at_second.saturating_duration_since(at_instance)
    );

    // `decline` from the command line stops the instance's ring.
    let out = run(&data, &["decline", dm.as_str()], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    instance
        .expect("the ring declined", |v| {
            v["type"] == "ring_stopped"
                && v["event_id"] == ring.as_str()
                && v["reason"] == "declined"
        })
        .await;

    // `join` from the command line joins in the instance, which stays; `leave` ends it there.
    let out = run(&data, &["join", dm.as_str(), "--intent", "audio"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Joined the call in Standup"),
        "{}",
        text(&out.stdout)
    );
    instance
        .expect("joined in the instance", |v| {
            v["type"] == "joined" && v["room_id"] == dm.as_str()
        })
        .await;
    let out = run(&data, &["leave", dm.as_str()], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    instance
        .expect("left in the instance", |v| {
            v["type"] == "left" && v["room_id"] == dm.as_str()
        })
        .await;
    drop(stalled);
    drop(second);
    drop(instance);
    std::fs::remove_dir_all(&data).ok();
}
