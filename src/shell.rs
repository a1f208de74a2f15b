//! How Vestibule lives on the desktop beside its window: one instance per profile (a second
//! start brings the running window forward), a tray icon where the desktop has one, and the
//! XDG autostart entry.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::config::APP_ID;

/// Requests that reach the window from outside its frames (tray, a second start, the ringer),
/// and the means to wake it.
#[derive(Default)]
pub struct Signals {
    show: AtomicBool,
    quit: AtomicBool,
    warnings: Mutex<Vec<String>>,
    color_scheme: Mutex<Option<crate::appearance::ColorScheme>>,
    tray: tokio::sync::watch::Sender<TrayState>,
    ctx: OnceLock<egui::Context>,
}

/// What the tray icon says: something rings, a call is live, calls were missed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrayState {
    /// Who is calling, while a call rings us.
    pub ringing: Option<String>,
    /// Whether we are in a call.
    pub in_call: bool,
    /// Missed rings not seen yet.
    pub missed: usize,
}

impl TrayState {
    /// The tooltip's line.
    fn tool_tip(&self) -> String {
        match (&self.ringing, self.in_call, self.missed) {
            (Some(caller), _, _) => format!("{caller} is calling"),
            (None, true, _) => "In a call".to_owned(),
            (None, false, 0) => "No call".to_owned(),
            (None, false, 1) => "1 missed call".to_owned(),
            (None, false, n) => format!("{n} missed calls"),
        }
    }
}

impl Signals {
    /// New, shared signals.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The window's context, so that signals can wake it.
    pub fn set_context(&self, ctx: &egui::Context) {
        // Set once, by the window that starts first; later calls change nothing.
        self.ctx.set(ctx.clone()).ok();
    }

    /// Wakes the window (its logic runs even when it is hidden).
    pub fn wake(&self) {
        if let Some(ctx) = self.ctx.get() {
            ctx.request_repaint();
        }
    }

    /// Asks the window to show itself and come forward.
    pub fn request_show(&self) {
        self.show.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// Asks the app to leave its calls and stop.
    pub fn request_quit(&self) {
        self.quit.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// A sentence for the window's banner (from the ringer, say).
    pub fn warn(&self, sentence: String) {
        if let Ok(mut warnings) = self.warnings.lock() {
            warnings.push(sentence);
        }
        self.wake();
    }

    /// What the tray icon is to say; it changes only when this differs.
    pub fn set_tray_state(&self, state: TrayState) {
        self.tray.send_if_modified(|current| {
            let changed = *current != state;
            *current = state;
            changed
        });
    }

    /// The tray's state as it changes.
    pub fn tray_state(&self) -> tokio::sync::watch::Receiver<TrayState> {
        self.tray.subscribe()
    }

    /// The desktop's light or dark preference changed.
    pub fn set_color_scheme(&self, scheme: crate::appearance::ColorScheme) {
        if let Ok(mut current) = self.color_scheme.lock() {
            *current = Some(scheme);
        }
        self.wake();
    }

    /// The desktop's preference, when it changed since the last call.
    pub fn take_color_scheme(&self) -> Option<crate::appearance::ColorScheme> {
        self.color_scheme.lock().ok().and_then(|mut s| s.take())
    }

    /// Whether a show was asked for since the last call.
    pub fn take_show(&self) -> bool {
        self.show.swap(false, Ordering::SeqCst)
    }

    /// Whether a quit was asked for since the last call.
    pub fn take_quit(&self) -> bool {
        self.quit.swap(false, Ordering::SeqCst)
    }

    /// The warnings since the last call.
    pub fn take_warnings(&self) -> Vec<String> {
        self.warnings
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }
}

/// The outcome of claiming the profile's instance.
pub enum Claim {
    /// We are the first: the listener serves later starts until it is dropped.
    First(InstanceListener),
    /// Another Vestibule runs this profile and was asked to show its window.
    AlreadyRunning,
}

/// Serves later starts of the same profile: each one asks us to show the window.
pub struct InstanceListener {
    path: PathBuf,
}

impl Drop for InstanceListener {
    fn drop(&mut self) {
        // The socket file is ours; a later start must not find a dead one (it would be
        // replaced anyway).
        std::fs::remove_file(&self.path).ok();
    }
}

/// The socket of the running instance of the profile whose data lives in `data_dir`: in
/// `$XDG_RUNTIME_DIR` (short, private, gone at logout), else in the data directory.
pub fn instance_socket(data_dir: &Path) -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(runtime) => {
            // FNV-1a of the data directory: one socket per profile, and a short path (a socket
            // path may not exceed 107 bytes).
            let hash = data_dir
                .as_os_str()
                .as_encoded_bytes()
                .iter()
                .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                    (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
                });
            PathBuf::from(runtime)
                .join(APP_ID)
                .join(format!("{hash:016x}.sock"))
        }
        None => data_dir.join("instance.sock"),
    }
}

