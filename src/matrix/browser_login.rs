//! Signing in in the browser: asking a homeserver how it signs people in, OAuth 2.0
//! (next-generation auth, MSC3861) with a registered native client, PKCE and a loopback
//! redirect, and legacy single sign-on (`m.login.sso` then `m.login.token`) for servers without
//! OAuth 2.0.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use matrix_sdk::Client;
use matrix_sdk::authentication::oauth::error::OAuthDiscoveryError;
use matrix_sdk::authentication::oauth::registration::{
    ApplicationType, ClientMetadata, Localized, OAuthGrantType,
};
use matrix_sdk::authentication::oauth::{ClientId, ClientRegistrationData, OAuthAuthorizationData};
use matrix_sdk::ruma::api::client::session::get_login_types::v3::LoginType;
use matrix_sdk::ruma::serde::Raw;
use matrix_sdk::utils::local_server::{
    LocalServerBuilder, LocalServerIpAddress, LocalServerResponse,
};
use url::Url;

use super::error::{build_sentence, login_sentence};
use super::types::{IdentityProvider, LoginMethods, Update};
use super::worker::Outbox;
use crate::config::{ProfilePaths, write_replacing};

/// How long a sign-in may wait for the person in the browser.
pub const BROWSER_LOGIN_TIMEOUT: Duration = Duration::from_secs(300);
/// How long asking a homeserver how it signs people in may take.
const METHODS_TIMEOUT: Duration = Duration::from_secs(20);

/// The page the browser shows once it has handed the sign-in back to us.
const DONE_PAGE: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Vestibule</title></head>\
<body style=\"font-family:sans-serif;text-align:center;margin-top:20vh\">\
<h1>Signed in</h1><p>You can close this tab and go back to Vestibule.</p></body></html>";

/// Where Vestibule can be found, as it describes itself to OAuth 2.0 servers.
const CLIENT_URI: &str = env!("CARGO_PKG_HOMEPAGE");

/// Asks `homeserver` (a server name or URL) how it signs people in.
pub async fn login_methods(homeserver: &str) -> Result<LoginMethods, String> {
    let asking =
        async {
            let client = Client::builder()
                .server_name_or_homeserver_url(homeserver)
                .build()
                .await
                .map_err(|e| build_sentence(homeserver, &e))?;
            let (oauth_api, matrix_api) = (client.oauth(), client.matrix_auth());
            let (oauth, legacy) =
                tokio::join!(oauth_api.server_metadata(), matrix_api.get_login_types());
            let mut methods = LoginMethods {
                oauth: offers_oauth(oauth)?,
                ..LoginMethods::default()
            };
            // A server with OAuth 2.0 only may not answer the legacy API at all.
            if let Ok(legacy) = legacy {
                for flow in legacy.flows {
                    match flow {
                        LoginType::Password(_) => methods.password = true,
                        LoginType::Sso(sso) => {
                            methods.sso = true;
                            methods
                                .providers
                                .extend(sso.identity_providers.into_iter().map(|p| {
                                    IdentityProvider {
                                        id: p.id,
                                        name: p.name,
                                    }
                                }));
                        }
                        _ => {}
                    }
                }
            } else if !methods.oauth {
                return Err(format!(
                    "{homeserver} did not say how it signs people in; check the address."
                ));
            }
            Ok(methods)
        };
    tokio::time::timeout(METHODS_TIMEOUT, asking)
        .await
        .map_err(|_| {
            format!("{homeserver} did not answer in time; check the address and your connection.")
        })?
}

/// Whether the server's answer to the OAuth 2.0 metadata request says it offers OAuth 2.0.
fn offers_oauth<T>(answer: Result<T, OAuthDiscoveryError>) -> Result<bool, String> {
    match answer {
        Ok(_) => Ok(true),
        Err(e) if e.is_not_supported() => Ok(false),
        Err(OAuthDiscoveryError::Http(e))
            if e.as_client_api_error()
                .is_some_and(|a| a.status_code.as_u16() == 404) =>
        {
            Ok(false)
        }
        Err(OAuthDiscoveryError::Http(e)) => {
            tracing::debug!("OAuth 2.0 metadata: {e}");
            Ok(false)
        }
        Err(e) => {
            tracing::debug!("OAuth 2.0 metadata: {e:?}");
            Err(
                "The homeserver's sign-in service describes itself in a way Vestibule cannot use (it must be served over HTTPS)."
                    .to_owned(),
            )
        }
    }
}

