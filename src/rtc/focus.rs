//! SFU foci: the transports a membership prefers and how the active one is chosen (§1a, §2).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::json::{Object, str_field};

/// The focus type every current client uses.
pub const FOCUS_LIVEKIT: &str = "livekit";

/// One SFU a member can use, as found in `foci_preferred` / `rtc_transports`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Focus {
    /// The focus type (`livekit`); unknown types are kept, not dropped.
    pub kind: String,
    /// The LiveKit JWT service URL, for `livekit` foci.
    pub livekit_service_url: Option<String>,
    /// The LiveKit room alias (Element Call uses the Matrix room id).
    pub livekit_alias: Option<String>,
}

impl Focus {
    /// A LiveKit focus for a JWT service URL.
    pub fn livekit(service_url: &str) -> Self {
        Self {
            kind: FOCUS_LIVEKIT.to_owned(),
            livekit_service_url: Some(service_url.to_owned()),
            livekit_alias: None,
        }
    }

    /// Reads a focus object leniently; `None` only when it is not an object.
    pub fn from_json(value: &Value) -> Option<Self> {
        let mut focus = Self {
            kind: String::new(),
            livekit_service_url: None,
            livekit_alias: None,
        };
        for (key, v) in value.as_object()? {
            let Some(text) = v.as_str() else { continue };
            match key.as_str() {
                "type" => focus.kind = text.to_owned(),
                "livekit_service_url" => focus.livekit_service_url = Some(text.to_owned()),
                "livekit_alias" => focus.livekit_alias = Some(text.to_owned()),
                _ => {}
            }
        }
        if focus.kind.is_empty() {
            focus.kind = "unknown".to_owned();
        }
        Some(focus)
    }

    /// The focus as published, with `livekit_alias` set to `alias` when it has none.
    pub fn to_json_with_alias(&self, alias: &str) -> Value {
        let mut v = json!({ "type": self.kind });
        if let Some(url) = &self.livekit_service_url {
            v["livekit_service_url"] = json!(url);
        }
        v["livekit_alias"] = json!(self.livekit_alias.as_deref().unwrap_or(alias));
        v
    }
}

/// Reads a list of foci, skipping entries that are not objects.
pub(crate) fn foci_from_json(values: Option<&Vec<Value>>) -> Vec<Focus> {
    values
        .map(|vs| vs.iter().filter_map(Focus::from_json).collect())
        .unwrap_or_default()
}

/// How a call picks the SFU each member uses (`focus_active.focus_selection`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FocusSelection {
    /// Everyone uses the oldest member's first preferred focus.
    OldestMembership,
    /// Each member uses its own first preferred focus.
    MultiSfu,
    /// A selection this version does not know; treated like `multi_sfu`.
    Other(String),
}

impl FocusSelection {
    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::OldestMembership => "oldest_membership",
            Self::MultiSfu => "multi_sfu",
            Self::Other(s) => s,
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "oldest_membership" => Self::OldestMembership,
            "multi_sfu" => Self::MultiSfu,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// The `focus_active` of a membership: the focus type and how it is selected.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FocusActive {
    /// The focus type (`livekit`).
    pub kind: String,
    /// How the SFU is chosen.
    pub focus_selection: FocusSelection,
}

impl FocusActive {
    /// Reads `focus_active` leniently; a missing selection means `oldest_membership`, the
    /// MSC4143 default.
    pub fn from_json(obj: &Object) -> Self {
        Self {
            kind: str_field(obj, "type").unwrap_or(FOCUS_LIVEKIT).to_owned(),
            focus_selection: str_field(obj, "focus_selection")
                .map(FocusSelection::parse)
                .unwrap_or(FocusSelection::OldestMembership),
        }
    }

    /// The wire form.
    pub fn to_json(&self) -> Value {
        json!({ "type": self.kind, "focus_selection": self.focus_selection.as_str() })
    }
}
