//! How Vestibule lives on the desktop beside its window: one instance per profile (a second
//! start brings the running window forward), a tray icon where the desktop has one, and the
//! XDG autostart entry.

use std::io::{BufRead, BufReader, Write};
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
    ctx: OnceLock<egui::Context>,
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

/// Asks the instance at `path` to show its window; `true` when it said it did.
fn ask_to_show(path: &Path) -> bool {
    let Ok(mut stream) = UnixStream::connect(path) else {
        return false;
    };
    let asked = stream
        .set_read_timeout(Some(INSTANCE_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(INSTANCE_TIMEOUT)))
        .and_then(|()| stream.write_all(b"show\n"))
        .and_then(|()| {
            let mut reply = String::new();
            BufReader::new(&stream).read_line(&mut reply).map(|_| reply)
        });
    match asked {
        Ok(reply) => reply.trim() == "ok",
        Err(e) => {
            tracing::debug!("the running instance did not answer: {e}");
            false
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
    if ask_to_show(&path) {
        return Ok(Claim::AlreadyRunning);
    }
    // Nobody answers: whatever file is there is left from a crash.
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
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                // A start that connects and says nothing does not hold up the next one.
                stream.set_read_timeout(Some(INSTANCE_TIMEOUT)).ok();
                let mut line = String::new();
                if BufReader::new(&stream).read_line(&mut line).is_ok() && line.trim() == "show" {
                    signals.request_show();
                    stream.write_all(b"ok\n").ok();
                }
            }
        })
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

/// The tray icon: Show and Quit.
struct Tray {
    signals: Arc<Signals>,
    icon: Vec<ksni::Icon>,
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
        self.icon.clone()
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

/// The app icon as ARGB32 for the tray.
fn tray_icon() -> Vec<ksni::Icon> {
    const PNG: &[u8] =
        include_bytes!("../packaging/icons/hicolor/32x32/apps/im.vestibule.Vestibule.png");
    let Ok(image) = image::load_from_memory(PNG) else {
        return Vec::new();
    };
    let rgba = image.to_rgba8();
    let (width, height) = rgba.dimensions();
    let data = rgba
        .pixels()
        .flat_map(|p| [p[3], p[0], p[1], p[2]])
        .collect();
    vec![ksni::Icon {
        width: width as i32,
        height: height as i32,
        data,
    }]
}

/// Shows the tray icon when the desktop has a tray; `None` (logged) when it has not. Must run
/// inside a tokio runtime.
pub async fn spawn_tray(signals: Arc<Signals>) -> Option<ksni::Handle<impl ksni::Tray>> {
    use ksni::TrayMethods;
    let tray = Tray {
        signals,
        icon: tray_icon(),
    };
    match tray.spawn().await {
        Ok(handle) => Some(handle),
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
