//! Signing in in the browser against real servers: OAuth 2.0 with a homeserver that delegates
//! its auth to a real OpenID provider, and single sign-on through the same provider. The test
//! plays the browser; Vestibule's CLI and worker do the rest.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use support::oidc::{ALICE, Auth, SignInServers};
use support::wait_for;

/// Access tokens live this long on the OAuth 2.0 server: a test sees one expire and refresh.
const TOKEN_TTL_SECS: u64 = 4;

fn oauth_servers() -> &'static SignInServers {
    static SERVERS: OnceLock<SignInServers> = OnceLock::new();
    SERVERS.get_or_init(|| SignInServers::start(Auth::OAuth, TOKEN_TTL_SECS, true))
}

/// The CA of the test providers' certificates (each provider makes its own: they are merged).
fn ca_file() -> PathBuf {
    let merged =
        std::env::temp_dir().join(format!("vestibule-oauth-{}-ca.pem", std::process::id()));
    let mut pem = Vec::new();
    for servers in [Some(oauth_servers()), SSO.get()].into_iter().flatten() {
        pem.extend(std::fs::read(&servers.ca).unwrap());
    }
    std::fs::write(&merged, pem).unwrap();
    merged
}

static SSO: OnceLock<SignInServers> = OnceLock::new();

fn sso_servers() -> &'static SignInServers {
    SSO.get_or_init(|| SignInServers::start(Auth::Sso, 3600, true))
}

