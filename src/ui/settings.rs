//! The settings: SFU foci, ringtone and volume, do-not-disturb and muted rooms, what we
//! publish, autostart, and signing out. Every change applies at once.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use egui::{RichText, Ui};

use super::{LIVE, icon_button, icons, small_button, space, weak};
use crate::config::{Appearance, Settings};
use crate::rtc::focus_list::{move_focus, parse_focus_url, shown_order};
use crate::rtc::publish::PublishForm;

/// What the settings view keeps between frames.
#[derive(Debug, Default, Clone)]
pub struct SettingsView {
    /// The focus URL being typed.
    pub new_focus: String,
    /// The ringtone path being typed.
    pub ringtone: String,
    /// Results of focus checks: URL to (answered, sentence); `None` while checking.
    pub checks: HashMap<String, Option<(bool, String)>>,
}

/// What the user changed or asked for in the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsAction {
    /// The settings changed: save and apply them.
    Changed,
    /// Check whether a focus answers.
    CheckFocus(String),
    /// Ring briefly with the chosen tone.
    TestRing,
    /// Start Vestibule (hidden) when the user logs in, or not.
    SetAutostart(bool),
    /// Sign out of the account.
    SignOut,
}

/// What the settings view draws and edits.
pub struct SettingsContext<'a> {
    /// The settings, edited in place; an edit to save and apply is reported as
    /// [`SettingsAction::Changed`].
    pub settings: &'a mut Settings,
    /// The view's own state.
    pub view: &'a mut SettingsView,
    /// The foci the homeserver advertised at some point.
    pub discovered: &'a BTreeSet<String>,
    /// The advertised foci's URLs, in the worker's order.
    pub discovered_order: &'a [String],
    /// Room names by room id, for the muted rooms.
    pub room_names: &'a HashMap<String, String>,
    /// Whether Vestibule starts when the user logs in.
    pub autostart: bool,
}

/// The settings view.
pub fn settings_ui(ui: &mut Ui, mut cx: SettingsContext<'_>) -> Vec<SettingsAction> {
    let mut actions = Vec::new();
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            ui.heading("Settings");
            ui.add_space(space::M);
            foci_ui(ui, &mut cx, &mut actions);
            ui.add_space(space::L);
            ring_ui(ui, &mut cx, &mut actions);
            ui.add_space(space::L);
            publish_ui(ui, cx.settings, &mut actions);
            ui.add_space(space::L);
            desktop_ui(ui, &mut cx, &mut actions);
            ui.add_space(space::L);
            ui.label(RichText::new("Account").strong());
            if ui.button("Sign out").clicked() {
                actions.push(SettingsAction::SignOut);
            }
        });
    actions
}

/// Autostart and the web client.
fn desktop_ui(ui: &mut Ui, cx: &mut SettingsContext<'_>, actions: &mut Vec<SettingsAction>) {
    ui.label(RichText::new("Desktop").strong());
    let mut on = cx.autostart;
    if ui
        .checkbox(&mut on, "Start Vestibule in the background when I log in")
        .changed()
    {
        actions.push(SettingsAction::SetAutostart(on));
    }
    ui.horizontal(|ui| {
        let label = ui.label("Web client for “Open in Element Call”");
        let edit =
            egui::TextEdit::singleline(&mut cx.settings.window.web_client_url).desired_width(320.0);
        if ui.add(edit).labelled_by(label.id).lost_focus() {
            actions.push(SettingsAction::Changed);
        }
    });
    ui.label(weak(ui, "{room_id} is replaced by the room's id."));
    ui.horizontal(|ui| {
        ui.label("Appearance");
        let appearance = &mut cx.settings.window.appearance;
        for (value, text) in [
            (Appearance::Desktop, "Like the desktop"),
            (Appearance::Light, "Light"),
            (Appearance::Dark, "Dark"),
        ] {
            if ui.radio_value(appearance, value, text).changed() {
                actions.push(SettingsAction::Changed);
            }
        }
    });
}

