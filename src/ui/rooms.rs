//! The room list: rooms with a live call first, each with its count, kind and age.

use std::collections::HashSet;

use egui::text::LayoutJob;
use egui::{FontId, TextFormat, Ui};

use super::{ALERT, LIVE, space};
use crate::matrix::RoomLobby;
use crate::rtc::CallIntent;
use crate::wording::elapsed_text;

/// The people in a room's busiest call, its intent and its start, when it has one.
pub fn call_summary(lobby: &RoomLobby) -> Option<(usize, Option<&CallIntent>, u64)> {
    let call = lobby.calls.iter().max_by_key(|c| c.people())?;
    Some((call.people(), call.intent(), call.started_ts()))
}

/// The rooms to list, as indices into `rooms`: those matching `filter` (by name or id, any
/// case), rooms with a call first (most people first), then by name.
pub fn ordered_rooms(rooms: &[RoomLobby], filter: &str) -> Vec<usize> {
    let filter = filter.trim().to_lowercase();
    let mut shown: Vec<usize> = (0..rooms.len())
        .filter(|&i| {
            filter.is_empty()
                || rooms[i].name.to_lowercase().contains(&filter)
                || rooms[i].room_id.to_lowercase().contains(&filter)
        })
        .collect();
    shown.sort_by(|&a, &b| {
        let people = |i: usize| call_summary(&rooms[i]).map_or(0, |(n, _, _)| n);
        people(b)
            .cmp(&people(a))
            .then_with(|| {
                rooms[a]
                    .name
                    .to_lowercase()
                    .cmp(&rooms[b].name.to_lowercase())
            })
            .then_with(|| rooms[a].room_id.cmp(&rooms[b].room_id))
    });
    shown
}

/// The subtitle of a room's row.
pub fn room_subtitle(lobby: &RoomLobby, now_ms: u64) -> String {
    match call_summary(lobby) {
        None => "No call".to_owned(),
        Some((people, intent, started)) => {
            let kind = match intent {
                Some(CallIntent::Audio) => "audio",
                _ => "video",
            };
            let who = if people == 1 { "person" } else { "people" };
            let age = elapsed_text(started, now_ms);
            format!("{people} {who} · {kind} · {age}")
        }
    }
}

/// The room list with its search box. `order` comes from [`ordered_rooms`]; returns the room
/// the user selected.
pub fn room_list_ui(
    ui: &mut Ui,
    rooms: &[RoomLobby],
    order: &[usize],
    search: &mut String,
    selected: Option<&str>,
    ringing: &HashSet<String>,
    now_ms: u64,
) -> Option<String> {
    let search_box = search_ui(ui, search);
    ui.add_space(space::S);
    if rooms.is_empty() {
        ui.label("You are not in any room yet. Join one in any Matrix client and it shows here.");
        return None;
    }
    if order.is_empty() {
        ui.label("No room matches the search.");
        return None;
    }
    let mut chosen = None;
    let body = ui.style().text_styles[&egui::TextStyle::Body].size;
    let row_height = body * 2.0 + 14.0;
    let mut scroll = egui::ScrollArea::vertical().auto_shrink([false, false]);
    if let Some(next) = arrow_key_choice(ui, &search_box, rooms, order, selected) {
        chosen = Some(rooms[order[next]].room_id.clone());
        let spacing = ui.spacing().item_spacing.y;
        let top = next as f32 * (row_height + spacing);
        scroll = scroll.vertical_scroll_offset((top - row_height * 2.0).max(0.0));
    }
    scroll.show_rows(ui, row_height, order.len(), |ui, range| {
        for &i in &order[range] {
            let lobby = &rooms[i];
            let is_selected = selected == Some(lobby.room_id.as_str());
            let is_ringing = ringing.contains(&lobby.room_id);
            let job = row_text(ui, lobby, is_selected, is_ringing, body, now_ms);
            let row = egui::Button::selectable(is_selected, job)
                .min_size(egui::vec2(ui.available_width(), row_height - 4.0));
            if ui.add(row).clicked() {
                chosen = Some(lobby.room_id.clone());
            }
        }
    });
    chosen
}

/// The search box; Ctrl+F puts the cursor in it.
fn search_ui(ui: &mut Ui, search: &mut String) -> egui::Response {
    let label = ui.label("Search rooms");
    let search_box = egui::TextEdit::singleline(search)
        .hint_text("Name or id")
        .desired_width(f32::INFINITY);
    let response = ui.add(search_box).labelled_by(label.id);
    if ui.input(|i| i.modifiers.command && i.key_pressed(egui::Key::F)) {
        response.request_focus();
    }
    response
}

/// The place in `order` that Up or Down (pressed outside the search box) moves the selection
/// to. They move through the whole list: rows out of view are not laid out, so Tab cannot
/// reach them.
fn arrow_key_choice(
    ui: &Ui,
    search_box: &egui::Response,
    rooms: &[RoomLobby],
    order: &[usize],
    selected: Option<&str>,
) -> Option<usize> {
    let step = ui.input(|i| {
        if i.key_pressed(egui::Key::ArrowDown) {
            1
        } else if i.key_pressed(egui::Key::ArrowUp) {
            -1
        } else {
            0
        }
    });
    let typing = ui
        .memory(|m| m.focused())
        .is_some_and(|id| id == search_box.id);
    if step == 0 || typing {
        return None;
    }
    let at = order
        .iter()
        .position(|&i| selected == Some(rooms[i].room_id.as_str()));
    Some(match at {
        Some(at) => at.saturating_add_signed(step).min(order.len() - 1),
        None => 0,
    })
}

/// A row's two lines: the room's name (with a bell while it rings) and its call's summary;
/// `body` is the size of the body text.
fn row_text(
    ui: &Ui,
    lobby: &RoomLobby,
    is_selected: bool,
    is_ringing: bool,
    body: f32,
    now_ms: u64,
) -> LayoutJob {
    let mut job = LayoutJob::default();
    // On the accent-filled selected row every line is white, to stay readable.
    let on_accent = |c| if is_selected { egui::Color32::WHITE } else { c };
    let strong = on_accent(ui.visuals().strong_text_color());
    let weak = on_accent(ui.visuals().weak_text_color());
    if is_ringing {
        job.append("🔔 ", 0.0, format(body, on_accent(ALERT)));
    }
    job.append(&lobby.name, 0.0, format(body, strong));
    job.append("\n", 0.0, format(body, strong));
    let has_call = !lobby.calls.is_empty();
    let subtitle_colour = if has_call { on_accent(LIVE) } else { weak };
    let subtitle = if is_ringing {
        format!("Ringing · {}", room_subtitle(lobby, now_ms))
    } else {
        room_subtitle(lobby, now_ms)
    };
    job.append(&subtitle, 0.0, format(body * 0.85, subtitle_colour));
    job
}

fn format(size: f32, color: egui::Color32) -> TextFormat {
    TextFormat {
        font_id: FontId::proportional(size),
        color,
        ..Default::default()
    }
}
