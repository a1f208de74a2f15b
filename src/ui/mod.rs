//! The window's views: `*_ui` functions that draw plain snapshots and return what the user
//! asked for. They never block and never talk to the worker themselves.

pub mod incoming;
pub mod lobby;
pub mod login;
pub mod rooms;
pub mod settings;
pub mod status;

use std::sync::Arc;

use egui::{Color32, CornerRadius, FontId, Sense, Ui, Vec2};

use crate::matrix::Profile;

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

/// The initials of a name, for an avatar without a picture.
pub fn initials(name: &str) -> String {
    let name = name.trim_start_matches(['@', '#', '!']);
    let mut words = name
        .split(|c: char| c.is_whitespace() || c == ':' || c == '.' || c == '_' || c == '-')
        .filter(|w| !w.is_empty());
    let first = words.next().and_then(|w| w.chars().next());
    let second = words.next().and_then(|w| w.chars().next());
    [first, second]
        .into_iter()
        .flatten()
        .flat_map(char::to_uppercase)
        .collect()
}

/// A stable colour for a user, for the initials avatar.
fn avatar_colour(user_id: &str) -> Color32 {
    const PALETTE: [Color32; 6] = [
        Color32::from_rgb(0x3d, 0x6e, 0xe0),
        Color32::from_rgb(0x1f, 0x9d, 0x55),
        Color32::from_rgb(0xa3, 0x5d, 0xd6),
        Color32::from_rgb(0xd9, 0x7a, 0x26),
        Color32::from_rgb(0x0d, 0x8f, 0x9e),
        Color32::from_rgb(0xc2, 0x4f, 0x8e),
    ];
    let hash = user_id
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    PALETTE[hash as usize % PALETTE.len()]
}

/// A round avatar: the user's picture when there is one, else their initials.
pub fn avatar_ui(ui: &mut Ui, user_id: &str, profile: Option<&Profile>, size: f32) {
    let name = profile.map_or(user_id, |p| p.display_name.as_str());
    if let Some(bytes) = profile.and_then(|p| p.avatar.clone()) {
        let image = egui::Image::from_bytes(
            format!("bytes://avatar/{user_id}"),
            egui::load::Bytes::Shared(bytes as Arc<[u8]>),
        )
        .fit_to_exact_size(Vec2::splat(size))
        .corner_radius(CornerRadius::same((size / 2.0) as u8))
        .alt_text(format!("Avatar of {name}"));
        ui.add(image);
        return;
    }
    let (rect, _) = ui.allocate_exact_size(Vec2::splat(size), Sense::hover());
    let painter = ui.painter();
    painter.circle_filled(rect.center(), size / 2.0, avatar_colour(user_id));
    painter.text(
        rect.center(),
        egui::Align2::CENTER_CENTER,
        initials(name),
        FontId::proportional(size * 0.42),
        Color32::WHITE,
    );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_come_from_names_and_ids() {
        assert_eq!(initials("Alice Liddell"), "AL");
        assert_eq!(initials("@bob:example.org"), "BE");
        assert_eq!(initials("émile"), "É");
        assert_eq!(initials(""), "");
    }
}
