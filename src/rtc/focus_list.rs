//! The SFU foci we offer when we join (`foci_preferred`, §4), best first: the user's own list,
//! then what the homeserver advertises (`rtc/transports`, then `.well-known`), each service once.

use serde::{Deserialize, Serialize};

use super::focus::Focus;

/// Where a focus came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FocusSource {
    /// The user's own list (config or command line).
    User,
    /// The homeserver's `rtc/transports` endpoint.
    Transports,
    /// The homeserver's `.well-known`.
    WellKnown,
}

/// An SFU focus and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FocusInfo {
    /// The focus.
    pub focus: Focus,
    /// Where it came from.
    pub source: FocusSource,
}

/// The foci in the order we prefer them; no service URL appears twice (the first place wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FocusList {
    entries: Vec<FocusInfo>,
}

impl FocusList {
    /// The user's foci (service URLs, best first), then the `advertised` ones not among them.
    pub fn new(user: &[String], advertised: impl IntoIterator<Item = FocusInfo>) -> Self {
        let own = user.iter().map(|url| FocusInfo {
            focus: Focus::livekit(url),
            source: FocusSource::User,
        });
        let mut list = Self::default();
        for info in own.chain(advertised) {
            list.push(info);
        }
        list
    }

    /// The same advertised foci under a new list of the user's own.
    pub fn with_user(&self, user: &[String]) -> Self {
        let advertised = self
            .entries
            .iter()
            .filter(|f| f.source != FocusSource::User)
            .cloned();
        Self::new(user, advertised)
    }

    fn push(&mut self, info: FocusInfo) {
        let url = &info.focus.livekit_service_url;
        if !self
            .entries
            .iter()
            .any(|f| &f.focus.livekit_service_url == url)
        {
            self.entries.push(info);
        }
    }

    /// Every focus, best first.
    pub fn entries(&self) -> &[FocusInfo] {
        &self.entries
    }

    /// The service URLs, best first.
    pub fn urls(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter_map(|f| f.focus.livekit_service_url.clone())
            .collect()
    }

    /// The foci to publish when joining: `preferred` (service URLs given for this join) first,
    /// then the list.
    pub fn for_join(&self, preferred: &[String]) -> Vec<Focus> {
        Self::new(preferred, self.entries.iter().cloned())
            .entries
            .into_iter()
            .map(|f| f.focus)
            .collect()
    }
}

/// The service URLs as a person sees them in the settings: their own, best first, then the
/// `advertised` ones (in the homeserver's order) not among them.
pub fn shown_order(user: &[String], advertised: &[String]) -> Vec<String> {
    let advertised = advertised.iter().map(|url| FocusInfo {
        focus: Focus::livekit(url),
        source: FocusSource::Transports,
    });
    FocusList::new(user, advertised).urls()
}

/// Moves entry `from` of the [`shown_order`] to `to`; the whole new order becomes the user's
/// list, so an advertised focus moved up stays where it was put.
pub fn move_focus(user: &mut Vec<String>, advertised: &[String], from: usize, to: usize) {
    let mut list = shown_order(user, advertised);
    if from >= list.len() || to >= list.len() {
        return;
    }
    let url = list.remove(from);
    list.insert(to, url);
    *user = list;
}

/// Normalises a typed focus URL; `None` when it is not an http(s) URL.
pub fn parse_focus_url(text: &str) -> Option<String> {
    let url = text.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    (!rest.is_empty() && !rest.contains(char::is_whitespace)).then(|| url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn moving_a_discovered_focus_pins_the_order() {
        let mut user = s(&["https://a"]);
        let found = s(&["https://a", "https://b", "https://c"]);
        assert_eq!(
            shown_order(&user, &found),
            s(&["https://a", "https://b", "https://c"])
        );
        move_focus(&mut user, &found, 2, 1);
        assert_eq!(user, s(&["https://a", "https://c", "https://b"]));
        move_focus(&mut user, &found, 0, 5);
        assert_eq!(user, s(&["https://a", "https://c", "https://b"]));
    }

    #[test]
    fn focus_urls_must_be_http() {
        assert_eq!(
            parse_focus_url(" https://sfu.example.org/ "),
            Some("https://sfu.example.org".into())
        );
        assert_eq!(parse_focus_url("sfu.example.org"), None);
        assert_eq!(parse_focus_url("https://"), None);
        assert_eq!(parse_focus_url("https://a b"), None);
    }
}
