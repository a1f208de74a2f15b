//! One client per profile, many front ends: the process that runs the profile's worker (the
//! window, or `watch`/`join`/`ring` on the command line) serves the other front ends — more
//! command lines, status bars — over an owner-only socket in the profile's data directory.
//!
//! A front end connects and writes one JSON [`Request`] per line. It reads JSON [`Update`]s, one
//! per line: first the whole current state (signed in, connection, foci, every lobby, the rings),
//! then every change. Each front end has its own bounded queue: a reader that falls behind gets
//! the whole state again instead of holding up the worker or the others.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use matrix_sdk::ruma::OwnedRoomOrAliasId;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc};

use crate::matrix::{Command, RoomLobby, Update};
use crate::ring::RingAlert;
use crate::rtc::CallIntent;
use crate::rtc::ring::NotifyKind;

/// How many updates a front end may fall behind before it is sent the whole state again.
const QUEUE: usize = 256;
/// The longest request line a front end may send.
const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// How long one write to a front end may take before it is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// The socket of the profile whose data lives in `data_dir` (owner-only, like the directory).
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("front-ends.sock")
}

/// What a front end asks of the running instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// Only the state and its changes.
    Follow,
    /// Join a room's call (in the running instance, which stays in it).
    Join {
        /// Room id or alias.
        room: OwnedRoomOrAliasId,
        /// Audio or video.
        intent: CallIntent,
        /// Ring or notify the room once joined.
        notify: Option<NotifyKind>,
        /// Foci to prefer.
        foci: Vec<String>,
    },
    /// Join and ring.
    Ring {
        /// Room id or alias.
        room: OwnedRoomOrAliasId,
        /// Audio or video.
        intent: CallIntent,
    },
    /// Leave a room's call.
    Leave {
        /// Room id or alias.
        room: OwnedRoomOrAliasId,
    },
    /// Decline a ring.
    Decline {
        /// Room id or alias; `None` declines every ring.
        room: Option<OwnedRoomOrAliasId>,
    },
}

impl Request {
    /// The request for a worker command a front end may send; `None` for the others (signing in
    /// and out, settings and quitting stay with the instance).
    pub fn from_command(command: Command) -> Option<Self> {
        Some(match command {
            Command::Join {
                room,
                intent,
                notify,
                foci,
            } => Self::Join {
                room,
                intent,
                notify,
                foci,
            },
            Command::Ring { room, intent } => Self::Ring { room, intent },
            Command::Leave { room } => Self::Leave { room },
            Command::Decline { room } => Self::Decline { room },
            _ => return None,
        })
    }

    fn into_command(self) -> Option<Command> {
        Some(match self {
            Self::Follow => return None,
            Self::Join {
                room,
                intent,
                notify,
                foci,
            } => Command::Join {
                room,
                intent,
                notify,
                foci,
            },
            Self::Ring { room, intent } => Command::Ring { room, intent },
            Self::Leave { room } => Command::Leave { room },
            Self::Decline { room } => Command::Decline { room },
        })
    }
}

/// The state a newly attached front end is sent first.
#[derive(Debug, Default)]
struct Mirror {
    signed_in: Option<Update>,
    /// The worker said there is no session. Before it says either, it is still starting (or
    /// restoring the session), and a front end waits for what it says next.
    needs_login: bool,
    connection: Option<Update>,
    foci: Option<Update>,
    /// `None` until the first sync: a front end then waits for [`Update::Rooms`].
    rooms: Option<BTreeMap<String, RoomLobby>>,
    ringing: Vec<RingAlert>,
}