/// How long either side waits for the other on the instance socket.
const INSTANCE_TIMEOUT: Duration = Duration::from_secs(2);
/// The most a peer of the instance socket may send: "show\n" and a little slack.
const INSTANCE_MAX_REQUEST: u64 = 16;
/// How many peers are served at once; more are turned away.
const INSTANCE_MAX_PEERS: usize = 8;

/// What a start found at the instance socket.
#[derive(Debug, PartialEq, Eq)]
enum Peer {
    /// Nothing listens there: whatever file is there is left from a crash.
    Absent,
    /// The running instance said it shows its window.
    Shown,
    /// Something listens but did not answer in time: an instance is running, busy.
    Silent,
}

/// Asks the instance at `path` to show its window.
fn ask_to_show(path: &Path) -> Peer {
    let mut stream = match UnixStream::connect(path) {
        Ok(stream) => stream,
        Err(e) => {
            // Refused or missing: no process holds the socket.
            tracing::debug!("no running instance at {}: {e}", path.display());
            return Peer::Absent;
        }
    };
    let asked = stream
        .set_read_timeout(Some(INSTANCE_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(INSTANCE_TIMEOUT)))
        .and_then(|()| stream.write_all(b"show\n"))
        .and_then(|()| {
            let mut reply = String::new();
            BufReader::new((&stream).take(INSTANCE_MAX_REQUEST))
                .read_line(&mut reply)
                .map(|_| reply)
        });
    match asked {
        Ok(reply) if reply.trim() == "ok" => Peer::Shown,
        Ok(reply) => {
            tracing::debug!("the running instance answered {reply:?}");
            Peer::Silent
        }
        Err(e) => {
            tracing::debug!("the running instance did not answer: {e}");
            Peer::Silent
        }
    }
}

/// Serves one later start: reads its short request (at most [`INSTANCE_MAX_REQUEST`] bytes,
/// within [`INSTANCE_TIMEOUT`]) and answers a "show".
fn serve_peer(stream: &UnixStream, signals: &Signals) {
    let mut line = String::new();
    let read = stream
        .set_read_timeout(Some(INSTANCE_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(INSTANCE_TIMEOUT)))
        .and_then(|()| BufReader::new(stream.take(INSTANCE_MAX_REQUEST)).read_line(&mut line));
    match read {
        Ok(_) if line.trim() == "show" => {
            signals.request_show();
            // A peer that left before the answer needs none.
            (&*stream).write_all(b"ok\n").ok();
        }
        Ok(_) => tracing::debug!("the instance socket got {line:?}"),
        Err(e) => tracing::debug!("a peer of the instance socket: {e}"),
    }
}

