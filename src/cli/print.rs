//! What the command line prints: lobbies, foci and streamed updates, as text for people or
//! JSON for scripts, and `inspect`, which reads a room's state from a file.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use super::contract;
use super::inert::inert;
use crate::clock::now_ms;
use crate::matrix::{Connection, FocusInfo, FocusSource, OwnCallState, RoomLobby, Update};
use crate::rtc::{Lobby, MembershipEvent};
use crate::wording::{compact_duration, own_state_word};

fn bold(s: &str) -> String {
    if std::io::stdout().is_terminal() {
        format!("\x1b[1m{s}\x1b[0m")
    } else {
        s.to_owned()
    }
}

pub(super) fn print_rooms(rooms: &[RoomLobby], json: bool) {
    if json {
        println!("{}", contract::lobbies(rooms));
        return;
    }
    if rooms.is_empty() {
        println!("No rooms.");
    }
    let now = now_ms();
    let names: Vec<_> = rooms.iter().map(|r| inert(&r.name)).collect();
    let width = names
        .iter()
        .map(|name| name.chars().count())
        .max()
        .unwrap_or(0)
        .min(40);
    for (room, name) in rooms.iter().zip(&names) {
        let summary = match room.calls.first() {
            None => "no call".to_owned(),
            Some(call) => format!(
                "{} in call, {}, {}",
                call.people(),
                call.intent().map_or("call", |i| i.as_str()),
                compact_duration(now.saturating_sub(call.started_ts()))
            ),
        };
        let own = match &room.own {
            OwnCallState::NotJoined => String::new(),
            other => format!(" [{}]", own_state_word(other)),
        };
        println!(
            "{:<width$}  {summary}{own}  {}",
            bold(name),
            inert(&room.room_id),
            width = width
        );
        for call in &room.calls {
            for p in &call.participants {
                let focus = p
                    .active_focus
                    .as_ref()
                    .and_then(|f| f.livekit_service_url.as_deref())
                    .unwrap_or("-");
                println!(
                    "    {:<32} {:<14} {:>8}  {}",
                    inert(&p.user_id),
                    inert(&p.device_id),
                    compact_duration(now.saturating_sub(p.joined_ts)),
                    inert(focus)
                );
            }
        }
    }
}

pub(super) fn print_foci(foci: &[FocusInfo], json: bool) {
    if json {
        println!("{}", contract::foci(foci));
        return;
    }
    if foci.is_empty() {
        println!("No SFU foci: add one to the config file or pass --focus URL.");
    }
    for f in foci {
        let source = match f.source {
            FocusSource::User => "yours",
            FocusSource::Transports => "homeserver",
            FocusSource::WellKnown => "well-known",
        };
        println!(
            "{:<60} {source}",
            inert(f.focus.livekit_service_url.as_deref().unwrap_or("-"))
        );
    }
}

pub(super) fn print_update(update: &Update) {
    match update {
        Update::Rooms { rooms } => print_rooms(rooms, false),
        Update::Lobby { lobby } => print_rooms(std::slice::from_ref(lobby), false),
        Update::Ringing { alert } => println!(
            "{} {} is calling in {}{}{}",
            bold("Ringing:"),
            inert(&alert.caller_name),
            inert(&alert.room_name),
            if alert.muted { " (muted)" } else { "" },
            alert
                .call
                .quieted
                .map(|why| format!(" (quietly: {why})"))
                .unwrap_or_default()
        ),
        Update::RingStopped { call, reason } => {
            println!("Stopped ringing in {}: {reason}.", inert(&call.room_id))
        }
        Update::Connection { connection } => match connection {
            Connection::Syncing => println!("Syncing…"),
            Connection::Online => {}
            Connection::Offline {
                retry_in_secs,
                reason,
            } => {
                println!("Offline: {} Retrying in {retry_in_secs} s.", inert(reason))
            }
        },
        Update::Notice { message } | Update::Error { message, .. } => {
            eprintln!("{}", inert(message))
        }
        _ => {}
    }
}

pub(super) fn inspect(
    file: Option<PathBuf>,
    now_ms: Option<u64>,
    json: bool,
) -> Result<(), String> {
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
    let events: Vec<serde_json::Value> = serde_json::from_str(&text)
        .map_err(|e| format!("The input is not a JSON array of events: {e}."))?;
    let now_ms = now_ms.unwrap_or_else(crate::clock::now_ms);
    let membership_events = events
        .iter()
        .filter_map(MembershipEvent::from_event_json)
        .filter(|ev| crate::rtc::membership::is_membership_type(ev.event_type));
    let (lobby, rejected) = Lobby::from_events(membership_events, now_ms);
    for reason in &rejected {
        eprintln!(
            "Ignored a membership event: {}.",
            inert(&reason.to_string())
        );
    }
    let room = RoomLobby {
        room_id: String::new(),
        name: "room".into(),
        is_direct: false,
        peer: None,
        avatar_url: None,
        calls: lobby.calls().to_vec(),
        own: OwnCallState::NotJoined,
    };
    if json {
        println!("{}", contract::calls_doc(&room.calls));
    } else if room.calls.is_empty() {
        println!("No calls right now.");
    } else {
        print_rooms(std::slice::from_ref(&room), false);
    }
    Ok(())
}
