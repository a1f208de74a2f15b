//! Starting the window: one instance per profile, the worker with the desktop ringer, the
//! tray icon, and eframe.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::app::{Backend, VestibuleApp};
use crate::config::{APP_ID, ProfilePaths, Settings};
use crate::interrupts::Interrupts;
use crate::matrix::lock::{ProfileLock, lock_profile};
use crate::matrix::{self, Command, Update, WorkerConfig};
use crate::remote::{self, Hub};
use crate::ring::{DesktopRinger, RingAnswer, Ringer};
use crate::secrets::SecretStoreKind;
use crate::shell::{self, Autostart, Claim, Signals};

/// The worker currently running for the window.
type Current = Arc<Mutex<Option<(UnboundedSender<Command>, tokio::task::JoinHandle<()>)>>>;

/// Starts real workers for the window.
pub struct WorkerBackend {
    runtime: tokio::runtime::Handle,
    paths: ProfilePaths,
    ringer: Arc<dyn Ringer>,
    secret_store: SecretStoreKind,
    signals: Arc<Signals>,
    current: Current,
    /// The profile's other front ends (command lines, status bars) attach here.
    hub: Arc<Hub>,
    /// The profile's lock, taken before the window opened, for the first worker.
    lock: Option<ProfileLock>,
}

impl WorkerBackend {
    /// Workers for `paths` on `runtime`, ringing with `ringer`, waking the window through
    /// `signals`. What the person does with a ring's notification (`answers`) goes to whichever
    /// worker runs then.
    pub fn new(
        runtime: tokio::runtime::Handle,
        paths: ProfilePaths,
        ringer: Arc<dyn Ringer>,
        answers: Option<UnboundedReceiver<RingAnswer>>,
        secret_store: SecretStoreKind,
        signals: Arc<Signals>,
    ) -> Self {
        let current: Current = Arc::default();
        if let Some(answers) = answers {
            runtime.spawn(forward_answers(answers, current.clone()));
        }
        Self {
            runtime,
            paths,
            ringer,
            secret_store,
            signals,
            current,
            hub: Hub::new(),
            lock: None,
        }
    }

    /// Hands `lock`, taken before the window opened, to the first worker.
    pub fn with_lock(mut self, lock: Option<ProfileLock>) -> Self {
        self.lock = lock;
        self
    }

    /// The running worker, to stop it when the window is gone.
    fn current(&self) -> Current {
        self.current.clone()
    }
}

impl Backend for WorkerBackend {
    fn start(&mut self) -> (UnboundedSender<Command>, UnboundedReceiver<Update>) {
        let _entered = self.runtime.enter();
        let (settings, warning) = Settings::load(&self.paths.config_file);
        if let Some(warning) = warning {
            self.signals.warn(warning);
        }
        let mut config = WorkerConfig::new(
            self.paths.clone(),
            settings,
            self.ringer.clone(),
            self.secret_store,
        );
        config.lock = self.lock.take();
        let signals = self.signals.clone();
        // The window is woken once the update has passed the hub, below.
        let handle = matrix::spawn(config, Arc::new(|| {}));
        if let Ok(mut current) = self.current.lock() {
            *current = Some((handle.commands.clone(), handle.task));
        }
        self.hub.set_commands(handle.commands.clone());
        let (to_window, updates) = tokio::sync::mpsc::unbounded_channel();
        let hub = self.hub.clone();
        let socket = remote::socket_path(&self.paths.data_dir);
        let mut from_worker = handle.updates;
        self.runtime.spawn(async move {
            while let Some(update) = from_worker.recv().await {
                // A worker that started holds the profile: its front ends may attach.
                if !matches!(update, Update::Fatal { .. })
                    && let Err(e) = hub.listen(&socket)
                {
                    tracing::debug!("not serving other front ends: {e}");
                }
                hub.publish(&update);
                if to_window.send(update).is_err() {
                    return;
                }
                signals.wake();
            }
        });
        (handle.commands, updates)
    }
}

/// Hands Answer and Decline from notifications to the running worker.
async fn forward_answers(mut answers: UnboundedReceiver<RingAnswer>, current: Current) {
    while let Some(answer) = answers.recv().await {
        let Some(command) = Command::from_ring_answer(answer) else {
            continue;
        };
        let commands = current
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(|(commands, _)| commands.clone()));
        if commands.is_none_or(|c| c.send(command).is_err()) {
            tracing::debug!("a ring was answered while no worker runs");
        }
    }
}

/// The window icon.
fn window_icon() -> Option<egui::IconData> {
    const PNG: &[u8] =
        include_bytes!("../packaging/icons/hicolor/256x256/apps/im.vestibule.Vestibule.png");
    eframe::icon_data::from_png_bytes(PNG).ok()
}

