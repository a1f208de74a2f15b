//! The SFU foci: what the homeserver advertises (`rtc/transports`, `.well-known`) after the
//! user's own, and whether a focus's service answers.

use std::time::Duration;

use matrix_sdk::Client;
use matrix_sdk::ruma::api::client::rtc::{RtcTransport, transports};

use super::types::Update;
use super::worker::Worker;
use crate::config::Settings;
use crate::rtc::Focus;
use crate::rtc::focus_list::{FocusInfo, FocusList, FocusSource};

/// How long a focus may take to answer a check.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

impl Worker {
    /// Uses new settings: the ringtone is reloaded only when it changed, and a new focus list
    /// of the user's needs no request (what the homeserver advertised is kept).
    pub(super) fn apply_settings(&mut self, settings: Settings) {
        let (old, new) = (&self.config.settings.ring, &settings.ring);
        if old.ringtone != new.ringtone || old.volume != new.volume {
            self.config
                .ringer
                .configure(new.ringtone.as_deref(), new.volume);
        }
        let foci_changed = settings.calls.foci != self.config.settings.calls.foci;
        self.config.settings = settings;
        if foci_changed {
            let foci = self.foci.with_user(&self.config.settings.calls.foci);
            self.set_foci(foci);
        }
    }

    /// Uses `foci` from now on, and says so.
    pub(super) fn set_foci(&mut self, foci: FocusList) {
        self.foci = foci;
        self.out.send(Update::Foci {
            foci: self.foci.entries().to_vec(),
        });
    }

    /// Checks beside the loop whether the focus service at `url` answers
    /// ([`Update::FocusChecked`]).
    pub(super) fn check_focus(&self, url: String) {
        let out = self.out.clone();
        let http = self.client().map(|c| c.http_client().clone());
        tokio::spawn(async move {
            let http = http.unwrap_or_default();
            let (ok, message) = check_focus(&http, &url).await;
            out.send(Update::FocusChecked { url, ok, message });
        });
    }
}

/// The foci the homeserver advertises (`rtc/transports`, then `.well-known`).
pub(super) async fn advertised_foci(client: &Client) -> Vec<FocusInfo> {
    let mut advertised = Vec::new();
    match client.send(transports::v1::Request::new()).await {
        Ok(response) => advertised.extend(livekit_foci(
            &response.rtc_transports,
            FocusSource::Transports,
        )),
        Err(e) => tracing::debug!("rtc/transports: {e}"),
    }
    match client.rtc_foci().await {
        Ok(found) => advertised.extend(livekit_foci(&found, FocusSource::WellKnown)),
        Err(e) => tracing::debug!("well-known rtc_foci: {e}"),
    }
    advertised
}

fn livekit_foci(transports: &[RtcTransport], source: FocusSource) -> Vec<FocusInfo> {
    transports
        .iter()
        .filter_map(|t| match t {
            RtcTransport::LiveKit(info) => Some(FocusInfo {
                focus: Focus::livekit(&info.service_url),
                source,
            }),
            _ => None,
        })
        .collect()
}

/// Asks a LiveKit JWT service whether it is up (`GET /healthz`, as lk-jwt-service serves).
async fn check_focus(http: &matrix_sdk::reqwest::Client, url: &str) -> (bool, String) {
    let health = format!("{}/healthz", url.trim_end_matches('/'));
    let request = http.get(&health).timeout(CHECK_TIMEOUT).send();
    match request.await {
        Ok(response) if response.status().is_success() => (true, "The focus answers.".into()),
        Ok(response) => (
            false,
            format!(
                "The focus answered with HTTP {}: it may not be a LiveKit JWT service.",
                response.status().as_u16()
            ),
        ),
        Err(e) if e.is_builder() => (false, "That is not a valid URL.".into()),
        Err(e) if e.is_timeout() => (false, "The focus did not answer within 10 s.".into()),
        Err(e) => {
            tracing::debug!("checking focus {url}: {e}");
            (false, "The focus could not be reached.".into())
        }
    }
}
