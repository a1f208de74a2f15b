//! What the window shows. [`Model`] is built from the worker's updates ([`Model::apply`]) and
//! otherwise changes only through its intent methods, one for each thing the user does. The
//! views read it through its accessors.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::config::Settings;
use crate::history::CallHistory;
use crate::matrix::{
    Connection, FocusInfo, FocusSource, Profile, RingAlert, RoomAvatar, RoomLobby, SessionTrust,
    Update,
};
use crate::rtc::ring::{IncomingCall, StopReason};
use crate::ui::login::LoginForm;
use crate::ui::rooms::ordered_rooms;
use crate::ui::settings::SettingsView;
use crate::ui::status::Banner;
use crate::ui::trust::TrustView;

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
    screen: Screen,
    /// The sign-in form.
    login: LoginForm,
    /// The session's trust and its forms.
    trust: TrustView,
    /// An address to open in the browser.
    to_open: Option<String>,
    /// Bring the window to the front.
    raise: bool,
    /// Our user id, once signed in.
    account: Option<String>,
    /// The connection, once signed in.
    connection: Option<Connection>,
    /// Every room's lobby, by name.
    rooms: Vec<RoomLobby>,
    /// The selected room.
    selected: Option<String>,
    /// The room search.
    search: String,
    /// Calls ringing us, oldest first.
    ringing: Vec<RingAlert>,
    /// Why the last ring stopped, shown until the time given (ms since the epoch).
    ring_stopped: Option<(String, u64)>,
    /// The foci the worker would use, best first.
    foci: Vec<FocusInfo>,
    /// Foci the homeserver advertised at some point.
    discovered: BTreeSet<String>,
    /// Display names and avatars by user id.
    profiles: HashMap<String, Profile>,
    /// Users whose profiles were asked for.
    requested_profiles: HashSet<String>,
    /// Rooms' own avatars by room id.
    room_avatars: HashMap<String, RoomAvatar>,
    /// The avatar asked for last, by room id.
    requested_room_avatars: HashMap<String, String>,
    /// Sentences to read.
    banners: Vec<Banner>,
    /// The settings as the user left them (saved when the settings view says so).
    settings: Settings,
    /// The settings view's own state.
    settings_view: SettingsView,
    /// Whether the settings are open.
    settings_open: bool,
    /// The call history, as the worker last sent it.
    history: CallHistory,
    /// Whether "Recent calls" is open.
    history_open: bool,
    /// Join with video.
    video: bool,
    /// The worker finished.
    worker_stopped: bool,
    /// Counts changes of the rooms and rings, so views can keep what they derive from them.
    version: u64,
}

/// How long a stopped ring's reason stays on screen.
const RING_STOPPED_SHOWN_MS: u64 = 6000;
/// At most this many banners; older ones go.
const MAX_BANNERS: usize = 4;

/// Building the model, and taking in the worker's updates.
impl Model {
    /// The model before the worker said anything.
    pub fn new(settings: Settings) -> Self {
        Self {
            screen: Screen::Restoring,
            login: LoginForm::default(),
            to_open: None,
            raise: false,
            trust: TrustView::default(),
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
            room_avatars: HashMap::new(),
            requested_room_avatars: HashMap::new(),
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
            history: CallHistory::default(),
            history_open: false,
            video: true,
            worker_stopped: false,
            version: 0,
        }
    }

    /// Takes in one update from the worker.
    pub fn apply(&mut self, update: Update, now_ms: u64) {
        self.version += 1;
        match update {
            Update::NeedsLogin => self.needs_login(),
            Update::SignedIn { user_id, .. } => self.signed_in(user_id),
            Update::LoginFailed { reason } => self.login_failed(reason),
            Update::LoginMethods {
                homeserver,
                methods,
            } => {
                if homeserver == self.login.asked {
                    self.login.methods = Some(methods);
                }
            }
            Update::BrowserLogin { url } => {
                self.login.busy = true;
                self.login.error = None;
                self.login.browser_url = Some(url.clone());
                self.to_open = Some(url);
            }
            Update::SignedOut => self.signed_out(),
            Update::Connection { connection } => self.connection = Some(connection),
            Update::Rooms { rooms } | Update::StoredRooms { rooms } => self.rooms_listed(rooms),
            Update::Lobby { lobby } => self.lobby_changed(lobby),
            Update::Ringing { alert } => self.ring_started(alert),
            Update::RingStopped { call, reason } => self.ring_ended(&call, reason, now_ms),
            Update::Foci { foci } => self.foci_known(foci),
            Update::FocusChecked { url, ok, message } => {
                self.settings_view.checks.insert(url, Some((ok, message)));
            }
            Update::Profiles { profiles, .. } => self.profiles_arrived(profiles),
            Update::RoomAvatars { avatars } => {
                for avatar in avatars {
                    self.room_avatars.insert(avatar.room_id.clone(), avatar);
                }
            }
            Update::Notice { message } => self.banner(message, false),
            Update::Error {
                message, command, ..
            } => {
                if matches!(command.as_deref(), Some("verify" | "set_up_recovery")) {
                    self.trust.busy = false;
                }
                self.banner(message, true);
            }
            Update::Fatal { message } => self.screen = Screen::Fatal(message),
            Update::Stopped => self.worker_stopped = true,
            Update::RingDecision { .. } => {}
            Update::Trust { trust } => {
                self.trust.trust = Some(trust);
                self.trust.busy = false;
                self.trust.entering_key &= trust != SessionTrust::Verified;
            }
            Update::RecoveryKey { key } => self.trust.new_key = Some(key.0),
            Update::History { history } => self.history = history,
        }
    }

