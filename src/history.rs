//! Call history: the calls that rang us (missed, answered, declined) and the ones we rang,
//! newest first, kept per profile in `history.json` beside the store. The list is bounded
//! ([`MAX_CALLS`]), written atomically and owner-only, and read leniently: a damaged file is
//! set aside with a sentence rather than lost or fatal.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::rtc::CallIntent;
use crate::rtc::ring::{IncomingCall, NotifyKind, StopReason};

/// How many calls the history keeps; the oldest go first.
pub const MAX_CALLS: usize = 200;
/// The longest room or person name kept (a crafted name cannot grow the file).
const MAX_NAME_CHARS: usize = 256;
/// The file's name in the profile's data directory.
pub const FILE_NAME: &str = "history.json";

/// What became of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    /// It rang us and stopped unanswered (nobody answered, the caller left, it was cancelled).
    Missed,
    /// We answered it, here or on another device.
    Answered,
    /// We declined it, here or on another device.
    Declined,
    /// We rang (or notified) the room.
    Outgoing,
}

impl CallOutcome {
    /// The outcome of a ring that stopped for `reason`, and whether that happened on another of
    /// our devices.
    pub fn of_stop(reason: StopReason) -> (Self, bool) {
        match reason {
            StopReason::Answered => (Self::Answered, false),
            StopReason::AnsweredElsewhere => (Self::Answered, true),
            StopReason::Declined => (Self::Declined, false),
            StopReason::DeclinedElsewhere => (Self::Declined, true),
            StopReason::Expired
            | StopReason::CallEnded
            | StopReason::CallerLeft
            | StopReason::Redacted => (Self::Missed, false),
        }
    }

    /// The word for it, as the JSON and the window say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missed => "missed",
            Self::Answered => "answered",
            Self::Declined => "declined",
            Self::Outgoing => "outgoing",
        }
    }
}

/// One call in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// What became of it.
    pub outcome: CallOutcome,
    /// The room.
    pub room_id: String,
    /// The room's name when it rang.
    pub room_name: String,
    /// Who rang us; `None` for a call we rang.
    #[serde(default)]
    pub caller: Option<String>,
    /// The caller's display name when it rang.
    #[serde(default)]
    pub caller_name: Option<String>,
    /// `audio`, `video` or what the caller said; `None` when unsaid.
    #[serde(default)]
    pub intent: Option<String>,
    /// Whether it rang (`ring`) or only notified (`notification`).
    pub notification_type: NotificationType,
    /// Answered or declined on another of our devices.
    #[serde(default)]
    pub elsewhere: bool,
    /// When it rang or was placed, ms since the epoch.
    pub at_ms: u64,
    /// Whether the person has seen it (only a missed call is ever unseen).
    #[serde(default = "seen_by_default")]
    pub seen: bool,
}

fn seen_by_default() -> bool {
    true
}

/// How a call reached us (or the room), as `m.rtc.notification` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationType {
    /// A ring, with a ringtone.
    Ring,
    /// A notification, without one.
    Notification,
}

impl From<NotifyKind> for NotificationType {
    fn from(kind: NotifyKind) -> Self {
        match kind {
            NotifyKind::Ring => Self::Ring,
            NotifyKind::Notification => Self::Notification,
        }
    }
}

impl CallRecord {
    /// The record of an incoming call that stopped ringing for `reason`. `rang_at_ms` is when it
    /// started ringing.
    pub fn incoming(
        call: &IncomingCall,
        room_name: &str,
        caller_name: &str,
        reason: StopReason,
        rang_at_ms: u64,
    ) -> Self {
        let (outcome, elsewhere) = CallOutcome::of_stop(reason);
        Self {
            outcome,
            room_id: call.room_id.clone(),
            room_name: bounded(room_name),
            caller: Some(call.caller.clone()),
            caller_name: Some(bounded(caller_name)),
            intent: call.intent.as_ref().map(|i| bounded(i.as_str())),
            notification_type: call.kind.into(),
            elsewhere,
            at_ms: rang_at_ms,
            seen: outcome != CallOutcome::Missed,
        }
    }

    /// The record of a call we rang (or notified) in `room_id`.
    pub fn outgoing(
        room_id: &str,
        room_name: &str,
        intent: &CallIntent,
        kind: NotifyKind,
        at_ms: u64,
    ) -> Self {
        Self {
            outcome: CallOutcome::Outgoing,
            room_id: room_id.to_owned(),
            room_name: bounded(room_name),
            caller: None,
            caller_name: None,
            intent: Some(bounded(intent.as_str())),
            notification_type: kind.into(),
            elsewhere: false,
            at_ms,
            seen: true,
        }
    }

