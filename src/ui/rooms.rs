//! The room list: rooms with a live call first, each with its avatar, its count, kind and age,
//! and a badge for missed calls; two rooms of the same name are told apart by the person of a
//! direct chat. The room id shows only on hover and in the row's "Copy room id" action.

use std::collections::{HashMap, HashSet};

use egui::text::LayoutJob;
use egui::{FontId, TextFormat, Ui};

use super::avatar::room_avatar_ui;
use super::{ALERT, LIVE, avatar_ui, space};
use crate::matrix::{Profile, RoomAvatar, RoomLobby};
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

/// The names rooms are listed under: a direct chat whose name another room also has (any
/// case) gets its person's user id after it, so that two chats with two "Alex"es differ.
pub fn listed_names(rooms: &[RoomLobby]) -> Vec<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for room in rooms {
        *counts.entry(room.name.to_lowercase()).or_default() += 1;
    }
    rooms
        .iter()
        .map(|room| match &room.peer {
            Some(peer) if counts[&room.name.to_lowercase()] > 1 && room.name != *peer => {
                format!("{} ({peer})", room.name)
            }
            _ => room.name.clone(),
        })
        .collect()
}

/// What the room list needs besides the rooms.
pub struct RoomListContext<'a> {
    /// The rooms to show, from [`ordered_rooms`].
    pub order: &'a [usize],
    /// The names to show, from [`listed_names`], by index into the rooms.
    pub names: &'a [String],
    /// The selected room.
    pub selected: Option<&'a str>,
    /// The rooms ringing us.
    pub ringing: &'a HashSet<String>,
    /// Missed rings not yet seen, by room.
    pub missed: &'a HashMap<String, usize>,
    /// Display names and avatars by user id (a direct chat shows its person's).
    pub profiles: &'a HashMap<String, Profile>,
    /// Rooms' own avatars by room id.
    pub room_avatars: &'a HashMap<String, RoomAvatar>,
    /// Now, ms since the epoch.
    pub now_ms: u64,
}

/// What the person did in the room list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomListAction {
    /// Chose a room.
    Select(String),
    /// Drew the row of a direct chat whose person's profile is not known yet.
    WantsProfile {
        /// The room.
        room_id: String,
        /// Its person.
        user_id: String,
    },
    /// Drew the row of a room whose own avatar is not here yet.
    WantsRoomAvatar {
        /// The room.
        room_id: String,
        /// The avatar it names.
        avatar_url: String,
    },
}

/// The room list with its search box.
pub fn room_list_ui(
    ui: &mut Ui,
    rooms: &[RoomLobby],
    search: &mut String,
    cx: &RoomListContext<'_>,
) -> Vec<RoomListAction> {
    let mut actions = Vec::new();
    let search_box = search_ui(ui, search);
    ui.add_space(space::S);
    if rooms.is_empty() {
        ui.label("You are not in any room yet. Join one in any Matrix client and it shows here.");
        return actions;
    }
    let order = cx.order;
    if order.is_empty() {
        ui.label("No room matches the search.");
        return actions;
    }
    let body = ui.style().text_styles[&egui::TextStyle::Body].size;
    let row_height = body * 2.0 + 14.0;
    let mut scroll = egui::ScrollArea::vertical().auto_shrink([false, false]);
    if let Some(next) = arrow_key_choice(ui, &search_box, rooms, order, cx.selected) {
        actions.push(RoomListAction::Select(rooms[order[next]].room_id.clone()));
        let spacing = ui.spacing().item_spacing.y;
        let top = next as f32 * (row_height + spacing);
        scroll = scroll.vertical_scroll_offset((top - row_height * 2.0).max(0.0));
    }
    scroll.show_rows(ui, row_height, order.len(), |ui, range| {
        for &i in &order[range] {
            if let Some(action) = row_ui(ui, &rooms[i], &cx.names[i], cx, row_height) {
                actions.push(action);
            }
        }
    });
    actions
}

