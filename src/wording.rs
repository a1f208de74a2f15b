//! The words the window and the command line share: how long something has lasted, our own
//! part in a call, and the titles of incoming calls. Kept in one place so that both say the
//! same thing the same way.

use crate::matrix::OwnCallState;
use crate::rtc::CallIntent;

/// A duration as the window shows it: "42 s", "5 min", "1 h 05 min".
pub fn duration_text(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        _ => format!("{} h {:02} min", secs / 3600, (secs % 3600) / 60),
    }
}

/// How long something that started at `started_ms` has run, as [`duration_text`] shows it but
/// in whole minutes: "<1 min" for the first minute, then on a clock that ticks in wall-clock
/// minutes. A lobby with a call that just started therefore wakes the window once at its first
/// minute, not every second, and all longer durations on screen change together once a minute.
pub fn elapsed_text(started_ms: u64, now_ms: u64) -> String {
    let elapsed = now_ms.saturating_sub(started_ms);
    if elapsed < 60_000 {
        "<1 min".to_owned()
    } else {
        duration_text(
            (now_ms - now_ms % 60_000)
                .saturating_sub(started_ms)
                .max(60_000),
        )
    }
}

/// How long until [`elapsed_text`] of `started_ms` may show something else.
pub fn elapsed_changes_in_ms(started_ms: u64, now_ms: u64) -> u64 {
    let elapsed = now_ms.saturating_sub(started_ms);
    if elapsed < 60_000 {
        60_000 - elapsed
    } else {
        60_000 - now_ms % 60_000
    }
}

/// How long ago `at_ms` was, as the call history says it: "just now", "5 min ago", "3 h ago",
/// "yesterday", "4 days ago".
pub fn ago_text(at_ms: u64, now_ms: u64) -> String {
    let mins = now_ms.saturating_sub(at_ms) / 60_000;
    match mins {
        0 => "just now".into(),
        1..60 => format!("{mins} min ago"),
        60..1440 => format!("{} h ago", mins / 60),
        1440..2880 => "yesterday".into(),
        _ => format!("{} days ago", mins / 1440),
    }
}

/// What became of a call in the history, as a few words: "Missed call", "Answered",
/// "Answered on another device", "Declined", "You called".
pub fn outcome_text(record: &crate::history::CallRecord) -> &'static str {
    use crate::history::CallOutcome;
    match (record.outcome, record.elsewhere) {
        (CallOutcome::Missed, _) => "Missed call",
        (CallOutcome::Answered, false) => "Answered",
        (CallOutcome::Answered, true) => "Answered on another device",
        (CallOutcome::Declined, false) => "Declined",
        (CallOutcome::Declined, true) => "Declined on another device",
        (CallOutcome::Outgoing, _) => "You called",
    }
}

/// A duration as the command line prints it, compact for columns: "42s", "5m03s", "1h05m".
pub fn compact_duration(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60),
    }
}

/// Our own part in a room's call as a sentence, as the window shows it.
pub fn own_state_sentence(own: &OwnCallState) -> String {
    match own {
        OwnCallState::NotJoined => "You are not in this call.".into(),
        OwnCallState::Joining => "Joining…".into(),
        OwnCallState::Joined => "You are in this call.".into(),
        OwnCallState::Leaving => "Leaving…".into(),
        OwnCallState::Failed { reason } => format!("Joining failed: {reason}"),
    }
}

/// Our own part in a room's call as one word, as the command line prints it; a failed join
/// is its reason.
pub fn own_state_word(state: &OwnCallState) -> &str {
    match state {
        OwnCallState::NotJoined => "not joined",
        OwnCallState::Joining => "joining",
        OwnCallState::Joined => "joined",
        OwnCallState::Leaving => "leaving",
        OwnCallState::Failed { reason } => reason,
    }
}

