//! What is always visible: the connection, the signed-in account, and sentences to read.

use egui::Ui;

use super::{ALERT, LIVE, add_named, icon_button, icons, weak, with_icon};
use crate::matrix::Connection;

/// A sentence shown in a banner until dismissed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Banner {
    /// The sentence.
    pub message: String,
    /// An error rather than a notice.
    pub is_error: bool,
}

/// What the status bar asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusAction {
    /// Open or close the settings.
    ToggleSettings,
    /// Leave every call and stop.
    Quit,
}

/// The status bar: the connection state, the account, and the settings (when `settings_open`
/// says whether they are open) and quit buttons.
pub fn status_ui(
    ui: &mut Ui,
    connection: Option<&Connection>,
    account: Option<&str>,
    settings_open: Option<bool>,
) -> Option<StatusAction> {
    let mut action = None;
    ui.horizontal(|ui| {
        let (dot, text) = match connection {
            None if account.is_some() => (ui.visuals().weak_text_color(), "Connecting…".to_owned()),
            None => (ui.visuals().weak_text_color(), "Not signed in".to_owned()),
            Some(Connection::Syncing) => (ui.visuals().weak_text_color(), "Syncing…".to_owned()),
            Some(Connection::Online) => (LIVE, "Online".to_owned()),
            Some(Connection::Offline {
                retry_in_secs,
                reason,
            }) => (
                ALERT,
                format!("Offline, retrying in {retry_in_secs} s: {reason}"),
            ),
        };
        let (rect, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
        ui.painter().circle_filled(rect.center(), 4.0, dot);
        ui.label(text);
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            let quit = with_icon(icons::ICON_POWER_SETTINGS_NEW, "Quit", None, None);
            if add_named(ui, true, quit, "Quit")
                .on_hover_text("Leave any call and stop Vestibule (Ctrl+Q)")
                .clicked()
            {
                action = Some(StatusAction::Quit);
            }
            if let Some(open) = settings_open {
                let label = if open { "Close settings" } else { "Settings" };
                let button = egui::Button::selectable(
                    open,
                    (icons::ICON_SETTINGS.rich_text(), egui::RichText::new(label)),
                );
                if add_named(ui, true, button, label)
                    .on_hover_text("Ctrl+,")
                    .clicked()
                {
                    action = Some(StatusAction::ToggleSettings);
                }
            }
            if let Some(account) = account {
                ui.label(weak(ui, account));
            }
        });
    });
    action
}

/// The banners, newest last; returns the index of one the user dismissed.
pub fn banners_ui(ui: &mut Ui, banners: &[Banner]) -> Option<usize> {
    let mut dismissed = None;
    for (i, banner) in banners.iter().enumerate() {
        let fill = if banner.is_error {
            ui.visuals().error_fg_color.gamma_multiply(0.15)
        } else {
            ui.visuals().faint_bg_color
        };
        egui::Frame::new()
            .fill(fill)
            .inner_margin(egui::Margin::symmetric(8, 4))
            .corner_radius(4)
            .show(ui, |ui| {
                ui.set_width(ui.available_width());
                // The button first, so that a long sentence wraps beside it.
                ui.with_layout(egui::Layout::right_to_left(egui::Align::TOP), |ui| {
                    if icon_button(
                        ui,
                        icons::ICON_CLOSE,
                        &format!("Dismiss: {}", banner.message),
                        true,
                    )
                    .clicked()
                    {
                        dismissed = Some(i);
                    }
                    ui.with_layout(egui::Layout::left_to_right(egui::Align::TOP), |ui| {
                        ui.add(egui::Label::new(&banner.message).wrap());
                    });
                });
            });
    }
    dismissed
}
