//! The real ringer: the ringtone through ALSA into a file, notifications on a real session bus
//! served by a notification server written here, and Answer/Decline from the notification
//! reaching the homeserver.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use support::calls::{ec_leave, raw_state, shared_room, timeline};
use support::desktop::{Bus, Server, alsa_to_file};
use support::{RoomOpts, homeserver, wait_for};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vestibule-ringer-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An ALSA configuration whose default output is a sound card that does not exist.
fn alsa_without_card(dir: &Path) -> PathBuf {
    let conf = dir.join("nocard.conf");
    std::fs::write(
        &conf,
        "</usr/share/alsa/alsa.conf>\npcm.!default { type hw card 97 }\n",
    )
    .unwrap();
    conf
}

/// The largest absolute sample of a 16-bit WAV file (0 when missing or empty).
fn peak(wav: &Path) -> i32 {
    let Ok(bytes) = std::fs::read(wav) else {
        return 0;
    };
    // Skip the 44-byte header the ALSA file plugin writes.
    bytes
        .get(44..)
        .unwrap_or_default()
        .chunks_exact(2)
        .map(|c| i32::from(i16::from_le_bytes([c[0], c[1]])).abs())
        .max()
        .unwrap_or(0)
}

/// A mono 16-bit WAV of a 440 Hz tone at `amplitude` (0..1).
fn write_tone(path: &Path, amplitude: f64) {
    let rate = 22_050u32;
    let samples: Vec<i16> = (0..rate / 2)
        .map(|i| {
            (amplitude
                * 32767.0
                * (2.0 * std::f64::consts::PI * 440.0 * f64::from(i) / f64::from(rate)).sin())
                as i16
        })
        .collect();
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, out).unwrap();
}

fn vestibule(dir: &Path, alsa: &Path, bus: Option<&str>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vestibule"));
    cmd.env("VESTIBULE_DATA_DIR", dir.join("data"))
        .env("VESTIBULE_SECRET_STORE", "file")
        .env("ALSA_CONFIG_PATH", alsa)
        .env_remove("RUST_LOG");
    match bus {
        Some(address) => cmd.env("DBUS_SESSION_BUS_ADDRESS", address),
        // No session bus at all.
        None => cmd.env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", dir.join("no-bus").display()),
        ),
    };
    cmd
}