/// What a sign-in in the browser needs besides the client.
pub(super) struct BrowserLogin<'a> {
    /// The profile's paths (for the registered OAuth 2.0 clients).
    pub paths: &'a ProfilePaths,
    /// The server name or URL, as typed.
    pub homeserver: &'a str,
    /// The single sign-on identity provider, if one was chosen.
    pub provider: Option<&'a str>,
    /// Where the address to open goes.
    pub out: &'a Outbox,
    /// How long to wait for the browser.
    pub timeout: Duration,
}

impl BrowserLogin<'_> {
    /// Signs `client` (built for the homeserver, not signed in) in through the browser. Returns
    /// the OAuth 2.0 client id when it was OAuth 2.0.
    pub async fn run(&self, client: &Client) -> Result<Option<String>, String> {
        let oauth = offers_oauth(client.oauth().server_metadata().await)?;
        let (redirect, redirected) = LocalServerBuilder::new()
            .ip_address(LocalServerIpAddress::Localhostv4)
            .response(LocalServerResponse::Html(DONE_PAGE.to_owned()))
            .spawn()
            .await
            .map_err(|e| {
                format!("Could not wait for the browser: no local port could be opened ({e}).")
            })?;
        if oauth && self.provider.is_none() {
            let registration = self.registration(client).await?;
            let OAuthAuthorizationData { url, state } = client
                .oauth()
                .login(redirect, None, Some(registration), None)
                .build()
                .await
                .map_err(|e| oauth_sentence(&e))?;
            self.out.send(Update::BrowserLogin {
                url: url.to_string(),
            });
            let Some(query) = self.wait(redirected).await? else {
                client.oauth().abort_login(&state).await;
                return Err(NO_ANSWER.to_owned());
            };
            client
                .oauth()
                .finish_login(query.into())
                .await
                .map_err(|e| finish_sentence(&e))?;
            let id = client.oauth().client_id().map(|id| id.as_str().to_owned());
            if let Some(id) = &id {
                self.remember_client(client, id).await;
            }
            return Ok(id);
        }
        let offers_sso = client
            .matrix_auth()
            .get_login_types()
            .await
            .is_ok_and(|types| {
                types
                    .flows
                    .iter()
                    .any(|flow| matches!(flow, LoginType::Sso(_)))
            });
        if !offers_sso {
            return Err(format!(
                "{} does not sign people in in the browser; sign in with a password instead (`vestibule login {} USER`).",
                self.homeserver, self.homeserver
            ));
        }
        let url = client
            .matrix_auth()
            .get_sso_login_url(redirect.as_str(), self.provider)
            .await
            .map_err(|e| login_sentence(&e))?;
        self.out.send(Update::BrowserLogin { url });
        let query = self.wait(redirected).await?.ok_or(NO_ANSWER)?;
        client
            .matrix_auth()
            .login_with_sso_callback(query.into())
            .map_err(|_| NO_ANSWER.to_owned())?
            .initial_device_display_name("Vestibule")
            .await
            .map_err(|e| login_sentence(&e))?;
        Ok(None)
    }

    async fn wait<F: IntoFuture>(&self, redirected: F) -> Result<F::Output, String> {
        tokio::time::timeout(self.timeout, redirected)
            .await
            .map_err(|_| {
                "The sign-in in the browser was not finished in time; try again.".to_owned()
            })
    }

    /// How Vestibule registers with the server: a native application with a loopback
    /// redirect, reusing the client it registered before with the same issuer.
    async fn registration(&self, client: &Client) -> Result<ClientRegistrationData, String> {
        let metadata = Raw::new(&client_metadata()).map_err(|e| e.to_string())?;
        let known: HashMap<Url, ClientId> = RegisteredClients::load(self.paths)
            .0
            .into_iter()
            .filter_map(|(issuer, id)| Some((Url::parse(&issuer).ok()?, ClientId::new(id))))
            .collect();
        if known.is_empty() {
            tracing::debug!(
                "no OAuth 2.0 client registered yet for {}",
                client.homeserver()
            );
        }
        Ok(ClientRegistrationData {
            metadata,
            static_registrations: Some(known),
        })
    }

    async fn remember_client(&self, client: &Client, id: &str) {
        let Ok(metadata) = client.oauth().cached_server_metadata().await else {
            return;
        };
        let mut clients = RegisteredClients::load(self.paths);
        clients.0.insert(metadata.issuer.to_string(), id.to_owned());
        if let Err(e) = clients.save(self.paths) {
            // The next sign-in registers anew: no harm beyond one more registration.
            tracing::info!("could not remember the registered OAuth 2.0 client: {e}");
        }
    }
}

