//! The worker when things go wrong: a sync the homeserver refuses, a session that expired, a
//! homeserver that never answers.

mod support;

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use matrix_sdk::Client;
use matrix_sdk::authentication::matrix::MatrixSession;
use support::app::{App, WAIT, data_root, paths_in};
use support::calls::{ec_join, shared_room};
use support::{RoomOpts, homeserver, wait_for};
use vestibule::config::{ProfilePaths, Settings};
use vestibule::matrix::{Command, Connection, Update};
use vestibule::ring::RingerEvent;
use vestibule::secrets::{SecretStore, SecretStoreKind, StoredSecret};

/// The first token a sync continues from becomes one Synapse does not know, as if it had
/// forgotten it: syncs from it are refused until a sync starts afresh (without a token).
fn break_since(method: &str, path: &str) -> Option<String> {
    /// The refused token, and whether a fresh sync came since.
    static POISONED: Mutex<(Option<String>, bool)> = Mutex::new((None, false));
    if method != "GET" || !path.starts_with("/_matrix/client/v3/sync") {
        return None;
    }
    let mut state = POISONED.lock().unwrap();
    let Some(since) = path
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("since="))
    else {
        state.1 = state.0.is_some();
        return None;
    };
    let (poisoned, healed) = &mut *state;
    let poisoned = poisoned.get_or_insert_with(|| since.to_owned());
    (!*healed && poisoned == since).then(|| with_bogus_since(path))
}

/// Every sync, fresh or not, gets a token Synapse does not know.
fn break_every_sync(method: &str, path: &str) -> Option<String> {
    (method == "GET" && path.starts_with("/_matrix/client/v3/sync")).then(|| with_bogus_since(path))
}

fn with_bogus_since(path: &str) -> String {
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    let mut params: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("since="))
        .collect();
    params.push("since=s_bogus_token");
    format!("{route}?{}", params.join("&"))
}

/// Only `.well-known` is answered by the proxy (so the client stays behind it).
fn well_known(_method: &str, path: &str) -> bool {
    path.starts_with("/.well-known/")
}

/// Whether [`well_known_and_one_repeated_sync`] refuses the next repeated sync.
static REFUSE_REPEAT: AtomicBool = AtomicBool::new(false);