fn test_ring(dir: &Path, alsa: &Path, bus: Option<&str>, extra: &[&str]) -> Output {
    vestibule(dir, alsa, bus)
        .args(["test-ring", "--seconds", "1"])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_ringtone_plays_through_alsa_and_a_bad_file_falls_back() {
    let dir = scratch("audio");
    let (alsa, wav) = alsa_to_file(&dir);
    // The built-in ringtone, at the default volume 0.8 of a tone normalised to 0.8.
    let out = test_ring(&dir, &alsa, None, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let builtin = peak(&wav);
    assert!(
        builtin > 15_000,
        "non-silent audio reached ALSA (peak {builtin})"
    );
    assert!(
        stderr(&out).contains("No notification service"),
        "the other half says it is missing: {}",
        stderr(&out)
    );

    // A user's file plays instead: a quieter 440 Hz tone.
    let tone = dir.join("tone.wav");
    write_tone(&tone, 0.25);
    std::fs::remove_file(&wav).unwrap();
    let out = test_ring(&dir, &alsa, None, &["--ringtone", tone.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let custom = peak(&wav);
    assert!(
        (4_000..8_000).contains(&custom),
        "the custom tone played (peak {custom})"
    );

    // An undecodable file: a sentence, and the built-in tone plays.
    let junk = dir.join("junk.ogg");
    std::fs::write(&junk, b"this is not audio at all").unwrap();
    std::fs::remove_file(&wav).unwrap();
    let out = test_ring(&dir, &alsa, None, &["--ringtone", junk.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("could not be decoded")
            && stderr(&out).contains("using the built-in one"),
        "{}",
        stderr(&out)
    );
    assert!(peak(&wav) > 15_000, "the built-in tone played instead");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_a_sound_card_or_a_bus_the_ring_still_completes() {
    let dir = scratch("nocard");
    let alsa = alsa_without_card(&dir);
    let out = test_ring(&dir, &alsa, None, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("No sound device could be opened"), "{err}");
    assert!(err.contains("No notification service"), "{err}");
    assert_eq!(
        err.matches("No sound device").count(),
        1,
        "said once: {err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_ring_shows_a_notification_and_closes_it() {
    let dir = scratch("notify");
    let (alsa, _) = alsa_to_file(&dir);
    let bus = Bus::start();
    let server = Server::start(&bus).await;
    let out = tokio::task::spawn_blocking({
        let (dir, alsa, address) = (dir.clone(), alsa.clone(), bus.address.clone());
        move || test_ring(&dir, &alsa, Some(&address), &[])
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("No notification service"),
        "{}",
        stderr(&out)
    );
    let notified = server.notified();
    let n = notified.first().expect("a notification");
    assert_eq!(n.app_name, vestibule::config::APP_ID);
    assert_eq!(n.summary, "Incoming audio call");
    assert_eq!(n.body, "Vestibule in a test ring");
    // A test ring has no call to answer or decline.
    assert!(n.actions.is_empty(), "{:?}", n.actions);
    assert_eq!(n.category.as_deref(), Some("call.incoming"));
    assert_eq!(n.urgency, Some(2), "critical");
    assert_eq!(server.closed(), [n.id], "closed when the ring stopped");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decline_and_answer_from_the_notification_reach_the_caller_and_a_missed_call_is_left() {
    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    let dm = shared_room(
        &alice,
        &bob,
        RoomOpts {
            is_direct: true,
            name: Some("Alice & Bob".into()),
            ..RoomOpts::default()
        },
    )
    .await;
    alice.sync_once().await;
    let dir = scratch("e2e");
    let (alsa, _) = alsa_to_file(&dir);
    let bus = Bus::start();
    let server = Server::start(&bus).await;
    let (mut watcher, lines) = watch_collecting(
        &dir,
        &alsa,
        Some(&bus.address),
        &hs.url,
        bob.user_id.as_str(),
        &bob.password,
    );
    first_sync(&lines).await;

    let key = format!("_{}_ALICEDEV_m.call", alice.user_id);
    let ring = async |n: usize| {
        let content = json!({"application":"m.call","call_id":"","scope":"m.room","device_id":format!("ALICEDEV{n}"),
            "expires":14400000,"focus_active":{"type":"livekit","focus_selection":"multi_sfu"},
            "foci_preferred":[{"type":"livekit","livekit_service_url":"https://sfu.example.org"}]});
        let member = alice
            .room(&dm)
            .send_state_event_raw("org.matrix.msc3401.call.member", &key, content)
            .await
            .unwrap()
            .event_id;
        let content = json!({"m.mentions":{"user_ids":[],"room":true},"notification_type":"ring",
            "m.relates_to":{"rel_type":"m.reference","event_id":member},
            "sender_ts":vestibule::clock::now_ms(),"lifetime":30000,"m.call.intent":"video"});
        alice
            .room(&dm)
            .send_raw("org.matrix.msc4075.rtc.notification", content)
            .await
            .unwrap()
            .response
            .event_id
            .to_string()
    };
    let hang_up = async || ec_leave(&alice, &dm, "ALICEDEV").await;

    // 1. Decline from the notification.
    let first = ring(1).await;
    let shown = wait_for(
        "the call notification",
        Duration::from_secs(30),
        async || {
            server
                .notified()
                .into_iter()
                .find(|n| n.summary == "Incoming video call")
        },
    )
    .await;
    // The server reads markup in bodies: the room's name arrives escaped.
    assert!(shown.body.contains("Alice &amp; Bob"), "{shown:?}");
    assert_eq!(shown.actions, ["answer", "Answer", "decline", "Decline"]);
    server.invoke(shown.id, "decline").await;
    wait_for(
        "alice to see the decline",
        Duration::from_secs(30),
        async || {
            timeline(&alice, &dm).await.into_iter().find(|v| {
                v["type"] == "org.matrix.msc4310.rtc.decline"
                    && v["content"]["m.relates_to"]["event_id"] == first.as_str()
            })
        },
    )
    .await;
    wait_for(
        "the notification to close",
        Duration::from_secs(10),
        async || server.closed().contains(&shown.id).then_some(()),
    )
    .await;

    // 2. A missed call leaves its notification.
    let seen = lines.lock().unwrap().len();
    hang_up().await;
    call_ended(&lines, seen, &dm).await;
    ring(2).await;
    let count = server.notified().len();
    let second = wait_for(
        "the second notification",
        Duration::from_secs(30),
        async || server.notified().get(count).cloned(),
    )
    .await;
    let seen = lines.lock().unwrap().len();
    hang_up().await;
    wait_for(
        "a missed-call notification",
        Duration::from_secs(30),
        async || {
            server
                .notified()
                .into_iter()
                .find(|n| n.summary.starts_with("Missed call from"))
        },
    )
    .await;
    assert!(server.closed().contains(&second.id));

    // 3. Answer from the notification publishes our membership.
    call_ended(&lines, seen, &dm).await;
    ring(3).await;
    let count = server.notified().len();
    let third = wait_for(
        "the third notification",
        Duration::from_secs(30),
        async || server.notified().get(count).cloned(),
    )
    .await;
    server.invoke(third.id, "answer").await;
    wait_for("bob's membership", Duration::from_secs(30), async || {
        raw_state(&alice, &dm, "org.matrix.msc3401.call.member")
            .await
            .into_iter()
            .find(|v| {
                v["sender"] == bob.user_id.as_str() && v["content"]["application"] == "m.call"
            })
    })
    .await;
    let _ = watcher.kill();
    let _ = watcher.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_missing_half_is_said_once_however_many_rings() {
    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    let mut rooms = Vec::new();
    for _ in 0..2 {
        let room = shared_room(
            &alice,
            &bob,
            RoomOpts {
                is_direct: true,
                ..RoomOpts::default()
            },
        )
        .await;
        rooms.push(room);
    }
    alice.sync_once().await;
    let dir = scratch("once");
    let alsa = alsa_without_card(&dir);
    support::figures::cli_login(
        vestibule(&dir, &alsa, None),
        &hs.url,
        bob.user_id.as_str(),
        &bob.password,
    );
    let mut watcher = vestibule(&dir, &alsa, None)
        .args(["watch", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = Collected::from(watcher.stdout.take().unwrap());
    let stderr = Collected::from(watcher.stderr.take().unwrap());
    first_sync(&stdout.lines).await;
    let key = format!("_{}_ALICEDEV_m.call", alice.user_id);
    for room in &rooms {
        let content = json!({"application":"m.call","call_id":"","scope":"m.room","device_id":"ALICEDEV","expires":14400000});
        let member = alice
            .room(room)
            .send_state_event_raw("org.matrix.msc3401.call.member", &key, content)
            .await
            .unwrap()
            .event_id;
        let content = json!({"m.mentions":{"user_ids":[],"room":true},"notification_type":"ring",
            "m.relates_to":{"rel_type":"m.reference","event_id":member},"sender_ts":vestibule::clock::now_ms(),"lifetime":30000});
        alice
            .room(room)
            .send_raw("org.matrix.msc4075.rtc.notification", content)
            .await
            .unwrap();
        let room = room.as_str();
        wait_for(
            "the ring to reach the CLI",
            Duration::from_secs(30),
            async || {
                stdout
                    .lines
                    .lock()
                    .unwrap()
                    .iter()
                    .any(|l| l.contains("\"type\":\"ring\"") && l.contains(room))
                    .then_some(())
            },
        )
        .await;
    }
    // SIGTERM, then read what it said.
    let killed = Command::new("kill")
        .arg(watcher.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success(), "kill {}", watcher.id());
    let status = watcher.wait().unwrap();
    assert!(status.success(), "the watcher ended by itself: {status}");
    let stdout = stdout.all();
    assert_eq!(
        stdout.matches("\"type\":\"ring\"").count(),
        2,
        "both rings reached the CLI: {stdout}"
    );
    let err = stderr.all();
    assert_eq!(
        err.matches("No sound device could be opened").count(),
        1,
        "{err}"
    );
    assert_eq!(err.matches("No notification service").count(), 1, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A child's output, collected line by line as it comes.
struct Collected {
    lines: Lines,
    reader: std::thread::JoinHandle<()>,
}

/// Lines collected so far.
type Lines = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

impl Collected {
    fn from(output: impl std::io::Read + Send + 'static) -> Self {
        use std::io::BufRead;
        let lines = Lines::default();
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(output)
                .lines()
                .map_while(Result::ok)
            {
                sink.lock().unwrap().push(line);
            }
        });
        Self { lines, reader }
    }

    /// Everything, once the output closed (the child ended).
    fn all(self) -> String {
        self.reader.join().unwrap();
        self.lines.lock().unwrap().join("\n")
    }
}

/// `vestibule watch --json` signed in as `user`, ringing on `bus` (none: no session bus) into
/// `alsa`; its output lines are collected as they come.
fn watch_collecting(
    dir: &Path,
    alsa: &Path,
    bus: Option<&str>,
    hs_url: &str,
    user: &str,
    password: &str,
) -> (Child, Lines) {
    support::figures::cli_login(vestibule(dir, alsa, bus), hs_url, user, password);
    let mut child = vestibule(dir, alsa, bus)
        .args(["watch", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = Collected::from(child.stdout.take().unwrap());
    (child, stdout.lines)
}

/// The parsed JSON lines from the `from`-th on that `pick` picks, waiting for one.
async fn wait_for_line(
    lines: &Lines,
    from: usize,
    what: &str,
    pick: impl Fn(&Value) -> bool,
) -> Value {
    wait_for(what, Duration::from_secs(30), async || {
        let lines = lines.lock().unwrap();
        lines.iter().skip(from).find_map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            pick(&value).then_some(value)
        })
    })
    .await
}

/// Waits for the watcher's first sync: its `rooms` line.
async fn first_sync(lines: &Lines) {
    wait_for_line(lines, 0, "the watcher's first sync", |v| {
        v["type"] == "rooms"
    })
    .await;
}

/// Waits for the watcher to see, after its `from`-th line, that `room` has no call any more.
async fn call_ended(lines: &Lines, from: usize, room: &matrix_sdk::ruma::RoomId) {
    wait_for_line(lines, from, "the call to end", |v| {
        v["type"] == "lobby"
            && v["room_id"] == room.as_str()
            && v["calls"].as_array().is_some_and(Vec::is_empty)
    })
    .await;
}

/// Joins `user`'s call in `room` and rings it; returns the ring's event id.
async fn join_and_ring(user: &support::TestUser, room: &matrix_sdk::ruma::RoomId) -> String {
    let key = format!("_{}_DEV_m.call", user.user_id);
    let content = json!({"application":"m.call","call_id":"","scope":"m.room","device_id":"DEV",
        "expires":14400000,"m.call.intent":"audio"});
    let member = user
        .room(room)
        .send_state_event_raw("org.matrix.msc3401.call.member", &key, content)
        .await
        .unwrap()
        .event_id;
    let content = json!({"m.mentions":{"user_ids":[],"room":true},"notification_type":"ring",
        "m.relates_to":{"rel_type":"m.reference","event_id":member},
        "sender_ts":vestibule::clock::now_ms(),"lifetime":60000,"m.call.intent":"audio"});
    user.room(room)
        .send_raw("org.matrix.msc4075.rtc.notification", content)
        .await
        .unwrap()
        .response
        .event_id
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rings_at_once_share_one_notification_and_names_arrive_escaped() {
    let hs = homeserver();
    let (alice, carol, bob) = (
        hs.register("alice").await,
        hs.register("carol").await,
        hs.register("bob").await,
    );
    alice
        .client
        .account()
        .set_display_name(Some("<b>Alice</b>"))
        .await
        .unwrap();
    let dm = |name: &str| RoomOpts {
        is_direct: true,
        name: Some(name.into()),
        ..RoomOpts::default()
    };
    let alices = shared_room(&alice, &bob, dm("<i>Standup</i>")).await;
    let carols = shared_room(&carol, &bob, dm("Carol & Bob")).await;
    let dir = scratch("together");
    let (alsa, _) = alsa_to_file(&dir);
    let bus = Bus::start();
    let server = Server::start(&bus).await;
    let (mut watcher, lines) = watch_collecting(
        &dir,
        &alsa,
        Some(&bus.address),
        &hs.url,
        bob.user_id.as_str(),
        &bob.password,
    );
    first_sync(&lines).await;

    join_and_ring(&alice, &alices).await;
    let first = wait_for("Alice's ring", Duration::from_secs(30), async || {
        server
            .notified()
            .into_iter()
            .find(|n| n.summary == "Incoming audio call")
    })
    .await;
    // Markup in names from others is shown as text, not obeyed.
    assert_eq!(
        first.body, "&lt;b&gt;Alice&lt;/b&gt; in &lt;i&gt;Standup&lt;/i&gt;",
        "{first:?}"
    );
    assert_eq!(first.urgency, Some(2));

    join_and_ring(&carol, &carols).await;
    let both = wait_for(
        "both rings in one notification",
        Duration::from_secs(30),
        async || {
            server
                .notified()
                .into_iter()
                .find(|n| n.summary == "2 incoming calls")
        },
    )
    .await;
    assert_eq!(
        both.replaces_id, first.id,
        "the first notification is updated in place"
    );
    assert_eq!(
        both.body,
        format!(
            "&lt;b&gt;Alice&lt;/b&gt; in &lt;i&gt;Standup&lt;/i&gt;\n{} in Carol &amp; Bob",
            carol.user_id.localpart()
        ),
        "{both:?}"
    );
    assert_eq!(both.actions, ["answer", "Answer", "decline", "Decline"]);
    let fresh = server
        .notified()
        .iter()
        .filter(|n| n.replaces_id == 0 && n.summary.contains("ncoming"))
        .count();
    assert_eq!(
        fresh,
        1,
        "no pile of notifications: {:?}",
        server.notified()
    );
    let _ = watcher.kill();
    let _ = watcher.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The size of the file the ALSA file plugin writes (0 before it exists).
fn written(wav: &Path) -> u64 {
    match std::fs::metadata(wav) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => panic!("{}: {e}", wav.display()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_stops_the_sound() {
    // Long enough for a ringtone to write audio many times over.
    const INTERVAL: Duration = Duration::from_secs(1);
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
    let dir = scratch("stop");
    let (alsa, wav) = alsa_to_file(&dir);
    let (mut watcher, lines) = watch_collecting(
        &dir,
        &alsa,
        None,
        &hs.url,
        bob.user_id.as_str(),
        &bob.password,
    );
    first_sync(&lines).await;
    join_and_ring(&alice, &dm).await;
    wait_for_line(&lines, 0, "the ring", |v| v["type"] == "ring").await;
    wait_for(
        "the ringtone to reach ALSA",
        Duration::from_secs(10),
        async || (written(&wav) > 44).then_some(()),
    )
    .await;
    // While it rings, the file grows.
    let before = written(&wav);
    tokio::time::sleep(INTERVAL).await;
    let ringing = written(&wav);
    assert!(
        ringing > before,
        "the ringtone wrote audio ({before} → {ringing} bytes)"
    );

    let seen = lines.lock().unwrap().len();
    ec_leave(&alice, &dm, "DEV").await;
    wait_for_line(&lines, seen, "the ring to stop", |v| {
        v["type"] == "ring_stopped"
    })
    .await;
    // The output closes soon after the ring stops; then, across the same interval, nothing more
    // is written while the process still runs.
    let mut last = written(&wav);
    let settled = wait_for("the output to close", Duration::from_secs(5), async || {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = written(&wav);
        let same = now == last;
        last = now;
        same.then_some(now)
    })
    .await;
    tokio::time::sleep(INTERVAL).await;
    assert_eq!(
        written(&wav),
        settled,
        "the file no longer grows after the stop"
    );
    assert!(
        watcher.try_wait().unwrap().is_none(),
        "measured while the watcher still runs"
    );
    watcher.kill().unwrap();
    watcher.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
