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

/// The icons on buttons: Material Symbols (outlined), the font egui_material_icons bundles for
/// this egui version; [`crate::app::VestibuleApp`] registers it.
pub use egui_material_icons::icons;
pub use egui_material_icons::{MaterialIcon, initialize as register_icon_font};

/// A small button showing only `icon`, named `label` for screen readers and tests, with
/// `label` as its tooltip.
pub fn icon_button(ui: &mut Ui, icon: MaterialIcon, label: &str, enabled: bool) -> egui::Response {
    let glyph = icon
        .rich_text()
        .size(ui.text_style_height(&egui::TextStyle::Body));
    let response = ui.add_enabled(enabled, egui::Button::new(glyph).small());
    named(ui, &response, label);
    response.on_hover_text(label)
}

/// A small text button, named `label` for screen readers and tests, with `label` as its
/// tooltip.
pub fn small_button(ui: &mut Ui, text: &str, label: &str, enabled: bool) -> egui::Response {
    let response = ui.add_enabled(enabled, egui::Button::new(text).small());
    named(ui, &response, label);
    response.on_hover_text(label)
}

/// A button with `icon` before `text`, both in `colour` (the text colour when `None`) at the
/// size `size` (the body's when `None`).
pub fn with_icon<'a>(
    icon: MaterialIcon,
    text: &str,
    colour: Option<egui::Color32>,
    size: Option<f32>,
) -> egui::Button<'a> {
    let style = |t: egui::RichText| {
        let t = match colour {
            Some(c) => t.color(c),
            None => t,
        };
        match size {
            Some(s) => t.size(s),
            None => t,
        }
    };
    egui::Button::new((style(icon.rich_text()), style(egui::RichText::new(text))))
}

/// Adds `button` (from [`with_icon`]) known to screen readers and tests as `name` alone,
/// without its icon's glyph.
pub fn add_named(
    ui: &mut Ui,
    enabled: bool,
    button: egui::Button<'_>,
    name: &str,
) -> egui::Response {
    let response = ui.add_enabled(enabled, button);
    named(ui, &response, name);
    response
}

fn named(ui: &Ui, response: &egui::Response, name: &str) {
    ui.ctx().accesskit_node_builder(response.id, |node| {
        node.set_label(name);
    });
}

/// A secondary line of text.
pub fn weak(ui: &Ui, text: impl Into<String>) -> egui::RichText {
    egui::RichText::new(text.into()).color(ui.visuals().weak_text_color())
}
