//! A private session bus and a notification server written for the tests, to see what the
//! ringer shows and to press its buttons.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use zbus::zvariant::OwnedValue;

/// A private session bus, stopped on drop.
pub struct Bus {
    pub address: String,
    daemon: Child,
}

impl Bus {
    pub fn start() -> Self {
        let mut daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon is installed (the test command installs it)");
        let mut line = String::new();
        BufReader::new(daemon.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Self {
            address: line.trim().to_owned(),
            daemon,
        }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// One `Notify` call as the server received it.
#[derive(Debug, Clone)]
pub struct Notified {
    pub id: u32,
    /// The notification it replaces (0: none).
    pub replaces_id: u32,
    pub app_name: String,
    pub summary: String,
    pub body: String,
    pub actions: Vec<String>,
    pub category: Option<String>,
    pub urgency: Option<u8>,
    /// When it arrived.
    pub at: Instant,
}

#[derive(Default)]
struct Record {
    notified: Vec<Notified>,
    closed: Vec<u32>,
}

struct NotificationServer {
    record: Arc<Mutex<Record>>,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl NotificationServer {
    #[allow(clippy::too_many_arguments)]
    async fn notify(
        &self,
        app_name: String,
        replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        hints: std::collections::HashMap<String, OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        let mut record = self.record.lock().unwrap();
        // As the specification says: a replacement keeps the id it replaces.
        let id = match replaces_id {
            0 => record.notified.len() as u32 + 1,
            id => id,
        };
        let category = hints
            .get("category")
            .and_then(|v| String::try_from(v.clone()).ok());
        let urgency = hints
            .get("urgency")
            .and_then(|v| u8::try_from(v.clone()).ok());
        record.notified.push(Notified {
            id,
            replaces_id,
            app_name,
            summary,
            body,
            actions,
            category,
            urgency,
            at: Instant::now(),
        });
        id
    }

    async fn close_notification(
        &self,
        id: u32,
        #[zbus(signal_emitter)] emitter: zbus::object_server::SignalEmitter<'_>,
    ) {
        self.record.lock().unwrap().closed.push(id);
        let _ = Self::notification_closed(&emitter, id, 3).await;
    }

    async fn get_capabilities(&self) -> Vec<String> {
        // Like GNOME Shell and KDE Plasma: bodies are read as markup.
        vec!["actions".into(), "body".into(), "body-markup".into()]
    }

    async fn get_server_information(&self) -> (String, String, String, String) {
        (
            "vestibule-test".into(),
            "vestibule".into(),
            "1".into(),
            "1.2".into(),
        )
    }

    #[zbus(signal)]
    async fn action_invoked(
        emitter: &zbus::object_server::SignalEmitter<'_>,
        id: u32,
        action_key: &str,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn notification_closed(
        emitter: &zbus::object_server::SignalEmitter<'_>,
        id: u32,
        reason: u32,
    ) -> zbus::Result<()>;
}

pub struct Server {
    record: Arc<Mutex<Record>>,
    connection: zbus::Connection,
}

impl Server {
    pub async fn start(bus: &Bus) -> Self {
        let record = Arc::new(Mutex::new(Record::default()));
        let connection = zbus::connection::Builder::address(bus.address.as_str())
            .unwrap()
            .name("org.freedesktop.Notifications")
            .unwrap()
            .serve_at(
                "/org/freedesktop/Notifications",
                NotificationServer {
                    record: record.clone(),
                },
            )
            .unwrap()
            .build()
            .await
            .unwrap();
        Self { record, connection }
    }

    pub fn notified(&self) -> Vec<Notified> {
        self.record.lock().unwrap().notified.clone()
    }

    pub fn closed(&self) -> Vec<u32> {
        self.record.lock().unwrap().closed.clone()
    }

    pub async fn invoke(&self, id: u32, action: &str) {
        let emitter = zbus::object_server::SignalEmitter::new(
            &self.connection,
            "/org/freedesktop/Notifications",
        )
        .unwrap();
        NotificationServer::action_invoked(&emitter, id, action)
            .await
            .unwrap();
    }
}

/// Writes, in `dir`, an ALSA configuration whose default output writes the WAV file it returns
/// beside the configuration's path.
pub fn alsa_to_file(dir: &Path) -> (PathBuf, PathBuf) {
    let wav = dir.join("out.wav");
    let conf = dir.join("asound.conf");
    let text = format!(
        "</usr/share/alsa/alsa.conf>\npcm.!default {{ type plug slave {{ pcm \"tofile\" format S16_LE }} }}\n\
         pcm.tofile {{ type file slave.pcm \"null\" file \"{}\" format \"wav\" }}\n",
        wav.display()
    );
    std::fs::write(&conf, text).expect("the ALSA configuration is written");
    (conf, wav)
}
