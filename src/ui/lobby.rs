//! The selected room's lobby: who is in its call, on which device, since when, on which SFU;
//! our own part; and the actions.

use std::collections::HashMap;

use egui::{RichText, Ui};

use super::{LIVE, add_named, avatar_ui, icons, space, weak, with_icon};
use crate::matrix::{OwnCallState, Profile, RoomLobby};
use crate::rtc::{Call, CallIntent, Participant};
use crate::wording::{elapsed_text, own_state_sentence};

/// What the user asked for in a lobby.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LobbyAction {
    /// Join the call (or start one).
    Join {
        /// Audio or video.
        intent: CallIntent,
    },
    /// Join and ring the other person (DM) or notify the room.
    Ring {
        /// Audio or video.
        intent: CallIntent,
    },
    /// Leave the call.
    Leave,
    /// Open the room in the web client to hand off media.
    OpenWebClient,
    /// Mute or unmute this room's rings.
    SetMuted(bool),
    /// Join with video, or audio only.
    SetVideo(bool),
}

/// What the lobby view needs besides the lobby itself.
pub struct LobbyContext<'a> {
    /// Display names and avatars by user id.
    pub profiles: &'a HashMap<String, Profile>,
    /// Now, ms since the epoch.
    pub now_ms: u64,
    /// Whether this room's rings are muted.
    pub muted: bool,
    /// Our own user id.
    pub me: Option<&'a str>,
    /// The user's audio/video choice for joining.
    pub video: bool,
}

/// The lobby.
pub fn lobby_ui(ui: &mut Ui, lobby: &RoomLobby, cx: &LobbyContext<'_>) -> Vec<LobbyAction> {
    let mut actions = Vec::new();
    header_ui(ui, lobby, cx.muted, &mut actions);
    own_state_ui(ui, &lobby.own);
    ui.horizontal_wrapped(|ui| actions_ui(ui, lobby, cx, &mut actions));
    ui.add_space(space::M);
    ui.separator();

    if lobby.calls.is_empty() {
        ui.add_space(space::L);
        ui.label("No call in this room right now. Start one, and everyone here can join.");
        return actions;
    }
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for call in &lobby.calls {
                call_ui(ui, call, cx);
                ui.add_space(space::M);
            }
        });
    actions
}

/// The room's name and whether it is a direct chat (with whom); its id only on hover and in
/// the "Copy room id" action. Muting its rings is a setting of the room, not a call action: it
/// sits at the header's far end.
fn header_ui(ui: &mut Ui, lobby: &RoomLobby, muted: bool, actions: &mut Vec<LobbyAction>) {
    ui.horizontal(|ui| {
        ui.heading(&lobby.name).on_hover_text(&lobby.room_id);
        match (&lobby.peer, lobby.is_direct) {
            (Some(peer), true) => ui.label(weak(ui, format!("direct chat with {peer}"))),
            (_, true) => ui.label(weak(ui, "direct chat")),
            _ => ui.label(""),
        };
        if super::icon_button(ui, icons::ICON_CONTENT_COPY, "Copy room id", true).clicked() {
            ui.ctx().copy_text(lobby.room_id.clone());
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            let mut muted = muted;
            if ui
                .checkbox(&mut muted, "Mute rings from this room")
                .changed()
            {
                actions.push(LobbyAction::SetMuted(muted));
            }
        });
    });
    ui.add_space(space::S);
}

/// Our own part in the call, with a spinner while it is changing.
fn own_state_ui(ui: &mut Ui, own: &OwnCallState) {
    let state_colour = match own {
        OwnCallState::Joined => LIVE,
        OwnCallState::Failed { .. } => ui.visuals().error_fg_color,
        _ => ui.visuals().text_color(),
    };
    ui.horizontal(|ui| {
        if matches!(own, OwnCallState::Joining | OwnCallState::Leaving) {
            ui.spinner();
        }
        ui.label(RichText::new(own_state_sentence(own)).color(state_colour));
    });
}

