//! State keys of call membership events (MATRIXRTC.md §1).
//!
//! Every form names its owner first: `_@alice:hs_DEVICE_m.call`, `_@alice:hs_DEVICE`,
//! `@alice:hs_DEVICE_m.call` (MSC3757 rooms), `@alice:hs` (the array form) and
//! `[_]@alice:hs_MEMBERID` for `m.rtc.member`. A server name never contains `_`, so the owner
//! ends at the first `_` after the `:` that follows the localpart.

use std::fmt;

use super::APPLICATION_CALL;

/// A parsed call-membership state key: its owner and whatever follows the owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateKey {
    /// The user the key belongs to (the only one allowed to send it).
    pub owner: String,
    /// What follows `owner_`: `DEVICE_m.call`, `DEVICE` or a member id. `None` for `@alice:hs`.
    pub rest: Option<String>,
    /// Whether the key starts with `_` (the form for room versions without MSC3757).
    pub leading_underscore: bool,
}

/// Why a state key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateKeyError {
    /// The key does not start with `@` or `_@`.
    #[error("state key does not start with a user id")]
    NoUserId,
    /// The user id part is not `@localpart:server`.
    #[error("state key holds a malformed user id")]
    MalformedUserId,
    /// The key ends with `_` and nothing after it.
    #[error("state key has an empty suffix")]
    EmptySuffix,
}

impl StateKey {
    /// Parses any of the state-key forms of MATRIXRTC.md §1.
    pub fn parse(key: &str) -> Result<Self, StateKeyError> {
        let (leading_underscore, body) = match key.strip_prefix('_') {
            Some(body) => (true, body),
            None => (false, key),
        };
        if !body.starts_with('@') {
            return Err(StateKeyError::NoUserId);
        }
        let colon = body.find(':').ok_or(StateKeyError::MalformedUserId)?;
        // The localpart is non-empty; the server name runs to the first `_` (never part of a
        // server name) and must not be empty either.
        if colon < 2 {
            return Err(StateKeyError::MalformedUserId);
        }
        let server_and_rest = &body[colon + 1..];
        let (server, rest) = match server_and_rest.find('_') {
            Some(i) => (&server_and_rest[..i], Some(&server_and_rest[i + 1..])),
            None => (server_and_rest, None),
        };
        if server.is_empty() || !server.chars().all(is_server_name_char) {
            return Err(StateKeyError::MalformedUserId);
        }
        if rest == Some("") {
            return Err(StateKeyError::EmptySuffix);
        }
        let owner_len = colon + 1 + server.len();
        Ok(Self {
            owner: body[..owner_len].to_owned(),
            rest: rest.map(str::to_owned),
            leading_underscore,
        })
    }

    /// The device id of a session-form key (`DEVICE_m.call` or `DEVICE`), if any.
    pub fn session_device(&self) -> Option<&str> {
        let rest = self.rest.as_deref()?;
        let device = rest
            .strip_suffix(APPLICATION_CALL)
            .and_then(|r| r.strip_suffix('_'))
            .unwrap_or(rest);
        Some(device)
    }

    /// The key Element Call writes for our device's `org.matrix.msc3401.call.member` event:
    /// `_@me:hs_DEVICE_m.call`, without the `_` in rooms with user-owned state keys.
    pub fn for_session(user_id: &str, device_id: &str, room_version: &str) -> Self {
        Self {
            owner: user_id.to_owned(),
            rest: Some(format!("{device_id}_{APPLICATION_CALL}")),
            leading_underscore: !user_owned_state_keys(room_version),
        }
    }

    /// The key of our `m.rtc.member` event: `_@me:hs_MEMBERID` (no `_` in MSC3757 rooms).
    pub fn for_rtc_member(user_id: &str, member_id: &str, room_version: &str) -> Self {
        Self {
            owner: user_id.to_owned(),
            rest: Some(member_id.to_owned()),
            leading_underscore: !user_owned_state_keys(room_version),
        }
    }
}

