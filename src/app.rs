//! The window: a small screen state machine over the worker. [`Model`] holds what the views
//! draw and changes only through [`Model::apply`]; [`VestibuleApp`] drains the worker's
//! updates in `logic`, draws in `ui`, and sends [`Command`]s. It repaints only when an update
//! arrives or something on screen is due to change.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui::{Id, Ui, ViewportCommand};
use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::config::Settings;
use crate::matrix::{
    Command, Connection, FocusInfo, FocusSource, Profile, RingAlert, RoomLobby, Update,
};
use crate::shell::{Autostart, Signals};
use crate::ui::incoming::{IncomingAction, incoming_ui};
use crate::ui::lobby::{LobbyAction, LobbyContext, lobby_ui};
use crate::ui::login::{LoginForm, login_ui, restoring_ui};
use crate::ui::rooms::{ordered_rooms, room_list_ui};
use crate::ui::settings::{SettingsAction, SettingsContext, SettingsView, settings_ui};
use crate::ui::space;
use crate::ui::status::{Banner, StatusAction, banners_ui, status_ui};
use crate::wording::elapsed_changes_in_ms;

/// Which screen the window shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    /// Restoring a saved session (never a flash of the login form).
    Restoring,
    /// Signing in.
    Login,
    /// The room list and lobbies.
    Main,
    /// The worker cannot run (another process holds the profile, say).
    Fatal(String),
}

/// Everything the window shows, built from the worker's updates.
#[derive(Debug)]
pub struct Model {
    /// The screen.
    pub screen: Screen,
    /// The sign-in form.
    pub login: LoginForm,
    /// Our user id, once signed in.
    pub account: Option<String>,
    /// The connection, once signed in.
    pub connection: Option<Connection>,
    /// Every room's lobby, by name.
    pub rooms: Vec<RoomLobby>,
    /// The selected room.
    pub selected: Option<String>,
    /// The room search.
    pub search: String,
    /// Calls ringing us, oldest first.
    pub ringing: Vec<RingAlert>,
    /// Why the last ring stopped, shown until the time given (ms since the epoch).
    pub ring_stopped: Option<(String, u64)>,
    /// The foci the worker would use, best first.
    pub foci: Vec<FocusInfo>,
    /// Foci the homeserver advertised at some point.
    pub discovered: BTreeSet<String>,
    /// Display names and avatars by user id.
    pub profiles: HashMap<String, Profile>,
    /// Users whose profiles were asked for.
    requested_profiles: HashSet<String>,
    /// Sentences to read.
    pub banners: Vec<Banner>,
    /// The settings as saved.
    pub settings: Settings,
    /// The settings view's own state.
    pub settings_view: SettingsView,
    /// Whether the settings are open.
    pub settings_open: bool,
    /// Join with video.
    pub video: bool,
    /// The worker finished.
    pub worker_stopped: bool,
    /// Counts changes of the rooms and rings, so views can keep what they derive from them.
    pub version: u64,
}

/// How long Quit waits for the worker to leave its calls before the window closes anyway.
const QUIT_WAIT: Duration = Duration::from_secs(10);
/// How long a stopped ring's reason stays on screen.
const RING_STOPPED_SHOWN_MS: u64 = 6000;
/// At most this many banners; older ones go.
const MAX_BANNERS: usize = 4;

impl Model {
    /// The model before the worker said anything.
    pub fn new(settings: Settings) -> Self {
        Self {
            screen: Screen::Restoring,
            login: LoginForm::default(),
            account: None,
            connection: None,
            rooms: Vec::new(),
            selected: None,
            search: String::new(),
            ringing: Vec::new(),
            ring_stopped: None,
            foci: Vec::new(),
            discovered: BTreeSet::new(),
            profiles: HashMap::new(),
            requested_profiles: HashSet::new(),
            banners: Vec::new(),
            settings_view: SettingsView {
                ringtone: settings
                    .ring
                    .ringtone
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                ..SettingsView::default()
            },
            settings,
            settings_open: false,
            video: true,
            worker_stopped: false,
            version: 0,
        }
    }

