//! "Recent calls": the call history, newest first — missed, answered, declined and the calls
//! we placed — each with "Call back" while the room is one we are in.

use std::collections::{HashMap, HashSet};

use egui::{RichText, Ui};

use super::avatar::room_avatar_ui;
use super::{ALERT, add_named, avatar_ui, icons, space, weak, with_icon};
use crate::history::{CallHistory, CallOutcome, CallRecord};
use crate::matrix::{Profile, RoomAvatar};
use crate::rtc::CallIntent;
use crate::wording::{ago_text, outcome_text};

/// What the person did in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryAction {
    /// Ring the room again, as the call was (video when unsaid).
    CallBack {
        /// The room.
        room_id: String,
        /// Audio or video.
        intent: CallIntent,
    },
    /// Go to the room.
    Open(String),
}

/// What the history view draws beside the history itself.
pub struct HistoryContext<'a> {
    /// The rooms we are still in (only those can be called back).
    pub joined: &'a HashSet<&'a str>,
    /// People's names and pictures, for the caller of a call.
    pub profiles: &'a HashMap<String, Profile>,
    /// Rooms' pictures, for a call we placed.
    pub room_avatars: &'a HashMap<String, RoomAvatar>,
    /// Now, in ms since the epoch.
    pub now_ms: u64,
}

/// The history view.
pub fn history_ui(
    ui: &mut Ui,
    history: &CallHistory,
    cx: &HistoryContext<'_>,
) -> Option<HistoryAction> {
    ui.heading("Recent calls");
    ui.add_space(space::S);
    if history.calls().is_empty() {
        ui.label("No calls yet. Calls that ring you, and those you place, show here.");
        return None;
    }
    let mut action = None;
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for (i, record) in history.calls().iter().enumerate() {
                ui.push_id(i, |ui| {
                    if let Some(a) = row_ui(ui, record, cx) {
                        action = Some(a);
                    }
                });
                ui.separator();
            }
        });
    action
}

fn row_ui(ui: &mut Ui, record: &CallRecord, cx: &HistoryContext<'_>) -> Option<HistoryAction> {
    let mut action = None;
    ui.horizontal(|ui| {
        match &record.caller {
            Some(caller) => avatar_ui(ui, caller, cx.profiles.get(caller), 32.0),
            None => {
                let picture = cx
                    .room_avatars
                    .get(&record.room_id)
                    .and_then(|a| a.avatar.as_ref());
                room_avatar_ui(ui, &record.room_id, &record.room_name, picture, 32.0);
            }
        }
        ui.vertical(|ui| {
            let outcome = RichText::new(outcome_text(record)).strong();
            let outcome = if record.outcome == CallOutcome::Missed {
                outcome.color(ALERT)
            } else {
                outcome
            };
            let who = match (&record.caller_name, &record.caller) {
                (Some(name), Some(caller)) if name != caller => format!("{name} ({caller})"),
                (_, Some(caller)) => caller.clone(),
                _ => String::new(),
            };
            ui.horizontal(|ui| {
                ui.label(outcome);
                if !who.is_empty() {
                    ui.label(who);
                }
            });
            let kind = match record.call_intent() {
                Some(CallIntent::Audio) => "audio",
                _ => "video",
            };
            ui.label(weak(
                ui,
                format!(
                    "in {} · {kind} · {}",
                    record.room_name,
                    ago_text(record.at_ms, cx.now_ms)
                ),
            ))
            .on_hover_text(&record.room_id);
        });
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            let here = cx.joined.contains(record.room_id.as_str());
            let button = with_icon(icons::ICON_CALL, "Call back", None, None);
            let call_back = add_named(ui, here, button, "Call back")
                .on_disabled_hover_text("You are no longer in this room.");
            if call_back.clicked() {
                action = Some(HistoryAction::CallBack {
                    room_id: record.room_id.clone(),
                    intent: record.call_intent().unwrap_or(CallIntent::Video),
                });
            }
            let open = with_icon(icons::ICON_ARROW_FORWARD, "Open", None, None);
            if add_named(ui, here, open, "Open").clicked() {
                action = Some(HistoryAction::Open(record.room_id.clone()));
            }
        });
    });
    action
}