    /// The sign-in form is wanted: after a session signed out elsewhere nothing of it stays
    /// on screen.
    fn needs_login(&mut self) {
        if self.account.is_some() {
            self.forget_session();
        }
        self.screen = Screen::Login;
        self.login.busy = false;
    }

    fn signed_in(&mut self, user_id: String) {
        // Back from the browser: the window comes to the front again.
        self.raise |= self.login.browser_url.is_some();
        self.account = Some(user_id);
        self.login = LoginForm::default();
        self.screen = Screen::Main;
    }

    fn login_failed(&mut self, reason: String) {
        self.raise |= self.login.browser_url.take().is_some();
        self.login.busy = false;
        self.login.error = Some(reason);
        self.screen = Screen::Login;
    }

    fn signed_out(&mut self) {
        self.forget_session();
        self.screen = Screen::Login;
    }

    /// Starts afresh with only the settings (and the count of changes) kept.
    fn forget_session(&mut self) {
        let settings = std::mem::take(&mut self.settings);
        let version = self.version;
        *self = Self::new(settings);
        self.version = version;
    }

    /// Every room's lobby; the first room listed is selected when none is.
    fn rooms_listed(&mut self, rooms: Vec<RoomLobby>) {
        self.rooms = rooms;
        if self.selected.is_none() {
            self.selected = ordered_rooms(&self.rooms, "")
                .first()
                .map(|&i| self.rooms[i].room_id.clone());
        }
    }

    /// One room's lobby, in place of the old one or in name order when the room is new.
    fn lobby_changed(&mut self, lobby: RoomLobby) {
        match self.rooms.iter_mut().find(|r| r.room_id == lobby.room_id) {
            Some(slot) => *slot = lobby,
            None => {
                let at = self
                    .rooms
                    .partition_point(|r| (&r.name, &r.room_id) < (&lobby.name, &lobby.room_id));
                self.rooms.insert(at, lobby);
            }
        }
    }

    /// A call rings us (again: it then replaces its earlier alert, going last).
    fn ring_started(&mut self, alert: RingAlert) {
        self.ringing
            .retain(|a| a.call.notification_event_id != alert.call.notification_event_id);
        self.ringing.push(alert);
    }

    /// A call stopped ringing: when it was ringing here, why is shown for a while.
    fn ring_ended(&mut self, call: &IncomingCall, reason: StopReason, now_ms: u64) {
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

    /// The foci the worker would use; those not the user's own are remembered as discovered.
    fn foci_known(&mut self, foci: Vec<FocusInfo>) {
        for f in &foci {
            if f.source != FocusSource::User
                && let Some(url) = &f.focus.livekit_service_url
            {
                self.discovered.insert(url.clone());
            }
        }
        self.foci = foci;
    }

    fn profiles_arrived(&mut self, profiles: Vec<Profile>) {
        for p in profiles {
            self.profiles.insert(p.user_id.clone(), p);
        }
    }
}

/// What the user does, and what the app itself asks of the model.
impl Model {
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

    /// The user dismissed banner `index`.
    pub fn dismiss_banner(&mut self, index: usize) {
        if index < self.banners.len() {
            self.banners.remove(index);
        }
    }

    /// The user chose a room (in the list, or by answering its call): its lobby shows.
    pub fn select_room(&mut self, room_id: String) {
        self.selected = Some(room_id);
        self.settings_open = false;
        self.history_open = false;
    }

    /// The user opened "Recent calls".
    pub fn open_history(&mut self) {
        self.history_open = true;
        self.settings_open = false;
    }

    /// The missed calls of `room_id` (every room's with `None`) are seen here; returns whether
    /// any was unseen, so that the worker is to be told.
    pub fn see_missed_calls(&mut self, room_id: Option<&str>) -> bool {
        self.history.mark_seen(room_id)
    }

    /// The user typed in the room search.
    pub fn set_search(&mut self, search: String) {
        self.search = search;
    }

    /// The user chose to join with video, or audio only.
    pub fn set_video(&mut self, video: bool) {
        self.video = video;
    }

    /// The user opened or closed the settings.
    pub fn toggle_settings(&mut self) {
        self.settings_open = !self.settings_open;
    }

    /// The settings close (Escape, or signing out from them).
    pub fn close_settings(&mut self) {
        self.settings_open = false;
    }

