//! Figures for the window (`cargo bench --bench window`):
//!
//! * the CPU time of one egui pass of our views (layout included, no rendering) with 200 rooms
//!   and a 50-person lobby, in-process through egui_kittest;
//! * the real window under Xvfb on a 200-room account on a local Synapse: restored session to
//!   first frame and to lobbies shown, the CPU of the idle open window over 30 s, and its RSS.

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use support::calls::{ec_join, large_account};
use support::figures::{cli_login, summary};
use support::homeserver;
use support::scripted::Scripted;
use vestibule::app::VestibuleApp;
use vestibule::config::Settings;
use vestibule::matrix::{Connection, OwnCallState, RoomLobby, Update};
use vestibule::rtc::membership::WireForm;
use vestibule::rtc::{Call, CallIntent, CallKey, Focus, Participant};
use vestibule::shell::Signals;

const ROOMS: usize = 200;
const NOW: u64 = 1_800_000_000_000;

fn lobby(i: usize, people: usize) -> RoomLobby {
    let participants = (0..people)
        .map(|p| Participant {
            user_id: format!("@user{p}:example.org"),
            device_id: format!("DEVICE{p}"),
            member_id: format!("@user{p}:example.org:DEVICE{p}"),
            joined_ts: NOW - 600_000 + p as u64 * 1000,
            expires_at_ms: NOW + 3_600_000,
            active_focus: Some(Focus::livekit("https://sfu.example.org")),
            focus_selection: None,
            foci_preferred: vec![Focus::livekit("https://sfu.example.org")],
            intent: Some(CallIntent::Video),
            forms: vec![WireForm::Session],
        })
        .collect::<Vec<_>>();
    RoomLobby {
        room_id: format!("!room{i:03}:example.org"),
        name: format!("Room {i:03}"),
        is_direct: false,
        peer: None,
        avatar_url: None,
        calls: if people == 0 {
            Vec::new()
        } else {
            vec![Call {
                key: CallKey::room_call(),
                participants,
            }]
        },
        own: OwnCallState::NotJoined,
    }
}

/// One egui pass of the real views, 200 rooms, the 50-person lobby selected.
fn ui_frame_cost() {
    let backend = Scripted::default();
    let workers = backend.clone();
    let dir = std::env::temp_dir().join(format!("vestibule-bench-ui-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.toml");
    let mut harness = Harness::builder()
        .with_size([1280.0, 800.0])
        .build_eframe(move |cc| {
            VestibuleApp::new(
                &cc.egui_ctx,
                Box::new(backend),
                Settings::default(),
                config,
                None,
                Signals::new(),
            )
            .with_clock(|| NOW)
        });
    let rooms: Vec<RoomLobby> = (0..ROOMS)
        .map(|i| match i {
            0 => lobby(i, 50),
            _ if i % 4 == 0 => lobby(i, 3),
            _ => lobby(i, 0),
        })
        .collect();
    {
        let workers = workers.0.borrow();
        let updates = &workers[0].updates;
        updates
            .send(Update::SignedIn {
                user_id: "@me:example.org".into(),
                device_id: "ME".into(),
            })
            .unwrap();
        updates
            .send(Update::Connection {
                connection: Connection::Online,
            })
            .unwrap();
        updates.send(Update::Rooms { rooms }).unwrap();
    }
    harness.run_steps(10);
    let mut frames = Vec::new();
    for _ in 0..300 {
        let t = Instant::now();
        harness.step();
        frames.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    summary(
        "one egui pass: 200 rooms + 50-person lobby (goal <= 2 ms)",
        frames,
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn proc_field(pid: u32, file: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// utime + stime of a process, in clock ticks (100 per second on Linux).
fn cpu_ticks(pid: u32) -> u64 {
    cpu_ticks_of(&format!("/proc/{pid}/stat"))
}

fn cpu_ticks_of(path: &str) -> u64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// CPU ticks per thread name (threads of one name summed).
fn thread_ticks(pid: u32) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let tid: u32 = task.file_name().to_string_lossy().parse().unwrap_or(0);
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let ticks = cpu_ticks_of(&format!("/proc/{pid}/task/{tid}/stat"));
        match out.iter_mut().find(|(n, _)| *n == name.trim()) {
            Some((_, t)) => *t += ticks,
            None => out.push((name.trim().to_owned(), ticks)),
        }
    }
    out
}

struct Window {
    child: Child,
    first_frame_ms: f64,
    lobbies_ms: f64,
}

fn start_window(data: &Path, runtime_dir: &Path, display: &str) -> Window {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vestibule"))
        .env("VESTIBULE_DATA_DIR", data)
        .env("VESTIBULE_SECRET_STORE", "file")
        .env("XDG_RUNTIME_DIR", runtime_dir)
        .env("DISPLAY", display)
        .env("RUST_LOG", "vestibule=info")
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("startup:") {
                let _ = tx.send(line);
            }
        }
    });
    let number = |line: &str, after: &str| -> f64 {
        let tail = line.split(after).nth(1).unwrap_or("");
        tail.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(f64::NAN)
    };
    let mut first_frame_ms = f64::NAN;
    let mut lobbies_ms = f64::NAN;
    while lobbies_ms.is_nan() {
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("the window reported its start-up");
        if line.contains("first frame") {
            first_frame_ms = number(&line, "first frame ");
        } else if line.contains("shown") {
            lobbies_ms = number(&line, "shown ");
        }
    }
    Window {
        child,
        first_frame_ms,
        lobbies_ms,
    }
}

