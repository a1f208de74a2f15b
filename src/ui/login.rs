//! The start screen: restoring a saved session, or signing in the way the homeserver offers:
//! in the browser (OAuth 2.0 or single sign-on) or with a password.

use egui::{Key, RichText, TextEdit, Ui};

use super::{space, weak};
use crate::matrix::LoginMethods;

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
    /// The homeserver last asked how it signs people in (trimmed).
    pub asked: String,
    /// What the homeserver in [`LoginForm::asked`] offers, once it said.
    pub methods: Option<LoginMethods>,
    /// A sign-in in the browser waits for the person at this address.
    pub browser_url: Option<String>,
}

impl Default for LoginForm {
    fn default() -> Self {
        Self {
            homeserver: "matrix.org".into(),
            user: String::new(),
            password: String::new(),
            busy: false,
            error: None,
            asked: String::new(),
            methods: None,
            browser_url: None,
        }
    }
}

impl LoginForm {
    /// Whether the password fields are shown: where the server takes passwords, or while it is
    /// not known what it takes.
    fn offers_password(&self) -> bool {
        self.methods.as_ref().is_none_or(|m| m.password)
    }
}

/// What the person did on the sign-in form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginAction {
    /// Find out how this homeserver signs people in.
    AskMethods(String),
    /// Sign in with a password.
    Password(LoginRequest),
    /// Sign in in the browser (`provider`: a single sign-on identity provider).
    Browser {
        /// Server name or URL.
        homeserver: String,
        /// The identity provider's id, if one was picked.
        provider: Option<String>,
    },
    /// Give up the sign-in in the browser.
    Cancel,
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

/// The sign-in form; returns what the person asked for (a button, or Enter in a field).
pub fn login_ui(ui: &mut Ui, form: &mut LoginForm) -> Option<LoginAction> {
    ui.vertical_centered(|ui| {
        ui.add_space(space::XL * 2.0);
        ui.heading(RichText::new("Vestibule").size(28.0));
        ui.label(weak(ui, "Matrix calls on your desktop"));
        ui.add_space(space::L);
    });
    let width = 320.0_f32.min(ui.available_width());
    ui.vertical_centered(|ui| {
        ui.set_max_width(width);
        if form.browser_url.is_some() {
            return waiting_in_browser(ui, form);
        }
        let mut action = None;
        let mut submit = false;
        let homeserver_focused = egui::Grid::new("login")
            .num_columns(2)
            .spacing([space::M, space::M])
            .show(ui, |ui| fields(ui, form, &mut submit))
            .inner;
        let homeserver = form.homeserver.trim().to_owned();
        if !form.busy && !homeserver_focused && !homeserver.is_empty() && homeserver != form.asked
        {
            form.asked.clone_from(&homeserver);
            form.methods = None;
            action = Some(LoginAction::AskMethods(homeserver.clone()));
        }
        ui.add_space(space::M);
        if let Some(browser) = browser_buttons(ui, form) {
            action = Some(browser);
        }
        if form.offers_password() {
            ui.horizontal(|ui| {
                let ready = password_ready(form);
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
        } else if form.methods.as_ref().is_some_and(|m| !m.browser()) {
            ui.label(format!(
                "{homeserver} offers no way of signing in that Vestibule knows: neither OAuth 2.0, single sign-on nor a password."
            ));
        }
        if let Some(error) = &form.error {
            ui.add_space(space::S);
            ui.label(RichText::new(error).color(ui.visuals().error_fg_color));
        }
        if submit && password_ready(form) {
            form.busy = true;
            form.error = None;
            action = Some(LoginAction::Password(LoginRequest {
                homeserver,
                user: form.user.trim().to_owned(),
                password: std::mem::take(&mut form.password),
            }));
        }
        action
    })
    .inner
}

fn password_ready(form: &LoginForm) -> bool {
    !form.busy && !form.user.trim().is_empty() && !form.password.is_empty()
}

/// The form's fields; returns whether the homeserver field has the focus (asking the server
/// waits until it is typed).
fn fields(ui: &mut Ui, form: &mut LoginForm, submit: &mut bool) -> bool {
    let busy = form.busy;
    let mut field = |ui: &mut Ui, name: &str, text: &mut String, password: bool| {
        let label = ui.label(name);
        let edit = TextEdit::singleline(text)
            .password(password)
            .desired_width(220.0);
        let response = ui.add_enabled(!busy, edit).labelled_by(label.id);
        if response.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter)) {
            *submit = true;
        }
        ui.end_row();
        response
    };
    let homeserver = field(ui, "Homeserver", &mut form.homeserver, false);
    let homeserver_focused = homeserver.has_focus();
    if form.offers_password() {
        let user = field(ui, "User", &mut form.user, false);
        // The form opens ready to type the user name.
        if form.user.is_empty() && ui.memory(|m| m.focused().is_none()) {
            user.request_focus();
        }
        field(ui, "Password", &mut form.password, true);
    }
    homeserver_focused
}

/// "Continue in browser" for OAuth 2.0, one button per single sign-on provider.
fn browser_buttons(ui: &mut Ui, form: &LoginForm) -> Option<LoginAction> {
    let methods = form.methods.as_ref()?;
    let homeserver = form.asked.clone();
    let mut action = None;
    let mut button = |ui: &mut Ui, text: String, provider: Option<String>| {
        let big =
            egui::Button::new(RichText::new(text).strong()).min_size([width(ui), 32.0].into());
        if ui.add_enabled(!form.busy, big).clicked() {
            action = Some(LoginAction::Browser {
                homeserver: homeserver.clone(),
                provider,
            });
        }
        ui.add_space(space::S);
    };
    if methods.oauth {
        button(ui, "Continue in browser".into(), None);
    } else if methods.sso && methods.providers.is_empty() {
        button(ui, "Continue with single sign-on".into(), None);
    }
    if !methods.oauth {
        for provider in &methods.providers {
            button(
                ui,
                format!("Continue with {}", provider.name),
                Some(provider.id.clone()),
            );
        }
    }
    if methods.browser() && methods.password {
        ui.label(weak(ui, "or with a password"));
        ui.add_space(space::S);
    }
    action
}

fn width(ui: &Ui) -> f32 {
    ui.available_width().min(320.0)
}

/// While the person signs in in the browser: what to do, the address again, Cancel.
fn waiting_in_browser(ui: &mut Ui, form: &LoginForm) -> Option<LoginAction> {
    ui.horizontal(|ui| {
        ui.spinner();
        ui.label("Waiting for you to sign in in your browser…");
    });
    ui.add_space(space::M);
    if let Some(url) = &form.browser_url {
        ui.label(weak(ui, "If no browser opened, open this address:"));
        ui.hyperlink_to("Open the sign-in page", url);
        if ui.button("Copy the address").clicked() {
            ui.ctx().copy_text(url.clone());
        }
    }
    ui.add_space(space::M);
    ui.button("Cancel").clicked().then_some(LoginAction::Cancel)
}