impl Mirror {
    fn apply(&mut self, update: &Update) {
        match update {
            Update::SignedIn { .. } => {
                self.signed_in = Some(update.clone());
                self.needs_login = false;
            }
            Update::SignedOut => *self = Self::default(),
            Update::NeedsLogin => {
                *self = Self {
                    needs_login: true,
                    ..Self::default()
                };
            }
            Update::Connection { .. } => self.connection = Some(update.clone()),
            Update::Foci { .. } => self.foci = Some(update.clone()),
            Update::Rooms { rooms } => {
                self.rooms = Some(
                    rooms
                        .iter()
                        .map(|r| (r.room_id.clone(), r.clone()))
                        .collect(),
                );
            }
            Update::Lobby { lobby } => {
                if let Some(rooms) = &mut self.rooms {
                    rooms.insert(lobby.room_id.clone(), lobby.clone());
                }
            }
            Update::Ringing { alert } => {
                self.ringing
                    .retain(|a| a.call.notification_event_id != alert.call.notification_event_id);
                self.ringing.push(alert.clone());
            }
            Update::RingStopped { call, .. } => self
                .ringing
                .retain(|a| a.call.notification_event_id != call.notification_event_id),
            _ => {}
        }
    }

    fn snapshot(&self) -> Vec<Update> {
        if self.signed_in.is_none() {
            return if self.needs_login {
                vec![Update::NeedsLogin]
            } else {
                Vec::new()
            };
        }
        let mut updates: Vec<Update> = [&self.signed_in, &self.connection, &self.foci]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        if let Some(rooms) = &self.rooms {
            let mut rooms: Vec<RoomLobby> = rooms.values().cloned().collect();
            rooms.sort_by(|a, b| a.name.cmp(&b.name).then(a.room_id.cmp(&b.room_id)));
            updates.push(Update::Rooms { rooms });
        }
        updates.extend(self.ringing.iter().map(|alert| Update::Ringing {
            alert: alert.clone(),
        }));
        updates
    }
}