fn data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vestibule-oauth-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `vestibule` for the profile in `data`, its "browser" a script that writes down the address;
/// it trusts the test provider's certificate.
fn vestibule(data: &Path) -> Command {
    let browser = data.join("browser.sh");
    if !browser.exists() {
        let opened = data.join("opened");
        std::fs::write(
            &browser,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n",
                opened.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vestibule"));
    cmd.env("VESTIBULE_DATA_DIR", data)
        .env("VESTIBULE_SECRET_STORE", "file")
        .env("BROWSER", &browser)
        .env("SSL_CERT_FILE", ca_file())
        .env_remove("VESTIBULE_PROFILE")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn output(data: &Path, args: &[&str]) -> std::process::Output {
    vestibule(data).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The address the browser was asked to open, once it was.
async fn opened(data: &Path) -> String {
    wait_for(
        "the browser to be opened",
        Duration::from_secs(30),
        async || {
            std::fs::read_to_string(data.join("opened"))
                .ok()
                .and_then(|s| s.lines().last().map(str::to_owned))
        },
    )
    .await
}

async fn finished(child: Child) -> std::process::Output {
    tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap()
}

fn secret(data: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(data.join("default/secret.json")).unwrap()).unwrap()
}

async fn whoami(hs: &str, token: &str) -> reqwest::StatusCode {
    reqwest::Client::new()
        .get(format!("{hs}/_matrix/client/v3/account/whoami"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

/// Signs the profile in `data` in through the browser; returns the time Vestibule took, the
/// browser's steps left out.
async fn browser_login(servers: &SignInServers, data: &Path, extra: &[&str]) -> Duration {
    let hs = &servers.hs_url;
    let started = Instant::now();
    let child = vestibule(data)
        .args(["login", hs])
        .args(extra)
        .spawn()
        .unwrap();
    let url = opened(data).await;
    let before_browser = started.elapsed();
    let browsing = Instant::now();
    servers.play_browser(&url, ALICE).await;
    let in_browser = browsing.elapsed();
    let out = finished(child).await;
    let total = started.elapsed();
    assert!(out.status.success(), "login: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("Signed in as @alice:"),
        "{}",
        text(&out.stdout)
    );
    let ours = total.saturating_sub(in_browser);
    eprintln!(
        "figures: browser sign-in: {:.0} ms of ours ({:.0} ms before the browser opened, {:.0} ms in the browser)",
        ours.as_secs_f64() * 1000.0,
        before_browser.as_secs_f64() * 1000.0,
        in_browser.as_secs_f64() * 1000.0
    );
    ours
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_sign_in_restores_refreshes_and_signs_out() {
    let servers = oauth_servers();
    let data = data_dir("oauth");
    browser_login(servers, &data, &[]).await;
    let first = secret(&data);
    assert!(first["oauth_client_id"].is_string(), "{first}");
    let token = first["session"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(whoami(&servers.hs_url, &token).await, 200);

    // A restart restores the session without the browser.
    let out = output(&data, &["lobbies", "--json"]);
    assert!(out.status.success(), "lobbies: {}", text(&out.stderr));

    // The access token expires; the next run refreshes it and keeps the new tokens.
    wait_for(
        "the access token to expire",
        Duration::from_secs(TOKEN_TTL_SECS * 10),
        async || (whoami(&servers.hs_url, &token).await == 401).then_some(()),
    )
    .await;
    let out = output(&data, &["lobbies", "--json"]);
    assert!(
        out.status.success(),
        "lobbies after expiry: {}",
        text(&out.stderr)
    );
    let refreshed = secret(&data);
    assert_ne!(
        refreshed["session"]["access_token"],
        first["session"]["access_token"]
    );
    assert_ne!(
        refreshed["session"]["refresh_token"],
        first["session"]["refresh_token"]
    );
    assert_eq!(
        refreshed["session"]["device_id"],
        first["session"]["device_id"]
    );

    // A second sign-in reuses the client registered the first time.
    let clients: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("default/oauth-clients.json")).unwrap())
            .unwrap();
    assert_eq!(
        clients.as_object().unwrap().values().next(),
        Some(&first["oauth_client_id"])
    );

    let device = refreshed["session"]["device_id"].clone();
    let out = output(&data, &["logout"]);
    assert!(out.status.success(), "logout: {}", text(&out.stderr));
    assert!(!data.join("default/secret.json").exists());
    // The grant was revoked at the provider, and with it the device.
    let revoked = servers.revoked().await;
    assert!(
        revoked.to_string().contains(device.as_str().unwrap()),
        "{revoked}"
    );
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_browser_the_address_is_printed() {
    let servers = oauth_servers();
    let data = data_dir("no-browser");
    let mut child = vestibule(&data)
        .args(["login", &servers.hs_url])
        .env("BROWSER", "false")
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let url = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| {
                l.trim()
                    .strip_prefix("http")
                    .map(|rest| format!("http{rest}"))
            })
    })
    .await
    .unwrap()
    .expect("the address on stderr");
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    servers.play_browser(&url, ALICE).await;
    let out = finished(child).await;
    assert!(out.status.success());
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_sign_on_signs_in_through_the_provider() {
    let servers = sso_servers();
    let data = data_dir("sso");
    browser_login(servers, &data, &["--provider", "oidc-vestibule"]).await;
    let saved = secret(&data);
    assert!(saved.get("oauth_client_id").is_none(), "{saved}");
    let token = saved["session"]["access_token"].as_str().unwrap();
    assert_eq!(whoami(&servers.hs_url, token).await, 200);
    let out = output(&data, &["logout"]);
    assert!(out.status.success(), "logout: {}", text(&out.stderr));
    assert_eq!(whoami(&servers.hs_url, token).await, 401);
    let _ = std::fs::remove_dir_all(&data);
}

/// The self-signing key of `user` and the keys that signed `device`, as `/keys/query` answers.
async fn signatures_of(asker: &support::TestUser, device: &str) -> (String, Vec<String>) {
    let hs = &support::homeserver().url;
    let user = asker.user_id.as_str();
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{hs}/_matrix/client/v3/keys/query"))
        .bearer_auth(asker.client.access_token().unwrap())
        .json(&serde_json::json!({ "device_keys": { user: [] } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let self_signing = answer["self_signing_keys"][user]["keys"]
        .as_object()
        .and_then(|keys| keys.keys().next().cloned())
        .unwrap_or_default();
    let signed_by = answer["device_keys"][user][device]["signatures"][user]
        .as_object()
        .map(|s| s.keys().cloned().collect())
        .unwrap_or_default();
    (self_signing, signed_by)
}

fn login_with_password(data: &Path, user: &support::TestUser) -> String {
    let mut child = vestibule(data)
        .args(["login", &support::homeserver().url, user.user_id.as_str()])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "{}", user.password).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "login: {}", text(&out.stderr));
    secret(data)["session"]["device_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn verify(data: &Path, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = vestibule(data)
        .arg("verify")
        .args(args)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    write!(child.stdin.take().unwrap(), "{stdin}").unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_session_is_verified_with_the_recovery_key_the_first_set_up() {
    let hs = support::homeserver();
    let bob = hs.register("bob").await;
    let (first, second) = (data_dir("trust-a"), data_dir("trust-b"));
    login_with_password(&first, &bob);
    let out = verify(&first, &["--set-up"], "");
    assert!(out.status.success(), "set up: {}", text(&out.stderr));
    let key = text(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Recovery key: ").map(str::to_owned))
        .expect("the recovery key is printed once");
    assert!(text(&out.stdout).contains("This session is verified."));

    let device = login_with_password(&second, &bob);
    let (self_signing, signed_by) = signatures_of(&bob, &device).await;
    assert!(
        !self_signing.is_empty(),
        "the account has cross-signing now"
    );
    assert!(
        !signed_by.contains(&self_signing),
        "not verified before the key"
    );

    let wrong = verify(&second, &[], "EsTc notA realKey\n");
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        text(&wrong.stderr).contains("does not open this account's secret storage"),
        "{}",
        text(&wrong.stderr)
    );
    let out = verify(&second, &[], &format!("{key}\n"));
    assert!(out.status.success(), "verify: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("This session is verified."));
    let (_, signed_by) = signatures_of(&bob, &device).await;
    assert!(
        signed_by.contains(&self_signing),
        "the device is signed by the account's self-signing key: {signed_by:?}"
    );
    let again = verify(&second, &[], &format!("{key}\n"));
    assert!(text(&again.stdout).contains("already verified"));
    for dir in [first, second] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The loopback port a sign-in address sends the browser back to.
fn redirect_port(url: &str) -> u16 {
    let url = url::Url::parse(url).unwrap();
    let back = url
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| url::Url::parse(&v).unwrap())
        .unwrap();
    back.port().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_asks_servers_how_they_sign_in_and_a_browser_sign_in_is_cancelled_or_times_out()
{
    use support::app::{App, data_root};
    use vestibule::config::Settings;
    use vestibule::matrix::{Command, LoginMethods, Update};
    // In this process: a provider over plain HTTP, which the worker here reaches without a CA
    // of its own (only revoking a token needs HTTPS).
    let servers = SignInServers::start(Auth::OAuth, 3600, false);
    let hs = servers.hs_url.clone();
    let mut app = App::spawned_configured(data_root(), Settings::default(), |c| {
        c.browser_login_timeout = Duration::from_secs(3);
    });
    app.expect("the login prompt", |u| {
        matches!(u, Update::NeedsLogin).then_some(())
    })
    .await;
    let methods = async |app: &mut App, homeserver: &str| {
        app.send(Command::LoginMethods {
            homeserver: homeserver.to_owned(),
        });
        app.expect("the sign-in methods", |u| match u {
            Update::LoginMethods { methods, .. } => Some(methods.clone()),
            _ => None,
        })
        .await
    };
    let oauth = methods(&mut app, &hs).await;
    assert!(oauth.oauth && !oauth.password, "{oauth:?}");
    let password = methods(&mut app, &support::homeserver().url).await;
    assert_eq!(
        password,
        LoginMethods {
            password: true,
            ..LoginMethods::default()
        }
    );

    let start = async |app: &mut App| {
        app.send(Command::LoginInBrowser {
            homeserver: hs.clone(),
            provider: None,
        });
        app.expect("the address to open", |u| match u {
            Update::BrowserLogin { url } => Some(url.clone()),
            _ => None,
        })
        .await
    };
    let failed = async |app: &mut App| {
        app.expect("the sign-in to fail", |u| match u {
            Update::LoginFailed { reason } => Some(reason.clone()),
            _ => None,
        })
        .await
    };
    // Cancelled: the sentence, and the loopback redirect is closed.
    let url = start(&mut app).await;
    let port = redirect_port(&url);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    app.send(Command::CancelLogin);
    assert_eq!(failed(&mut app).await, "Sign-in cancelled.");
    wait_for(
        "the redirect server to close",
        Duration::from_secs(10),
        async || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .is_err()
                .then_some(())
        },
    )
    .await;
    // Nobody finishes it: it times out and says so.
    start(&mut app).await;
    assert_eq!(
        failed(&mut app).await,
        "The sign-in in the browser was not finished in time; try again."
    );
    // Finished: signed in.
    let url = start(&mut app).await;
    servers.play_browser(&url, ALICE).await;
    let user = app
        .expect("the sign-in", |u| match u {
            Update::SignedIn { user_id, .. } => Some(user_id.clone()),
            _ => None,
        })
        .await;
    assert!(user.starts_with("@alice:"), "{user}");
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_only_server_says_so_instead_of_opening_the_browser() {
    let hs = &support::homeserver().url;
    let data = data_dir("password-only");
    let out = output(&data, &["login", hs]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("does not sign people in in the browser"),
        "{}",
        text(&out.stderr)
    );
    assert!(!data.join("opened").exists(), "no browser was opened");
    let _ = std::fs::remove_dir_all(&data);
}
