//! The `vestibule` command.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use serde_json::Value;
use vestibule::rtc::{Lobby, MembershipEvent};

/// Vestibule: Matrix calls on the desktop.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Show the call lobby of a room from its state events (the JSON array that
    /// `GET /_matrix/client/v3/rooms/{roomId}/state` returns), read from FILE or stdin.
    Inspect {
        /// The state events; `-` or nothing reads stdin.
        file: Option<PathBuf>,
        /// Evaluate at this time (ms since the epoch) instead of now.
        #[arg(long)]
        now_ms: Option<u64>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => {
            println!(
                "Vestibule {}. Run `vestibule --help` for the commands.",
                env!("CARGO_PKG_VERSION")
            );
            Ok(())
        }
        Some(Command::Inspect { file, now_ms, json }) => inspect(file, now_ms, json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(sentence) => {
            eprintln!("{sentence}");
            ExitCode::FAILURE
        }
    }
}

fn inspect(file: Option<PathBuf>, now_ms: Option<u64>, json: bool) -> Result<(), String> {
    let text = match file.filter(|f| f.as_os_str() != "-") {
        Some(path) => std::fs::read_to_string(&path)
            .map_err(|e| format!("Could not read {}: {e}.", path.display()))?,
        None => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| format!("Could not read standard input: {e}."))?;
            s
        }
    };
    let events: Vec<Value> = serde_json::from_str(&text)
        .map_err(|e| format!("The input is not a JSON array of events: {e}."))?;
    let now_ms = now_ms.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    });
    let membership_events = events.iter().filter_map(|ev| {
        let event_type = ev.get("type")?.as_str()?;
        vestibule::rtc::membership::is_membership_type(event_type).then_some(())?;
        Some(MembershipEvent {
            event_type,
            state_key: ev.get("state_key").and_then(Value::as_str),
            sender: ev.get("sender")?.as_str()?,
            content: ev.get("content")?,
            origin_server_ts: ev
                .get("origin_server_ts")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            event_id: ev.get("event_id").and_then(Value::as_str),
            sticky_duration_ms: None,
        })
    });
    let (lobby, rejected) = Lobby::from_events(membership_events, now_ms);
    for reason in &rejected {
        eprintln!("ignored a membership event: {reason}");
    }
    if json {
        let out = serde_json::to_string_pretty(lobby.calls())
            .map_err(|e| format!("Could not write JSON: {e}."))?;
        println!("{out}");
        return Ok(());
    }
    if lobby.calls().is_empty() {
        println!("No calls right now.");
    }
    for call in lobby.calls() {
        let id = if call.key.call_id.is_empty() {
            "room call"
        } else {
            &call.key.call_id
        };
        println!(
            "{} ({}), {} participant(s)",
            id,
            call.key.application,
            call.participants.len()
        );
        for p in &call.participants {
            let secs = now_ms.saturating_sub(p.joined_ts) / 1000;
            let focus = p
                .active_focus
                .as_ref()
                .and_then(|f| f.livekit_service_url.as_deref())
                .unwrap_or("-");
            println!(
                "  {:<32} {:<14} {:>4}m{:02}s  {}",
                p.user_id,
                p.device_id,
                secs / 60,
                secs % 60,
                focus
            );
        }
    }
    Ok(())
}