/// Opens the window for `profile` (hidden when `background`), or brings the running one
/// forward; `started` is when the process started. `Err` is the sentence to print.
pub fn run(profile: &str, background: bool, started: Instant) -> Result<(), String> {
    let paths = ProfilePaths::resolve(profile).map_err(|e| e.to_string())?;
    paths.create_data_dir().map_err(|e| e.to_string())?;
    let signals = Signals::new();
    let _instance = match shell::claim_instance(&paths.data_dir, signals.clone())? {
        Claim::First(listener) => listener,
        Claim::AlreadyRunning => {
            println!("Vestibule is already running; its window was brought forward.");
            return Ok(());
        }
    };
    // Held from here, so that a command run while the window starts attaches to it (once its
    // worker offers the socket) rather than opening the profile itself. Without it the worker
    // waits for the lock and says why in the window.
    let lock = lock_profile(&paths).ok();
    let secret_store = SecretStoreKind::from_env().map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("Could not start: {e}."))?;
    let _entered = runtime.enter();
    quit_on_interrupts(runtime.handle(), signals.clone())?;
    let (settings, _) = Settings::load(&paths.config_file);
    let (desktop, answers) = desktop_ringer(&settings, &signals);
    spawn_tray(&runtime, signals.clone());
    follow_color_scheme(&runtime, signals.clone());
    let backend = WorkerBackend::new(
        runtime.handle().clone(),
        paths.clone(),
        desktop,
        Some(answers),
        secret_store,
        signals.clone(),
    )
    .with_lock(lock);
    let current = backend.current();
    let autostart = Autostart::for_user(profile);
    let config_file = paths.config_file.clone();
    let result = eframe::run_native(
        APP_ID,
        native_options(),
        Box::new(move |cc| {
            Ok(Box::new(
                VestibuleApp::new(
                    &cc.egui_ctx,
                    Box::new(backend),
                    settings,
                    config_file,
                    autostart,
                    signals,
                )
                .hidden(background)
                .started_at(started),
            ))
        }),
    );
    // The window is gone: make sure the worker has left its calls before the process ends.
    stop_worker(&runtime, &current);
    result
        .map_err(|e| format!("The window could not be opened; is a desktop session running? ({e})"))
}

/// Quits as the Quit button does (the calls are left, for at most 10 s) when SIGTERM, SIGINT
/// or SIGHUP arrives: a desktop logout, `kill`, Ctrl-C in the terminal that started the window.
/// The listeners are in place when this returns; a signal before the window is up is taken
/// by its first frame.
pub fn quit_on_interrupts(
    runtime: &tokio::runtime::Handle,
    signals: Arc<Signals>,
) -> Result<(), String> {
    let _entered = runtime.enter();
    let mut interrupts = Interrupts::listen()?;
    runtime.spawn(async move {
        for n in 1.. {
            interrupts.reached(n).await;
            tracing::info!("a signal asked to quit: leaving calls");
            signals.request_quit();
        }
    });
    Ok(())
}

/// The desktop ringer with the saved ringtone and volume, warning through `signals`, and the
/// answers people give its notifications.
fn desktop_ringer(
    settings: &Settings,
    signals: &Arc<Signals>,
) -> (Arc<DesktopRinger>, UnboundedReceiver<RingAnswer>) {
    let warn_signals = signals.clone();
    let (answer_tx, answers) = tokio::sync::mpsc::unbounded_channel();
    let desktop = Arc::new(DesktopRinger::new(
        settings.ring.ringtone.as_deref(),
        settings.ring.volume,
        Arc::new(move |sentence| warn_signals.warn(sentence)),
        answer_tx,
    ));
    (desktop, answers)
}

/// Brings the tray up beside the window rather than delaying it; the task keeps it alive.
fn spawn_tray(runtime: &tokio::runtime::Runtime, signals: Arc<Signals>) {
    runtime.spawn(async move {
        let _tray = shell::spawn_tray(signals).await;
        std::future::pending::<()>().await;
    });
}

/// Follows the desktop's light or dark preference beside the window.
fn follow_color_scheme(runtime: &tokio::runtime::Runtime, signals: Arc<Signals>) {
    runtime.spawn(async move {
        let result = crate::appearance::follow(|scheme| signals.set_color_scheme(scheme)).await;
        if let Err(reason) = result {
            tracing::info!("not following the desktop's light or dark preference: {reason}");
        }
    });
}

/// The window's title, app id, size and icon.
fn native_options() -> eframe::NativeOptions {
    let mut viewport = egui::ViewportBuilder::default()
        .with_title("Vestibule")
        .with_app_id(APP_ID)
        .with_inner_size([1000.0, 680.0])
        .with_min_inner_size([560.0, 400.0]);
    if let Some(icon) = window_icon() {
        viewport = viewport.with_icon(icon);
    }
    eframe::NativeOptions {
        viewport,
        ..Default::default()
    }
}

/// Has the worker still running leave its calls, waiting for it up to 10 s.
fn stop_worker(runtime: &tokio::runtime::Runtime, current: &Current) {
    let running = current.lock().ok().and_then(|mut c| c.take());
    if let Some((commands, task)) = running
        && !task.is_finished()
    {
        // A worker that stopped meanwhile has nothing left to leave.
        commands.send(Command::Quit).ok();
        if runtime
            .block_on(tokio::time::timeout(Duration::from_secs(10), task))
            .is_err()
        {
            tracing::warn!("the worker did not stop within 10 s of the window closing");
        }
    }
}