impl fmt::Display for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.leading_underscore {
            f.write_str("_")?;
        }
        f.write_str(&self.owner)?;
        if let Some(rest) = &self.rest {
            write!(f, "_{rest}")?;
        }
        Ok(())
    }
}

/// Whether a room version lets users own state keys that start with their id (MSC3757/MSC3779),
/// which is when our keys drop their leading `_`.
pub fn user_owned_state_keys(room_version: &str) -> bool {
    room_version.starts_with("org.matrix.msc3757.")
        || room_version.starts_with("org.matrix.msc3779.")
}

/// Characters of a server name: a DNS name, an IPv4 or bracketed IPv6 literal, and a port.
fn is_server_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')
}

/// Whether `s` looks like a Matrix user id (`@localpart:server`).
pub fn is_user_id(s: &str) -> bool {
    StateKey::parse(s).is_ok_and(|k| k.rest.is_none() && !k.leading_underscore)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        let cases: &[(&str, &str, Option<&str>, bool)] = &[
            (
                "_@alice:example.org_DEV_m.call",
                "@alice:example.org",
                Some("DEV_m.call"),
                true,
            ),
            (
                "_@alice:example.org_DEV",
                "@alice:example.org",
                Some("DEV"),
                true,
            ),
            (
                "@alice:example.org_DEV_m.call",
                "@alice:example.org",
                Some("DEV_m.call"),
                false,
            ),
            ("@alice:example.org", "@alice:example.org", None, false),
            ("_@a_b:hs.org_xyzABC", "@a_b:hs.org", Some("xyzABC"), true),
            ("@u:127.0.0.1:8008_D", "@u:127.0.0.1:8008", Some("D"), false),
            (
                "@u:[::1]:8448_D_m.call",
                "@u:[::1]:8448",
                Some("D_m.call"),
                false,
            ),
        ];
        for (key, owner, rest, underscore) in cases {
            let parsed = StateKey::parse(key).unwrap_or_else(|e| panic!("{key}: {e}"));
            assert_eq!(parsed.owner, *owner, "{key}");
            assert_eq!(parsed.rest.as_deref(), *rest, "{key}");
            assert_eq!(parsed.leading_underscore, *underscore, "{key}");
            assert_eq!(parsed.to_string(), *key, "round trip of {key}");
        }
    }

    #[test]
    fn rejects_malformed_keys() {
        for key in [
            "",
            "_",
            "alice",
            "_alice:hs",
            "@alice",
            "@:hs",
            "@alice:",
            "@a:hs_",
            "@a:h$s",
        ] {
            assert!(StateKey::parse(key).is_err(), "{key} should not parse");
        }
    }

    #[test]
    fn session_device_strips_the_application_suffix() {
        let k = StateKey::parse("_@alice:hs_DEV_m.call").unwrap();
        assert_eq!(k.session_device(), Some("DEV"));
        let k = StateKey::parse("_@alice:hs_DEV").unwrap();
        assert_eq!(k.session_device(), Some("DEV"));
        let k = StateKey::parse("@alice:hs").unwrap();
        assert_eq!(k.session_device(), None);
    }

    #[test]
    fn builds_our_keys_per_room_version() {
        assert_eq!(
            StateKey::for_session("@me:hs", "DEV", "10").to_string(),
            "_@me:hs_DEV_m.call"
        );
        assert_eq!(
            StateKey::for_session("@me:hs", "DEV", "org.matrix.msc3757.11").to_string(),
            "@me:hs_DEV_m.call"
        );
        assert_eq!(
            StateKey::for_rtc_member("@me:hs", "M1", "org.matrix.msc3779.1").to_string(),
            "@me:hs_M1"
        );
        assert_eq!(
            StateKey::for_rtc_member("@me:hs", "M1", "11").to_string(),
            "_@me:hs_M1"
        );
    }

    #[test]
    fn recognises_user_ids() {
        assert!(is_user_id("@alice:example.org"));
        assert!(!is_user_id("@alice:example.org_DEV"));
        assert!(!is_user_id("_@alice:example.org"));
        assert!(!is_user_id("alice"));
    }
}
