//! The window: a small screen state machine over the worker. [`Model`] holds what the views
//! draw and changes only through [`Model::apply`] (the worker's updates) and its intent
//! methods (what the user does); [`VestibuleApp`] drains the worker's updates in `logic`,
//! draws in `ui`, and sends [`Command`]s. It repaints only when an update arrives or something
//! on screen is due to change.

mod incoming;
mod model;
mod room_list;

pub use incoming::incoming_viewport_id;
pub use model::{Model, Screen};

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui::{Id, Ui, ViewportCommand};
use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::appearance::ColorScheme;
use crate::config::{Appearance, Settings};
use crate::matrix::{Command, Update};
use crate::shell::{Autostart, Signals};
use crate::ui::lobby::{LobbyAction, LobbyContext, lobby_ui};
use crate::ui::login::{LoginAction, login_ui, restoring_ui};
use crate::ui::settings::{SettingsAction, SettingsContext, settings_ui};
use crate::ui::space;
use crate::ui::status::{StatusAction, banners_ui, status_ui};
use crate::ui::trust::{TrustAction, trust_ui};
use crate::wording::elapsed_changes_in_ms;

/// How long Quit waits for the worker to leave its calls before the window closes anyway.
const QUIT_WAIT: Duration = Duration::from_secs(10);

/// Hides the window. X11 hides it; Wayland cannot hide a window, so it is also minimised there.
fn hide(ctx: &egui::Context) {
    ctx.send_viewport_cmd(ViewportCommand::Visible(false));
    ctx.send_viewport_cmd(ViewportCommand::Minimized(true));
}

/// Starts a worker and hands back its channels; called again after signing out.
pub trait Backend {
    /// A fresh worker's command sender and update receiver.
    fn start(&mut self) -> (UnboundedSender<Command>, UnboundedReceiver<Update>);
}

/// The window's app.
pub struct VestibuleApp {
    model: Model,
    backend: Box<dyn Backend>,
    commands: UnboundedSender<Command>,
    updates: UnboundedReceiver<Update>,
    config_file: PathBuf,
    autostart: Option<Autostart>,
    signals: Arc<Signals>,
    quitting: bool,
    start_hidden: bool,
    order_cache: Option<((u64, String), Vec<usize>)>,
    /// The names the room list shows, for the model's version they were made for.
    names_cache: Option<(u64, Vec<String>)>,
    profiles_checked: Option<(u64, String)>,
    quit_deadline: Option<Instant>,
    clock: Box<dyn Fn() -> u64>,
    /// Opens a sign-in page in the browser.
    open_url: Box<dyn Fn(String)>,
    /// When the process started, for the start-up timings in the log.
    started: Instant,
    first_frame_logged: bool,
    lobbies_logged: bool,
    /// The incoming call's window.
    incoming: incoming::IncomingWindow,
    /// What the desktop prefers, light or dark.
    desktop_scheme: ColorScheme,
}

impl VestibuleApp {
    /// The app over `backend`, saving settings to `config_file`.
    pub fn new(
        ctx: &egui::Context,
        mut backend: Box<dyn Backend>,
        settings: Settings,
        config_file: PathBuf,
        autostart: Option<Autostart>,
        signals: Arc<Signals>,
    ) -> Self {
        crate::ui::apply_style(ctx);
        crate::ui::register_icon_font(ctx);
        signals.set_context(ctx);
        let (commands, updates) = backend.start();
        Self {
            model: Model::new(settings),
            backend,
            commands,
            updates,
            config_file,
            autostart,
            signals,
            quitting: false,
            start_hidden: false,
            order_cache: None,
            names_cache: None,
            profiles_checked: None,
            quit_deadline: None,
            clock: Box::new(crate::clock::now_ms),
            open_url: Box::new(crate::browser::open_in_background),
            started: Instant::now(),
            first_frame_logged: false,
            lobbies_logged: false,
            incoming: incoming::IncomingWindow::default(),
            desktop_scheme: ColorScheme::NoPreference,
        }
    }

    /// Starts with the window hidden (`--background`): Vestibule rings, the window waits.
    pub fn hidden(mut self, hidden: bool) -> Self {
        self.start_hidden = hidden;
        self
    }

    /// Counts the start-up timings in the log from `started` (the process's start).
    pub fn started_at(mut self, started: Instant) -> Self {
        self.started = started;
        self
    }

    fn log_startup(&mut self) {
        let ms = || self.started.elapsed().as_secs_f64() * 1000.0;
        if !self.first_frame_logged {
            self.first_frame_logged = true;
            tracing::info!("startup: first frame {:.1} ms after start", ms());
        }
        if !self.lobbies_logged
            && *self.model.screen() == Screen::Main
            && !self.model.rooms().is_empty()
        {
            self.lobbies_logged = true;
            tracing::info!(
                "startup: lobbies of {} rooms shown {:.1} ms after start",
                self.model.rooms().len(),
                ms()
            );
        }
    }