/// Accepts later starts, each served on its own short-lived thread so that one that stalls
/// holds up nobody; beyond [`INSTANCE_MAX_PEERS`] at once, peers are turned away.
fn serve_instance(listener: UnixListener, signals: Arc<Signals>) {
    let busy = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        if busy.fetch_add(1, Ordering::SeqCst) >= INSTANCE_MAX_PEERS {
            busy.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        let (signals, done) = (signals.clone(), busy.clone());
        let spawned = std::thread::Builder::new()
            .name("vestibule-instance-peer".into())
            .spawn(move || {
                serve_peer(&stream, &signals);
                done.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            busy.fetch_sub(1, Ordering::SeqCst);
            tracing::debug!("could not serve a peer of the instance socket: {e}");
        }
    }
}

/// Claims the profile whose data lives in `data_dir`: when another instance answers, asks it
/// to show its window; otherwise listens for later starts, which raise `signals`' show.
pub fn claim_instance(data_dir: &Path, signals: Arc<Signals>) -> Result<Claim, String> {
    crate::config::create_private_dir(data_dir).map_err(|e| e.to_string())?;
    // Two starts at once (autostart and a click at login) take turns here.
    let lock = std::fs::File::create(data_dir.join("instance.lock"))
        .and_then(|file| file.lock().map(|()| file))
        .map_err(|e| format!("Could not check for a running Vestibule ({e})."))?;
    let path = instance_socket(data_dir);
    match ask_to_show(&path) {
        Peer::Shown => return Ok(Claim::AlreadyRunning),
        Peer::Silent => {
            // Alive but busy: its socket stays, and this start leaves it be.
            tracing::info!("a running Vestibule did not answer in time; not starting another");
            return Ok(Claim::AlreadyRunning);
        }
        Peer::Absent => {}
    }
    // Nobody listens: whatever file is there is left from a crash.
    std::fs::remove_file(&path).ok();
    if let Some(dir) = path.parent() {
        crate::config::create_private_dir(dir).map_err(|e| e.to_string())?;
    }
    let listener = UnixListener::bind(&path).map_err(|e| {
        format!(
            "Could not listen for other starts of Vestibule at {} ({e}).",
            path.display()
        )
    })?;
    drop(lock);
    std::thread::Builder::new()
        .name("vestibule-instance".into())
        .spawn(move || serve_instance(listener, signals))
        .map_err(|e| format!("Could not start: {e}."))?;
    Ok(Claim::First(InstanceListener { path }))
}

/// The XDG autostart entry that starts Vestibule hidden when the user logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Autostart {
    file: PathBuf,
    exec: String,
}

impl Autostart {
    /// The entry in `autostart_dir` starting `exec` (a command line) for `profile`.
    pub fn new(autostart_dir: &Path, exec: &str, profile: &str) -> Self {
        let name = if profile == crate::config::DEFAULT_PROFILE {
            format!("{APP_ID}.desktop")
        } else {
            format!("{APP_ID}.{profile}.desktop")
        };
        let mut exec = format!("{exec} --background");
        if profile != crate::config::DEFAULT_PROFILE {
            exec.push_str(&format!(" --profile {profile}"));
        }
        Self {
            file: autostart_dir.join(name),
            exec,
        }
    }

    /// The entry for this user (`$XDG_CONFIG_HOME/autostart`) starting this executable.
    pub fn for_user(profile: &str) -> Option<Self> {
        let dirs = directories::BaseDirs::new()?;
        let exe = std::env::current_exe().ok()?;
        let exe = exe.to_str()?;
        // Desktop entries quote arguments with reserved characters and double `%`.
        let exe = exe.replace('%', "%%");
        let reserved = |c: char| " \t\"'\\><~|&;$*?#()`".contains(c);
        let exec = if exe.contains(reserved) {
            let escaped: String = exe
                .chars()
                .flat_map(|c| match c {
                    '"' | '`' | '$' | '\\' => vec!['\\', c],
                    c => vec![c],
                })
                .collect();
            format!("\"{escaped}\"")
        } else {
            exe
        };
        Some(Self::new(
            &dirs.config_dir().join("autostart"),
            &exec,
            profile,
        ))
    }

    /// The entry's file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Whether the entry exists.
    pub fn is_enabled(&self) -> bool {
        self.file.exists()
    }