/// One room's row: its avatar, then its name and summary as one selectable button.
fn row_ui(
    ui: &mut Ui,
    lobby: &RoomLobby,
    name: &str,
    cx: &RoomListContext<'_>,
    row_height: f32,
) -> Option<RoomListAction> {
    let body = ui.style().text_styles[&egui::TextStyle::Body].size;
    let is_selected = cx.selected == Some(lobby.room_id.as_str());
    let is_ringing = cx.ringing.contains(&lobby.room_id);
    let missed = cx.missed.get(&lobby.room_id).copied().unwrap_or(0);
    let mut action = None;
    ui.horizontal(|ui| {
        let size = row_height - 12.0;
        match &lobby.peer {
            Some(peer) => {
                let profile = cx.profiles.get(peer);
                if profile.is_none() {
                    action = Some(RoomListAction::WantsProfile {
                        room_id: lobby.room_id.clone(),
                        user_id: peer.clone(),
                    });
                }
                avatar_ui(ui, peer, profile, size);
            }
            None => {
                let have = cx
                    .room_avatars
                    .get(&lobby.room_id)
                    .filter(|a| a.avatar_url == lobby.avatar_url);
                if let (None, Some(url)) = (have, &lobby.avatar_url) {
                    action = Some(RoomListAction::WantsRoomAvatar {
                        room_id: lobby.room_id.clone(),
                        avatar_url: url.clone(),
                    });
                }
                let picture = have.and_then(|a| a.avatar.as_ref());
                room_avatar_ui(ui, &lobby.room_id, &lobby.name, picture, size);
            }
        }
        let job = row_text(
            ui,
            lobby,
            name,
            is_selected,
            is_ringing,
            missed,
            body,
            cx.now_ms,
        );
        // The name and summary start at the left, the rest of the row is space.
        let row = egui::Button::selectable(is_selected, (job, egui::Atom::grow()))
            .min_size(egui::vec2(ui.available_width(), row_height - 4.0));
        let response = ui.add(row).on_hover_text(&lobby.room_id);
        response.context_menu(|ui| {
            if ui.button("Copy room id").clicked() {
                ui.ctx().copy_text(lobby.room_id.clone());
                ui.close();
            }
        });
        if response.clicked() {
            action = Some(RoomListAction::Select(lobby.room_id.clone()));
        }
    });
    action
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

/// A row's two lines: the room's name and its call's summary (said "Ringing" while it rings,
/// with its missed calls in front); `body` is the size of the body text.
#[allow(clippy::too_many_arguments)]
fn row_text(
    ui: &Ui,
    lobby: &RoomLobby,
    name: &str,
    is_selected: bool,
    is_ringing: bool,
    missed: usize,
    body: f32,
    now_ms: u64,
) -> LayoutJob {
    let mut job = LayoutJob::default();
    // On the accent-filled selected row every line is white, to stay readable.
    let on_accent = |c| if is_selected { egui::Color32::WHITE } else { c };
    let strong = on_accent(ui.visuals().strong_text_color());
    let weak = on_accent(ui.visuals().weak_text_color());
    job.append(name, 0.0, format(body, strong));
    job.append("\n", 0.0, format(body, strong));
    let small = body * 0.85;
    if is_ringing {
        job.append("Ringing · ", 0.0, format(small, on_accent(ALERT)));
    } else if missed > 0 {
        let calls = if missed == 1 { "call" } else { "calls" };
        let badge = format!("{missed} missed {calls} · ");
        job.append(&badge, 0.0, format(small, on_accent(ALERT)));
    }
    let has_call = !lobby.calls.is_empty();
    let subtitle_colour = if has_call { on_accent(LIVE) } else { weak };
    job.append(
        &room_subtitle(lobby, now_ms),
        0.0,
        format(small, subtitle_colour),
    );
    job
}

fn format(size: f32, color: egui::Color32) -> TextFormat {
    TextFormat {
        font_id: FontId::proportional(size),
        color,
        ..Default::default()
    }
}
