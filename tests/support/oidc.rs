//! A real OpenID provider (npm `oidc-provider`, `scripts/oidc.sh`) with a Synapse that signs in
//! through it: delegating all auth to it (OAuth 2.0, MSC3861, Synapse 1.156) or offering it as
//! single sign-on. And a browser the test plays: the redirects, the provider's login form, the
//! cookies, up to the loopback redirect that hands the sign-in back to Vestibule.
//!
//! `tests/support/oidc/play.py` documents every request the browser makes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use url::Url;

/// How the homeserver signs people in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Auth {
    /// OAuth 2.0 only: Synapse 1.156 delegating to the provider.
    OAuth,
    /// Single sign-on through the provider (and passwords): the current Synapse.
    Sso,
}

/// The provider and its homeserver, stopped on drop.
pub struct SignInServers {
    /// The homeserver's base URL.
    pub hs_url: String,
    /// The provider's issuer (HTTPS: OAuth 2.0 revokes tokens over HTTPS only).
    pub issuer: String,
    /// The throwaway CA the provider's certificate is signed by: Vestibule's processes trust it
    /// through `SSL_CERT_FILE`.
    pub ca: PathBuf,
    dir: PathBuf,
}

/// The provider's test accounts (`OIDC_ACCOUNTS`' default).
pub const ALICE: (&str, &str) = ("alice", "alice-password");

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name)
}

fn run(mut cmd: Command, what: &str) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl SignInServers {
    /// Starts a provider whose access tokens live `token_ttl_secs`, over HTTPS when `tls` (with
    /// a CA of its own, see [`SignInServers::ca`]), and a homeserver signing in through it by
    /// `auth`.
    pub fn start(auth: Auth, token_ttl_secs: u64, tls: bool) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "vestibule-oidc-{}-{auth:?}-{}",
            std::process::id(),
            if tls { "tls" } else { "plain" }
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        spawn_watchdog(&dir);
        let port = run(
            {
                let mut c = Command::new(script("oidc.sh"));
                c.arg("free-port");
                c
            },
            "oidc.sh free-port",
        );
        let hs_base = format!("http://127.0.0.1:{port}");
        let issuer = run(
            {
                let mut c = Command::new(script("oidc.sh"));
                c.arg("start")
                    .arg(dir.join("provider"))
                    .args(tls.then_some("--tls"))
                    .env("OIDC_SYNAPSE_URL", &hs_base)
                    .env("OIDC_ACCESS_TOKEN_TTL", token_ttl_secs.to_string());
                c
            },
            "oidc.sh start",
        );
        let ca = dir.join("provider/ca.pem");
        let mut servers = Self {
            hs_url: String::new(),
            issuer,
            ca,
            dir,
        };
        servers.hs_url = run(
            {
                let mut c = Command::new(script("synapse.sh"));
                c.arg("start")
                    .arg(servers.dir.join("synapse"))
                    .env("SYNAPSE_PORT", &port)
                    .env(
                        "SYNAPSE_AUTH",
                        match auth {
                            Auth::OAuth => "oauth",
                            Auth::Sso => "sso",
                        },
                    )
                    .env("OIDC_ISSUER", &servers.issuer);
                if tls {
                    c.env("OIDC_CA_FILE", &servers.ca);
                }
                c
            },
            "synapse.sh start",
        );
        servers
    }

    /// An HTTP client that trusts the provider's certificate and follows no redirects.
    pub fn http(&self) -> reqwest::Client {
        let trusted = std::fs::read(&self.ca)
            .ok()
            .map(|pem| reqwest::Certificate::from_pem(&pem).unwrap());
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .tls_certs_merge(trusted)
            .build()
            .unwrap()
    }

    /// The grants the provider revoked, as its test endpoint lists them.
    pub async fn revoked(&self) -> serde_json::Value {
        self.http()
            .get(format!("{}/test/revoked", self.issuer))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Plays the person in the browser: see [`play_browser`].
    pub async fn play_browser(&self, url: &str, account: (&str, &str)) {
        play_browser(&self.http(), url, account).await;
    }
}