    /// Whether it is a missed call the person has not seen yet. Only a missed *ring* counts: a
    /// room's quiet notification that nobody took is listed, never badged.
    pub fn is_unseen_missed(&self) -> bool {
        !self.seen
            && self.outcome == CallOutcome::Missed
            && self.notification_type == NotificationType::Ring
    }

    /// The intent as the window and the CLI say it.
    pub fn call_intent(&self) -> Option<CallIntent> {
        self.intent.as_deref().map(CallIntent::parse)
    }
}

fn bounded(text: &str) -> String {
    text.chars().take(MAX_NAME_CHARS).collect()
}

/// The history of one profile, newest first, at most [`MAX_CALLS`] long.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallHistory {
    calls: Vec<CallRecord>,
}

impl CallHistory {
    /// The calls, newest first.
    pub fn calls(&self) -> &[CallRecord] {
        &self.calls
    }

    /// Adds a call where its time puts it, dropping the oldest past [`MAX_CALLS`].
    pub fn record(&mut self, record: CallRecord) {
        let at = self.calls.partition_point(|c| c.at_ms > record.at_ms);
        self.calls.insert(at, record);
        self.calls.truncate(MAX_CALLS);
    }

    /// Marks the missed calls of `room_id` (or of every room) seen; returns whether any was not.
    pub fn mark_seen(&mut self, room_id: Option<&str>) -> bool {
        let mut changed = false;
        for call in &mut self.calls {
            if !call.seen && room_id.is_none_or(|r| r == call.room_id) {
                call.seen = true;
                changed = true;
            }
        }
        changed
    }

    /// How many missed rings nobody has seen yet, in `room_id` or in every room.
    pub fn unseen_missed(&self, room_id: Option<&str>) -> usize {
        self.calls
            .iter()
            .filter(|c| c.is_unseen_missed() && room_id.is_none_or(|r| r == c.room_id))
            .count()
    }

    /// Reads `text`, keeping every record that can be read and the newest [`MAX_CALLS`].
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        #[derive(Deserialize)]
        struct Lenient {
            calls: Vec<serde_json::Value>,
        }
        let lenient: Lenient = serde_json::from_str(text)?;
        let mut history = Self::default();
        for value in lenient.calls {
            match serde_json::from_value::<CallRecord>(value) {
                Ok(record) => history.record(record),
                Err(e) => tracing::debug!("history: skipped a record: {e}"),
            }
        }
        Ok(history)
    }
}

/// Where a profile's history lives, loaded and saved.
#[derive(Debug, Clone)]
pub struct HistoryFile {
    path: PathBuf,
}

