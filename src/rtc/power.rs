//! Who may do what in a room, as far as calls care: notifying `@room` (which lets a sender ring
//! us loud, §3) and redacting others' events (which lets a redaction stop a ring).
//!
//! Read leniently from `m.room.power_levels` (levels as integers or integer strings, as older
//! rooms have them) and, for room versions whose creators outrank everyone, `m.room.create`.

use std::collections::HashMap;

use serde_json::Value;

use super::json::{Object, obj_field, str_field};

/// The level `notifications.room` defaults to.
const DEFAULT_NOTIFY_ROOM: i64 = 50;
/// The level `redact` defaults to.
const DEFAULT_REDACT: i64 = 50;

/// A room's power levels, reduced to what calls need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PowerLevels {
    users: HashMap<String, i64>,
    users_default: i64,
    notify_room: i64,
    redact: i64,
    /// Users who outrank every level (room creators in room versions 12 and later).
    creators: Vec<String>,
}

impl Default for PowerLevels {
    /// A room without power levels: its creator has 100 (not known here), everyone else 0.
    fn default() -> Self {
        Self {
            users: HashMap::new(),
            users_default: 0,
            notify_room: DEFAULT_NOTIFY_ROOM,
            redact: DEFAULT_REDACT,
            creators: Vec::new(),
        }
    }
}

/// An integer level, or an integer in a string (older rooms); anything else is absent.
fn level(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

fn level_field(obj: &Object, key: &str) -> Option<i64> {
    obj.get(key).and_then(level)
}

impl PowerLevels {
    /// Reads the content of an `m.room.power_levels` event.
    pub fn from_content(content: &Value) -> Self {
        let mut levels = Self::default();
        levels.set_levels(content);
        levels
    }

    /// Takes a new `m.room.power_levels` content; the creators stay.
    pub fn set_levels(&mut self, content: &Value) {
        let creators = std::mem::take(&mut self.creators);
        *self = Self::read_levels(content);
        self.creators = creators;
    }

    fn read_levels(content: &Value) -> Self {
        let Some(obj) = content.as_object() else {
            return Self::default();
        };
        let users = obj_field(obj, "users")
            .map(|users| {
                users
                    .iter()
                    .filter_map(|(user, v)| Some((user.clone(), level(v)?)))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            users,
            users_default: level_field(obj, "users_default").unwrap_or(0),
            notify_room: obj_field(obj, "notifications")
                .and_then(|n| level_field(n, "room"))
                .unwrap_or(DEFAULT_NOTIFY_ROOM),
            redact: level_field(obj, "redact").unwrap_or(DEFAULT_REDACT),
            creators: Vec::new(),
        }
    }

    /// Takes the room's creators from its `m.room.create` event (`sender`, `content`): in room
    /// versions 12 and later they outrank every level.
    pub fn set_creators_from_create_event(&mut self, sender: &str, content: &Value) {
        let version = content
            .as_object()
            .and_then(|c| str_field(c, "room_version"))
            .unwrap_or("1");
        if !creators_outrank_everyone(version) {
            self.creators.clear();
            return;
        }
        let mut creators = vec![sender.to_owned()];
        if let Some(extra) = content.get("additional_creators").and_then(Value::as_array) {
            creators.extend(extra.iter().filter_map(Value::as_str).map(str::to_owned));
        }
        self.creators = creators;
    }

    /// `user`'s level; `None` for a creator who outranks every level.
    fn level_of(&self, user: &str) -> Option<i64> {
        if self.creators.iter().any(|c| c == user) {
            return None;
        }
        Some(self.users.get(user).copied().unwrap_or(self.users_default))
    }

    fn reaches(&self, user: &str, needed: i64) -> bool {
        self.level_of(user).is_none_or(|l| l >= needed)
    }

    /// Whether `user` may notify the whole room (`@room`).
    pub fn may_notify_room(&self, user: &str) -> bool {
        self.reaches(user, self.notify_room)
    }

    /// Whether `user` may redact other people's events.
    pub fn may_redact_others(&self, user: &str) -> bool {
        self.reaches(user, self.redact)
    }
}

/// Whether the room version gives its creators a rank above every level (MSC4289).
fn creators_outrank_everyone(room_version: &str) -> bool {
    match room_version.parse::<u32>() {
        Ok(v) => v >= 12,
        Err(_) => room_version.starts_with("org.matrix.hydra"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn levels_are_read_leniently() {
        let p = PowerLevels::from_content(&json!({
            "users": {"@admin:x": 100, "@mod:x": "50", "@odd:x": [1]},
            "users_default": 0,
            "notifications": {"room": 50},
            "redact": "75"
        }));
        assert!(p.may_notify_room("@admin:x"));
        assert!(p.may_notify_room("@mod:x"));
        assert!(!p.may_notify_room("@odd:x"));
        assert!(!p.may_notify_room("@stranger:x"));
        assert!(p.may_redact_others("@admin:x"));
        assert!(!p.may_redact_others("@mod:x"));
    }

    #[test]
    fn defaults_apply_when_fields_are_missing() {
        let p = PowerLevels::from_content(&json!({"users_default": 50}));
        assert!(p.may_notify_room("@anyone:x"));
        assert!(p.may_redact_others("@anyone:x"));
        let p = PowerLevels::from_content(&json!("not an object"));
        assert!(!p.may_notify_room("@anyone:x"));
    }

    #[test]
    fn creators_outrank_everyone_from_room_version_12() {
        let mut p = PowerLevels::from_content(&json!({"users": {}}));
        p.set_creators_from_create_event(
            "@c:x",
            &json!({"room_version": "12", "additional_creators": ["@d:x"]}),
        );
        assert!(p.may_notify_room("@c:x"));
        assert!(p.may_notify_room("@d:x"));
        assert!(!p.may_notify_room("@e:x"));
        p.set_creators_from_create_event("@c:x", &json!({"room_version": "10"}));
        assert!(!p.may_notify_room("@c:x"));
    }
}