    /// Shows a sentence in a banner (once: the same sentence is not stacked).
    pub fn banner(&mut self, message: String, is_error: bool) {
        if self.banners.iter().any(|b| b.message == message) {
            return;
        }
        self.banners.push(Banner { message, is_error });
        if self.banners.len() > MAX_BANNERS {
            self.banners.remove(0);
        }
    }

    /// The lobby of a room.
    pub fn lobby(&self, room_id: &str) -> Option<&RoomLobby> {
        self.rooms.iter().find(|r| r.room_id == room_id)
    }

    /// Takes in one update from the worker.
    pub fn apply(&mut self, update: Update, now_ms: u64) {
        self.version += 1;
        match update {
            Update::NeedsLogin => {
                if self.account.is_some() {
                    // Signed out elsewhere: nothing of the old session stays on screen.
                    let settings = std::mem::take(&mut self.settings);
                    let version = self.version;
                    *self = Self::new(settings);
                    self.version = version;
                }
                self.screen = Screen::Login;
                self.login.busy = false;
            }
            Update::SignedIn { user_id, .. } => {
                self.account = Some(user_id);
                self.login = LoginForm::default();
                self.screen = Screen::Main;
            }
            Update::LoginFailed { reason } => {
                self.login.busy = false;
                self.login.error = Some(reason);
                self.screen = Screen::Login;
            }
            Update::SignedOut => {
                let settings = std::mem::take(&mut self.settings);
                let version = self.version;
                *self = Self::new(settings);
                self.version = version;
                self.screen = Screen::Login;
            }
            Update::Connection { connection } => self.connection = Some(connection),
            Update::Rooms { rooms } | Update::StoredRooms { rooms } => {
                self.rooms = rooms;
                if self.selected.is_none() {
                    self.selected = ordered_rooms(&self.rooms, "")
                        .first()
                        .map(|&i| self.rooms[i].room_id.clone());
                }
            }
            Update::Lobby { lobby } => {
                match self.rooms.iter_mut().find(|r| r.room_id == lobby.room_id) {
                    Some(slot) => *slot = lobby,
                    None => {
                        let at = self.rooms.partition_point(|r| {
                            (&r.name, &r.room_id) < (&lobby.name, &lobby.room_id)
                        });
                        self.rooms.insert(at, lobby);
                    }
                }
            }
            Update::Ringing { alert } => {
                self.ringing
                    .retain(|a| a.call.notification_event_id != alert.call.notification_event_id);
                self.ringing.push(alert);
            }
            Update::RingStopped { call, reason } => {
                let before = self.ringing.len();
                let alert = self
                    .ringing
                    .iter()
                    .find(|a| a.call.notification_event_id == call.notification_event_id)
                    .cloned();
                self.ringing
                    .retain(|a| a.call.notification_event_id != call.notification_event_id);
                if let Some(alert) = alert.filter(|_| self.ringing.len() < before) {
                    let sentence = format!(
                        "The call from {} in {} stopped ringing: {reason}.",
                        alert.caller_name, alert.room_name
                    );
                    self.ring_stopped = Some((sentence, now_ms + RING_STOPPED_SHOWN_MS));
                }
            }
            Update::Foci { foci } => {
                for f in &foci {
                    if f.source != FocusSource::User
                        && let Some(url) = &f.focus.livekit_service_url
                    {
                        self.discovered.insert(url.clone());
                    }
                }
                self.foci = foci;
            }
            Update::FocusChecked { url, ok, message } => {
                self.settings_view.checks.insert(url, Some((ok, message)));
            }
            Update::Profiles { profiles, .. } => {
                for p in profiles {
                    self.profiles.insert(p.user_id.clone(), p);
                }
            }
            Update::Notice { message } => self.banner(message, false),
            Update::Error { message, .. } => self.banner(message, true),
            Update::Fatal { message } => self.screen = Screen::Fatal(message),
            Update::Stopped => self.worker_stopped = true,
            Update::RingDecision { .. } => {}
        }
    }

