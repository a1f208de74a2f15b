//! The window's left side and "Recent calls": the room list (its order, names, pictures and
//! the person's choice of room) and the call history, with what each asks of the worker.

use std::collections::{HashMap, HashSet};

use egui::Ui;
use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId};

use super::VestibuleApp;
use crate::matrix::Command;
use crate::ui::history::{HistoryAction, HistoryContext, history_ui};
use crate::ui::rooms::{
    RoomListAction, RoomListContext, listed_names, ordered_rooms, room_list_ui,
};
use crate::ui::space;

impl VestibuleApp {
    /// The room list's order, computed again only when the rooms or the search changed.
    fn room_order(&mut self) -> Vec<usize> {
        let key = (self.model.version(), self.model.search().to_owned());
        if let Some((cached, order)) = &self.order_cache
            && *cached == key
        {
            return order.clone();
        }
        let order = ordered_rooms(self.model.rooms(), self.model.search());
        self.order_cache = Some((key, order.clone()));
        order
    }

    /// The names rooms are listed under, made again only when the rooms changed; the caller
    /// puts them back into `names_cache`.
    fn take_room_names(&mut self) -> (u64, Vec<String>) {
        let version = self.model.version();
        match self.names_cache.take() {
            Some((v, names)) if v == version => (v, names),
            _ => (version, listed_names(self.model.rooms())),
        }
    }

    /// "Recent calls" with its missed-call badge, then the room list; the search is typed into
    /// a copy that the model then takes.
    pub(super) fn room_list(&mut self, ui: &mut Ui, now_ms: u64) {
        let missed_total = self.model.history().unseen_missed(None);
        let label = match missed_total {
            0 => "Recent calls".to_owned(),
            n => format!("Recent calls · {n} missed"),
        };
        let text = egui::RichText::new(label.as_str());
        let text = if missed_total > 0 {
            text.color(crate::ui::ALERT)
        } else {
            text
        };
        let open = self.model.history_open();
        let icon = crate::ui::icons::ICON_HISTORY.rich_text();
        let icon = if missed_total > 0 {
            icon.color(crate::ui::ALERT)
        } else {
            icon
        };
        let button = egui::Button::selectable(open, (icon, text, egui::Atom::grow()))
            .min_size(egui::vec2(ui.available_width(), 0.0));
        let shortcut = ui.input(|i| i.modifiers.command && i.key_pressed(egui::Key::H));
        let response = ui.add(button);
        ui.ctx()
            .accesskit_node_builder(response.id, |node| node.set_label(label.as_str()));
        if response.on_hover_text("Ctrl+H").clicked() || shortcut {
            self.open_history();
        }
        ui.add_space(space::S);
        let order = self.room_order();
        let names = self.take_room_names();
        let ringing: HashSet<String> = self
            .model
            .ringing()
            .iter()
            .map(|a| a.call.room_id.clone())
            .collect();
        let mut missed: HashMap<String, usize> = HashMap::new();
        for call in self.model.history().calls() {
            if call.is_unseen_missed() {
                *missed.entry(call.room_id.clone()).or_default() += 1;
            }
        }
        let mut search = self.model.search().to_owned();
        let cx = RoomListContext {
            order: &order,
            names: &names.1,
            selected: (!open).then_some(()).and(self.model.selected()),
            ringing: &ringing,
            missed: &missed,
            profiles: self.model.profiles(),
            room_avatars: self.model.room_avatars(),
            now_ms,
        };
        let actions = room_list_ui(ui, self.model.rooms(), &mut search, &cx);
        self.names_cache = Some(names);
        self.model.set_search(search);
        let mut avatars = Vec::new();
        for action in actions {
            match action {
                RoomListAction::Select(room) => self.choose_room(room),
                RoomListAction::WantsProfile { room_id, user_id } => {
                    self.fetch_profile_of(&room_id, &user_id);
                }
                RoomListAction::WantsRoomAvatar {
                    room_id,
                    avatar_url,
                } => {
                    if self.model.want_room_avatar(&room_id, &avatar_url)
                        && let Ok(room) = OwnedRoomId::try_from(room_id)
                    {
                        avatars.push(room);
                    }
                }
            }
        }
        // The rows drawn in one pass ask together.
        if !avatars.is_empty() {
            self.send(Command::RoomAvatars { rooms: avatars });
        }
    }

    /// "Recent calls" opens, and every missed call in it is seen.
    pub(super) fn open_history(&mut self) {
        self.model.open_history();
        if self.model.see_missed_calls(None) {
            self.send(Command::MarkCallsSeen { room: None });
        }
    }

    /// The person chose a room: its lobby shows and its missed calls are seen.
    pub(super) fn choose_room(&mut self, room: String) {
        if self.model.see_missed_calls(Some(&room))
            && let Ok(id) = OwnedRoomId::try_from(room.as_str())
        {
            self.send(Command::MarkCallsSeen { room: Some(id) });
        }
        self.model.select_room(room);
    }

    /// Asks once for the profile of the person of a direct chat, for its avatar in the list.
    fn fetch_profile_of(&mut self, room_id: &str, user_id: &str) {
        if !self.model.want_profile(user_id) {
            return;
        }
        if let (Ok(room), Ok(user)) = (
            OwnedRoomId::try_from(room_id),
            OwnedUserId::try_from(user_id),
        ) {
            self.send(Command::Profiles {
                room,
                users: vec![user],
            });
        }
    }

    /// "Recent calls" in the middle of the window.
    pub(super) fn history_panel(&mut self, ui: &mut Ui, now_ms: u64) {
        let joined: HashSet<&str> = self
            .model
            .rooms()
            .iter()
            .map(|r| r.room_id.as_str())
            .collect();
        let cx = HistoryContext {
            joined: &joined,
            profiles: self.model.profiles(),
            room_avatars: self.model.room_avatars(),
            now_ms,
        };
        let action = history_ui(ui, self.model.history(), &cx);
        match action {
            Some(HistoryAction::CallBack { room_id, intent }) => {
                if let Ok(room) = OwnedRoomId::try_from(room_id.as_str()) {
                    self.model.select_room(room_id);
                    self.send(Command::Ring {
                        room: room.into(),
                        intent,
                    });
                }
            }
            Some(HistoryAction::Open(room_id)) => self.choose_room(room_id),
            None => {}
        }
    }
}
