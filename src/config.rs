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

    /// Creates the data directory (owner-only) if it is missing.
    pub fn create_data_dir(&self) -> Result<(), ConfigError> {
        create_private_dir(&self.data_dir)
    }
}

/// Creates `dir` and its parents; the last one is made readable by its owner only.
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
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(err(e)),
    }
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
}

impl Default for WindowSettings {
    fn default() -> Self {
        Self {
            web_client_url: "https://app.element.io/#/room/{room_id}".into(),
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
    /// the user wrote (comments included) is lost.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let fail = |e: &dyn std::fmt::Display| {
            format!(
                "The settings could not be saved to {} ({e}).",
                path.display()
            )
        };
        let text = self.to_toml().map_err(|e| fail(&e))?;
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
                    std::fs::write(backup_path(path), old).map_err(|e| fail(&e))?;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(fail(&e)),
        }
        // Write beside and rename, so a crash never leaves half a file.
        let temp = path.with_extension("toml.new");
        std::fs::write(&temp, text).map_err(|e| fail(&e))?;
        std::fs::rename(&temp, path).map_err(|e| fail(&e))
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

    #[test]
    fn web_client_link_encodes_the_room() {
        let window = WindowSettings::default();
        assert_eq!(
            window.web_client_link("!abc:example.org"),
            "https://app.element.io/#/room/%21abc%3Aexample.org"
        );
    }
}