/// The foci as shown, each with its actions, and the field to add one.
fn foci_ui(ui: &mut Ui, cx: &mut SettingsContext<'_>, actions: &mut Vec<SettingsAction>) {
    ui.label(RichText::new("SFU foci").strong());
    ui.label(weak(
        ui,
        "Calls you start use the first focus that works; calls you join use the call's own.",
    ));
    let list = shown_order(&cx.settings.calls.foci, cx.discovered_order);
    if list.is_empty() {
        ui.label("No focus yet: your homeserver advertises none. Add one by URL below.");
    }
    let last = list.len().saturating_sub(1);
    for (i, url) in list.iter().enumerate() {
        ui.horizontal(|ui| focus_row_ui(ui, cx, i, last, url, actions));
    }
    add_focus_ui(ui, cx.settings, cx.view, actions);
}

/// Entry `i` (of `0..=last`) of the shown foci: its place, where it came from, moving,
/// removing and checking it, and the check's answer.
fn focus_row_ui(
    ui: &mut Ui,
    cx: &mut SettingsContext<'_>,
    i: usize,
    last: usize,
    url: &str,
    actions: &mut Vec<SettingsAction>,
) {
    let foci = &mut cx.settings.calls.foci;
    ui.label(format!("{}. {url}", i + 1));
    if cx.discovered.contains(url) {
        ui.label(weak(ui, "from your homeserver"));
    }
    if icon_button(
        ui,
        icons::ICON_ARROW_UPWARD,
        &format!("Move {url} up"),
        i > 0,
    )
    .clicked()
    {
        move_focus(foci, cx.discovered_order, i, i - 1);
        actions.push(SettingsAction::Changed);
    }
    if icon_button(
        ui,
        icons::ICON_ARROW_DOWNWARD,
        &format!("Move {url} down"),
        i < last,
    )
    .clicked()
    {
        move_focus(foci, cx.discovered_order, i, i + 1);
        actions.push(SettingsAction::Changed);
    }
    let own = foci.iter().any(|u| u == url);
    if own && icon_button(ui, icons::ICON_CLOSE, &format!("Remove {url}"), true).clicked() {
        foci.retain(|u| u != url);
        actions.push(SettingsAction::Changed);
    }
    if small_button(ui, "Check", &format!("Check {url}"), true).clicked() {
        cx.view.checks.insert(url.to_owned(), None);
        actions.push(SettingsAction::CheckFocus(url.to_owned()));
    }
    match cx.view.checks.get(url) {
        Some(None) => {
            ui.spinner();
        }
        Some(Some((ok, sentence))) => {
            let colour = if *ok {
                LIVE
            } else {
                ui.visuals().error_fg_color
            };
            ui.label(RichText::new(sentence).color(colour));
        }
        None => {}
    }
}

/// The field to add a focus by URL.
fn add_focus_ui(
    ui: &mut Ui,
    settings: &mut Settings,
    view: &mut SettingsView,
    actions: &mut Vec<SettingsAction>,
) {
    ui.horizontal(|ui| {
        let label = ui.label("Add a focus");
        let edit = egui::TextEdit::singleline(&mut view.new_focus)
            .hint_text("https://livekit-jwt.example.org")
            .desired_width(280.0);
        let response = ui.add(edit).labelled_by(label.id);
        let entered = response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        let parsed = parse_focus_url(&view.new_focus);
        if (ui
            .add_enabled(parsed.is_some(), egui::Button::new("Add"))
            .clicked()
            || entered)
            && let Some(url) = parsed
        {
            if !settings.calls.foci.contains(&url) {
                settings.calls.foci.push(url);
                actions.push(SettingsAction::Changed);
            }
            view.new_focus.clear();
        }
    });
    if !view.new_focus.trim().is_empty() && parse_focus_url(&view.new_focus).is_none() {
        ui.label(weak(ui, "A focus URL starts with https://."));
    }
}

