//! The session's trust: a calm banner while this session is not verified, the recovery-key
//! form that verifies it, and the new recovery key shown once after setting recovery up.

use egui::{RichText, TextEdit, Ui};

use super::{space, weak};
use crate::matrix::SessionTrust;

/// What the trust area holds between frames.
#[derive(Default, Clone, PartialEq, Eq)]
pub struct TrustView {
    /// The account's answer, once known.
    pub trust: Option<SessionTrust>,
    /// The recovery-key form is open.
    pub entering_key: bool,
    /// The key being typed; cleared once sent.
    pub key: String,
    /// Waiting for the worker.
    pub busy: bool,
    /// The person chose "Not now" for this session.
    pub dismissed: bool,
    /// A recovery key just made, until the person says it is saved.
    pub new_key: Option<String>,
}

// The recovery key never reaches a log.
impl std::fmt::Debug for TrustView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustView")
            .field("trust", &self.trust)
            .field("entering_key", &self.entering_key)
            .field("busy", &self.busy)
            .finish_non_exhaustive()
    }
}

/// What the person asked for.
#[derive(PartialEq, Eq)]
pub enum TrustAction {
    /// Verify with this recovery key or passphrase.
    Recover(String),
    /// Set recovery up for the account.
    SetUp,
}

/// The trust banner (nothing once verified or dismissed); returns what the person asked for.
pub fn trust_ui(ui: &mut Ui, view: &mut TrustView) -> Option<TrustAction> {
    if let Some(key) = view.new_key.clone() {
        return new_key_ui(ui, view, &key);
    }
    let trust = view.trust?;
    if trust == SessionTrust::Verified || view.dismissed {
        return None;
    }
    let mut action = None;
    ui.group(|ui| {
        match trust {
            SessionTrust::Unverified => {
                ui.label(RichText::new("This session is not verified").strong());
                ui.label(weak(
                    ui,
                    "Your other apps show it as unverified, and encrypted rooms that share keys only with verified sessions may stay unreadable here.",
                ));
            }
            _ => {
                ui.label(RichText::new("Verification is not set up for your account").strong());
                ui.label(weak(
                    ui,
                    "Set it up to verify your sessions and keep a backup of your encryption keys.",
                ));
            }
        }
        ui.add_space(space::S);
        if view.entering_key {
            action = key_form(ui, view);
            return;
        }
        ui.horizontal(|ui| {
            let enabled = !view.busy;
            if trust == SessionTrust::Unverified {
                if ui
                    .add_enabled(enabled, egui::Button::new("Verify with recovery key"))
                    .clicked()
                {
                    view.entering_key = true;
                }
            } else if ui
                .add_enabled(enabled, egui::Button::new("Set up verification"))
                .clicked()
            {
                view.busy = true;
                action = Some(TrustAction::SetUp);
            }
            if ui.add_enabled(enabled, egui::Button::new("Not now")).clicked() {
                view.dismissed = true;
            }
            if view.busy {
                ui.spinner();
            }
        });
    });
    action
}

fn key_form(ui: &mut Ui, view: &mut TrustView) -> Option<TrustAction> {
    let mut send = false;
    ui.horizontal(|ui| {
        let label = ui.label("Recovery key");
        let edit = TextEdit::singleline(&mut view.key)
            .password(true)
            .desired_width(260.0);
        let field = ui.add_enabled(!view.busy, edit).labelled_by(label.id);
        send = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
    });
    ui.horizontal(|ui| {
        let ready = !view.busy && !view.key.trim().is_empty();
        send |= ui.add_enabled(ready, egui::Button::new("Verify")).clicked();
        if ui
            .add_enabled(!view.busy, egui::Button::new("Cancel"))
            .clicked()
        {
            view.entering_key = false;
            view.key.clear();
        }
        if view.busy {
            ui.spinner();
            ui.label("Verifying…");
        }
    });
    if !send || view.busy || view.key.trim().is_empty() {
        return None;
    }
    view.busy = true;
    Some(TrustAction::Recover(std::mem::take(&mut view.key)))
}

fn new_key_ui(ui: &mut Ui, view: &mut TrustView, key: &str) -> Option<TrustAction> {
    ui.group(|ui| {
        ui.label(RichText::new("Save your recovery key").strong());
        ui.label(weak(
            ui,
            "It verifies your new sessions and opens your key backup. It is shown only now: keep it somewhere safe, such as a password manager.",
        ));
        ui.add_space(space::S);
        ui.label(RichText::new(key).monospace());
        ui.horizontal(|ui| {
            if ui.button("Copy").clicked() {
                ui.ctx().copy_text(key.to_owned());
            }
            if ui.button("I saved it").clicked() {
                view.new_key = None;
            }
        });
    });
    None
}