impl HistoryFile {
    /// The history file of the profile whose data directory is `data_dir`.
    pub fn in_dir(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join(FILE_NAME),
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The history on disk: empty when there is none yet. A file that cannot be read as a
    /// history is renamed to `history.json.bad` (kept for the person, not overwritten) and the
    /// sentence says so.
    pub fn load(&self) -> (CallHistory, Option<String>) {
        let text = match self.text() {
            Ok(Some(text)) => text,
            Ok(None) => return (CallHistory::default(), None),
            Err(sentence) => return (CallHistory::default(), Some(sentence)),
        };
        match CallHistory::from_json(&text) {
            Ok(history) => (history, None),
            Err(e) => {
                let bad = self.path.with_extension("json.bad");
                let kept = std::fs::rename(&self.path, &bad).is_ok();
                let sentence = if kept {
                    format!(
                        "The call history could not be read ({e}); it was set aside as {} and a new one started.",
                        bad.display()
                    )
                } else {
                    format!("The call history could not be read ({e}).")
                };
                (CallHistory::default(), Some(sentence))
            }
        }
    }

    /// The history on disk, read only (for the command line, beside a running instance).
    pub fn read(&self) -> Result<CallHistory, String> {
        match self.text()? {
            None => Ok(CallHistory::default()),
            Some(text) => CallHistory::from_json(&text).map_err(|e| {
                format!(
                    "The call history ({}) is damaged: {e}.",
                    self.path.display()
                )
            }),
        }
    }

    fn text(&self) -> Result<Option<String>, String> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!(
                "The call history ({}) could not be read: {e}.",
                self.path.display()
            )),
        }
    }

    /// Writes `history` atomically, readable by the owner only.
    pub fn save(&self, history: &CallHistory) -> Result<(), String> {
        let text = serde_json::to_vec_pretty(history)
            .map_err(|e| format!("The call history could not be written: {e}."))?;
        crate::config::write_private(&self.path, &text).map_err(|e| {
            format!(
                "The call history could not be saved to {}: {e}.",
                self.path.display()
            )
        })
    }

    /// Removes the file (signing out); a file that is not there is fine.
    pub fn remove(&self) -> Result<(), String> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("Could not remove {}: {e}.", self.path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtc::CallKey;

    fn rang(room: &str, at_ms: u64, reason: StopReason) -> CallRecord {
        let call = IncomingCall {
            room_id: room.into(),
            notification_event_id: format!("$n{at_ms}"),
            caller: "@alice:example.org".into(),
            kind: NotifyKind::Ring,
            intent: Some(CallIntent::Audio),
            call: CallKey::room_call(),
            expires_at_ms: at_ms + 30_000,
            quieted: None,
        };
        CallRecord::incoming(&call, "Standup", "Alice", reason, at_ms)
    }

    #[test]
    fn outcomes_follow_why_the_ring_stopped() {
        assert_eq!(
            CallOutcome::of_stop(StopReason::CallerLeft),
            (CallOutcome::Missed, false)
        );
        assert_eq!(
            CallOutcome::of_stop(StopReason::AnsweredElsewhere),
            (CallOutcome::Answered, true)
        );
        assert!(!rang("!a:x", 1, StopReason::Expired).seen);
        assert!(rang("!a:x", 1, StopReason::Declined).seen);
    }

    #[test]
    fn newest_first_bounded_and_seen_per_room() {
        let mut history = CallHistory::default();
        for i in 0..(MAX_CALLS as u64 + 50) {
            let room = if i % 2 == 0 { "!a:x" } else { "!b:x" };
            history.record(rang(room, 1_000 + i, StopReason::Expired));
        }
        // One arriving late still lands in time order.
        history.record(rang("!a:x", 1_100, StopReason::Answered));
        assert_eq!(history.calls().len(), MAX_CALLS);
        assert!(history.calls().windows(2).all(|w| w[0].at_ms >= w[1].at_ms));
        assert_eq!(history.calls()[0].at_ms, 1_000 + MAX_CALLS as u64 + 49);
        let in_a = history.unseen_missed(Some("!a:x"));
        assert!(in_a > 0);
        assert!(history.mark_seen(Some("!a:x")));
        assert_eq!(history.unseen_missed(Some("!a:x")), 0);
        assert!(history.unseen_missed(None) > 0);
        assert!(!history.mark_seen(Some("!a:x")));
    }

    #[test]
    fn a_quiet_notification_is_listed_but_never_badged() {
        let mut record = rang("!a:x", 1, StopReason::Expired);
        record.notification_type = NotificationType::Notification;
        assert!(!record.seen);
        assert!(!record.is_unseen_missed());
    }

    #[test]
    fn names_are_bounded_and_bad_records_skipped() {
        let record = CallRecord::incoming(
            &IncomingCall {
                room_id: "!a:x".into(),
                notification_event_id: "$n".into(),
                caller: "@m:x".into(),
                kind: NotifyKind::Ring,
                intent: None,
                call: CallKey::room_call(),
                expires_at_ms: 0,
                quieted: None,
            },
            &"x".repeat(100_000),
            "M",
            StopReason::Expired,
            5,
        );
        assert_eq!(record.room_name.chars().count(), MAX_NAME_CHARS);
        let text = r#"{"calls":[{"outcome":"missed"},{"outcome":"answered","room_id":"!r:x",
            "room_name":"R","notification_type":"ring","at_ms":3}, 7]}"#;
        let history = CallHistory::from_json(text).unwrap();
        assert_eq!(history.calls().len(), 1);
        assert_eq!(history.calls()[0].room_id, "!r:x");
        assert!(CallHistory::from_json("[1,2]").is_err());
    }

    #[test]
    fn the_file_is_owner_only_and_a_damaged_one_is_set_aside() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("vestibule-history-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = HistoryFile::in_dir(&dir);
        let mut history = CallHistory::default();
        history.record(rang("!a:x", 7, StopReason::Expired));
        file.save(&history).unwrap();
        let mode = std::fs::metadata(file.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(file.load(), (history, None));

        std::fs::write(file.path(), "{ not json").unwrap();
        let (empty, sentence) = file.load();
        assert!(empty.calls().is_empty());
        assert!(sentence.unwrap().contains("set aside"), "a sentence");
        assert!(dir.join("history.json.bad").exists());
        file.remove().unwrap();
        file.remove().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
