//! Profiles, where their files live, and the settings in their config file.
//!
//! Each profile (`--profile NAME`, `VESTIBULE_PROFILE`, default `default`) is a separate account
//! with its own data directory (the encrypted store and, with the file secret store, the secret),
//! config file and keyring entry. `VESTIBULE_DATA_DIR` moves the whole data root, config included,
//! which is what the tests use.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::rtc::publish::PublishForm;

/// The reverse-DNS application id: the name of our directories and keyring service.
pub const APP_ID: &str = "im.vestibule.Vestibule";

/// The profile used when none is named.
pub const DEFAULT_PROFILE: &str = "default";

/// Why a profile's files could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The profile name would escape its directory or is empty.
    #[error("The profile name {0:?} is not usable: use letters, digits, '-' and '_'.")]
    BadProfileName(String),
    /// No home directory to put our files in.
    #[error("No home directory was found: set VESTIBULE_DATA_DIR to a folder Vestibule may use.")]
    NoHome,
    /// A directory could not be created.
    #[error("Could not create {path}: {source}.")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A file or directory could not be made owner-only.
    #[error("Could not make {path} private to you: {source}.")]
    Private {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
}

/// Where one profile's files live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfilePaths {
    /// The profile's name.
    pub profile: String,
    /// The data directory: the store, the lock, and the file secret store.
    pub data_dir: PathBuf,
    /// The config file.
    pub config_file: PathBuf,
    /// The state directory: the log files.
    pub state_dir: PathBuf,
}

impl ProfilePaths {
    /// The paths of `profile`, honouring `VESTIBULE_DATA_DIR`.
    pub fn resolve(profile: &str) -> Result<Self, ConfigError> {
        let valid = !profile.is_empty()
            && profile.len() <= 64
            && profile
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(ConfigError::BadProfileName(profile.to_owned()));
        }
        if let Some(root) = std::env::var_os("VESTIBULE_DATA_DIR").filter(|v| !v.is_empty()) {
            let dir = PathBuf::from(root).join(profile);
            return Ok(Self {
                profile: profile.to_owned(),
                config_file: dir.join("config.toml"),
                state_dir: dir.join("state"),
                data_dir: dir,
            });
        }
        let base = directories::BaseDirs::new().ok_or(ConfigError::NoHome)?;
        let state_root = base.state_dir().unwrap_or(base.data_local_dir());
        Ok(Self {
            profile: profile.to_owned(),
            state_dir: state_root.join(APP_ID).join(profile),
            data_dir: base.data_dir().join(APP_ID).join(profile),
            config_file: base
                .config_dir()
                .join(APP_ID)
                .join(profile)
                .join("config.toml"),
        })
    }

    /// The encrypted sqlite store.
    pub fn store_dir(&self) -> PathBuf {
        self.data_dir.join("store")
    }

    /// The lock that keeps two processes off one store.
    pub fn lock_file(&self) -> PathBuf {
        self.data_dir.join("lock")
    }

    /// The log file (rotated by size).
    pub fn log_file(&self) -> PathBuf {
        self.state_dir.join("vestibule.log")
    }

    /// The owner-only secret file, when the file secret store is chosen.
    pub fn secret_file(&self) -> PathBuf {
        self.data_dir.join("secret.json")
    }

    /// Creates the data directory if it is missing, and makes it and everything in it
    /// owner-only, whoever created them first (the log, the SDK's store).
    pub fn create_data_dir(&self) -> Result<(), ConfigError> {
        create_private_dir(&self.data_dir)?;
        restrict_tree(&self.data_dir)
    }
}

/// Creates `dir` and its parents; the last one is made (or, if it exists, turned) readable by
/// its owner only.
pub fn create_private_dir(dir: &Path) -> Result<(), ConfigError> {
    use std::os::unix::fs::DirBuilderExt;
    let err = |source| ConfigError::CreateDir {
        path: dir.to_owned(),
        source,
    };
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            restrict(dir).map_err(|source| ConfigError::Private {
                path: dir.to_owned(),
                source,
            })
        }
        Err(e) => Err(err(e)),
    }
}