fn stop(mut window: Window) {
    let _ = Command::new("kill")
        .arg(window.child.id().to_string())
        .status();
    let _ = window.child.wait();
}

/// The CPU the window at `pid` uses over 30 s, and by which of its threads.
fn idle_cpu(pid: u32, what: &str) {
    let before = cpu_ticks(pid);
    let threads_before = thread_ticks(pid);
    std::thread::sleep(Duration::from_secs(30));
    let used_secs = (cpu_ticks(pid) - before) as f64 / 100.0;
    println!(
        "{what}: CPU over 30 s (goal < 0.5 % of a core)  {:.3} %",
        used_secs / 30.0 * 100.0
    );
    for (name, ticks) in thread_ticks(pid) {
        let was = threads_before
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0, |(_, t)| *t);
        if ticks > was {
            println!(
                "    thread {name:<20} {:.2} s",
                (ticks - was) as f64 / 100.0
            );
        }
    }
}

async fn real_window() {
    if Command::new("Xvfb").arg("-help").output().is_err() {
        println!("real window: skipped, Xvfb is not installed (apt-get install xvfb)");
        return;
    }
    let display = format!(":{}", 80 + std::process::id() % 9);
    let mut xvfb = Command::new("Xvfb")
        .args([
            display.as_str(),
            "-screen",
            "0",
            "1280x800x24",
            "-nolisten",
            "tcp",
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;

    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    let rooms = large_account(&alice, &bob, ROOMS).await;
    let root = std::env::temp_dir().join(format!("vestibule-bench-window-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let data = root.join("data");
    let runtime_dir = root.join("run");
    std::fs::create_dir_all(&runtime_dir).unwrap();
    let mut vestibule = Command::new(env!("CARGO_BIN_EXE_vestibule"));
    vestibule
        .env("VESTIBULE_DATA_DIR", &data)
        .env("VESTIBULE_SECRET_STORE", "file");
    cli_login(vestibule, &hs.url, bob.user_id.as_str(), &bob.password);

    let first = start_window(&data, &runtime_dir, &display);
    println!(
        "window after sign-in (initial sync): first frame {:.1} ms, lobbies {:.1} ms",
        first.first_frame_ms, first.lobbies_ms
    );
    stop(first);
    let (mut frames, mut lobbies) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let w = start_window(&data, &runtime_dir, &display);
        frames.push(w.first_frame_ms);
        lobbies.push(w.lobbies_ms);
        stop(w);
    }
    summary("restored session -> first frame (goal < 300 ms)", frames);
    summary(
        "restored session -> lobbies shown (goal < 1000 ms)",
        lobbies,
    );

    let w = start_window(&data, &runtime_dir, &display);
    let pid = w.child.id();
    // A call that starts now, in a room of its own: its row says "<1 min" for a minute.
    ec_join(&alice, &rooms[1], "FRESHDEV").await;
    let fresh = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    idle_cpu(pid, "idle open window, a call in its first minute");
    // Idle as it stays: every call older than a minute, so durations change once a minute.
    let settle = Duration::from_secs(65).saturating_sub(fresh.elapsed());
    tokio::time::sleep(settle).await;
    idle_cpu(pid, "idle open window, every call past its first minute");
    let kib = |key| proc_field(pid, "status", key).unwrap_or(0) as f64 / 1024.0;
    println!(
        "idle open window: RSS with {ROOMS} rooms (goal <= 120 MB)         {:.1} MB \
         ({:.1} MB our own heap and stacks, {:.1} MB mapped files: the GL driver and libraries)",
        kib("VmRSS:"),
        kib("RssAnon:"),
        kib("RssFile:")
    );
    let parts = resident_by_mapping(pid)
        .into_iter()
        .take(6)
        .map(|(name, kib)| format!("{name} {:.1} MB", kib as f64 / 1024.0))
        .collect::<Vec<_>>();
    println!(
        "idle open window: the most resident mappings: {}",
        parts.join(", ")
    );
    stop(w);
    let _ = xvfb.kill();
    let _ = xvfb.wait();
    let _ = std::fs::remove_dir_all(&root);
}

/// Resident KiB per mapped file (by file name; anonymous memory as `[anon]`, the heap as
/// `[heap]`), largest first, from `/proc/PID/smaps`.
fn resident_by_mapping(pid: u32) -> Vec<(String, u64)> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut sums: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let mut current = String::new();
    for line in smaps.lines() {
        if let Some(rss) = line.strip_prefix("Rss:") {
            let kib: u64 = rss
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .unwrap_or(0);
            *sums.entry(current.clone()).or_default() += kib;
        } else if line
            .split_whitespace()
            .next()
            .is_some_and(|first| first.contains('-') && !first.ends_with(':'))
        {
            // A mapping's header: address perms offset dev inode [path].
            let path = line.split_whitespace().nth(5).unwrap_or("[anon]");
            current = path.rsplit('/').next().unwrap_or(path).to_owned();
        }
    }
    let mut sums: Vec<(String, u64)> = sums.into_iter().collect();
    sums.sort_by_key(|(_, kib)| std::cmp::Reverse(*kib));
    sums
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::var_os("VESTIBULE_BENCH_WINDOW_ONLY").is_none() {
        ui_frame_cost();
    }
    // Only the egui pass, e.g. under a profiler.
    if std::env::var_os("VESTIBULE_BENCH_UI_ONLY").is_none() {
        real_window().await;
    }
}
