//! The real app against the real homeserver: sign in through the form, see a call another user
//! started, join it, and the other user sees us; quitting leaves the call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use vestibule::app::VestibuleApp;
use vestibule::config::{ProfilePaths, Settings};
use vestibule::ring::SilentRinger;
use vestibule::secrets::SecretStoreKind;
use vestibule::shell::Signals;
use vestibule::window::WorkerBackend;

use crate::support::calls::{ec_join, raw_state, shared_room};
use crate::support::{RoomOpts, TestUser, homeserver};

const WAIT: Duration = Duration::from_secs(30);

/// Steps the window in real time until `label` (a part of one) is on screen.
fn wait_for_label(harness: &mut Harness<'_, VestibuleApp>, label: &str) {
    let start = Instant::now();
    loop {
        harness.step();
        if harness.query_all_by_label_contains(label).next().is_some() {
            return;
        }
        assert!(
            start.elapsed() < WAIT,
            "{label:?} did not appear within {WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The real app over real workers, its profile in `root`.
fn real_window(
    runtime: &tokio::runtime::Runtime,
    root: &std::path::Path,
) -> Harness<'static, VestibuleApp> {
    let _ = std::fs::remove_dir_all(root);
    let paths = ProfilePaths {
        profile: "default".into(),
        config_file: root.join("config.toml"),
        state_dir: root.join("state"),
        data_dir: root.to_path_buf(),
    };
    let signals = Signals::new();
    let backend = WorkerBackend::new(
        runtime.handle().clone(),
        paths.clone(),
        Arc::new(SilentRinger),
        None,
        SecretStoreKind::File,
        signals.clone(),
    );
    let config_file = paths.config_file.clone();
    Harness::builder()
        .with_size([1100.0, 760.0])
        .build_eframe(move |cc| {
            VestibuleApp::new(
                &cc.egui_ctx,
                Box::new(backend),
                Settings::default(),
                config_file,
                None,
                signals,
            )
        })
}

/// Signs in through the form.
fn sign_in(harness: &mut Harness<'_, VestibuleApp>, url: &str, user: &TestUser) {
    wait_for_label(harness, "Sign in");
    harness.get_by_label("Homeserver").focus();
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness.get_by_label("Homeserver").type_text(url);
    harness.get_by_label("User").focus();
    harness
        .get_by_label("User")
        .type_text(user.user_id.as_str());
    harness.get_by_label("Password").focus();
    harness.get_by_label("Password").type_text(&user.password);
    harness.step();
    harness.get_by_label("Sign in").click();
}

#[test]
fn the_command_line_is_answered_by_the_window_and_its_join_shows_there() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = homeserver();
    let (bob, room) = runtime.block_on(async {
        let alice = server.register("alice").await;
        let bob = server.register("bob").await;
        let opts = RoomOpts {
            name: Some("Standup".into()),
            ..RoomOpts::default()
        };
        let room = shared_room(&alice, &bob, opts).await;
        ec_join(&alice, &room, "ALICEPHONE").await;
        (bob, room)
    });
    let data = std::env::temp_dir().join(format!("vestibule-window-cli-{}", std::process::id()));
    let mut harness = real_window(&runtime, &data.join("default"));
    sign_in(&mut harness, &server.url, &bob);
    wait_for_label(&mut harness, "Standup\n1 person · audio");
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vestibule"))
            .args(args)
            .env("VESTIBULE_DATA_DIR", &data)
            .env("VESTIBULE_SECRET_STORE", "file")
            .env_remove("VESTIBULE_PROFILE")
            .output()
            .unwrap()
    };
    // The window holds the profile; the command line is answered by it.
    let out = cli(&["lobbies", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lobbies: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        lobbies["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["room_id"] == room.as_str()
                && r["calls"][0]["participants"][0]["device_id"] == "ALICEPHONE"),
        "{lobbies}"
    );
    // `join` from the command line: the window shows us joined.
    let out = cli(&["join", room.as_str(), "--intent", "audio"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    harness.get_by_label_contains("Standup\n").click();
    wait_for_label(&mut harness, "You are in this call.");
    drop(harness);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn sign_in_see_a_call_join_it_and_be_seen() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = homeserver();
    let (alice, bob, room) = runtime.block_on(async {
        let alice = server.register("alice").await;
        let bob = server.register("bob").await;
        let opts = RoomOpts {
            name: Some("Standup".into()),
            ..RoomOpts::default()
        };
        let room = shared_room(&alice, &bob, opts).await;
        ec_join(&alice, &room, "ALICEPHONE").await;
        (alice, bob, room)
    });

    let root = std::env::temp_dir().join(format!("vestibule-window-live-{}", std::process::id()));
    let mut harness = real_window(&runtime, &root);
    sign_in(&mut harness, &server.url, &bob);

    // Alice's call shows in the room list, first, with its count.
    wait_for_label(&mut harness, "Online");
    wait_for_label(&mut harness, "Standup\n1 person · audio");
    harness.get_by_label_contains("Standup\n").click();
    wait_for_label(&mut harness, "ALICEPHONE");
    harness.get_by_label("Join").click();
    wait_for_label(&mut harness, "You are in this call.");

    // Alice reads Bob's membership from the room state, as Element Call does.
    let bob_id = bob.user_id.to_string();
    let seen = runtime.block_on(async {
        let start = Instant::now();
        loop {
            let members = raw_state(&alice, &room, "org.matrix.msc3401.call.member").await;
            let bob_member = members.into_iter().find(|e| {
                e["sender"] == bob_id.as_str() && e["content"]["application"] == "m.call"
            });
            if let Some(event) = bob_member {
                return event;
            }
            assert!(start.elapsed() < WAIT, "Alice never saw Bob's membership");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    assert_eq!(seen["content"]["m.call.intent"], "video");
    assert!(seen["content"]["foci_preferred"].is_array());

    // Quit leaves the call before the window closes.
    harness.get_by_label("Quit").click();
    let start = Instant::now();
    loop {
        harness.step();
        let members = runtime.block_on(raw_state(&alice, &room, "org.matrix.msc3401.call.member"));
        let left = members.iter().any(|e| {
            e["sender"] == bob_id.as_str() && e["content"].as_object().is_some_and(|c| c.is_empty())
        });
        if left {
            break;
        }
        assert!(start.elapsed() < WAIT, "Bob's membership was not withdrawn");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(harness);
    let _ = std::fs::remove_dir_all(&root);
}