    /// Reads the time from `clock` (ms since the epoch) instead of the system clock.
    pub fn with_clock(mut self, clock: impl Fn() -> u64 + 'static) -> Self {
        self.clock = Box::new(clock);
        self
    }

    /// Opens sign-in pages with `open` instead of the browser.
    pub fn with_url_opener(mut self, open: impl Fn(String) + 'static) -> Self {
        self.open_url = Box::new(open);
        self
    }

    /// What the window shows.
    pub fn model(&self) -> &Model {
        &self.model
    }

    fn send(&mut self, command: Command) {
        if self.commands.send(command).is_err() {
            self.model
                .banner("Vestibule's connection stopped; restart it.".into(), true);
        }
    }

    fn settings_changed(&mut self) {
        if let Err(sentence) = self.model.settings().save(&self.config_file) {
            self.model.banner(sentence, true);
        }
        let settings = Box::new(self.model.settings().clone());
        self.send(Command::ApplySettings(settings));
    }

    fn begin_quit(&mut self, ctx: &egui::Context) {
        if self.quitting {
            return;
        }
        self.quitting = true;
        self.quit_deadline = Some(Instant::now() + QUIT_WAIT);
        // A worker that is gone has no call to leave: close at once.
        if self.commands.send(Command::Quit).is_err() || self.model.worker_stopped() {
            ctx.send_viewport_cmd(ViewportCommand::Close);
        }
    }

    /// Asks for the profiles of the selected room's people once per change of its lobby.
    fn fetch_profiles(&mut self, room_id: &str) {
        let key = (self.model.version(), room_id.to_owned());
        if self.profiles_checked.as_ref() == Some(&key) {
            return;
        }
        self.profiles_checked = Some(key);
        let users: Vec<OwnedUserId> = self
            .model
            .profiles_to_fetch(room_id)
            .into_iter()
            .filter_map(|u| OwnedUserId::try_from(u).ok())
            .collect();
        if let (Ok(room), false) = (OwnedRoomId::try_from(room_id), users.is_empty()) {
            self.send(Command::Profiles { room, users });
        }
    }

    fn main_ui(&mut self, ui: &mut Ui, now_ms: u64) {
        egui::Panel::left("rooms")
            .resizable(true)
            .default_size(300.0)
            .show(ui, |ui| {
                ui.add_space(space::M);
                self.room_list(ui, now_ms);
            });
        egui::CentralPanel::default().show(ui, |ui| {
            match trust_ui(ui, self.model.trust_view_mut()) {
                Some(TrustAction::Recover(key)) => self.send(Command::Recover { key }),
                Some(TrustAction::SetUp) => self.send(Command::SetUpRecovery),
                None => {}
            }
            if self.model.settings_open() {
                self.settings_panel(ui);
                return;
            }
            if self.model.history_open() {
                self.history_panel(ui, now_ms);
                return;
            }
            let Some(room_id) = self.model.selected().map(str::to_owned) else {
                ui.label("Choose a room on the left to see its call.");
                return;
            };
            self.lobby_panel(ui, &room_id, now_ms);
        });
    }

    fn lobby_panel(&mut self, ui: &mut Ui, room_id: &str, now_ms: u64) {
        self.fetch_profiles(room_id);
        let Some(lobby) = self.model.lobby(room_id) else {
            ui.label("This room is gone.");
            return;
        };
        let cx = LobbyContext {
            profiles: self.model.profiles(),
            now_ms,
            muted: self
                .model
                .settings()
                .ring
                .muted_rooms
                .iter()
                .any(|r| r == room_id),
            me: self.model.account(),
            video: self.model.video(),
        };
        let actions = lobby_ui(ui, lobby, &cx);
        for action in actions {
            self.lobby_action(room_id, action, ui.ctx());
        }
    }

    fn login_action(&mut self, action: LoginAction) {
        self.send(match action {
            LoginAction::AskMethods(homeserver) => Command::LoginMethods { homeserver },
            LoginAction::Password(request) => Command::Login {
                homeserver: request.homeserver,
                user: request.user,
                password: request.password,
            },
            LoginAction::Browser {
                homeserver,
                provider,
            } => Command::LoginInBrowser {
                homeserver,
                provider,
            },
            LoginAction::Cancel => Command::CancelLogin,
        });
    }