/// Leave, or join and ring with the audio/video choice; opening the web client.
fn actions_ui(
    ui: &mut Ui,
    lobby: &RoomLobby,
    cx: &LobbyContext<'_>,
    actions: &mut Vec<LobbyAction>,
) {
    let in_call = matches!(lobby.own, OwnCallState::Joined | OwnCallState::Joining);
    if in_call {
        let leave = with_icon(icons::ICON_CALL_END, "Leave", None, None);
        if add_named(ui, true, leave, "Leave").clicked() {
            actions.push(LobbyAction::Leave);
        }
    } else {
        join_ui(ui, lobby, cx.video, actions);
    }
    let open = with_icon(icons::ICON_OPEN_IN_NEW, "Open in Element Call", None, None);
    if add_named(ui, true, open, "Open in Element Call")
        .on_hover_text("Open this room in the web client for audio and video")
        .clicked()
    {
        actions.push(LobbyAction::OpenWebClient);
    }
}

/// Join (or start) and Ring (or notify the room), and the audio/video choice for them.
fn join_ui(ui: &mut Ui, lobby: &RoomLobby, video: bool, actions: &mut Vec<LobbyAction>) {
    let intent = if video {
        CallIntent::Video
    } else {
        CallIntent::Audio
    };
    let busy = lobby.own == OwnCallState::Leaving;
    let join = if lobby.calls.is_empty() {
        "Start call"
    } else {
        "Join"
    };
    let button =
        with_icon(icons::ICON_CALL, join, Some(egui::Color32::WHITE), None).fill(super::ACCENT);
    if add_named(ui, !busy, button, join).clicked() {
        actions.push(LobbyAction::Join {
            intent: intent.clone(),
        });
    }
    let ring = if lobby.is_direct {
        "Ring"
    } else {
        "Notify room"
    };
    let hint = if lobby.is_direct {
        "Join and ring the other person"
    } else {
        "Join and notify everyone in the room"
    };
    let button = with_icon(icons::ICON_NOTIFICATIONS_ACTIVE, ring, None, None);
    if add_named(ui, !busy, button, ring)
        .on_hover_text(hint)
        .clicked()
    {
        actions.push(LobbyAction::Ring { intent });
    }
    let mut video = video;
    if ui.checkbox(&mut video, "Video").changed() {
        actions.push(LobbyAction::SetVideo(video));
    }
}

/// One call: its kind, size and age, its application when it is not a plain call, and who is
/// in it.
fn call_ui(ui: &mut Ui, call: &Call, cx: &LobbyContext<'_>) {
    let kind = match call.intent() {
        Some(CallIntent::Audio) => "Audio call",
        _ => "Video call",
    };
    let age = elapsed_text(call.started_ts(), cx.now_ms);
    let people = call.people();
    let title = format!(
        "{kind} · {people} {} · {age}",
        if people == 1 { "person" } else { "people" }
    );
    ui.label(RichText::new(title).strong());
    if call.key.application != "m.call" || !call.key.call_id.is_empty() {
        ui.label(weak(
            ui,
            format!("{} {}", call.key.application, call.key.call_id),
        ));
    }
    for (user_id, devices) in call.by_person() {
        person_ui(ui, user_id, &devices, cx);
    }
}

/// One person in a call: avatar and name once, then each of their devices with how long it has
/// been in and its SFU.
fn person_ui(ui: &mut Ui, user_id: &str, devices: &[&Participant], cx: &LobbyContext<'_>) {
    let profile = cx.profiles.get(user_id);
    let name = profile.map_or(user_id, |p| p.display_name.as_str());
    ui.horizontal(|ui| {
        avatar_ui(ui, user_id, profile, 36.0);
        ui.vertical(|ui| {
            ui.horizontal(|ui| {
                let you = if cx.me == Some(user_id) { " (you)" } else { "" };
                ui.label(RichText::new(format!("{name}{you}")).strong());
                ui.label(weak(ui, user_id));
                if devices.len() > 1 {
                    ui.label(weak(ui, format!("· {} devices", devices.len())));
                }
            });
            for p in devices {
                let time = elapsed_text(p.joined_ts, cx.now_ms);
                let focus = match &p.active_focus {
                    Some(f) => match &f.livekit_service_url {
                        Some(url) => focus_host(url),
                        None => f.kind.clone(),
                    },
                    None => "no SFU given".into(),
                };
                ui.label(weak(
                    ui,
                    format!("{} · in call {time} · {focus}", p.device_id),
                ));
            }
        });
    });
}

/// The host of a focus URL, for a short display.
pub fn focus_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest).to_owned()
}