/// The running instance's end: it hears every update of its worker and serves front ends.
pub struct Hub {
    /// Set once the socket is served (a new worker after signing in again keeps it).
    listening: std::sync::atomic::AtomicBool,
    mirror: Mutex<Mirror>,
    updates: broadcast::Sender<Update>,
    commands: Mutex<Option<mpsc::UnboundedSender<Command>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves plain data behind: keep using it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Hub {
    /// A hub with no front end yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            listening: std::sync::atomic::AtomicBool::new(false),
            mirror: Mutex::default(),
            updates: broadcast::channel(QUEUE).0,
            commands: Mutex::new(None),
        })
    }

    /// Where front ends' requests go: the current worker (a new one after signing in again).
    pub fn set_commands(&self, commands: mpsc::UnboundedSender<Command>) {
        *lock(&self.commands) = Some(commands);
    }

    /// Hears one update of the worker and passes it on to every front end. Never blocks.
    pub fn publish(&self, update: &Update) {
        // A new recovery key is for the front end that asked for it only.
        if matches!(update, Update::RecoveryKey { .. }) {
            return;
        }
        let mut mirror = lock(&self.mirror);
        mirror.apply(update);
        // Under the same lock as the mirror, so a front end attaching now misses nothing.
        // Nobody listening is fine.
        self.updates.send(update.clone()).ok();
    }

    /// The current state, and a receiver of every change from then on.
    fn attach(&self) -> (Vec<Update>, broadcast::Receiver<Update>) {
        let mirror = lock(&self.mirror);
        (mirror.snapshot(), self.updates.subscribe())
    }

    /// Serves front ends on `path` beside the caller, on the current tokio runtime (once: later
    /// calls change nothing). A stale socket file (from a process that crashed) is replaced;
    /// the caller holds the profile's lock, so no live instance owns it.
    pub fn listen(self: &Arc<Self>, path: &Path) -> std::io::Result<()> {
        if self
            .listening
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            return Ok(());
        }
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let listener = UnixListener::bind(path)?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
        let hub = self.clone();
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        tokio::spawn(hub.clone().serve(stream));
                    }
                    Err(e) => {
                        tracing::debug!("front-end socket: {e}");
                        return;
                    }
                }
            }
        });
        Ok(())
    }

    /// Serves one front end until it goes away.
    async fn serve(self: Arc<Self>, stream: UnixStream) {
        let (read, mut write) = stream.into_split();
        let (snapshot, mut updates) = self.attach();
        for update in &snapshot {
            if !send(&mut write, update).await {
                return;
            }
        }
        let mut lines = BufReader::new(read.take(MAX_REQUEST_BYTES as u64 * 64)).lines();
        loop {
            tokio::select! {
                line = lines.next_line() => match line {
                    Ok(Some(line)) if line.len() <= MAX_REQUEST_BYTES => self.take(&line),
                    // Gone, unreadable or too long: this front end is done.
                    _ => return,
                },
                update = updates.recv() => match update {
                    Ok(update) => {
                        if !send(&mut write, &update).await {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::debug!("a front end fell {missed} updates behind: sending it all again");
                        let (snapshot, fresh) = self.attach();
                        updates = fresh;
                        for update in &snapshot {
                            if !send(&mut write, update).await {
                                return;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    }

    fn take(&self, line: &str) {
        let request: Request = match serde_json::from_str(line) {
            Ok(request) => request,
            Err(e) => {
                tracing::debug!("a front end sent an unreadable request: {e}");
                return;
            }
        };
        let Some(command) = request.into_command() else {
            return;
        };
        let sent = lock(&self.commands)
            .as_ref()
            .is_some_and(|commands| commands.send(command).is_ok());
        if !sent {
            tracing::debug!("a front end's request came while no worker runs");
        }
    }
}

/// Writes one update as a line; `false` when the front end is gone or too slow.
async fn send(write: &mut (impl AsyncWrite + Unpin), update: &Update) -> bool {
    let Ok(mut line) = serde_json::to_vec(update) else {
        return true;
    };
    line.push(b'\n');
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, write.write_all(&line)).await,
        Ok(Ok(()))
    )
}

/// A front end's connection to the running instance of a profile.
pub struct Remote {
    /// The instance's updates, the current state first.
    pub updates: mpsc::UnboundedReceiver<Update>,
    /// Requests to the instance.
    pub requests: mpsc::UnboundedSender<Request>,
}

/// Connects to the instance running for the profile in `data_dir`, if one is.
pub async fn connect(data_dir: &Path) -> Option<Remote> {
    let stream = UnixStream::connect(socket_path(data_dir)).await.ok()?;
    let (read, mut write) = stream.into_split();
    let (update_tx, updates) = mpsc::unbounded_channel();
    let (requests, mut request_rx) = mpsc::unbounded_channel::<Request>();
    requests.send(Request::Follow).ok()?;
    tokio::spawn(async move {
        while let Some(request) = request_rx.recv().await {
            let Ok(mut line) = serde_json::to_vec(&request) else {
                continue;
            };
            line.push(b'\n');
            if write.write_all(&line).await.is_err() {
                return;
            }
        }
    });
    tokio::spawn(async move {
        let mut lines = BufReader::new(read).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            match serde_json::from_str::<Update>(&line) {
                Ok(update) => {
                    if update_tx.send(update).is_err() {
                        return;
                    }
                }
                Err(e) => tracing::debug!("an unreadable update from the instance: {e}"),
            }
        }
    });
    Some(Remote { updates, requests })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_front_end_attached_while_the_session_is_restored_waits_for_it() {
        let mut mirror = Mirror::default();
        assert!(
            mirror.snapshot().is_empty(),
            "still starting: nothing to say yet"
        );
        mirror.apply(&Update::NeedsLogin);
        assert!(matches!(mirror.snapshot().as_slice(), [Update::NeedsLogin]));
        mirror.apply(&Update::SignedIn {
            user_id: "@me:example.org".into(),
            device_id: "ME".into(),
        });
        assert!(matches!(
            mirror.snapshot().as_slice(),
            [Update::SignedIn { .. }]
        ));
        mirror.apply(&Update::SignedOut);
        assert!(mirror.snapshot().is_empty(), "a new worker is starting");
    }
}