/// Takes the group's and others' permissions from `path` (not following a symlink).
fn restrict(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(path)?;
    let mode = meta.permissions().mode();
    if meta.file_type().is_symlink() || mode & 0o077 == 0 {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & !0o077))
}

/// [`restrict`] for `dir` and everything under it; what vanishes meanwhile (a database's
/// journal) is skipped.
fn restrict_tree(dir: &Path) -> Result<(), ConfigError> {
    let err = |path: &Path, source| ConfigError::Private {
        path: path.to_owned(),
        source,
    };
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    let mut pending = vec![dir.to_owned()];
    while let Some(path) = pending.pop() {
        match restrict(&path) {
            Err(e) if !gone(&e) => return Err(err(&path, e)),
            _ => {}
        }
        let is_dir = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
        if !is_dir {
            continue;
        }
        let entries = match std::fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(e) if gone(&e) => continue,
            Err(e) => return Err(err(&path, e)),
        };
        pending.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
    }
    Ok(())
}

/// The settings of one profile, from its config file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Call settings.
    pub calls: CallSettings,
    /// Ring settings.
    pub ring: RingSettings,
    /// Window settings.
    pub window: WindowSettings,
}

/// How the window behaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WindowSettings {
    /// The web client that "Open in Element Call" opens; `{room_id}` is replaced by the room's
    /// id (URL-encoded).
    pub web_client_url: String,
    /// Light, dark, or as the desktop prefers.
    pub appearance: Appearance,
}

/// The window's colours (`[window] appearance`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Appearance {
    /// As the desktop prefers (the XDG settings portal's `color-scheme`).
    #[default]
    Desktop,
    /// Always light.
    Light,
    /// Always dark.
    Dark,
}

impl Default for WindowSettings {
    fn default() -> Self {
        Self {
            web_client_url: "https://app.element.io/#/room/{room_id}".into(),
            appearance: Appearance::Desktop,
        }
    }
}

impl WindowSettings {
    /// The web client's URL for a room.
    pub fn web_client_link(&self, room_id: &str) -> String {
        let encoded: String = room_id
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        self.web_client_url.replace("{room_id}", &encoded)
    }
}

/// How we join and ring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallSettings {
    /// The user's own SFU foci (LiveKit JWT service URLs), best first; they come before the
    /// homeserver's.
    pub foci: Vec<String>,
    /// The membership forms to publish.
    pub publish_forms: Vec<PublishForm>,
    /// Also send the brief's `m.rtc.notify` with each ring.
    pub publish_rtc_notify: bool,
}

impl Default for CallSettings {
    fn default() -> Self {
        Self {
            foci: Vec::new(),
            publish_forms: PublishForm::DEFAULT.to_vec(),
            publish_rtc_notify: true,
        }
    }
}

/// When and how we ring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RingSettings {
    /// Show and play nothing for incoming calls (they still reach the window and the CLI).
    pub do_not_disturb: bool,
    /// Rooms (ids) whose calls neither show nor play.
    pub muted_rooms: Vec<String>,
    /// A sound file (WAV, Ogg Vorbis, FLAC or MP3) to ring with instead of the built-in tone.
    pub ringtone: Option<PathBuf>,
    /// The ringtone's volume, 0.0 to 1.0.
    pub volume: f32,
}

impl Default for RingSettings {
    fn default() -> Self {
        Self {
            do_not_disturb: false,
            muted_rooms: Vec::new(),
            ringtone: None,
            volume: 0.8,
        }
    }
}

