//! The incoming call's content: who calls, from where, audio or video, large Answer and
//! Decline, and how long it keeps ringing; then, when it stopped by itself, why.

use egui::{RichText, Ui};

use super::{ALERT, LIVE, add_named, avatar_ui, icons, space, weak, with_icon};
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
    /// Close the window, leaving the ring be.
    Dismiss,
}

/// The headline of an incoming call: a room's notification says a call started; a ring says
/// who calls how.
pub fn incoming_headline(alert: &RingAlert) -> &'static str {
    match alert.call.kind {
        NotifyKind::Notification => "A call started",
        NotifyKind::Ring => incoming_title(alert.call.intent.as_ref()),
    }
}

/// The size of the Answer and Decline buttons, in points.
const BUTTON: [f32; 2] = [140.0, 44.0];

/// The incoming window's content for one call. With `focus`, Answer takes the keyboard focus
/// (the window just appeared), so that a screen reader announces it.
pub fn incoming_ui(
    ui: &mut Ui,
    alert: &RingAlert,
    caller: Option<&Profile>,
    now_ms: u64,
    focus: bool,
) -> Option<IncomingAction> {
    let mut action = None;
    ui.vertical_centered(|ui| {
        ui.add_space(space::L);
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
        ui.add_space(space::XL);
        let big = |icon, text: &str, fill| {
            with_icon(icon, text, Some(egui::Color32::WHITE), Some(18.0))
                .fill(fill)
                .min_size(BUTTON.into())
        };
        // Two buttons side by side, centred.
        let width = BUTTON[0] * 2.0 + ui.spacing().item_spacing.x;
        ui.allocate_ui_with_layout(
            [width, BUTTON[1]].into(),
            egui::Layout::left_to_right(egui::Align::Center),
            |ui| {
                let decline = add_named(
                    ui,
                    true,
                    big(icons::ICON_CALL_END, "Decline", ALERT),
                    "Decline",
                );
                let answer = add_named(ui, true, big(icons::ICON_CALL, "Answer", LIVE), "Answer");
                if focus {
                    answer.request_focus();
                }
                if answer.clicked() {
                    action = Some(IncomingAction::Answer);
                }
                if decline.clicked() {
                    action = Some(IncomingAction::Decline);
                }
            },
        );
        ui.add_space(space::S);
        ui.label(weak(ui, "Enter answers · Escape declines"));
    });
    let (enter, escape) = ui.input(|i| {
        (
            i.key_pressed(egui::Key::Enter),
            i.key_pressed(egui::Key::Escape),
        )
    });
    if enter {
        action = action.or(Some(IncomingAction::Answer));
    }
    if escape {
        action = action.or(Some(IncomingAction::Decline));
    }
    action
}

/// The window's content once its ring stopped by itself: why, and Close. Returns whether the
/// person closed it (Close, Enter or Escape).
pub fn incoming_stopped_ui(ui: &mut Ui, sentence: &str) -> bool {
    let mut close = false;
    ui.vertical_centered(|ui| {
        ui.add_space(ui.available_height() / 3.0);
        ui.label(RichText::new(sentence).size(16.0));
        ui.add_space(space::L);
        close = ui.button("Close").clicked();
    });
    close || ui.input(|i| i.key_pressed(egui::Key::Enter) || i.key_pressed(egui::Key::Escape))
}