/// The title of a call ringing us, by its intent: "Incoming video call", "Incoming audio
/// call", or "Incoming call" when it names neither.
pub fn incoming_title(intent: Option<&CallIntent>) -> &'static str {
    match intent {
        Some(CallIntent::Video) => "Incoming video call",
        Some(CallIntent::Audio) => "Incoming audio call",
        _ => "Incoming call",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally_and_say_when_they_change() {
        assert_eq!(duration_text(0), "0 s");
        assert_eq!(duration_text(59_999), "59 s");
        assert_eq!(duration_text(60_000), "1 min");
        assert_eq!(duration_text(3_599_000), "59 min");
        assert_eq!(duration_text(3_900_000), "1 h 05 min");
        // The first minute is one text, then durations tick together on the wall clock's
        // minutes.
        let now = 1_000_000_000_500;
        assert_eq!(elapsed_text(now - 1_200, now), "<1 min");
        assert_eq!(elapsed_text(now - 59_999, now), "<1 min");
        assert_eq!(elapsed_changes_in_ms(now - 1_200, now), 58_800);
        assert_eq!(elapsed_text(now - 60_000, now), "1 min");
        assert_eq!(elapsed_text(now + 5_000, now), "<1 min");
        assert_eq!(
            elapsed_changes_in_ms(now - 90_000, now),
            60_000 - now % 60_000
        );
        assert_eq!(elapsed_text(now - 60_100, now), "1 min");
        assert_eq!(elapsed_text(now - 3_960_000, now), "1 h 05 min");
    }

    #[test]
    fn history_times_read_as_ago() {
        let now = 10_000_000_000;
        assert_eq!(ago_text(now - 59_000, now), "just now");
        assert_eq!(ago_text(now + 5_000, now), "just now");
        assert_eq!(ago_text(now - 5 * 60_000, now), "5 min ago");
        assert_eq!(ago_text(now - 3 * 3_600_000, now), "3 h ago");
        assert_eq!(ago_text(now - 30 * 3_600_000, now), "yesterday");
        assert_eq!(ago_text(now - 4 * 86_400_000, now), "4 days ago");
    }

    #[test]
    fn a_start_in_the_future_reads_as_no_time_yet() {
        // Clocks differ between devices: a call may seem to start a little after now.
        assert_eq!(elapsed_text(2_000_000, 1_000_000), "<1 min");
        // Looked at again a minute on, when it may have begun.
        assert_eq!(elapsed_changes_in_ms(2_000_000, 1_000_500), 60_000);
    }

    #[test]
    fn compact_durations_fit_a_column() {
        assert_eq!(compact_duration(0), "0s");
        assert_eq!(compact_duration(59_999), "59s");
        assert_eq!(compact_duration(60_000), "1m00s");
        assert_eq!(compact_duration(3_599_000), "59m59s");
        assert_eq!(compact_duration(3_600_000), "1h00m");
        assert_eq!(compact_duration(3_900_000), "1h05m");
    }

    #[test]
    fn own_states_read_as_sentences_and_words() {
        let failed = OwnCallState::Failed {
            reason: "the SFU did not answer".into(),
        };
        assert_eq!(
            own_state_sentence(&OwnCallState::NotJoined),
            "You are not in this call."
        );
        assert_eq!(own_state_sentence(&OwnCallState::Joining), "Joining…");
        assert_eq!(
            own_state_sentence(&OwnCallState::Joined),
            "You are in this call."
        );
        assert_eq!(own_state_sentence(&OwnCallState::Leaving), "Leaving…");
        assert_eq!(
            own_state_sentence(&failed),
            "Joining failed: the SFU did not answer"
        );
        assert_eq!(own_state_word(&OwnCallState::NotJoined), "not joined");
        assert_eq!(own_state_word(&OwnCallState::Joining), "joining");
        assert_eq!(own_state_word(&OwnCallState::Joined), "joined");
        assert_eq!(own_state_word(&OwnCallState::Leaving), "leaving");
        assert_eq!(own_state_word(&failed), "the SFU did not answer");
    }

    #[test]
    fn incoming_calls_are_titled_by_their_intent() {
        assert_eq!(
            incoming_title(Some(&CallIntent::Video)),
            "Incoming video call"
        );
        assert_eq!(
            incoming_title(Some(&CallIntent::Audio)),
            "Incoming audio call"
        );
        assert_eq!(
            incoming_title(Some(&CallIntent::Other("screen".into()))),
            "Incoming call"
        );
        assert_eq!(incoming_title(None), "Incoming call");
    }
}