const NO_ANSWER: &str = "The browser came back without a sign-in; try again.";

/// The OAuth 2.0 clients Vestibule registered, by issuer: not secret, kept beside the profile
/// so that signing in again does not register another.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct RegisteredClients(BTreeMap<String, String>);

impl RegisteredClients {
    fn file(paths: &ProfilePaths) -> std::path::PathBuf {
        paths.data_dir.join("oauth-clients.json")
    }

    fn load(paths: &ProfilePaths) -> Self {
        std::fs::read(Self::file(paths))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    fn save(&self, paths: &ProfilePaths) -> std::io::Result<()> {
        paths.create_data_dir().map_err(std::io::Error::other)?;
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        write_replacing(&Self::file(paths), &bytes)
    }
}

/// Vestibule as an OAuth 2.0 client: a native application whose redirect is the loopback
/// address (any port, RFC 8252 §7.3).
fn client_metadata() -> ClientMetadata {
    let loopback = [Url::parse("http://127.0.0.1/"), Url::parse("http://[::1]/")]
        .into_iter()
        .flatten()
        .collect();
    let mut metadata = ClientMetadata::new(
        ApplicationType::Native,
        vec![OAuthGrantType::AuthorizationCode {
            redirect_uris: loopback,
        }],
        Localized::new(client_uri(""), None),
    );
    metadata.client_name = Some(Localized::new("Vestibule".to_owned(), None));
    metadata.logo_uri = Some(Localized::new(client_uri(LOGO_PATH), None));
    metadata
}

/// The app's icon in the repository, as the sign-in service may show it.
const LOGO_PATH: &str = "raw/main/packaging/icons/hicolor/512x512/apps/im.vestibule.Vestibule.png";

fn client_uri(path: &str) -> Url {
    let joined = if path.is_empty() {
        Url::parse(CLIENT_URI)
    } else {
        Url::parse(&format!("{CLIENT_URI}/{path}"))
    };
    // The homepage is a constant URL of the package; the test below checks that it parses.
    joined.unwrap_or_else(|_| Url::parse("https://matrix.org/").unwrap_or_else(|_| unreachable!()))
}

fn oauth_sentence(e: &matrix_sdk::authentication::oauth::OAuthError) -> String {
    use matrix_sdk::authentication::oauth::OAuthError;
    use matrix_sdk::authentication::oauth::error::OAuthClientRegistrationError;
    tracing::debug!("OAuth 2.0 sign-in: {e:?}");
    match e {
        OAuthError::ClientRegistration(OAuthClientRegistrationError::NotSupported) => {
            "The homeserver's sign-in service does not let new apps register; Vestibule cannot sign in there.".to_owned()
        }
        OAuthError::ClientRegistration(_) => {
            "The homeserver's sign-in service refused to register Vestibule.".to_owned()
        }
        _ => "The homeserver's sign-in service could not be reached; check your connection and try again.".to_owned(),
    }
}

fn finish_sentence(e: &matrix_sdk::Error) -> String {
    use matrix_sdk::authentication::oauth::OAuthError;
    use matrix_sdk::authentication::oauth::error::OAuthAuthorizationCodeError;
    match e {
        matrix_sdk::Error::OAuth(inner) => match inner.as_ref() {
            OAuthError::AuthorizationCode(OAuthAuthorizationCodeError::Cancelled) => {
                tracing::debug!("OAuth 2.0 sign-in: {e:?}");
                "The sign-in was cancelled in the browser.".to_owned()
            }
            OAuthError::AuthorizationCode(OAuthAuthorizationCodeError::Authorization(_)) => {
                tracing::debug!("OAuth 2.0 sign-in: {e:?}");
                "The sign-in service refused the sign-in.".to_owned()
            }
            other => oauth_sentence(other),
        },
        other => login_sentence(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vestibule_registers_as_a_native_app_with_a_loopback_redirect() {
        let json = serde_json::to_value(client_metadata()).unwrap();
        assert_eq!(json["application_type"], "native");
        assert_eq!(json["client_name"], "Vestibule");
        assert_eq!(json["client_uri"], CLIENT_URI);
        assert_eq!(json["token_endpoint_auth_method"], "none");
        let redirects = json["redirect_uris"].as_array().unwrap();
        assert!(redirects.iter().any(|r| r == "http://127.0.0.1/"), "{json}");
        assert!(
            json["logo_uri"].as_str().unwrap().starts_with(CLIENT_URI),
            "{json}"
        );
        assert!(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(LOGO_PATH.trim_start_matches("raw/main/"))
                .exists()
        );
    }
}