    /// The user muted or unmuted the rings from a room.
    pub fn set_room_muted(&mut self, room_id: &str, muted: bool) {
        let rooms = &mut self.settings.ring.muted_rooms;
        rooms.retain(|r| r != room_id);
        if muted {
            rooms.push(room_id.to_owned());
        }
    }

    /// The settings, and the settings view's state, as the user left them in the settings
    /// view; saving them is the app's business when the view says they changed.
    pub fn edit_settings(&mut self, settings: Settings, view: SettingsView) {
        self.settings = settings;
        self.settings_view = view;
    }

    /// The sign-in form, for the sign-in view to edit in place: it is that view's own state,
    /// and egui's text fields need `&mut String`. Nothing else of the model is lent out.
    pub fn login_form_mut(&mut self) -> &mut LoginForm {
        &mut self.login
    }

    /// The session's trust area, for its view.
    pub fn trust_view_mut(&mut self) -> &mut TrustView {
        &mut self.trust
    }

    /// The address a sign-in wants opened in the browser, once.
    pub fn take_url_to_open(&mut self) -> Option<String> {
        self.to_open.take()
    }

    /// The main window is to come to the front (a call answered in the incoming window).
    pub fn raise(&mut self) {
        self.raise = true;
    }

    /// Whether the window should come to the front (a sign-in in the browser ended, a call was
    /// answered), once.
    pub fn take_raise(&mut self) -> bool {
        std::mem::take(&mut self.raise)
    }

    /// A fresh worker runs in place of the one that stopped.
    pub fn worker_started(&mut self) {
        self.worker_stopped = false;
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

    /// Whether the avatar `avatar_url` of `room_id` is still to be asked for (it is then marked
    /// asked).
    pub fn want_room_avatar(&mut self, room_id: &str, avatar_url: &str) -> bool {
        if self.requested_room_avatars.get(room_id).map(String::as_str) == Some(avatar_url) {
            return false;
        }
        self.requested_room_avatars
            .insert(room_id.to_owned(), avatar_url.to_owned());
        true
    }

    /// Whether `user_id`'s profile is still to be asked for (it is then marked asked).
    pub fn want_profile(&mut self, user_id: &str) -> bool {
        self.requested_profiles.insert(user_id.to_owned())
    }
}

/// Reading the model.
impl Model {
    /// The screen.
    pub fn screen(&self) -> &Screen {
        &self.screen
    }

    /// Our user id, once signed in.
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// The connection, once signed in.
    pub fn connection(&self) -> Option<&Connection> {
        self.connection.as_ref()
    }

    /// Every room's lobby, by name.
    pub fn rooms(&self) -> &[RoomLobby] {
        &self.rooms
    }

    /// The lobby of a room.
    pub fn lobby(&self, room_id: &str) -> Option<&RoomLobby> {
        self.rooms.iter().find(|r| r.room_id == room_id)
    }

    /// The selected room.
    pub fn selected(&self) -> Option<&str> {
        self.selected.as_deref()
    }

    /// The room search.
    pub fn search(&self) -> &str {
        &self.search
    }

    /// Calls ringing us, oldest first.
    pub fn ringing(&self) -> &[RingAlert] {
        &self.ringing
    }

    /// Why the last ring stopped, and until when (ms since the epoch) to show it.
    pub fn ring_stopped(&self) -> Option<(&str, u64)> {
        self.ring_stopped
            .as_ref()
            .map(|(sentence, until)| (sentence.as_str(), *until))
    }

    /// Foci the homeserver advertised at some point.
    pub fn discovered(&self) -> &BTreeSet<String> {
        &self.discovered
    }

    /// The discovered foci's URLs, in the worker's order.
    pub fn discovered_order(&self) -> Vec<String> {
        self.foci
            .iter()
            .filter_map(|f| f.focus.livekit_service_url.clone())
            .filter(|url| self.discovered.contains(url))
            .collect()
    }

    /// Display names and avatars by user id.
    pub fn profiles(&self) -> &HashMap<String, Profile> {
        &self.profiles
    }

    /// Rooms' own avatars by room id.
    pub fn room_avatars(&self) -> &HashMap<String, RoomAvatar> {
        &self.room_avatars
    }

    /// Sentences to read, oldest first.
    pub fn banners(&self) -> &[Banner] {
        &self.banners
    }

    /// The settings as the user left them.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The settings view's own state.
    pub fn settings_view(&self) -> &SettingsView {
        &self.settings_view
    }

    /// The call history.
    pub fn history(&self) -> &CallHistory {
        &self.history
    }

    /// Whether "Recent calls" is open.
    pub fn history_open(&self) -> bool {
        self.history_open
    }

    /// Whether the settings are open.
    pub fn settings_open(&self) -> bool {
        self.settings_open
    }

    /// Whether joining is with video.
    pub fn video(&self) -> bool {
        self.video
    }

    /// Whether the worker finished.
    pub fn worker_stopped(&self) -> bool {
        self.worker_stopped
    }

    /// Counts changes of the rooms and rings, so views can keep what they derive from them.
    pub fn version(&self) -> u64 {
        self.version
    }
}

#[cfg(test)]
mod tests;
