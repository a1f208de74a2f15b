//! The incoming-call overlay: who calls, from where, audio or video, Answer and Decline, and
//! how long it keeps ringing.

use egui::{RichText, Ui};

use super::{ALERT, LIVE, avatar_ui, space, weak};
use crate::matrix::{Profile, RingAlert};
use crate::rtc::ring::NotifyKind;
use crate::wording::incoming_title;

/// What the user did with an incoming call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncomingAction {
    /// Join the call.
    Answer,
    /// Decline it.
    Decline,
}

/// The headline of an incoming call: a room's notification says a call started; a ring says
/// who calls how.
pub fn incoming_headline(alert: &RingAlert) -> &'static str {
    match alert.call.kind {
        NotifyKind::Notification => "A call started",
        NotifyKind::Ring => incoming_title(alert.call.intent.as_ref()),
    }
}

/// The overlay's content for one call (the caller puts it in a modal).
pub fn incoming_ui(
    ui: &mut Ui,
    alert: &RingAlert,
    caller: Option<&Profile>,
    now_ms: u64,
) -> Option<IncomingAction> {
    let mut action = None;
    ui.set_min_width(320.0);
    ui.vertical_centered(|ui| {
        ui.label(
            RichText::new(incoming_headline(alert))
                .color(ALERT)
                .strong(),
        );
        ui.add_space(space::M);
        avatar_ui(ui, &alert.call.caller, caller, 72.0);
        ui.add_space(space::S);
        ui.heading(&alert.caller_name);
        ui.label(weak(ui, format!("in {}", alert.room_name)));
        let left_secs = alert
            .call
            .expires_at_ms
            .saturating_sub(now_ms)
            .div_ceil(1000);
        ui.label(weak(ui, format!("Rings for {left_secs} s more")));
        if alert.muted {
            ui.label(weak(
                ui,
                "Silent: this room is muted or do-not-disturb is on.",
            ));
        }
        ui.add_space(space::L);
        ui.horizontal(|ui| {
            let answer =
                egui::Button::new(RichText::new("Answer").color(egui::Color32::WHITE)).fill(LIVE);
            if ui.add(answer).clicked() {
                action = Some(IncomingAction::Answer);
            }
            let decline =
                egui::Button::new(RichText::new("Decline").color(egui::Color32::WHITE)).fill(ALERT);
            if ui.add(decline).clicked() {
                action = Some(IncomingAction::Decline);
            }
        });
    });
    if ui.input(|i| i.key_pressed(egui::Key::Escape)) {
        action = action.or(Some(IncomingAction::Decline));
    }
    action
}