    /// Writes or removes the entry.
    pub fn set(&self, enabled: bool) -> Result<(), String> {
        let fail = |e: std::io::Error| {
            format!(
                "Could not change the autostart entry {} ({e}).",
                self.file.display()
            )
        };
        if !enabled {
            return match std::fs::remove_file(&self.file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(fail(e)),
                _ => Ok(()),
            };
        }
        if let Some(dir) = self.file.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let entry = format!(
            "[Desktop Entry]\nType=Application\nName=Vestibule\n\
             Comment=Rings when a Matrix call comes in\nExec={}\nIcon={APP_ID}\n\
             Terminal=false\nX-GNOME-Autostart-enabled=true\n",
            self.exec
        );
        std::fs::write(&self.file, entry).map_err(fail)
    }
}

/// The tray icon: Show and Quit, and whether something rings, a call is live or calls were
/// missed (in its status, tooltip and attention icon).
struct Tray {
    signals: Arc<Signals>,
    icon: Vec<ksni::Icon>,
    attention: Vec<ksni::Icon>,
    state: TrayState,
}

impl ksni::Tray for Tray {
    fn id(&self) -> String {
        APP_ID.into()
    }

    fn title(&self) -> String {
        "Vestibule".into()
    }

    fn icon_name(&self) -> String {
        APP_ID.into()
    }

    fn icon_pixmap(&self) -> Vec<ksni::Icon> {
        if self.state.in_call || self.state.missed > 0 {
            return self.attention.clone();
        }
        self.icon.clone()
    }

    fn attention_icon_pixmap(&self) -> Vec<ksni::Icon> {
        self.attention.clone()
    }

    fn status(&self) -> ksni::Status {
        if self.state.ringing.is_some() {
            ksni::Status::NeedsAttention
        } else {
            ksni::Status::Active
        }
    }

    fn tool_tip(&self) -> ksni::ToolTip {
        ksni::ToolTip {
            title: "Vestibule".into(),
            description: self.state.tool_tip(),
            ..Default::default()
        }
    }

    fn activate(&mut self, _x: i32, _y: i32) {
        self.signals.request_show();
    }

    fn menu(&self) -> Vec<ksni::MenuItem<Self>> {
        use ksni::menu::StandardItem;
        vec![
            StandardItem {
                label: "Show Vestibule".into(),
                activate: Box::new(|tray: &mut Self| tray.signals.request_show()),
                ..Default::default()
            }
            .into(),
            StandardItem {
                label: "Quit".into(),
                activate: Box::new(|tray: &mut Self| tray.signals.request_quit()),
                ..Default::default()
            }
            .into(),
        ]
    }
}

/// The app icon as ARGB32 for the tray, plain and with a dot in its corner (ringing, in a
/// call, missed calls).
fn tray_icons() -> (Vec<ksni::Icon>, Vec<ksni::Icon>) {
    const PNG: &[u8] =
        include_bytes!("../packaging/icons/hicolor/32x32/apps/im.vestibule.Vestibule.png");
    let Ok(image) = image::load_from_memory(PNG) else {
        return (Vec::new(), Vec::new());
    };
    let plain = image.to_rgba8();
    let mut dotted = plain.clone();
    let (width, height) = plain.dimensions();
    let (cx, cy, r) = (
        width as f32 * 0.78,
        height as f32 * 0.22,
        width as f32 * 0.2,
    );
    for (x, y, pixel) in dotted.enumerate_pixels_mut() {
        let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
        if dx * dx + dy * dy <= r * r {
            *pixel = image::Rgba([0xd9, 0x3f, 0x3f, 0xff]);
        }
    }
    let icon = |rgba: &image::RgbaImage| ksni::Icon {
        width: width as i32,
        height: height as i32,
        data: rgba
            .pixels()
            .flat_map(|p| [p[3], p[0], p[1], p[2]])
            .collect(),
    };
    (vec![icon(&plain)], vec![icon(&dotted)])
}