    fn lobby_action(&mut self, room_id: &str, action: LobbyAction, ctx: &egui::Context) {
        // The worker's room ids are valid; a room that is not one has no call to act on.
        let Ok(typed) = OwnedRoomId::try_from(room_id) else {
            return;
        };
        match action {
            LobbyAction::Join { intent } => self.send(Command::Join {
                room: typed.into(),
                intent,
                notify: None,
                foci: Vec::new(),
            }),
            LobbyAction::Ring { intent } => self.send(Command::Ring {
                room: typed.into(),
                intent,
            }),
            LobbyAction::Leave => self.send(Command::Leave { room: typed.into() }),
            LobbyAction::OpenWebClient => {
                let url = self.model.settings().window.web_client_link(room_id);
                ctx.open_url(egui::OpenUrl::new_tab(url));
            }
            LobbyAction::SetMuted(muted) => {
                self.model.set_room_muted(room_id, muted);
                self.settings_changed();
            }
            LobbyAction::SetVideo(video) => self.model.set_video(video),
        }
    }

    fn settings_panel(&mut self, ui: &mut Ui) {
        let names: HashMap<String, String> = self
            .model
            .rooms()
            .iter()
            .map(|r| (r.room_id.clone(), r.name.clone()))
            .collect();
        let discovered_order = self.model.discovered_order();
        let autostart = self.autostart.as_ref().is_some_and(Autostart::is_enabled);
        // The view edits copies, which the model then takes.
        let mut settings = self.model.settings().clone();
        let mut view = self.model.settings_view().clone();
        let cx = SettingsContext {
            settings: &mut settings,
            view: &mut view,
            discovered: self.model.discovered(),
            discovered_order: &discovered_order,
            room_names: &names,
            autostart,
        };
        let actions = settings_ui(ui, cx);
        self.model.edit_settings(settings, view);
        for action in actions {
            match action {
                SettingsAction::Changed => self.settings_changed(),
                SettingsAction::CheckFocus(url) => self.send(Command::CheckFocus { url }),
                SettingsAction::TestRing => self.send(Command::TestRing),
                SettingsAction::SetAutostart(on) => {
                    let result = match &self.autostart {
                        Some(entry) => entry.set(on),
                        None => Err("This system has no autostart folder.".into()),
                    };
                    if let Err(sentence) = result {
                        self.model.banner(sentence, true);
                    }
                }
                SettingsAction::SignOut => {
                    self.model.close_settings();
                    self.send(Command::Logout);
                }
            }
        }
    }

    /// Why the last ring stopped, for a while at the top of the main window.
    fn ring_stopped_toast(&mut self, ui: &mut Ui, now_ms: u64) {
        if !self.model.ringing().is_empty() {
            return;
        }
        if let Some((sentence, until)) = self.model.ring_stopped()
            && now_ms < until
        {
            let sentence = sentence.to_owned();
            egui::Area::new(Id::unique("ring-stopped"))
                .anchor(egui::Align2::CENTER_TOP, [0.0, 48.0])
                .show(ui.ctx(), |ui| {
                    egui::Frame::popup(ui.style()).show(ui, |ui| ui.label(sentence));
                });
        }
    }

    /// What the tray icon is to say now.
    fn tray_state(&self) -> crate::shell::TrayState {
        crate::shell::TrayState {
            ringing: self.model.ringing().first().map(|a| a.caller_name.clone()),
            in_call: self
                .model
                .rooms()
                .iter()
                .any(|r| r.own == crate::matrix::OwnCallState::Joined),
            missed: self.model.history().unseen_missed(None),
        }
    }

    /// When something on screen changes next by itself, if anything does.
    fn next_repaint(&self, now_ms: u64) -> Option<Duration> {
        let mut next: Option<u64> = None;
        let mut at = |ms: u64| next = Some(next.map_or(ms, |n| n.min(ms)));
        if !self.model.ringing().is_empty() {
            at(1000 - now_ms % 1000);
        }
        if let Some((_, until)) = self.model.ring_stopped()
            && until > now_ms
        {
            at(until - now_ms);
        }
        if *self.model.screen() == Screen::Main {
            for lobby in self.model.rooms() {
                for call in &lobby.calls {
                    at(elapsed_changes_in_ms(call.started_ts(), now_ms));
                    if self.model.selected() == Some(lobby.room_id.as_str()) {
                        for p in &call.participants {
                            at(elapsed_changes_in_ms(p.joined_ts, now_ms));
                        }
                    }
                }
            }
        }
        next.map(Duration::from_millis)
    }
}