impl Settings {
    /// Reads the settings; a missing file gives the defaults, a broken one gives the defaults
    /// and a sentence naming the line.
    pub fn load(path: &Path) -> (Self, Option<String>) {
        match std::fs::read_to_string(path) {
            Ok(text) => match toml::from_str(&text) {
                Ok(settings) => (settings, None),
                Err(e) => {
                    let line = e
                        .span()
                        .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
                    let place = line.map(|l| format!(" line {l}")).unwrap_or_default();
                    let sentence = format!(
                        "The config file {}{place} could not be read ({}); using the defaults.",
                        path.display(),
                        e.message()
                    );
                    (Self::default(), Some(sentence))
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Self::default(), None),
            Err(e) => (
                Self::default(),
                Some(format!(
                    "The config file {} could not be read ({e}); using the defaults.",
                    path.display()
                )),
            ),
        }
    }
}

impl Settings {
    /// Writes the settings, first copying what the file held to `<file>.bak` so that nothing
    /// the user wrote (comments included) is lost. The new file is written beside, synced and
    /// renamed over the old one: a full disk or a crash leaves the previous file as it was.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let fail = |e: &std::io::Error| save_sentence(path, e);
        let text = self
            .to_toml()
            .map_err(|e| format!("The settings could not be written out ({e})."))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
        }
        match std::fs::read(path) {
            Ok(old) if old == text.as_bytes() => return Ok(()),
            Ok(old) => {
                // What Vestibule wrote itself is re-created from the settings; anything else
                // (comments, a layout of one's own, a broken file) was written by a person.
                let ours = Self::load(path)
                    .0
                    .to_toml()
                    .is_ok_and(|t| t.as_bytes() == old.as_slice());
                if !ours {
                    write_replacing(&backup_path(path), &old).map_err(|e| fail(&e))?;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(fail(&e)),
        }
        write_replacing(path, text.as_bytes()).map_err(|e| fail(&e))
    }
}

/// Replaces `path` with `bytes`: written to `<path>.new` beside it, synced, renamed over it and
/// the folder synced. On failure the `.new` file is removed and `path` is as it was.
pub fn write_replacing(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with_mode(path, bytes, 0o666)
}

/// [`write_replacing`] for a file only its owner may read (mode 0600 whatever the umask).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with_mode(path, bytes, 0o600)
}

fn write_with_mode(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".new");
    let temp = path.with_file_name(name);
    // A leftover temp file from a crash may have other permissions: start afresh.
    std::fs::remove_file(&temp).ok();
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temp, path));
    if let Err(e) = written {
        // Best effort: the temp file may not exist, and the error that matters is `e`.
        std::fs::remove_file(&temp).ok();
        return Err(e);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename is durable once the folder is synced; where folders cannot be synced
        // (some file systems refuse), the file itself is already complete.
        std::fs::File::open(dir).and_then(|d| d.sync_all()).ok();
    }
    Ok(())
}

/// Why writing to disk failed, in the terms a person can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskProblem {
    /// No space left (or the quota is used up).
    Full,
    /// The folder is read-only or not ours to write.
    NotWritable,
}

impl DiskProblem {
    /// What `e` means, or `None` when the system's own words are all there is.
    pub fn of(e: &std::io::Error) -> Option<Self> {
        use std::io::ErrorKind;
        match e.kind() {
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::FileTooLarge => {
                Some(Self::Full)
            }
            ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => Some(Self::NotWritable),
            _ => None,
        }
    }
}

/// The sentence for settings that could not be saved to `path`.
fn save_sentence(path: &Path, e: &std::io::Error) -> String {
    tracing::debug!("saving {}: {e:?}", path.display());
    let folder = path.parent().unwrap_or(path).display();
    match DiskProblem::of(e) {
        Some(DiskProblem::Full) => "The settings could not be saved: the disk is full. Free some \
             space and change the setting again; the previous settings are kept."
            .to_owned(),
        Some(DiskProblem::NotWritable) => format!(
            "The settings could not be saved: the folder {folder} is not writable; the previous \
             settings are kept."
        ),
        None => format!(
            "The settings could not be saved to {} ({e}); the previous settings are kept.",
            path.display()
        ),
    }
}

impl Settings {
    fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(self)
    }
}