/// `.well-known` (so the client stays behind the proxy), and, once armed, the next sync that
/// repeats the one before it: the SDK's own request after the worker peeked at the response, as
/// if the SDK failed to take that response.
fn well_known_and_one_repeated_sync(method: &str, path: &str) -> bool {
    static LAST: Mutex<Option<String>> = Mutex::new(None);
    if well_known(method, path) {
        return true;
    }
    if method != "GET" || !path.starts_with("/_matrix/client/v3/sync") || !path.contains("since=") {
        return false;
    }
    let mut last = LAST.lock().unwrap();
    if last.as_deref() == Some(path) {
        return REFUSE_REPEAT.swap(false, Ordering::SeqCst);
    }
    *last = Some(path.to_owned());
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ring_decided_before_the_sdk_takes_its_sync_rings_once_when_that_fails() {
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
    let proxy = support::proxy::start(&hs.url, well_known_and_one_repeated_sync);
    let mut app = App::start_on(&proxy.url, &bob).await;
    let member_event = ec_join(&alice, &dm, "ALICEDEV").await;
    // Quiet: the sync that brought the call is taken, by the worker and by the SDK.
    app.lobby_where(&dm, "alice's call", |l| !l.calls.is_empty())
        .await;
    // The SDK's request for the sync that brings the ring is refused; the worker starts
    // afresh, and the fresh sync brings the ring again.
    REFUSE_REPEAT.store(true, Ordering::SeqCst);
    let ring = support::calls::send_ring(&alice, &dm, &member_event, 30_000).await;
    app.expect("the ring", |u| match u {
        Update::Ringing { alert } => (alert.call.notification_event_id == ring).then_some(()),
        _ => None,
    })
    .await;
    let other = shared_room(&alice, &bob, RoomOpts::default()).await;
    app.expect("a room joined after the fresh sync", |u| match u {
        Update::Lobby { lobby } => (lobby.room_id == other.as_str()).then_some(()),
        _ => None,
    })
    .await;
    let refused: Vec<String> = proxy.refused.lock().unwrap().clone();
    assert_eq!(
        refused.iter().filter(|r| r.contains("/sync")).count(),
        1,
        "{refused:?}"
    );
    let rang = app
        .log
        .iter()
        .filter(|u| matches!(u, Update::Ringing { .. }))
        .count();
    assert_eq!(rang, 1, "{:#?}", app.log);
    let started = app
        .ringer
        .events()
        .iter()
        .filter(|e| matches!(e, RingerEvent::Started(_)))
        .count();
    assert_eq!(started, 1, "{:?}", app.ringer.events());
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_since_token_starts_a_fresh_sync() {
    let hs = homeserver();
    let (alice, bob) = (hs.register("alice").await, hs.register("bob").await);
    let room = shared_room(&alice, &bob, RoomOpts::default()).await;
    let proxy = support::proxy::start_with(&hs.url, well_known, break_since);
    let mut app = App::start_on(&proxy.url, &bob).await;
    // The first sync had no token; the next ones are refused until the worker starts afresh.
    let device = ec_join(&alice, &room, "ALICEDEV").await;
    assert!(!device.is_empty());
    app.lobby_where(&room, "alice's call through a fresh sync", |l| {
        l.calls
            .iter()
            .flat_map(|c| &c.participants)
            .any(|p| p.device_id == "ALICEDEV")
    })
    .await;
    assert!(proxy.rewritten.load(std::sync::atomic::Ordering::SeqCst) > 0);
    assert!(
        !app.log.iter().any(|u| matches!(
            u,
            Update::Error { .. }
                | Update::Connection {
                    connection: Connection::Offline { .. }
                }
        )),
        "{:#?}",
        app.log
    );
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_refused_even_afresh_stops_with_a_sentence() {
    let hs = homeserver();
    let bob = hs.register("bob").await;
    let proxy = support::proxy::start_with(&hs.url, well_known, break_every_sync);
    let mut app = App::unsigned(data_root()).await;
    app.send(Command::Login {
        homeserver: proxy.url.clone(),
        user: bob.user_id.to_string(),
        password: bob.password.clone(),
    });
    let message = app
        .expect("syncing to stop", |u| match u {
            Update::Error { message, .. } => Some(message.clone()),
            _ => None,
        })
        .await;
    assert_eq!(
        message,
        "The homeserver refused: M_UNKNOWN. Vestibule stopped syncing; restart it to try again."
    );
    // Once as it was, once afresh: then no more.
    let tries = proxy.rewritten.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(tries, 2);
    // The worker still answers.
    app.quit().await;
    assert_eq!(proxy.rewritten.load(std::sync::atomic::Ordering::SeqCst), 2);
}

/// A session of `user` whose access token expires in 3 s (the test Synapse's lifetime of
/// refreshable tokens), with its refresh token.
async fn refreshable_session(user: &support::TestUser) -> MatrixSession {
    let other = Client::builder()
        .homeserver_url(&homeserver().url)
        .build()
        .await
        .unwrap();
    other
        .matrix_auth()
        .login_username(user.user_id.as_str(), &user.password)
        .request_refresh_token()
        .send()
        .await
        .unwrap();
    other.matrix_auth().session().unwrap()
}

/// A profile whose saved secret holds `session`, as a restart finds it.
fn saved_session(session: MatrixSession) -> (PathBuf, ProfilePaths, SecretStore) {
    let root = data_root();
    let paths = paths_in(&root);
    paths.create_data_dir().unwrap();
    let secrets = SecretStore::new(SecretStoreKind::File, &paths);
    secrets
        .save(&StoredSecret {
            homeserver: homeserver().url.clone(),
            session,
            store_passphrase: "kept-store-passphrase".into(),
            oauth_client_id: None,
        })
        .unwrap();
    (root, paths, secrets)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_keeps_its_store_and_signing_in_resumes_the_device() {
    let hs = homeserver();
    let bob = hs.register("bob").await;
    // A session whose access token expires in 3 s and whose refresh token is refused too (as
    // one used up elsewhere): the session ends softly.
    let mut session = refreshable_session(&bob).await;
    let device = session.meta.device_id.to_string();
    session.tokens.refresh_token = Some("syr_refused".into());
    let (root, paths, secrets) = saved_session(session);

    let mut app = App::spawned(root.clone(), Settings::default());
    let restored = app
        .expect("the restored session", |u| match u {
            Update::SignedIn { device_id, .. } => Some(device_id.clone()),
            _ => None,
        })
        .await;
    assert_eq!(restored, device);
    let said = app
        .expect("the expiry", |u| match u {
            Update::Error { message, .. } => Some(message.clone()),
            _ => None,
        })
        .await;
    assert_eq!(
        said,
        "Your session has expired; sign in again to resume it on this device."
    );
    app.expect("the sign-in prompt", |u| {
        matches!(u, Update::NeedsLogin).then_some(())
    })
    .await;
    assert!(paths.store_dir().is_dir(), "the store and its keys stay");
    let kept = secrets.load().unwrap().expect("the secret stays");
    assert_eq!(kept.store_passphrase, "kept-store-passphrase");

    app.send(Command::Login {
        homeserver: hs.url.clone(),
        user: bob.user_id.to_string(),
        password: bob.password.clone(),
    });
    let resumed = app
        .expect("the new sign-in", |u| match u {
            Update::SignedIn { device_id, .. } => Some(device_id.clone()),
            Update::LoginFailed { reason } => panic!("login failed: {reason}"),
            _ => None,
        })
        .await;
    assert_eq!(resumed, device, "the same device");
    app.expect("a sync", |u| {
        matches!(u, Update::Rooms { .. }).then_some(())
    })
    .await;
    let saved = secrets.load().unwrap().unwrap();
    assert_eq!(saved.store_passphrase, "kept-store-passphrase");
    assert_eq!(saved.session.meta.device_id.as_str(), device);
    let devices = wait_for("bob's devices", WAIT, async || {
        bob.client.devices().await.ok()
    })
    .await;
    assert_eq!(
        devices.devices.len(),
        2,
        "the fixture's device and the resumed one, no third"
    );
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_can_be_refreshed_stays_and_keeps_its_new_tokens() {
    let bob = homeserver().register("bob").await;
    // Its access token expires every 3 s; its refresh token is good.
    let session = refreshable_session(&bob).await;
    let first_token = session.tokens.access_token.clone();
    let (root, _, secrets) = saved_session(session);
    let mut app = App::spawned(root.clone(), Settings::default());
    app.expect("the restored session", |u| {
        matches!(u, Update::SignedIn { .. }).then_some(())
    })
    .await;
    // Twice refreshed and saved: the second refresh used the first's new refresh token.
    let mut seen = vec![first_token];
    for round in 0..2 {
        let token = wait_for("a refreshed token saved", WAIT, async || {
            let saved = secrets.load().ok()??;
            let token = saved.session.tokens.access_token;
            (!seen.contains(&token)).then_some(token)
        })
        .await;
        seen.push(token);
        // Still signed in and syncing, nothing said against it meanwhile.
        app.expect("a sync after the refresh", |u| {
            matches!(u, Update::Rooms { .. } | Update::Connection { .. }).then_some(())
        })
        .await;
        let ended = app
            .log
            .iter()
            .any(|u| matches!(u, Update::NeedsLogin | Update::Error { .. }));
        assert!(!ended, "round {round}: {:?}", app.log);
    }
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_secret_that_cannot_be_read_stops_instead_of_asking_to_sign_in() {
    let root = data_root();
    let paths = paths_in(&root);
    paths.create_data_dir().unwrap();
    // There, but unreadable (as a locked keyring is): a directory where the file should be.
    std::fs::create_dir(paths.secret_file()).unwrap();
    let mut app = App::spawned(root.clone(), Settings::default());
    let message = loop {
        let update = tokio::time::timeout(WAIT, app.updates.recv())
            .await
            .expect("an update in time")
            .expect("the worker says why it stops");
        match update {
            Update::Fatal { message } => break message,
            Update::NeedsLogin => panic!("asked for a new sign-in over an unreadable session"),
            _ => {}
        }
    };
    assert!(
        message.starts_with("Could not use the secret file"),
        "{message}"
    );
    std::fs::remove_dir_all(&root).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_out_whose_secret_cannot_be_removed_keeps_everything() {
    let hs = homeserver();
    let bob = hs.register("bob").await;
    let mut app = App::start(&bob).await;
    let paths = paths_in(&app.root);
    // The secret cannot be removed now (as with a locked keyring).
    std::fs::remove_file(paths.secret_file()).unwrap();
    std::fs::create_dir_all(paths.secret_file().join("held")).unwrap();
    app.send(Command::Logout);
    let message = app
        .expect("the refusal", |u| match u {
            Update::Error { message, .. } => Some(message.clone()),
            Update::SignedOut => panic!("signed out with the secret still there"),
            _ => None,
        })
        .await;
    assert!(
        message.starts_with("Could not sign out:")
            && message.ends_with("Nothing was removed; try again."),
        "{message}"
    );
    assert!(paths.store_dir().is_dir(), "the store stays");
    // Still signed in and working, with the same token.
    app.send(Command::DiscoverFoci);
    app.expect("the foci", |u| {
        matches!(u, Update::Foci { .. }).then_some(())
    })
    .await;
    assert!(!app.log.iter().any(|u| matches!(u, Update::SignedOut)));
    std::fs::remove_dir_all(paths.secret_file()).unwrap();
    app.quit().await;
}

/// Reads updates until `Stopped`, failing after `within`.
async fn stopped_within(app: &mut App, within: std::time::Duration) {
    let started = std::time::Instant::now();
    loop {
        let update =
            tokio::time::timeout(within.saturating_sub(started.elapsed()), app.updates.recv())
                .await
                .unwrap_or_else(|_| panic!("not stopped within {within:?}"))
                .expect("the worker says it stopped");
        if matches!(update, Update::Stopped) {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quit_is_prompt_while_a_saved_session_points_at_a_homeserver_that_never_answers() {
    let hole = support::proxy::black_hole();
    let root = data_root();
    let paths = paths_in(&root);
    paths.create_data_dir().unwrap();
    let secret = serde_json::json!({
        "homeserver": hole,
        "session": {"user_id": "@bob:hole.invalid", "device_id": "HOLEDEVICE", "access_token": "not-a-token"},
        "store_passphrase": "a-passphrase",
    });
    std::fs::write(paths.secret_file(), secret.to_string()).unwrap();
    let mut app = App::spawned(root.clone(), Settings::default());
    app.expect("the restored session", |u| {
        matches!(u, Update::SignedIn { .. }).then_some(())
    })
    .await;
    app.send(Command::Quit);
    stopped_within(&mut app, std::time::Duration::from_secs(5)).await;
    std::fs::remove_dir_all(&root).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quit_is_prompt_while_signing_in_to_a_homeserver_that_never_answers() {
    let hole = support::proxy::black_hole();
    let mut app = App::unsigned(data_root()).await;
    app.send(Command::Login {
        homeserver: hole,
        user: "@bob:hole.invalid".into(),
        password: "a password".into(),
    });
    // A second sign-in meanwhile is refused at once.
    app.send(Command::Login {
        homeserver: "http://127.0.0.1:9".into(),
        user: "bob".into(),
        password: "a password".into(),
    });
    let refused = app
        .expect("the second sign-in refused", |u| match u {
            Update::LoginFailed { reason } => Some(reason.clone()),
            _ => None,
        })
        .await;
    assert_eq!(refused, "Already signing in; wait for it to finish.");
    app.send(Command::Quit);
    stopped_within(&mut app, std::time::Duration::from_secs(5)).await;
    std::fs::remove_dir_all(&app.root).ok();
}
