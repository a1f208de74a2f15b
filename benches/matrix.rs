//! End-to-end figures against a real Synapse on loopback (`cargo bench --bench matrix`):
//! ring latency beside a bare `/sync` client's wake-up, the memory of `vestibule watch` on a
//! 200-room account, and the time from start to a complete `vestibule lobbies --json`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use matrix_sdk::config::SyncSettings;
use serde_json::json;
use support::calls::{dm_rooms, large_account};
use support::figures::{cli_login, summary};
use support::homeserver;
use vestibule::config::{ProfilePaths, Settings};
use vestibule::matrix::{self, Command as WorkerCommand, Update, WorkerConfig};
use vestibule::ring::SilentRinger;
use vestibule::secrets::SecretStoreKind;

const RINGS: usize = 30;
const ROOMS: usize = 200;

async fn ring_latency() {
    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    let rooms = dm_rooms(&alice, &bob, RINGS).await;
    let mut members = Vec::new();
    for room in &rooms {
        let key = format!("_{}_ALICEDEV_m.call", alice.user_id);
        let content = json!({"application":"m.call","call_id":"","scope":"m.room","device_id":"ALICEDEV",
            "expires":14400000,"focus_active":{"type":"livekit","focus_selection":"multi_sfu"},
            "foci_preferred":[{"type":"livekit","livekit_service_url":"https://sfu.example.org"}]});
        let id = alice
            .room(room)
            .send_state_event_raw("org.matrix.msc3401.call.member", &key, content)
            .await
            .unwrap()
            .event_id;
        members.push(id.to_string());
    }
    // Vestibule, signed in as another device of Bob's.
    let root = std::env::temp_dir().join(format!("vestibule-bench-{}", std::process::id()));
    let dir = root.join("default");
    let paths = ProfilePaths {
        profile: "default".into(),
        config_file: dir.join("config.toml"),
        state_dir: dir.join("state"),
        data_dir: dir,
    };
    let config = WorkerConfig::new(
        paths,
        Settings::default(),
        Arc::new(SilentRinger),
        SecretStoreKind::File,
    );
    let mut app = matrix::spawn(config, Arc::new(|| {}));
    app.commands
        .send(WorkerCommand::Login {
            homeserver: hs.url.clone(),
            user: bob.user_id.to_string(),
            password: bob.password.clone(),
        })
        .unwrap();
    while let Some(u) = app.updates.recv().await {
        if matches!(u, Update::Rooms { .. }) {
            break;
        }
    }
    // The bare client: Bob's test device, long-polling /sync.
    bob.sync_once().await;
    let mut ours = Vec::new();
    let mut raw = Vec::new();
    let mut ours_after_send = Vec::new();
    let mut raw_after_send = Vec::new();
    let mut send_ms = Vec::new();
    for (room, member) in rooms.iter().zip(&members) {
        // The bare client long-polls until a sync brings this very ring.
        let bare = bob.client.clone();
        let watched = room.clone();
        let (sent_tx, sent_rx) = tokio::sync::oneshot::channel::<String>();
        let bare_sync = tokio::spawn(async move {
            let mut wanted: Option<String> = None;
            let mut sent_rx = Some(sent_rx);
            let mut seen = Vec::new();
            loop {
                let response = bare
                    .sync_once(SyncSettings::default().timeout(Duration::from_secs(30)))
                    .await
                    .ok()?;
                let at = Instant::now();
                if let Some(update) = response.rooms.joined.get(&watched) {
                    seen.extend(
                        update
                            .timeline
                            .events
                            .iter()
                            .filter_map(|e| e.event_id().map(|id| id.to_string())),
                    );
                }
                if wanted.is_none()
                    && let Some(rx) = sent_rx.take()
                {
                    wanted = rx.await.ok();
                }
                if wanted.as_ref().is_some_and(|w| seen.contains(w)) {
                    return Some(at);
                }
            }
        });
        // Let the long-poll reach the server before sending.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let content = json!({"m.mentions":{"user_ids":[],"room":true},"notification_type":"ring",
            "m.relates_to":{"rel_type":"m.reference","event_id":member},
            "sender_ts":vestibule::clock::now_ms(),"lifetime":30000});
        let start = Instant::now();
        let response = alice
            .room(room)
            .send_raw("org.matrix.msc4075.rtc.notification", content)
            .await
            .unwrap();
        let returned = Instant::now();
        let _ = sent_tx.send(response.response.event_id.to_string());
        let rang = loop {
            match app.updates.recv().await {
                Some(Update::Ringing { alert }) if alert.call.room_id == room.as_str() => {
                    break Instant::now();
                }
                Some(_) => {}
                None => panic!("worker stopped"),
            }
        };
        let woke = bare_sync
            .await
            .unwrap()
            .expect("the bare client saw the ring");
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        ours.push(ms(rang.saturating_duration_since(start)));
        raw.push(ms(woke.saturating_duration_since(start)));
        // Counted from the moment the sender's request returns, as a caller sees it; a receiver
        // that woke before that counts 0.
        ours_after_send.push(ms(rang.saturating_duration_since(returned)));
        raw_after_send.push(ms(woke.saturating_duration_since(returned)));
        send_ms.push(returned.saturating_duration_since(start).as_secs_f64() * 1000.0);
        app.commands
            .send(WorkerCommand::Decline {
                room: Some(room.to_owned().into()),
            })
            .unwrap();
    }
    summary("ring: the send request itself", send_ms);
    let ours = summary("ring: send start -> our Ring decision", ours);
    let raw = summary("ring: send start -> bare /sync wake-up", raw);
    println!(
        "ring: ratio of medians from the send's start    {:.2}",
        ours / raw.max(0.001)
    );
    let ours = summary("ring: send returned -> our Ring decision", ours_after_send);
    let raw = summary("ring: send returned -> bare /sync wake-up", raw_after_send);
    println!(
        "ring: ratio of medians from the send's return (goal <= 1.2) {:.2}",
        ours / raw.max(0.001)
    );
    app.commands.send(WorkerCommand::Quit).unwrap();
    while let Some(u) = app.updates.recv().await {
        if matches!(u, Update::Stopped) {
            break;
        }
    }
    let _ = std::fs::remove_dir_all(&root);
}