/// Where [`Settings::save`] keeps the previous file.
pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".bak");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names_cannot_escape() {
        for bad in ["", "../x", "a/b", "a b", "."] {
            assert!(ProfilePaths::resolve(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn broken_config_names_its_line_and_keeps_defaults() {
        let dir = std::env::temp_dir().join(format!("vestibule-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config.toml");
        std::fs::write(
            &file,
            "[calls]\nfoci = [\"https://a\"]\n\n[ring]\ndo_not_disturb = maybe\n",
        )
        .unwrap();
        let (settings, warning) = Settings::load(&file);
        assert_eq!(settings, Settings::default());
        let warning = warning.unwrap();
        assert!(warning.contains("line 5"), "{warning}");
        std::fs::write(
            &file,
            "[calls]\nfoci = [\"https://a\"]\npublish_forms = [\"session\"]\n",
        )
        .unwrap();
        let (settings, warning) = Settings::load(&file);
        assert_eq!(warning, None);
        assert_eq!(settings.calls.foci, ["https://a"]);
        assert_eq!(settings.calls.publish_forms, [PublishForm::Session]);
        assert!(settings.calls.publish_rtc_notify);
        let (settings, warning) = Settings::load(&dir.join("missing.toml"));
        assert_eq!((settings, warning), (Settings::default(), None));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn saving_keeps_a_backup_of_what_the_user_wrote() {
        let dir = std::env::temp_dir().join(format!("vestibule-save-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config.toml");
        let written = "# my foci\n[calls]\nfoci = [\"https://a\"]\n";
        std::fs::write(&file, written).unwrap();
        let (mut settings, _) = Settings::load(&file);
        settings.calls.foci.push("https://b".into());
        settings.ring.volume = 0.5;
        settings.save(&file).unwrap();
        assert_eq!(
            std::fs::read_to_string(backup_path(&file)).unwrap(),
            written
        );
        let (read_back, warning) = Settings::load(&file);
        assert_eq!(warning, None);
        assert_eq!(read_back, settings);
        // Later saves replace only what Vestibule wrote: the person's file stays backed up.
        settings.ring.do_not_disturb = true;
        settings.save(&file).unwrap();
        assert_eq!(
            std::fs::read_to_string(backup_path(&file)).unwrap(),
            written
        );
        assert_eq!(Settings::load(&file).0, settings);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A mount made for a test, unmounted when dropped.
    struct Mount(PathBuf);

    impl Mount {
        /// Mounts with `mount ARGS… DIR`; `None` where this process may not mount (not root).
        fn new(dir: &Path, args: &[&str]) -> Option<Self> {
            let status = std::process::Command::new("mount")
                .args(args)
                .arg(dir)
                .stderr(std::process::Stdio::null())
                .status()
                .ok()?;
            status.success().then(|| Self(dir.to_owned()))
        }
    }

    impl Drop for Mount {
        fn drop(&mut self) {
            std::process::Command::new("umount")
                .arg(&self.0)
                .status()
                .ok();
        }
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn changed_settings() -> Settings {
        let mut settings = Settings::default();
        settings.calls.foci = (0..400)
            .map(|i| format!("https://sfu{i}.example.org"))
            .collect();
        settings
    }

    #[test]
    fn disk_problems_are_named_from_the_system_errors() {
        let of = |code| DiskProblem::of(&std::io::Error::from_raw_os_error(code));
        // ENOSPC, EDQUOT, EROFS, EACCES, EPERM; ENOENT says nothing more than the system.
        assert_eq!(of(28), Some(DiskProblem::Full));
        assert_eq!(of(122), Some(DiskProblem::Full));
        assert_eq!(of(30), Some(DiskProblem::NotWritable));
        assert_eq!(of(13), Some(DiskProblem::NotWritable));
        assert_eq!(of(1), Some(DiskProblem::NotWritable));
        assert_eq!(of(2), None);
    }

    #[test]
    fn saving_into_a_folder_that_is_not_writable_keeps_the_old_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("vestibule-ro-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config.toml");
        let written = "# mine\n[ring]\nvolume = 0.3\n";
        std::fs::write(&file, written).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        // Root writes through permissions: make the folder a read-only bind mount instead.
        let mount = std::fs::write(dir.join("probe"), b"").is_ok().then(|| {
            std::fs::remove_file(dir.join("probe")).unwrap();
            let source = dir.display().to_string();
            let bound = Mount::new(&dir, &["--bind", &source]).expect("a bind mount as root");
            let ro = std::process::Command::new("mount")
                .args(["-o", "remount,ro,bind"])
                .arg(&dir)
                .status()
                .unwrap();
            assert!(ro.success());
            bound
        });
        let error = changed_settings().save(&file).unwrap_err();
        assert!(
            error.contains("is not writable") && error.contains(&dir.display().to_string()),
            "{error}"
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), written);
        assert_eq!(entries(&dir), ["config.toml"], "nothing stray is left");
        drop(mount);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn saving_onto_a_full_disk_keeps_the_old_file() {
        let dir = std::env::temp_dir().join(format!("vestibule-full-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let Some(mount) = Mount::new(&dir, &["-t", "tmpfs", "-o", "size=64k", "tmpfs"]) else {
            // Only root can mount the tiny file system; the mapping itself is tested above.
            eprintln!("skipped: no tmpfs can be mounted here");
            std::fs::remove_dir_all(&dir).unwrap();
            return;
        };
        let file = dir.join("config.toml");
        let before = Settings::default();
        before.save(&file).unwrap();
        let written = std::fs::read_to_string(&file).unwrap();
        // Fill what is left.
        let mut filler = std::fs::File::create(dir.join("filler")).unwrap();
        let chunk = [0u8; 4096];
        while std::io::Write::write_all(&mut filler, &chunk).is_ok() {}
        drop(filler);
        let error = changed_settings().save(&file).unwrap_err();
        assert!(error.contains("the disk is full"), "{error}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), written);
        assert_eq!(
            entries(&dir),
            ["config.toml", "filler"],
            "nothing stray is left"
        );
        drop(mount);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_data_directory_becomes_owner_only_whoever_made_it() {
        use std::os::unix::fs::PermissionsExt;
        let root = std::env::temp_dir().join(format!("vestibule-private-{}", std::process::id()));
        std::fs::remove_dir_all(&root).ok();
        let data = root.join("default");
        // As the log leaves it with VESTIBULE_DATA_DIR: the data directory made as a parent.
        std::fs::create_dir_all(data.join("state")).unwrap();
        std::fs::create_dir_all(data.join("store")).unwrap();
        std::fs::write(data.join("store/matrix-sdk-state.sqlite3"), b"").unwrap();
        std::fs::write(data.join("state/vestibule.log"), b"").unwrap();
        let open = std::fs::Permissions::from_mode(0o755);
        for dir in [&root, &data, &data.join("store"), &data.join("state")] {
            std::fs::set_permissions(dir, open.clone()).unwrap();
        }
        std::fs::set_permissions(
            data.join("store/matrix-sdk-state.sqlite3"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let paths = ProfilePaths {
            profile: "default".into(),
            config_file: data.join("config.toml"),
            state_dir: data.join("state"),
            data_dir: data.clone(),
        };
        paths.create_data_dir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("store")), 0o700);
        assert_eq!(mode(&data.join("state")), 0o700);
        assert_eq!(mode(&data.join("store/matrix-sdk-state.sqlite3")), 0o600);
        assert_eq!(mode(&data.join("state/vestibule.log")), 0o600);
        assert_eq!(mode(&root), 0o755, "the folder above is not ours to change");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn web_client_link_encodes_the_room() {
        let window = WindowSettings::default();
        assert_eq!(
            window.web_client_link("!abc:example.org"),
            "https://app.element.io/#/room/%21abc%3Aexample.org"
        );
    }
}
