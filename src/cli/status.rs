//! `vestibule status`: one line for people, or exactly what a status bar reads (waybar's JSON,
//! i3blocks' lines), once or on every change.

use std::collections::BTreeMap;

use clap::ValueEnum;
use serde_json::json;

use super::inert::inert;
use crate::matrix::{Connection, OwnCallState, RoomLobby, Update};
use crate::ring::RingAlert;

/// How `status` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum StatusFormat {
    /// One line for people: `2 calls · ringing: Alice in Standup`.
    #[default]
    Text,
    /// waybar's custom module: one JSON object per line (`text`, `tooltip`, `class`, `alt`).
    Waybar,
    /// i3blocks (and polybar's script module, which reads the first line): full text, short
    /// text, colour.
    I3blocks,
}

/// What a status bar shows, built from the worker's updates.
#[derive(Debug, Default)]
pub struct Status {
    rooms: BTreeMap<String, RoomLobby>,
    ringing: Vec<RingAlert>,
    offline: bool,
    synced: bool,
}

/// How things stand, for a bar's style (`class` / `alt` in waybar).
fn class(status: &Status) -> &'static str {
    if status.offline {
        "offline"
    } else if !status.ringing.is_empty() {
        "ringing"
    } else if status.rooms.values().any(|r| r.own == OwnCallState::Joined) {
        "in_call"
    } else if status.rooms.values().any(|r| !r.calls.is_empty()) {
        "calls"
    } else {
        "idle"
    }
}

impl Status {
    /// Takes one update; returns whether what is shown may have changed.
    pub fn apply(&mut self, update: &Update) -> bool {
        match update {
            Update::Rooms { rooms } => {
                self.synced = true;
                self.rooms = rooms
                    .iter()
                    .map(|r| (r.room_id.clone(), r.clone()))
                    .collect();
            }
            Update::Lobby { lobby } => {
                self.rooms.insert(lobby.room_id.clone(), lobby.clone());
            }
            Update::Ringing { alert } => {
                self.ringing
                    .retain(|a| a.call.notification_event_id != alert.call.notification_event_id);
                self.ringing.push(alert.clone());
            }
            Update::RingStopped { call, .. } => self
                .ringing
                .retain(|a| a.call.notification_event_id != call.notification_event_id),
            Update::Connection { connection } => {
                self.offline = matches!(connection, Connection::Offline { .. });
            }
            _ => return false,
        }
        self.synced
    }

    /// People in each room's calls, by room name.
    fn calls(&self) -> Vec<(String, usize)> {
        self.rooms
            .values()
            .filter(|r| !r.calls.is_empty())
            .map(|r| {
                let mut people: Vec<&str> = r
                    .calls
                    .iter()
                    .flat_map(|c| c.participants.iter().map(|p| p.user_id.as_str()))
                    .collect();
                people.sort_unstable();
                people.dedup();
                (inert(&r.name).into_owned(), people.len())
            })
            .collect()
    }

    /// `2 calls · ringing: Alice in Standup`.
    pub fn line(&self) -> String {
        let calls = self.calls().len();
        let mut line = match calls {
            0 => "No calls".to_owned(),
            1 => "1 call".to_owned(),
            n => format!("{n} calls"),
        };
        if let Some(alert) = self.ringing.first() {
            line.push_str(&format!(
                " · ringing: {} in {}",
                inert(&alert.caller_name),
                inert(&alert.room_name)
            ));
            if self.ringing.len() > 1 {
                line.push_str(&format!(" and {} more", self.ringing.len() - 1));
            }
        }
        if self.offline {
            line.push_str(" · offline");
        }
        line
    }

    /// The lines a bar reads for this state.
    pub fn render(&self, format: StatusFormat) -> String {
        match format {
            StatusFormat::Text => self.line(),
            StatusFormat::Waybar => {
                let short = match self.ringing.first() {
                    Some(alert) => inert(&alert.caller_name).into_owned(),
                    None => self.calls().len().to_string(),
                };
                let tooltip: Vec<String> = self
                    .calls()
                    .into_iter()
                    .map(|(name, people)| {
                        let who = if people == 1 { "person" } else { "people" };
                        format!("{name}: {people} {who}")
                    })
                    .collect();
                let tooltip = if tooltip.is_empty() {
                    self.line()
                } else {
                    format!("{}\n{}", self.line(), tooltip.join("\n"))
                };
                let class = class(self);
                json!({ "text": short, "tooltip": tooltip, "class": class, "alt": class })
                    .to_string()
            }
            StatusFormat::I3blocks => {
                let colour = match class(self) {
                    "ringing" => "#E5484D",
                    "in_call" => "#30A46C",
                    "offline" => "#8B8D98",
                    _ => "",
                };
                format!("{}\n{}\n{colour}", self.line(), self.calls().len())
            }
        }
    }
}