/// The ringtone, its volume, do-not-disturb and the muted rooms.
fn ring_ui(ui: &mut Ui, cx: &mut SettingsContext<'_>, actions: &mut Vec<SettingsAction>) {
    ui.label(RichText::new("Ringing").strong());
    let ring = &mut cx.settings.ring;
    ui.horizontal(|ui| {
        let mut builtin = ring.ringtone.is_none();
        if ui
            .radio_value(&mut builtin, true, "Built-in ringtone")
            .clicked()
            && ring.ringtone.is_some()
        {
            ring.ringtone = None;
            actions.push(SettingsAction::Changed);
        }
        let label = ui.label("or a sound file");
        let edit = egui::TextEdit::singleline(&mut cx.view.ringtone)
            .hint_text("/path/to/tone.ogg")
            .desired_width(240.0);
        ui.add(edit).labelled_by(label.id);
        let path = cx.view.ringtone.trim();
        if ui
            .add_enabled(!path.is_empty(), egui::Button::new("Use file"))
            .clicked()
        {
            ring.ringtone = Some(PathBuf::from(path));
            actions.push(SettingsAction::Changed);
        }
    });
    if let Some(path) = &ring.ringtone {
        ui.label(weak(ui, format!("Ringing with {}", path.display())));
    }
    ui.horizontal(|ui| {
        let slider = egui::Slider::new(&mut ring.volume, 0.0..=1.0)
            .show_value(false)
            .text("Volume");
        let volume = ui.add(slider);
        // Saved when a drag ends, or at once for keys and clicks.
        if volume.drag_stopped() || (volume.changed() && !volume.dragged()) {
            actions.push(SettingsAction::Changed);
        }
        if ui.button("Test").on_hover_text("Ring for 3 s").clicked() {
            // Apply an unsaved volume first, so the test plays what is shown.
            actions.push(SettingsAction::Changed);
            actions.push(SettingsAction::TestRing);
        }
    });
    if ui
        .checkbox(
            &mut ring.do_not_disturb,
            "Do not disturb: show calls in the window only",
        )
        .changed()
    {
        actions.push(SettingsAction::Changed);
    }
    if !ring.muted_rooms.is_empty() {
        ui.label("Muted rooms:");
        let mut unmute = None;
        for room in &ring.muted_rooms {
            let name = cx
                .room_names
                .get(room)
                .map_or(room.as_str(), String::as_str);
            ui.horizontal(|ui| {
                ui.label(name);
                if small_button(ui, "Unmute", &format!("Unmute {name}"), true).clicked() {
                    unmute = Some(room.clone());
                }
            });
        }
        if let Some(room) = unmute {
            ring.muted_rooms.retain(|r| *r != room);
            actions.push(SettingsAction::Changed);
        }
    }
}

/// Which membership forms joining publishes, and whether ringing sends `m.rtc.notify`.
fn publish_ui(ui: &mut Ui, settings: &mut Settings, actions: &mut Vec<SettingsAction>) {
    ui.label(RichText::new("What joining publishes").strong());
    let forms = [
        (
            PublishForm::Session,
            "Element Call's membership (org.matrix.msc3401.call.member)",
        ),
        (PublishForm::RtcMember, "MSC4196 membership (m.rtc.member)"),
    ];
    for (form, label) in forms {
        let mut on = settings.calls.publish_forms.contains(&form);
        if ui.checkbox(&mut on, label).changed() {
            if on {
                settings.calls.publish_forms.push(form);
                settings.calls.publish_forms.sort();
            } else {
                settings.calls.publish_forms.retain(|f| *f != form);
            }
            actions.push(SettingsAction::Changed);
        }
    }
    if settings.calls.publish_forms.is_empty() {
        ui.label(weak(ui, "With no form, nobody sees you join."));
    }
    if ui
        .checkbox(
            &mut settings.calls.publish_rtc_notify,
            "Also send m.rtc.notify when ringing",
        )
        .changed()
    {
        actions.push(SettingsAction::Changed);
    }
}