/// Shows the tray icon when the desktop has a tray; `None` (logged) when it has not. Must run
/// inside a tokio runtime.
pub async fn spawn_tray(signals: Arc<Signals>) -> Option<ksni::Handle<impl ksni::Tray>> {
    use ksni::TrayMethods;
    let (icon, attention) = tray_icons();
    let mut states = signals.tray_state();
    let tray = Tray {
        signals,
        icon,
        attention,
        state: TrayState::default(),
    };
    match tray.spawn().await {
        Ok(handle) => {
            let follower = handle.clone();
            tokio::spawn(async move {
                while states.changed().await.is_ok() {
                    let state = states.borrow_and_update().clone();
                    if follower.update(|tray| tray.state = state).await.is_none() {
                        return;
                    }
                }
            });
            Some(handle)
        }
        Err(e) => {
            tracing::info!(
                "no tray icon ({e}); closing the window keeps Vestibule running, start it again to show it"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vestibule-{name}-{}", std::process::id()));
        std::fs::remove_dir_all(&dir).ok();
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_second_start_shows_the_first_window() {
        let dir = temp_dir("instance");
        let first = Signals::new();
        let claim = claim_instance(&dir, first.clone()).unwrap();
        assert!(matches!(claim, Claim::First(_)));
        let second = Signals::new();
        assert!(matches!(
            claim_instance(&dir, second.clone()).unwrap(),
            Claim::AlreadyRunning
        ));
        assert!(first.take_show());
        assert!(!second.take_show());
        // Once the first stops, a new start is the first again, even with the file left.
        drop(claim);
        std::fs::write(instance_socket(&dir), b"").unwrap();
        assert!(matches!(
            claim_instance(&dir, second).unwrap(),
            Claim::First(_)
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_stalled_or_chatty_peer_does_not_hide_the_running_instance() {
        let dir = temp_dir("stalled");
        let first = Signals::new();
        let claim = claim_instance(&dir, first.clone()).unwrap();
        // Connects and says nothing, holding the connection open.
        let stalled = UnixStream::connect(instance_socket(&dir)).unwrap();
        // Sends far more than a request without a line break.
        let mut chatty = UnixStream::connect(instance_socket(&dir)).unwrap();
        chatty.set_nonblocking(true).unwrap();
        let sent = chatty.write(&[b'x'; 65_536]).unwrap();
        assert!(sent > INSTANCE_MAX_REQUEST as usize);
        let started = std::time::Instant::now();
        let second = Signals::new();
        assert!(matches!(
            claim_instance(&dir, second).unwrap(),
            Claim::AlreadyRunning
        ));
        assert!(
            started.elapsed() < INSTANCE_TIMEOUT,
            "answered in {:?}",
            started.elapsed()
        );
        assert!(first.take_show());
        assert!(instance_socket(&dir).exists(), "the live socket stays");
        // The chatty peer was cut off after a few bytes: the instance closed its end.
        chatty.set_nonblocking(false).unwrap();
        chatty.set_read_timeout(Some(INSTANCE_TIMEOUT * 2)).unwrap();
        let mut rest = Vec::new();
        match chatty.read_to_end(&mut rest) {
            Ok(n) => assert_eq!(n, 0),
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
        }
        drop(stalled);
        drop(claim);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_silent_listener_counts_as_running() {
        let dir = temp_dir("silent");
        let path = instance_socket(&dir);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::remove_file(&path).ok();
        // A listener that accepts and never answers, as a hung instance would.
        let listener = UnixListener::bind(&path).unwrap();
        assert_eq!(ask_to_show(&path), Peer::Silent);
        assert!(matches!(
            claim_instance(&dir, Signals::new()).unwrap(),
            Claim::AlreadyRunning
        ));
        assert!(path.exists());
        drop(listener);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(ask_to_show(&path), Peer::Absent);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn autostart_entry_is_written_and_removed() {
        let dir = temp_dir("autostart");
        let entry = Autostart::new(&dir.join("autostart"), "/usr/bin/vestibule", "work");
        assert!(!entry.is_enabled());
        entry.set(true).unwrap();
        let text = std::fs::read_to_string(entry.file()).unwrap();
        assert!(text.contains("Exec=/usr/bin/vestibule --background --profile work\n"));
        assert!(text.starts_with("[Desktop Entry]\nType=Application\n"));
        assert!(entry.is_enabled());
        entry.set(false).unwrap();
        assert!(!entry.is_enabled());
        entry.set(false).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
