//! `vestibule history`: the profile's recent calls, read from its history file (no sign-in, no
//! network), as text for people or JSON for scripts.

use crate::config::ProfilePaths;
use crate::history::{CallRecord, HistoryFile};
use crate::wording::{ago_text, outcome_text};

use super::contract;
use super::inert::inert;

/// Prints the history of `paths`' profile.
pub(super) fn print_history(paths: &ProfilePaths, json: bool) -> Result<(), String> {
    let history = HistoryFile::in_dir(&paths.data_dir).read()?;
    if json {
        println!("{}", contract::history(history.calls()));
        return Ok(());
    }
    if history.calls().is_empty() {
        println!("No calls yet.");
        return Ok(());
    }
    let now = crate::clock::now_ms();
    for record in history.calls() {
        println!("{}", line(record, now));
    }
    Ok(())
}

/// One call as a line: "Missed call · Alice (@alice:example.org) · Standup · video · 5 min ago
/// · new". Names come from the network, so they are made inert for the terminal.
fn line(record: &CallRecord, now_ms: u64) -> String {
    let mut parts = vec![outcome_text(record).to_owned()];
    if let Some(caller) = &record.caller {
        match record.caller_name.as_deref().filter(|n| n != caller) {
            Some(name) => parts.push(format!("{} ({})", inert(name), inert(caller))),
            None => parts.push(inert(caller).into_owned()),
        }
    }
    parts.push(inert(&record.room_name).into_owned());
    if let Some(intent) = &record.intent {
        parts.push(inert(intent).into_owned());
    }
    parts.push(ago_text(record.at_ms, now_ms));
    if record.is_unseen_missed() {
        parts.push("new".into());
    }
    parts.join(" · ")
}