fn vestibule(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vestibule"));
    cmd.env("VESTIBULE_DATA_DIR", data)
        .env("VESTIBULE_SECRET_STORE", "file");
    cmd
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn large_account_figures() {
    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    let started = Instant::now();
    large_account(&alice, &bob, ROOMS).await;
    eprintln!(
        "(set up {ROOMS} rooms in {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    let data = std::env::temp_dir().join(format!("vestibule-bench-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    cli_login(
        vestibule(&data),
        &hs.url,
        bob.user_id.as_str(),
        &bob.password,
    );

    let mut times = Vec::new();
    for run in 0..6 {
        let t = Instant::now();
        let out = vestibule(&data)
            .args(["lobbies", "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if run == 0 {
            // The first run after sign-in does the account's initial sync.
            println!("lobbies --json, {ROOMS} rooms, first (initial sync)  {ms:7.1} ms");
        } else {
            times.push(ms);
        }
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["rooms"].as_array().map(Vec::len), Some(ROOMS));
    }
    summary(
        &format!("lobbies --json, {ROOMS} rooms, later runs (goal <= 1000 ms)"),
        times,
    );

    let mut watch = vestibule(&data)
        .args(["watch", "--json", "--silent"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = watch.stdout.take().unwrap();
    let (synced_tx, synced_rx) = std::sync::mpsc::channel();
    // Keep reading to the end: a closed pipe would end the watcher.
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("\"type\":\"rooms\"") {
                let _ = synced_tx.send(());
            }
        }
    });
    synced_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("watch printed its rooms");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss = rss_kib(watch.id());
    println!(
        "watch: RSS after syncing {ROOMS} rooms (goal <= 60 MB)   {:.1} MB",
        rss as f64 / 1024.0
    );
    // With `watch` running, `lobbies --json` is answered by it over the profile's socket.
    let mut attached = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let out = vestibule(&data)
            .args(["lobbies", "--json"])
            .output()
            .unwrap();
        attached.push(t.elapsed().as_secs_f64() * 1000.0);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["rooms"].as_array().map(Vec::len), Some(ROOMS));
    }
    summary(
        &format!("lobbies --json, {ROOMS} rooms, answered by the running watch (goal <= 50 ms)"),
        attached,
    );
    // SIGTERM: the watcher winds down.
    let _ = Command::new("kill").arg(watch.id().to_string()).status();
    let _ = watch.wait();
    let _ = reader.join();
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    ring_latency().await;
    large_account_figures().await;
}