impl eframe::App for VestibuleApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        let now_ms = (self.clock)();
        while let Ok(update) = self.updates.try_recv() {
            self.model.apply(update, now_ms);
        }
        if let Some(scheme) = self.signals.take_color_scheme() {
            self.desktop_scheme = scheme;
        }
        let theme = match self.model.settings().window.appearance {
            Appearance::Desktop => self.desktop_scheme.theme_preference(),
            Appearance::Light => egui::ThemePreference::Light,
            Appearance::Dark => egui::ThemePreference::Dark,
        };
        if ctx.options(|o| o.theme_preference) != theme {
            ctx.set_theme(theme);
        }
        for warning in self.signals.take_warnings() {
            self.model.banner(warning, false);
        }
        if self.model.worker_stopped() {
            if self.quitting {
                ctx.send_viewport_cmd(ViewportCommand::Close);
            } else {
                // Signed out: a fresh worker waits for the next sign-in.
                let (commands, updates) = self.backend.start();
                self.commands = commands;
                self.updates = updates;
                self.model.worker_started();
            }
        }
        if self.signals.take_quit() {
            self.begin_quit(ctx);
        }
        if self.start_hidden {
            self.start_hidden = false;
            hide(ctx);
        }
        if let Some(deadline) = self.quit_deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::warn!("the worker did not stop within {QUIT_WAIT:?}; closing anyway");
                ctx.send_viewport_cmd(ViewportCommand::Close);
            } else {
                ctx.request_repaint_after(left);
            }
        }
        if let Some(url) = self.model.take_url_to_open() {
            (self.open_url)(url);
        }
        if (self.signals.take_show() || self.model.take_raise()) && !self.quitting {
            ctx.send_viewport_cmd(ViewportCommand::Visible(true));
            ctx.send_viewport_cmd(ViewportCommand::Minimized(false));
            ctx.send_viewport_cmd(ViewportCommand::Focus);
        }
        // With no worker to keep calls ringing (it could not start), closing really closes.
        let worker_gone = matches!(self.model.screen(), Screen::Fatal(_));
        if ctx.input(|i| i.viewport().close_requested()) && !self.quitting && !worker_gone {
            // Closing hides the window; Vestibule keeps running so calls still ring.
            ctx.send_viewport_cmd(ViewportCommand::CancelClose);
            hide(ctx);
        }
        self.wake_for_incoming(ctx);
        self.signals.set_tray_state(self.tray_state());
        let next = self.next_repaint(now_ms);
        if let Some(after) = next {
            ctx.request_repaint_after(after);
        }
        tracing::trace!("logic; next repaint due in {next:?}");
    }

    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        let now_ms = (self.clock)();
        // Shortcuts are read here, where the input is this frame's.
        let ctx = ui.ctx().clone();
        if ctx.input(|i| i.modifiers.command && i.key_pressed(egui::Key::Q)) {
            self.begin_quit(&ctx);
        }
        if *self.model.screen() == Screen::Main {
            if ctx.input(|i| i.modifiers.command && i.key_pressed(egui::Key::Comma)) {
                self.model.toggle_settings();
            }
            if self.model.settings_open()
                && self.model.ringing().is_empty()
                && ctx.input(|i| i.key_pressed(egui::Key::Escape))
            {
                self.model.close_settings();
            }
        }
        egui::Panel::bottom("status").show(ui, |ui| {
            let action = status_ui(
                ui,
                self.model.connection(),
                self.model.account(),
                (*self.model.screen() == Screen::Main).then_some(self.model.settings_open()),
            );
            match action {
                Some(StatusAction::ToggleSettings) => self.model.toggle_settings(),
                Some(StatusAction::Quit) => self.begin_quit(ui.ctx()),
                None => {}
            }
        });
        if !self.model.banners().is_empty() {
            egui::Panel::top("banners").show(ui, |ui| {
                ui.add_space(space::S);
                if let Some(i) = banners_ui(ui, self.model.banners()) {
                    self.model.dismiss_banner(i);
                }
                ui.add_space(space::S);
            });
        }
        match self.model.screen().clone() {
            Screen::Restoring => {
                egui::CentralPanel::default().show(ui, restoring_ui);
            }
            Screen::Login => {
                egui::CentralPanel::default().show(ui, |ui| {
                    if let Some(action) = login_ui(ui, self.model.login_form_mut()) {
                        self.login_action(action);
                    }
                });
            }
            Screen::Fatal(sentence) => {
                egui::CentralPanel::default().show(ui, |ui| {
                    ui.vertical_centered(|ui| {
                        ui.add_space(ui.available_height() / 3.0);
                        ui.label(egui::RichText::new(sentence).color(ui.visuals().error_fg_color));
                    });
                });
            }
            Screen::Main => {
                self.main_ui(ui, now_ms);
                self.ring_stopped_toast(ui, now_ms);
                self.incoming_window(&ctx, now_ms);
            }
        }
        self.log_startup();
    }
}