    /// The discovered foci's URLs, in the worker's order.
    pub fn discovered_order(&self) -> Vec<String> {
        self.foci
            .iter()
            .filter_map(|f| f.focus.livekit_service_url.clone())
            .filter(|url| self.discovered.contains(url))
            .collect()
    }

    /// Users in `room_id`'s calls (and callers ringing from it) whose profiles were not asked
    /// for yet; marks them asked.
    pub fn profiles_to_fetch(&mut self, room_id: &str) -> Vec<String> {
        let mut users: Vec<String> = Vec::new();
        if let Some(lobby) = self.lobby(room_id) {
            for call in &lobby.calls {
                users.extend(call.participants.iter().map(|p| p.user_id.clone()));
            }
        }
        users.extend(
            self.ringing
                .iter()
                .filter(|a| a.call.room_id == room_id)
                .map(|a| a.call.caller.clone()),
        );
        users.sort();
        users.dedup();
        users.retain(|u| self.requested_profiles.insert(u.clone()));
        users
    }
}

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
    profiles_checked: Option<(u64, String)>,
    quit_deadline: Option<Instant>,
    clock: Box<dyn Fn() -> u64>,
    /// When the process started, for the start-up timings in the log.
    started: Instant,
    first_frame_logged: bool,
    lobbies_logged: bool,
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
        egui_extras::install_image_loaders(ctx);
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
            profiles_checked: None,
            quit_deadline: None,
            clock: Box::new(crate::clock::now_ms),
            started: Instant::now(),
            first_frame_logged: false,
            lobbies_logged: false,
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
        if !self.lobbies_logged && self.model.screen == Screen::Main && !self.model.rooms.is_empty()
        {
            self.lobbies_logged = true;
            tracing::info!(
                "startup: lobbies of {} rooms shown {:.1} ms after start",
                self.model.rooms.len(),
                ms()
            );
        }
    }

    /// Reads the time from `clock` (ms since the epoch) instead of the system clock.
    pub fn with_clock(mut self, clock: impl Fn() -> u64 + 'static) -> Self {
        self.clock = Box::new(clock);
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
        if let Err(sentence) = self.model.settings.save(&self.config_file) {
            self.model.banner(sentence, true);
        }
        let settings = Box::new(self.model.settings.clone());
        self.send(Command::ApplySettings(settings));
    }

    fn begin_quit(&mut self, ctx: &egui::Context) {
        if self.quitting {
            return;
        }
        self.quitting = true;
        self.quit_deadline = Some(Instant::now() + QUIT_WAIT);
        // A worker that is gone has no call to leave: close at once.
        if self.commands.send(Command::Quit).is_err() || self.model.worker_stopped {
            ctx.send_viewport_cmd(ViewportCommand::Close);
        }
    }

    /// The room list's order, computed again only when the rooms or the search changed.
    fn room_order(&mut self) -> Vec<usize> {
        let key = (self.model.version, self.model.search.clone());
        if let Some((cached, order)) = &self.order_cache
            && *cached == key
        {
            return order.clone();
        }
        let order = ordered_rooms(&self.model.rooms, &self.model.search);
        self.order_cache = Some((key, order.clone()));
        order
    }

    /// Asks for the profiles of the selected room's people once per change of its lobby.
    fn fetch_profiles(&mut self, room_id: &str) {
        let key = (self.model.version, room_id.to_owned());
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
        let order = self.room_order();
        let ringing: HashSet<String> = self
            .model
            .ringing
            .iter()
            .map(|a| a.call.room_id.clone())
            .collect();
        egui::Panel::left("rooms")
            .resizable(true)
            .default_size(300.0)
            .show(ui, |ui| {
                ui.add_space(space::M);
                let chosen = room_list_ui(
                    ui,
                    &self.model.rooms,
                    &order,
                    &mut self.model.search,
                    self.model.selected.as_deref(),
                    &ringing,
                    now_ms,
                );
                if let Some(room) = chosen {
                    self.model.selected = Some(room);
                    self.model.settings_open = false;
                }
            });
        egui::CentralPanel::default().show(ui, |ui| {
            if self.model.settings_open {
                self.settings_panel(ui);
                return;
            }
            let Some(room_id) = self.model.selected.clone() else {
                ui.label("Choose a room on the left to see its call.");
                return;
            };
            self.fetch_profiles(&room_id);
            let Model {
                rooms,
                profiles,
                settings,
                account,
                video,
                ..
            } = &mut self.model;
            let Some(lobby) = rooms.iter().find(|r| r.room_id == room_id) else {
                ui.label("This room is gone.");
                return;
            };
            let cx = LobbyContext {
                profiles,
                now_ms,
                muted: settings.ring.muted_rooms.contains(&room_id),
                me: account.as_deref(),
            };
            let actions = lobby_ui(ui, lobby, video, &cx);
            for action in actions {
                self.lobby_action(&room_id, action, ui.ctx());
            }
        });
    }

    fn lobby_action(&mut self, room_id: &str, action: LobbyAction, ctx: &egui::Context) {
        // The worker's room ids are valid; a room that is not one has no call to act on.
        let Ok(typed) = OwnedRoomId::try_from(room_id) else {
            return;
        };
        let room = room_id.to_owned();
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
                let url = self.model.settings.window.web_client_link(room_id);
                ctx.open_url(egui::OpenUrl::new_tab(url));
            }
            LobbyAction::SetMuted(muted) => {
                let rooms = &mut self.model.settings.ring.muted_rooms;
                rooms.retain(|r| *r != room);
                if muted {
                    rooms.push(room);
                }
                self.settings_changed();
            }
        }
    }

    fn settings_panel(&mut self, ui: &mut Ui) {
        let names: HashMap<String, String> = self
            .model
            .rooms
            .iter()
            .map(|r| (r.room_id.clone(), r.name.clone()))
            .collect();
        let discovered_order = self.model.discovered_order();
        let autostart = self.autostart.as_ref().is_some_and(Autostart::is_enabled);
        let cx = SettingsContext {
            settings: &mut self.model.settings,
            view: &mut self.model.settings_view,
            discovered: &self.model.discovered,
            discovered_order: &discovered_order,
            room_names: &names,
            autostart,
        };
        let actions = settings_ui(ui, cx);
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
                    self.model.settings_open = false;
                    self.send(Command::Logout);
                }
            }
        }
    }

    fn incoming_overlay(&mut self, ui: &mut Ui, now_ms: u64) {
        let Some(alert) = self.model.ringing.first().cloned() else {
            if let Some((sentence, until)) = &self.model.ring_stopped
                && now_ms < *until
            {
                let sentence = sentence.clone();
                egui::Area::new(Id::unique("ring-stopped"))
                    .anchor(egui::Align2::CENTER_TOP, [0.0, 48.0])
                    .show(ui.ctx(), |ui| {
                        egui::Frame::popup(ui.style()).show(ui, |ui| ui.label(sentence));
                    });
            }
            return;
        };
        if self.model.selected.as_deref() != Some(alert.call.room_id.as_str()) {
            self.fetch_profiles(&alert.call.room_id);
        }
        let caller = self.model.profiles.get(&alert.call.caller);
        let modal = egui::Modal::new(Id::unique("incoming"))
            .show(ui.ctx(), |ui| incoming_ui(ui, &alert, caller, now_ms));
        let Ok(room) = OwnedRoomId::try_from(alert.call.room_id.as_str()) else {
            return;
        };
        match modal.inner {
            Some(IncomingAction::Answer) => {
                self.model.selected = Some(room.to_string());
                self.model.settings_open = false;
                self.send(Command::Answer { room });
            }
            Some(IncomingAction::Decline) => self.send(Command::Decline {
                room: Some(room.into()),
            }),
            None => {}
        }
    }

    /// When something on screen changes next by itself, if anything does.
    fn next_repaint(&self, now_ms: u64) -> Option<Duration> {
        let mut next: Option<u64> = None;
        let mut at = |ms: u64| next = Some(next.map_or(ms, |n| n.min(ms)));
        if !self.model.ringing.is_empty() {
            at(1000 - now_ms % 1000);
        }
        if let Some((_, until)) = self.model.ring_stopped
            && until > now_ms
        {
            at(until - now_ms);
        }
        if self.model.screen == Screen::Main {
            for lobby in &self.model.rooms {
                for call in &lobby.calls {
                    at(elapsed_changes_in_ms(call.started_ts(), now_ms));
                    if self.model.selected.as_deref() == Some(lobby.room_id.as_str()) {
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
        for warning in self.signals.take_warnings() {
            self.model.banner(warning, false);
        }
        if self.model.worker_stopped {
            if self.quitting {
                ctx.send_viewport_cmd(ViewportCommand::Close);
            } else {
                // Signed out: a fresh worker waits for the next sign-in.
                let (commands, updates) = self.backend.start();
                self.commands = commands;
                self.updates = updates;
                self.model.worker_stopped = false;
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
        if self.signals.take_show() && !self.quitting {
            ctx.send_viewport_cmd(ViewportCommand::Visible(true));
            ctx.send_viewport_cmd(ViewportCommand::Minimized(false));
            ctx.send_viewport_cmd(ViewportCommand::Focus);
        }
        // With no worker to keep calls ringing (it could not start), closing really closes.
        let worker_gone = matches!(self.model.screen, Screen::Fatal(_));
        if ctx.input(|i| i.viewport().close_requested()) && !self.quitting && !worker_gone {
            // Closing hides the window; Vestibule keeps running so calls still ring.
            ctx.send_viewport_cmd(ViewportCommand::CancelClose);
            hide(ctx);
        }
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
        if self.model.screen == Screen::Main {
            if ctx.input(|i| i.modifiers.command && i.key_pressed(egui::Key::Comma)) {
                self.model.settings_open = !self.model.settings_open;
            }
            if self.model.settings_open
                && self.model.ringing.is_empty()
                && ctx.input(|i| i.key_pressed(egui::Key::Escape))
            {
                self.model.settings_open = false;
            }
        }
        egui::Panel::bottom("status").show(ui, |ui| {
            let action = status_ui(
                ui,
                self.model.connection.as_ref(),
                self.model.account.as_deref(),
                (self.model.screen == Screen::Main).then_some(self.model.settings_open),
            );
            match action {
                Some(StatusAction::ToggleSettings) => {
                    self.model.settings_open = !self.model.settings_open;
                }
                Some(StatusAction::Quit) => self.begin_quit(ui.ctx()),
                None => {}
            }
        });
        if !self.model.banners.is_empty() {
            egui::Panel::top("banners").show(ui, |ui| {
                ui.add_space(space::S);
                if let Some(i) = banners_ui(ui, &self.model.banners) {
                    self.model.banners.remove(i);
                }
                ui.add_space(space::S);
            });
        }
        match self.model.screen.clone() {
            Screen::Restoring => {
                egui::CentralPanel::default().show(ui, restoring_ui);
            }
            Screen::Login => {
                egui::CentralPanel::default().show(ui, |ui| {
                    if let Some(request) = login_ui(ui, &mut self.model.login) {
                        self.send(Command::Login {
                            homeserver: request.homeserver,
                            user: request.user,
                            password: request.password,
                        });
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
                self.incoming_overlay(ui, now_ms);
            }
        }
        self.log_startup();
    }
}
