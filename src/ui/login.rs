//! The start screen: restoring a saved session, or signing in.

use egui::{Key, RichText, TextEdit, Ui};

use super::{space, weak};

/// What the sign-in form holds.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginForm {
    /// Server name or URL.
    pub homeserver: String,
    /// Localpart or user id.
    pub user: String,
    /// The password; cleared once sent.
    pub password: String,
    /// Waiting for the worker's answer.
    pub busy: bool,
    /// Why the last attempt failed.
    pub error: Option<String>,
}

impl Default for LoginForm {
    fn default() -> Self {
        Self {
            homeserver: "matrix.org".into(),
            user: String::new(),
            password: String::new(),
            busy: false,
            error: None,
        }
    }
}

/// What the user asked for on the sign-in form.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginRequest {
    /// Server name or URL.
    pub homeserver: String,
    /// Localpart or user id.
    pub user: String,
    /// The password.
    pub password: String,
}

// The password never reaches a log.
impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("homeserver", &self.homeserver)
            .field("user", &self.user)
            .field("busy", &self.busy)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("homeserver", &self.homeserver)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The progress screen while a saved session is restored.
pub fn restoring_ui(ui: &mut Ui) {
    ui.vertical_centered(|ui| {
        ui.add_space(ui.available_height() / 3.0);
        ui.spinner();
        ui.label("Restoring your session…");
    });
}

/// The sign-in form; returns a request when the user signs in (button or Enter).
pub fn login_ui(ui: &mut Ui, form: &mut LoginForm) -> Option<LoginRequest> {
    let mut submit = false;
    ui.vertical_centered(|ui| {
        ui.add_space(space::XL * 2.0);
        ui.heading(RichText::new("Vestibule").size(28.0));
        ui.label(weak(ui, "Matrix calls on your desktop"));
        ui.add_space(space::L);
    });
    let width = 320.0_f32.min(ui.available_width());
    ui.vertical_centered(|ui| {
        ui.set_max_width(width);
        let busy = form.busy;
        egui::Grid::new("login")
            .num_columns(2)
            .spacing([space::M, space::M])
            .show(ui, |ui| {
                let mut field = |ui: &mut Ui, name: &str, text: &mut String, password: bool| {
                    let label = ui.label(name);
                    let edit = TextEdit::singleline(text)
                        .password(password)
                        .desired_width(220.0);
                    let response = ui.add_enabled(!busy, edit).labelled_by(label.id);
                    if response.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter)) {
                        submit = true;
                    }
                    // The form opens ready to type the user name.
                    if name == "User" && text.is_empty() && ui.memory(|m| m.focused().is_none()) {
                        response.request_focus();
                    }
                    ui.end_row();
                };
                field(ui, "Homeserver", &mut form.homeserver, false);
                field(ui, "User", &mut form.user, false);
                field(ui, "Password", &mut form.password, true);
            });
        ui.add_space(space::M);
        ui.horizontal(|ui| {
            let ready = !form.busy && !form.user.trim().is_empty() && !form.password.is_empty();
            if ui
                .add_enabled(ready, egui::Button::new("Sign in"))
                .clicked()
            {
                submit = true;
            }
            if form.busy {
                ui.spinner();
                ui.label("Signing in…");
            }
        });
        if let Some(error) = &form.error {
            ui.add_space(space::S);
            ui.label(RichText::new(error).color(ui.visuals().error_fg_color));
        }
    });
    let ready = !form.busy && !form.user.trim().is_empty() && !form.password.is_empty();
    if !(submit && ready) {
        return None;
    }
    form.busy = true;
    form.error = None;
    Some(LoginRequest {
        homeserver: form.homeserver.trim().to_owned(),
        user: form.user.trim().to_owned(),
        password: std::mem::take(&mut form.password),
    })
}
