//! The command line: the same worker as the window, driven from a terminal or a script.
//!
//! Exit codes: 0 ok, 1 a runtime error (one sentence on stderr), 2 usage. Without `--json` the
//! output is for people; with it, every line is one JSON object whose fields are documented in
//! the README and kept stable. What is printed, and how, is [`print`]'s.

mod attached;
mod contract;
mod history;
mod inert;
mod login;
mod print;
mod prompt;
mod ringing;
mod status;

use inert::inert;
use login::LoginWay;

use print::{inspect, print_foci, print_rooms, print_update};
use prompt::{read_password, read_secret};
use ringing::{forward_answers, test_ring};

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use matrix_sdk::ruma::OwnedRoomOrAliasId;

use crate::config::{DEFAULT_PROFILE, ProfilePaths, Settings};
use crate::interrupts::Interrupts;
use crate::matrix::{self, Command, Connection, OwnCallState, RoomLobby, Update, WorkerConfig};
use crate::remote::{self, Hub};
use crate::ring::{DesktopRinger, SilentRinger};
use crate::rtc::CallIntent;
use crate::rtc::ring::NotifyKind;
use crate::secrets::SecretStoreKind;

/// Vestibule: Matrix calls on the desktop.
#[derive(Debug, Parser)]
#[command(name = "vestibule", version = crate::VERSION, about)]
pub struct Cli {
    /// The profile (a separate account) to use.
    #[arg(long, global = true, env = "VESTIBULE_PROFILE", default_value = DEFAULT_PROFILE)]
    pub profile: String,
    /// Start with the window hidden (Vestibule still rings); used by the autostart entry.
    #[arg(long)]
    pub background: bool,
    /// What to do; nothing opens the window.
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Intent {
    /// An audio call.
    Audio,
    /// A video call.
    Video,
}

impl From<Intent> for CallIntent {
    fn from(i: Intent) -> Self {
        match i {
            Intent::Audio => CallIntent::Audio,
            Intent::Video => CallIntent::Video,
        }
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Sign in: with a USER, by password (read from stdin when it is not a terminal, else
    /// prompted); without one, in the browser (OAuth 2.0 or single sign-on), printing the address
    /// when no browser can be opened.
    Login {
        /// Server name (matrix.org) or URL.
        homeserver: String,
        /// Localpart or full user id (signs in with a password).
        user: Option<String>,
        /// Sign in with a password (needs USER).
        #[arg(long, requires = "user", conflicts_with = "browser")]
        password: bool,
        /// Sign in in the browser, even with a USER given.
        #[arg(long)]
        browser: bool,
        /// The single sign-on identity provider to use (its id), where the server has several.
        #[arg(long, value_name = "ID")]
        provider: Option<String>,
    },
    /// Sign out and remove every local trace of the account.
    Logout,
    /// Verify this session with the account's recovery key (or passphrase), read from stdin
    /// when it is not a terminal, else prompted; it also opens the key backup.
    Verify {
        /// Set verification up for an account that has none, and print its new recovery key.
        #[arg(long)]
        set_up: bool,
    },
    /// Sync once and print every joined room's call lobby.
    Lobbies {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Stream changes (lobbies, rings, connection) until interrupted.
    Watch {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// Decide rings but play no sound and show no notification.
        #[arg(long)]
        silent: bool,
    },
    /// Join a room's call and stay until interrupted (SIGINT/SIGTERM), then leave.
    Join {
        /// Room id or alias.
        room: String,
        /// Ring the room once joined.
        #[arg(long, conflicts_with = "notify")]
        ring: bool,
        /// Notify the room (no ringtone) once joined.
        #[arg(long)]
        notify: bool,
        /// Audio or video.
        #[arg(long, value_enum, default_value_t = Intent::Video)]
        intent: Intent,
        /// An SFU focus (LiveKit JWT service URL) to prefer; repeatable.
        #[arg(long = "focus", value_name = "URL")]
        foci: Vec<String>,
    },
    /// Join and ring: `ring` in direct chats, a notification elsewhere.
    Ring {
        /// Room id or alias.
        room: String,
        /// Audio or video.
        #[arg(long, value_enum, default_value_t = Intent::Video)]
        intent: Intent,
    },
    /// Leave a room's call.
    Leave {
        /// Room id or alias.
        room: String,
    },
    /// Decline the call ringing in a room.
    Decline {
        /// Room id or alias.
        room: String,
    },
    /// One line on calls and rings, for people or a status bar (waybar, i3blocks, polybar).
    Status {
        /// What to print: a line for people, waybar's JSON, or i3blocks' lines.
        #[arg(long, value_enum, default_value_t = status::StatusFormat::Text)]
        format: status::StatusFormat,
        /// Keep printing on every change until interrupted.
        #[arg(long)]
        follow: bool,
    },
    /// The SFU foci Vestibule would use, best first.
    Foci {
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The recent calls (missed, answered, declined, outgoing), newest first.
    History {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Play the ringtone and show a test notification, to check sound and notifications.
    TestRing {
        /// How long to ring.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// A sound file to try instead of the configured ringtone.
        #[arg(long, value_name = "FILE")]
        ringtone: Option<PathBuf>,
    },
    /// Show the call lobby of a room from its state events (the JSON array that
    /// `GET /_matrix/client/v3/rooms/{roomId}/state` returns), read from FILE or stdin.
    Inspect {
        /// The state events; `-` or nothing reads stdin.
        file: Option<PathBuf>,
        /// Evaluate at this time (ms since the epoch) instead of now.
        #[arg(long)]
        now_ms: Option<u64>,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

impl Cmd {
    /// The command's name, as JSON errors report it.
    fn name(&self) -> &'static str {
        match self {
            Self::Login { .. } => "login",
            Self::Logout => "logout",
            Self::Verify { .. } => "verify",
            Self::Lobbies { .. } => "lobbies",
            Self::Watch { .. } => "watch",
            Self::Join { .. } => "join",
            Self::Ring { .. } => "ring",
            Self::Leave { .. } => "leave",
            Self::Decline { .. } => "decline",
            Self::Foci { .. } => "foci",
            Self::Status { .. } => "status",
            Self::TestRing { .. } => "test-ring",
            Self::History { .. } => "history",
            Self::Inspect { .. } => "inspect",
        }
    }

    /// Whether the command stays until interrupted, so that other front ends may attach to it.
    fn stays(&self) -> bool {
        matches!(
            self,
            Self::Watch { .. } | Self::Join { .. } | Self::Ring { .. }
        ) || matches!(self, Self::Status { follow: true, .. })
    }

    /// Whether a running instance of the profile can answer the command.
    fn may_attach(&self) -> bool {
        !matches!(
            self,
            Self::Login { .. }
                | Self::Logout
                | Self::Verify { .. }
                | Self::TestRing { .. }
                | Self::Inspect { .. }
                | Self::History { .. }
        )
    }

    /// Whether the output is JSON for scripts.
    fn wants_json(&self) -> bool {
        matches!(
            self,
            Self::Lobbies { json: true }
                | Self::Watch { json: true, .. }
                | Self::Foci { json: true }
                | Self::Inspect { json: true, .. }
                | Self::History { json: true }
        )
    }
}

/// Runs a command; `Err` holds the one sentence for stderr (exit code 1). With `--json` the
/// sentence also goes to stdout as an `error` document, so that a script never reads stderr.
pub fn run(profile: &str, cmd: Cmd) -> Result<(), String> {
    let (name, json) = (cmd.name(), cmd.wants_json());
    run_command(profile, cmd).inspect_err(|sentence| {
        if json {
            println!("{}", contract::error(sentence, Some(name), None));
        }
    })
}

fn run_command(profile: &str, cmd: Cmd) -> Result<(), String> {
    if let Cmd::Inspect { file, now_ms, json } = cmd {
        return inspect(file, now_ms, json);
    }
    let paths = ProfilePaths::resolve(profile).map_err(|e| e.to_string())?;
    if let Cmd::History { json } = cmd {
        return history::print_history(&paths, json);
    }
    let (settings, warning) = Settings::load(&paths.config_file);
    if let Some(warning) = warning {
        eprintln!("{warning}");
    }
    let secret_store = SecretStoreKind::from_env().map_err(|e| e.to_string())?;
    // The password or recovery key, read before anything starts (a prompt needs the terminal).
    let secret = match &cmd {
        Cmd::Login {
            user: Some(user),
            browser: false,
            ..
        } => Some(read_password(user)?),
        Cmd::Verify { set_up: false } => Some(read_secret("Recovery key: ", "recovery key")?),
        _ => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("Could not start: {e}."))?;
    let (result, cut_short) = runtime.block_on(async move {
        // From here on a signal never ends the process by itself: every wait below hears it.
        let interrupts = match Interrupts::listen() {
            Ok(interrupts) => interrupts,
            Err(sentence) => return (Err(sentence), false),
        };
        if let Cmd::TestRing { seconds, ringtone } = cmd {
            let rang = test_ring(&settings, ringtone.as_deref(), seconds, interrupts).await;
            return (rang, false);
        }
        // With the profile's instance running, it answers: only one process opens the store.
        let mut interrupted = interrupts.clone();
        let opened = tokio::select! {
            opened = attached::open_profile(&paths, cmd.may_attach()) => opened,
            () = interrupted.reached(1) => Err("Interrupted.".to_owned()),
        };
        let lock = match opened {
            Ok(attached::Opened::Attached(instance)) => {
                return (attached::drive(instance, cmd, interrupts).await, false);
            }
            Ok(attached::Opened::Own(lock)) => lock,
            Err(sentence) => return (Err(sentence), false),
        };
        let mut config = WorkerConfig::new(paths, settings, Arc::new(SilentRinger), secret_store);
        config.lock = Some(lock);
        session(cmd, secret, config, interrupts).await
    });
    if cut_short {
        // The worker may be inside a blocking call (the store): do not wait for it.
        runtime.shutdown_background();
    }
    // What the session says may quote the server: a failure's sentence is made inert too.
    result.map_err(|sentence| inert(&sentence).into_owned())
}

/// What a second signal during the wind-down says.
const CUT_SHORT: &str = "Interrupted again: stopped without waiting to leave calls.";

/// Runs `cmd` on a worker started with `config` (its ringer chosen here), then winds down:
/// calls are left and syncing stops. A signal ends the command (`watch`, `join` and `ring`
/// run until one comes); another one during the wind-down ends it at once, and then the
/// second value is `true`. While a staying command runs, the profile's other front ends may
/// attach to it.
async fn session(
    cmd: Cmd,
    secret: Option<String>,
    mut config: WorkerConfig,
    mut interrupts: Interrupts,
) -> (Result<(), String>, bool) {
    // Rings sound and show, except for `watch --silent` and one-shot commands.
    let rings_aloud = matches!(
        cmd,
        Cmd::Watch { silent: false, .. } | Cmd::Join { .. } | Cmd::Ring { .. }
    );
    let runs_until_interrupted = cmd.stays();
    let (answer_tx, answers) = tokio::sync::mpsc::unbounded_channel();
    if rings_aloud {
        config.ringer = Arc::new(DesktopRinger::new(
            config.settings.ring.ringtone.as_deref(),
            config.settings.ring.volume,
            Arc::new(|sentence| eprintln!("{}", inert(&sentence))),
            answer_tx,
        ));
    }
    let socket = remote::socket_path(&config.paths.data_dir);
    let handle = matrix::spawn(config, Arc::new(|| {}));
    tokio::spawn(forward_answers(answers, handle.commands.clone()));
    let hub = cmd.stays().then(|| {
        let hub = Hub::new();
        hub.set_commands(handle.commands.clone());
        if let Err(e) = hub.listen(&socket) {
            tracing::debug!("not serving other front ends: {e}");
        }
        hub
    });
    let mut session = CliSession {
        commands: handle.commands,
        updates: handle.updates,
        failure: None,
        hub,
        remote: false,
    };
    let mut first = interrupts.clone();
    let (result, interrupted) = tokio::select! {
        result = session.drive(cmd, secret) => (result, false),
        () = first.reached(1) => {
            let result = if runs_until_interrupted { Ok(()) } else { Err("Interrupted.".into()) };
            (result, true)
        }
    };
    // Always wind down: leave calls, stop syncing; the signal that ended the command is the
    // first, any after it the second.
    if !session
        .finish(&mut interrupts, if interrupted { 2 } else { 1 })
        .await
    {
        return (Err(CUT_SHORT.into()), true);
    }
    (result.and(session.failure.map_or(Ok(()), Err)), false)
}

/// A room id or alias as typed; `Err` is the sentence.
fn room_arg(room: &str) -> Result<OwnedRoomOrAliasId, String> {
    OwnedRoomOrAliasId::try_from(room).map_err(|_| format!("\"{room}\" is not a room id or alias."))
}

struct CliSession {
    commands: tokio::sync::mpsc::UnboundedSender<Command>,
    updates: tokio::sync::mpsc::UnboundedReceiver<Update>,
    failure: Option<String>,
    /// Other front ends attached to this process, while it runs the profile's worker.
    hub: Option<Arc<Hub>>,
    /// Whether the worker is another process's (this one is attached to it).
    remote: bool,
}

impl CliSession {
    fn send(&self, cmd: Command) {
        if self.commands.send(cmd).is_err() {
            // The worker only goes away after `Stopped`, which ends every loop below.
            tracing::debug!("a command after the worker stopped");
        }
    }

    async fn next(&mut self) -> Result<Update, String> {
        let update = self.updates.recv().await;
        if let (Some(hub), Some(update)) = (&self.hub, &update) {
            hub.publish(update);
        }
        match update {
            Some(Update::Fatal { message }) => Err(message),
            Some(update) => Ok(update),
            None => Err("Vestibule stopped unexpectedly.".into()),
        }
    }

    /// Waits until signed in; a missing session is an error for every command but `login`.
    async fn signed_in(&mut self) -> Result<(String, String), String> {
        loop {
            match self.next().await? {
                Update::SignedIn { user_id, device_id } => return Ok((user_id, device_id)),
                Update::NeedsLogin => {
                    return Err(
                        "Not signed in: run `vestibule login HOMESERVER USER` first.".into(),
                    );
                }
                Update::Error { message, .. } => eprintln!("{}", inert(&message)),
                _ => {}
            }
        }
    }

    /// Has the worker leave its calls and stop; `false` when `interrupts` reach `enough` first
    /// and the wind-down is cut short. Attached to another instance, its calls are its own:
    /// nothing here to wind down.
    async fn finish(&mut self, interrupts: &mut Interrupts, enough: u32) -> bool {
        if self.remote {
            return true;
        }
        self.send(Command::Quit);
        loop {
            tokio::select! {
                () = interrupts.reached(enough) => return false,
                update = self.updates.recv() => match update {
                    None | Some(Update::Stopped) => return true,
                    Some(Update::Error { message, .. }) => eprintln!("{}", inert(&message)),
                    Some(_) => {}
                },
            }
        }
    }

    async fn drive(&mut self, cmd: Cmd, secret: Option<String>) -> Result<(), String> {
        match cmd {
            Cmd::Login {
                homeserver,
                user,
                browser,
                provider,
                ..
            } => {
                let way = match (user, secret) {
                    (Some(user), Some(password)) if !browser => {
                        LoginWay::Password { user, password }
                    }
                    _ => LoginWay::Browser { provider },
                };
                self.login(homeserver, way).await
            }
            Cmd::Logout => self.logout().await,
            Cmd::Verify { set_up } => self.verify(set_up, secret).await,
            Cmd::Lobbies { json } => {
                self.signed_in().await?;
                let rooms = self.first_rooms().await?;
                print_rooms(&rooms, json);
                Ok(())
            }
            Cmd::Watch { json, silent: _ } => {
                let (user_id, device_id) = self.signed_in().await?;
                self.watch(json, Update::SignedIn { user_id, device_id })
                    .await
            }
            Cmd::Join {
                room,
                ring,
                notify,
                intent,
                foci,
            } => {
                let room = room_arg(&room)?;
                self.signed_in().await?;
                let notify = match (ring, notify) {
                    (true, _) => Some(NotifyKind::Ring),
                    (_, true) => Some(NotifyKind::Notification),
                    _ => None,
                };
                self.send(Command::Join {
                    room,
                    intent: intent.into(),
                    notify,
                    foci,
                });
                self.stay_joined().await
            }
            Cmd::Ring { room, intent } => {
                let room = room_arg(&room)?;
                self.signed_in().await?;
                self.send(Command::Ring {
                    room,
                    intent: intent.into(),
                });
                self.stay_joined().await
            }
            Cmd::Leave { room } => {
                let room = room_arg(&room)?;
                self.signed_in().await?;
                self.first_rooms().await?;
                self.send(Command::Leave { room });
                self.errors_until_stopped("leave").await
            }
            Cmd::Decline { room } => {
                let room = room_arg(&room)?;
                self.signed_in().await?;
                self.first_rooms().await?;
                self.send(Command::Decline { room: Some(room) });
                self.errors_until_stopped("decline").await
            }
            Cmd::Status { format, follow } => {
                self.signed_in().await?;
                self.status(format, follow).await
            }
            Cmd::Foci { json } => {
                self.signed_in().await?;
                loop {
                    if let Update::Foci { foci } = self.next().await? {
                        print_foci(&foci, json);
                        return Ok(());
                    }
                }
            }
            Cmd::Inspect { .. } | Cmd::TestRing { .. } | Cmd::History { .. } => Ok(()),
        }
    }

    /// Waits for the first complete sync.
    async fn first_rooms(&mut self) -> Result<Vec<RoomLobby>, String> {
        loop {
            match self.next().await? {
                Update::Rooms { rooms } => return Ok(rooms),
                Update::Connection {
                    connection: Connection::Offline { reason, .. },
                } => return Err(reason),
                Update::Error { message, .. } => eprintln!("{}", inert(&message)),
                _ => {}
            }
        }
    }

    /// Quits, and turns the first error reported before stopping into the failure.
    async fn errors_until_stopped(&mut self, command: &str) -> Result<(), String> {
        if self.remote {
            return attached::outcome(self, command).await;
        }
        self.send(Command::Quit);
        while let Some(update) = self.updates.recv().await {
            match update {
                Update::Error { message, .. } if self.failure.is_none() => {
                    self.failure = Some(message)
                }
                Update::Stopped => break,
                _ => {}
            }
        }
        Ok(())
    }

    /// Prints the status once the first sync is in, then (with `follow`) on every change until
    /// the session is interrupted.
    async fn status(&mut self, format: status::StatusFormat, follow: bool) -> Result<(), String> {
        let mut shown = status::Status::default();
        let mut last = None;
        loop {
            if !shown.apply(&self.next().await?) {
                continue;
            }
            let rendered = shown.render(format);
            if last.as_ref() != Some(&rendered) {
                println!("{rendered}");
                last = Some(rendered);
            }
            if !follow {
                return Ok(());
            }
        }
    }

    /// Prints `first`, then every update until the session is interrupted.
    async fn watch(&mut self, json: bool, first: Update) -> Result<(), String> {
        let mut encoder = contract::WatchEncoder::default();
        if json {
            for line in encoder.encode(&first) {
                println!("{line}");
            }
        }
        loop {
            let update = self.next().await?;
            // What the store remembers before the first sync is for the window.
            if matches!(update, Update::StoredRooms { .. }) {
                continue;
            }
            if json {
                for line in encoder.encode(&update) {
                    println!("{line}");
                }
            } else {
                print_update(&update);
            }
        }
    }

    /// After a join: report our state until interrupted (the session then leaves).
    async fn stay_joined(&mut self) -> Result<(), String> {
        let mut room_id: Option<String> = None;
        let mut was_joined = false;
        loop {
            match self.next().await? {
                Update::Lobby { lobby }
                    if room_id.as_ref().is_none_or(|r| *r == lobby.room_id)
                        && (was_joined || lobby.own != OwnCallState::NotJoined) =>
                {
                    match &lobby.own {
                        OwnCallState::Failed { reason } => return Err(reason.clone()),
                        OwnCallState::Joined if !was_joined => {
                            was_joined = true;
                            println!("Joined the call in {}.", inert(&lobby.name));
                            if self.remote {
                                // The running instance stays in the call.
                                return Ok(());
                            }
                        }
                        OwnCallState::Leaving => {
                            println!("Leaving the call in {}.", inert(&lobby.name))
                        }
                        // Left without being asked to (nobody answered, a refresh failed).
                        OwnCallState::NotJoined => return Ok(()),
                        _ => {}
                    }
                    room_id = Some(lobby.room_id);
                }
                Update::Error { message, .. } => {
                    if room_id.is_none() {
                        return Err(message);
                    }
                    eprintln!("{}", inert(&message));
                }
                Update::Notice { message } => eprintln!("{}", inert(&message)),
                Update::Connection {
                    connection:
                        Connection::Offline {
                            reason,
                            retry_in_secs,
                        },
                } => {
                    eprintln!("Offline: {} Retrying in {retry_in_secs} s.", inert(&reason));
                }
                _ => {}
            }
        }
    }
}
