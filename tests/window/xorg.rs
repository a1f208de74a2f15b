//! The real binary under a real X server (Xvfb): started in the background (its main window
//! hidden), rung by another user through the real homeserver, it opens the incoming call as a
//! separate top-level window, as the X server itself reports; Enter there answers the call.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::calls::{ec_join, raw_state, send_ring, shared_room};
use crate::support::figures::cli_login;
use crate::support::{RoomOpts, homeserver};

const WAIT: Duration = Duration::from_secs(60);
/// How often the X server is asked again while waiting for a window to change.
const POLL: Duration = Duration::from_millis(100);

/// A child process, killed when the test ends.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// Starts Xvfb on a free display, which it picks and reports once it accepts clients.
fn xvfb() -> (Process, String) {
    let mut child = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1280x800x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("Xvfb is installed (the test command installs it)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let display = format!(":{}", line.trim());
    (Process(child), display)
}

/// Runs an X client (`xdotool`, `xwininfo`, `xprop`) on `display`; its output, or `None` when it fails.
fn x(display: &str, program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .env("DISPLAY", display)
        .output()
        .unwrap_or_else(|e| panic!("{program} is installed (the test command installs it): {e}"));
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The visible top-level windows whose title matches `pattern`.
fn visible_windows(display: &str, pattern: &str) -> Vec<String> {
    x(
        display,
        "xdotool",
        &["search", "--onlyvisible", "--name", pattern],
    )
    .unwrap_or_default()
    .lines()
    .map(str::to_owned)
    .collect()
}

/// Waits until `done` holds, asking again every [`POLL`].
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < WAIT,
            "{what} did not happen within {WAIT:?}"
        );
        std::thread::sleep(POLL);
    }
}

fn vestibule(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vestibule"));
    cmd.env("VESTIBULE_DATA_DIR", data)
        .env("VESTIBULE_SECRET_STORE", "file")
        .env("XDG_RUNTIME_DIR", data.join("run"))
        .env_remove("VESTIBULE_PROFILE")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("DBUS_SESSION_BUS_ADDRESS");
    cmd
}

#[test]
fn a_ring_opens_a_separate_top_level_window_while_the_main_one_is_hidden() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = homeserver();
    let (alice, bob, dm) = runtime.block_on(async {
        let alice = server.register("alice").await;
        let bob = server.register("bob").await;
        let opts = RoomOpts {
            is_direct: true,
            ..RoomOpts::default()
        };
        let dm = shared_room(&alice, &bob, opts).await;
        (alice, bob, dm)
    });
    let data = std::env::temp_dir().join(format!("vestibule-xorg-{}", std::process::id()));
    std::fs::remove_dir_all(&data).ok();
    std::fs::create_dir_all(data.join("run")).unwrap();
    cli_login(
        vestibule(&data),
        &server.url,
        bob.user_id.as_str(),
        &bob.password,
    );

    let (_xvfb, display) = xvfb();
    let mut app = vestibule(&data);
    app.arg("--background")
        .env("DISPLAY", &display)
        .env("RUST_LOG", "vestibule=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut app = Process(app.spawn().unwrap());
    let stderr = app.0.stderr.take().unwrap();
    // The window's log, shown with a failure.
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("window: {line}");
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    // A command run while the window starts is answered (by the window once its worker offers
    // the socket, or by itself if it came before the window took the profile) and does not keep
    // the window's worker out.
    let early = vestibule(&data)
        .args(["lobbies", "--json"])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(
        early.status.success(),
        "{}",
        String::from_utf8_lossy(&early.stderr)
    );
    // The window serves other front ends once its worker holds the profile; once it has
    // synced, it is ready for a ring.
    let front_ends = data.join("default").join("front-ends.sock");
    wait_until("the window's worker holding the profile", || {
        front_ends.exists()
    });
    wait_until("the window answering `lobbies`", || {
        vestibule(&data)
            .args(["lobbies", "--json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    assert!(
        visible_windows(&display, "^Vestibule$").is_empty(),
        "started in the background, the main window is hidden"
    );

    let member = runtime.block_on(ec_join(&alice, &dm, "ALICEDEV"));
    runtime.block_on(send_ring(&alice, &dm, &member, 30_000));
    let mut incoming = Vec::new();
    wait_until("the incoming call's window", || {
        incoming = visible_windows(&display, "call from");
        !incoming.is_empty()
    });
    let [window] = incoming.as_slice() else {
        panic!("one incoming window, not {incoming:?}");
    };
    // A top-level window of its own: a child of the root, mapped, while the main window stays
    // hidden.
    let tree = x(&display, "xwininfo", &["-root", "-children"]).unwrap();
    let id: u64 = window.parse().unwrap();
    assert!(
        tree.contains(&format!("0x{id:x} ")),
        "0x{id:x} is not a child of the root window:\n{tree}"
    );
    let info = x(&display, "xwininfo", &["-id", window]).unwrap();
    assert!(info.contains("Map State: IsViewable"), "{info}");
    // It moves to the middle of the 1280×800 screen once it knows its size (give or take a few
    // pixels of rounding).
    let field = |info: &str, name: &str| -> i64 {
        let line = info.lines().find(|l| l.trim_start().starts_with(name));
        line.and_then(|l| l.split(':').nth(1))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {info}"))
    };
    wait_until("the incoming window centred", || {
        let info = x(&display, "xwininfo", &["-id", window]).unwrap();
        let middle = |corner, size, screen: i64| {
            (field(&info, corner) + field(&info, size) / 2 - screen / 2).abs() <= 8
        };
        middle("Absolute upper-left X", "Width", 1280)
            && middle("Absolute upper-left Y", "Height", 800)
    });
    assert!(visible_windows(&display, "^Vestibule$").is_empty());
    // And it asks for attention, for a desktop that refuses it the focus.
    wait_until("the incoming window's urgency hint", || {
        x(&display, "xprop", &["-id", window, "WM_HINTS"])
            .is_some_and(|hints| hints.contains("urgency hint bit is set"))
    });

    // Enter in that window answers: Bob joins the call, seen by Alice on the server.
    x(&display, "xdotool", &["windowfocus", "--sync", window]).unwrap();
    x(&display, "xdotool", &["key", "Return"]).unwrap();
    wait_until("Bob in the call", || {
        runtime
            .block_on(raw_state(&alice, &dm, "org.matrix.msc3401.call.member"))
            .iter()
            .any(|e| e["sender"] == bob.user_id.as_str() && e["content"]["application"] == "m.call")
    });
    wait_until("the incoming window closing", || {
        visible_windows(&display, "call from").is_empty()
    });
    // Answered, the main window comes up with the call.
    wait_until("the main window shown", || {
        !visible_windows(&display, "^Vestibule$").is_empty()
    });

    Command::new("kill")
        .args(["-s", "TERM", &app.0.id().to_string()])
        .status()
        .unwrap();
    let status = app.0.wait().unwrap();
    let log = log.join().unwrap();
    assert!(status.success(), "{status}: {log}");
    std::fs::remove_dir_all(&data).ok();
}
