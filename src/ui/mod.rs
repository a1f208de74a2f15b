//! The window's views: `*_ui` functions that draw plain snapshots and return what the user
//! asked for. They never block and never talk to the worker themselves.

pub mod avatar;
pub mod history;
pub mod incoming;
pub mod lobby;
pub mod login;
pub mod rooms;
pub mod settings;
pub mod status;
pub mod trust;

use egui::{Color32, Ui, Vec2};

pub use avatar::{avatar_ui, initials};

/// The one accent colour: actions and selection.
pub const ACCENT: Color32 = Color32::from_rgb(0x3d, 0x6e, 0xe0);
/// Calls that are live.
pub const LIVE: Color32 = Color32::from_rgb(0x1f, 0x9d, 0x55);
/// The incoming call, the one thing that may shout.
pub const ALERT: Color32 = Color32::from_rgb(0xd9, 0x3f, 0x3f);

/// The spacing scale, in points.
pub mod space {
    /// Between related items.
    pub const S: f32 = 4.0;
    /// Between items.
    pub const M: f32 = 8.0;
    /// Between groups.
    pub const L: f32 = 16.0;
    /// Around a screen.
    pub const XL: f32 = 24.0;
}

/// Applies the look: the system's light or dark theme with our accent and spacing.
pub fn apply_style(ctx: &egui::Context) {
    ctx.all_styles_mut(|style| {
        style.spacing.item_spacing = Vec2::new(space::M, space::M);
        style.spacing.button_padding = Vec2::new(10.0, 5.0);
        style.visuals.selection.bg_fill = ACCENT;
        style.visuals.hyperlink_color = ACCENT;
    });
}

/// A small button showing `icon`, named `label` for screen readers and tests, with `label` as
/// its tooltip.
pub fn icon_button(ui: &mut Ui, icon: &str, label: &str, enabled: bool) -> egui::Response {
    let response = ui.add_enabled(enabled, egui::Button::new(icon).small());
    ui.ctx().accesskit_node_builder(response.id, |node| {
        node.set_label(label);
    });
    response.on_hover_text(label)
}

/// A secondary line of text.
pub fn weak(ui: &Ui, text: impl Into<String>) -> egui::RichText {
    egui::RichText::new(text.into()).color(ui.visuals().weak_text_color())
}