impl Drop for SignInServers {
    fn drop(&mut self) {
        for (name, sub) in [("synapse.sh", "synapse"), ("oidc.sh", "provider")] {
            let stopped = Command::new(script(name))
                .arg("stop")
                .arg(self.dir.join(sub))
                .stdin(Stdio::null())
                .output();
            if let Err(e) = stopped {
                eprintln!("support: stopping {sub}: {e}");
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A detached shell that stops both servers once this process ends (a shared instance is never
/// dropped), or as soon as `dir` is gone (dropped cleanly).
fn spawn_watchdog(dir: &Path) {
    use std::os::unix::process::CommandExt;
    const WATCHDOG: &str = r#"trap '' HUP INT
while kill -0 "$1" 2>/dev/null && [ -d "$2" ]; do sleep 1; done
if [ -d "$2" ]; then
  "$3" stop "$2/synapse" >/dev/null 2>&1; "$4" stop "$2/provider" >/dev/null 2>&1; rm -rf "$2"
fi"#;
    Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg("vestibule-oidc-watchdog")
        .arg(std::process::id().to_string())
        .arg(dir)
        .arg(script("synapse.sh"))
        .arg(script("oidc.sh"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        // Never waited for: it outlives us and is reaped by init.
        .map(drop)
        .expect("sh runs the watchdog");
}

/// Plays the person in the browser: opens `url` (the authorization or single sign-on address
/// Vestibule handed over), follows the redirects, submits the provider's login form as `user`,
/// and finally opens the loopback redirect, which hands the sign-in back to Vestibule.
async fn play_browser(http: &reqwest::Client, url: &str, (user, password): (&str, &str)) {
    let start = Url::parse(url).unwrap();
    let back_to_app = loopback_redirect(&start);
    let mut jar: BTreeMap<String, String> = BTreeMap::new();
    let mut at = start;
    let mut login_form: Option<Url> = None;
    for _ in 0..30 {
        if at.origin() == back_to_app.origin() {
            // The last hop: Vestibule's own redirect server.
            let done = http.get(at.clone()).send().await.unwrap();
            assert!(done.status().is_success(), "{}", done.status());
            return;
        }
        let request = match login_form.take() {
            Some(form) => {
                let body = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("login", user)
                    .append_pair("password", password)
                    .finish();
                http.post(form)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
            }
            None => http.get(at.clone()),
        };
        let cookies: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        // Loopback counts as a secure context: Secure cookies go over plain HTTP too.
        let response = request
            .header("cookie", cookies.join("; "))
            .send()
            .await
            .unwrap();
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap_or_default();
            if let Some((name, value)) = set.split(';').next().and_then(|c| c.split_once('=')) {
                jar.insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
        let status = response.status();
        if status.is_redirection() {
            let location = response.headers()["location"].to_str().unwrap().to_owned();
            at = at.join(&location).unwrap();
        } else if status.is_success() && at.path().starts_with("/interaction/") {
            // The provider's login form, submitted next.
            login_form = Some(at.join(&format!("{}/login", at.path())).unwrap());
        } else {
            panic!(
                "the browser stopped at {at} with {status}: {}",
                response.text().await.unwrap_or_default()
            );
        }
    }
    panic!("the browser went round in circles");
}

/// Where the sign-in comes back to: the `redirect_uri` (OAuth 2.0) or `redirectUrl` (single
/// sign-on) of the address.
fn loopback_redirect(url: &Url) -> Url {
    url.query_pairs()
        .find(|(k, _)| k == "redirect_uri" || k == "redirectUrl")
        .and_then(|(_, v)| Url::parse(&v).ok())
        .unwrap_or_else(|| panic!("no loopback redirect in {url}"))
}
