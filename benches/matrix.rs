//! End-to-end figures against a real Synapse on loopback (`cargo bench --bench matrix`):
//! ring latency from the moment the caller's send returns, beside a bare HTTP `/sync`
//! long-poll and the SDK's own `sync_once` in the same run, the memory of `vestibule watch` on a
//! 200-room account, and the time from start to a complete `vestibule lobbies --json`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use matrix_sdk::config::SyncSettings;
use serde_json::json;
use support::calls::{dm_rooms, ec_join, ec_leave, large_account, send_ring};
use support::figures::{cli_login, summary};
use support::homeserver;
use vestibule::config::{ProfilePaths, Settings};
use vestibule::matrix::{self, Command as WorkerCommand, Update, WorkerConfig};
use vestibule::ring::SilentRinger;
use vestibule::secrets::SecretStoreKind;

const RINGS: usize = 30;
/// The big account's rooms: 200, or `VESTIBULE_BENCH_ROOMS`.
fn rooms_count() -> usize {
    std::env::var("VESTIBULE_BENCH_ROOMS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200)
}

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
    // Beside it two more receivers of Bob's test device: a bare HTTP long-poll of `/sync`
    // (the limit on this machine) and the SDK's own `sync_once` with its in-memory store.
    let mut bare = BarePoll::start(&hs.url, &bob).await;
    bob.sync_once().await;
    // And matrix-js-sdk, Element Call's engine, as a third device of Bob's.
    let mut js = JsPeer::start(&hs.url, &bob);
    let logging_spans = std::env::var_os(vestibule::logging::SPANS_ENV).is_some();
    let mut ours = Vec::new();
    let mut raw = Vec::new();
    let mut sdk = Vec::new();
    let mut send_ms = Vec::new();
    let mut js_ms = Vec::new();
    for (room, member) in rooms.iter().zip(&members) {
        let (sent_tx, sent_rx) = tokio::sync::watch::channel::<Option<String>>(None);
        let mut raw_sent = sent_rx.clone();
        let watched = room.to_string();
        let raw_poll = tokio::spawn(async move {
            let at = bare.until_seen(&watched, &mut raw_sent).await;
            (bare, at)
        });
        // Its spans would mix with the worker's in the log: it stays out when they are logged.
        let sdk_poll = (!logging_spans)
            .then(|| tokio::spawn(sdk_until_seen(bob.client.clone(), room.clone(), sent_rx)));
        // Let the long-polls reach the server before sending.
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
        let returned_wall = wall_ms();
        // With VESTIBULE_LOG_SPANS and RUST_LOG, the log shows where the time went after this.
        tracing::info!(target: "vestibule::bench", "the ring's send returned");
        let _ = sent_tx.send(Some(response.response.event_id.to_string()));
        let rang = loop {
            match app.updates.recv().await {
                Some(Update::Ringing { alert }) if alert.call.room_id == room.as_str() => {
                    break Instant::now();
                }
                Some(_) => {}
                None => panic!("worker stopped"),
            }
        };
        let (back, woke) = raw_poll.await.unwrap();
        bare = back;
        let sdk_woke = match sdk_poll {
            Some(poll) => Some(poll.await.unwrap()),
            None => None,
        };
        // Counted from the moment the sender's request returns, as a caller sees it; a receiver
        // that woke before that counts 0.
        let ms = |at: Instant| at.saturating_duration_since(returned).as_secs_f64() * 1000.0;
        ours.push(ms(rang));
        raw.push(ms(woke));
        sdk.extend(sdk_woke.map(ms));
        send_ms.push(returned.saturating_duration_since(start).as_secs_f64() * 1000.0);
        if let Some(peer) = &mut js {
            let event = response.response.event_id.to_string();
            match peer.seen(&event) {
                Some(at_ms) => js_ms.push((at_ms - returned_wall).max(0.0)),
                None => {
                    println!(
                        "ring: the js-sdk peer did not see {event} within 30 s; it is left out"
                    );
                    js = None;
                }
            }
        }
        app.commands
            .send(WorkerCommand::Decline {
                room: Some(room.to_owned().into()),
            })
            .unwrap();
    }
    summary("ring: the send request itself", send_ms);
    println!("ring: from the send's return to the receiver knowing:");
    let raw = summary("  a bare HTTP long-poll of /sync", raw);
    let sdk = if sdk.is_empty() {
        f64::NAN
    } else {
        summary("  matrix-sdk sync_once, in-memory store", sdk)
    };
    let js = if js_ms.len() == RINGS {
        summary("  matrix-js-sdk 43 on Node, its Timeline event", js_ms)
    } else {
        f64::NAN
    };
    let ours = summary("  Vestibule's worker: the Ring decision", ours);
    println!(
        "ring: ratio of medians, ours / bare (goal <= 1.2) {:.2}; ours / js-sdk's (goal < 1) {:.2}; \
         the SDK's / bare {:.2}",
        ours / raw.max(0.001),
        ours / js.max(0.001),
        sdk / raw.max(0.001)
    );
    app.commands.send(WorkerCommand::Quit).unwrap();
    while let Some(u) = app.updates.recv().await {
        if matches!(u, Update::Stopped) {
            break;
        }
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// The wall clock in ms since the epoch, fractional: the js-sdk peer's clock too.
fn wall_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// matrix-js-sdk 43 on Node (`scripts/js-peer.sh run`, `benches/js/receiver.mjs`), signed in as
/// a new device of the user, telling when each call notification reaches it.
struct JsPeer {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<serde_json::Value>,
}

impl JsPeer {
    /// The peer, once its first sync is processed; `None`, said why, when it cannot run.
    fn start(hs_url: &str, user: &support::TestUser) -> Option<Self> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/js-peer.sh");
        let spawned = Command::new(script)
            .arg("run")
            .env("VESTIBULE_PEER_HOMESERVER", hs_url)
            .env("VESTIBULE_PEER_USER", user.user_id.localpart())
            .env("VESTIBULE_PEER_PASSWORD", &user.password)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                println!("js-sdk peer: not run, scripts/js-peer.sh did not start: {e}");
                return None;
            }
        };
        let Some(stdout) = child.stdout.take() else {
            println!("js-sdk peer: not run, its output could not be read");
            let _ = child.kill();
            return None;
        };
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Ok(value) = serde_json::from_str(&line)
                    && tx.send(value).is_err()
                {
                    break;
                }
            }
        });
        let mut peer = Self { child, lines };
        // Installing Node and the SDK the first time takes a while.
        let ready = peer.next_where(Duration::from_secs(300), |v| v["ready"] == true);
        if ready.is_none() {
            println!("js-sdk peer: not run, it did not finish its first sync within 300 s");
            return None;
        }
        Some(peer)
    }

    fn next_where(
        &mut self,
        within: Duration,
        wanted: impl Fn(&serde_json::Value) -> bool,
    ) -> Option<serde_json::Value> {
        let until = Instant::now() + within;
        loop {
            let left = until.checked_duration_since(Instant::now())?;
            let line = self.lines.recv_timeout(left).ok()?;
            if wanted(&line) {
                return Some(line);
            }
        }
    }

    /// When (wall clock, ms) the peer saw `event_id`.
    fn seen(&mut self, event_id: &str) -> Option<f64> {
        self.next_where(Duration::from_secs(30), |v| v["event_id"] == event_id)
            .and_then(|v| v["at_ms"].as_f64())
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for JsPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bare client: `GET /sync` long-polls over HTTP, the JSON read for the event's id and
/// nothing else.
struct BarePoll {
    http: reqwest::Client,
    url: String,
    token: String,
    since: String,
}

impl BarePoll {
    async fn start(hs_url: &str, user: &support::TestUser) -> Self {
        let mut poll = Self {
            http: reqwest::Client::new(),
            url: format!("{}/_matrix/client/v3/sync", hs_url.trim_end_matches('/')),
            token: user.client.access_token().expect("signed in"),
            since: String::new(),
        };
        let filter = r#"{"room":{"timeline":{"limit":1}}}"#;
        poll.since = poll.get(&[("timeout", "0"), ("filter", filter)]).await["next_batch"]
            .as_str()
            .expect("a sync token")
            .to_owned();
        poll
    }

    async fn get(&self, query: &[(&str, &str)]) -> serde_json::Value {
        let url = reqwest::Url::parse_with_params(&self.url, query).expect("a sync address");
        self.http
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("the homeserver answered")
            .json()
            .await
            .expect("a sync response")
    }

    /// Long-polls until a response brings the event `sent` names in `room`; when it came.
    async fn until_seen(
        &mut self,
        room: &str,
        sent: &mut tokio::sync::watch::Receiver<Option<String>>,
    ) -> Instant {
        let mut seen = Vec::new();
        loop {
            let since = self.since.clone();
            let body = self.get(&[("since", &since), ("timeout", "30000")]).await;
            let at = Instant::now();
            if let Some(next) = body["next_batch"].as_str() {
                self.since = next.to_owned();
            }
            if let Some(events) = body["rooms"]["join"][room]["timeline"]["events"].as_array() {
                seen.extend(
                    events
                        .iter()
                        .filter_map(|e| e["event_id"].as_str().map(str::to_owned)),
                );
            }
            let wanted = sent
                .wait_for(Option::is_some)
                .await
                .expect("the sender says what it sent")
                .clone();
            if wanted.is_some_and(|w| seen.contains(&w)) {
                return at;
            }
        }
    }
}

/// The SDK's own long-poll (`sync_once`) until a response brings the event `sent` names in
/// `room`; when it came.
async fn sdk_until_seen(
    client: matrix_sdk::Client,
    room: matrix_sdk::ruma::OwnedRoomId,
    mut sent: tokio::sync::watch::Receiver<Option<String>>,
) -> Instant {
    let mut seen = Vec::new();
    loop {
        let response = client
            .sync_once(SyncSettings::default().timeout(Duration::from_secs(30)))
            .await
            .expect("the SDK synced");
        let at = Instant::now();
        if let Some(update) = response.rooms.joined.get(&room) {
            seen.extend(
                update
                    .timeline
                    .events
                    .iter()
                    .filter_map(|e| e.event_id().map(|id| id.to_string())),
            );
        }
        let wanted = sent
            .wait_for(Option::is_some)
            .await
            .expect("the sender says what it sent")
            .clone();
        if wanted.is_some_and(|w| seen.contains(&w)) {
            return at;
        }
    }
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
    let n_rooms = rooms_count();
    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    let started = Instant::now();
    let rooms = large_account(&alice, &bob, n_rooms).await;
    eprintln!(
        "(set up {n_rooms} rooms in {:.1} s)",
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
            println!("lobbies --json, {n_rooms} rooms, first (initial sync)  {ms:7.1} ms");
        } else {
            times.push(ms);
        }
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["rooms"].as_array().map(Vec::len), Some(n_rooms));
    }
    summary(
        &format!("lobbies --json, {n_rooms} rooms, later runs (goal <= 1000 ms)"),
        times,
    );

    let mut watch = vestibule(&data)
        .args(["watch", "--json", "--silent"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = watch.stdout.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    // Keep reading to the end: a closed pipe would end the watcher.
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines_tx.send(line);
        }
    });
    let wait_line = |what: &str, wanted: &dyn Fn(&str) -> bool| loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("watch printed {what}"));
        if wanted(&line) {
            break;
        }
    };
    wait_line("its rooms", &|l| l.contains("\"type\":\"rooms\""));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss = rss_kib(watch.id());
    println!(
        "watch: RSS after syncing {n_rooms} rooms (goal <= 60 MB)   {:.1} MB",
        rss as f64 / 1024.0
    );
    if let Some(peer) = JsPeer::start(&hs.url, &bob) {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let js_rss = rss_kib(peer.pid());
        println!(
            "js-sdk peer (matrix-js-sdk 43, Node 22): RSS after syncing {n_rooms} rooms  {:.1} MB; \
             watch / js-sdk (goal <= 0.33) {:.2}",
            js_rss as f64 / 1024.0,
            rss as f64 / js_rss.max(1) as f64
        );
    }
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
        assert_eq!(json["rooms"].as_array().map(Vec::len), Some(n_rooms));
    }
    summary(
        &format!("lobbies --json, {n_rooms} rooms, answered by the running watch (goal <= 50 ms)"),
        attached,
    );
    // A soak: a ring every 20 s for VESTIBULE_BENCH_SOAK_MIN minutes, the watcher's RSS each
    // minute. Each ring is a fresh call (a join, the ring, a leave once it has rung for 10 s),
    // in the next of 12 rooms: one call rings once, and one sender rings in one room at most
    // three times in ten minutes (RING_FLOOD_BUDGET).
    let minutes: u64 = std::env::var("VESTIBULE_BENCH_SOAK_MIN")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if minutes > 0 {
        let soak_rooms: Vec<_> = rooms.iter().skip(1).step_by(4).take(12).collect();
        let started = Instant::now();
        let mut curve = vec![rss_kib(watch.id())];
        let mut rang = 0usize;
        while started.elapsed() < Duration::from_secs(minutes * 60) {
            let room = soak_rooms[rang % soak_rooms.len()];
            let device = format!("SOAK{rang}");
            let member = ec_join(&alice, room, &device).await;
            let event = send_ring(&alice, room, &member, 10_000).await;
            wait_line("the ring", &|l| {
                l.contains("\"type\":\"ring\"") && l.contains(event.as_str())
            });
            rang += 1;
            if rang.is_multiple_of(3) {
                let rss = rss_kib(watch.id());
                println!(
                    "soak: {:4.1} min, {rang} rings, watch RSS {:.1} MB",
                    started.elapsed().as_secs_f64() / 60.0,
                    rss as f64 / 1024.0
                );
                curve.push(rss);
            }
            tokio::time::sleep(Duration::from_secs(20)).await;
            ec_leave(&alice, room, &device).await;
        }
        let mb = |kib: u64| kib as f64 / 1024.0;
        let (first, last) = (curve[0], curve[curve.len() - 1]);
        println!(
            "soak: {minutes} min, {rang} rings: watch RSS {:.1} MB at the start, {:.1} MB at the \
             end, {:.1} MB at most (goal: flat)",
            mb(first),
            mb(last),
            mb(curve.iter().copied().max().unwrap_or(0))
        );
    }
    // SIGTERM: the watcher winds down.
    let _ = Command::new("kill").arg(watch.id().to_string()).status();
    let _ = watch.wait();
    let _ = reader.join();
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::var_os(vestibule::logging::SPANS_ENV).is_some() {
        vestibule::logging::init(None);
    }
    ring_latency().await;
    if std::env::var_os("VESTIBULE_BENCH_RING_ONLY").is_none() {
        large_account_figures().await;
    }
}
