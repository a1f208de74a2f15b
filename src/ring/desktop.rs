//! The desktop ringer: the ringtone plus a desktop notification with Answer and Decline.
//!
//! Either half may be missing (no sound card, no notification service): each says so once
//! through the warning callback and the other half keeps working.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use notify_rust::{Hint, Notification, NotificationResponse, Timeout, Urgency};
use tokio::sync::mpsc::UnboundedSender;

use super::audio::{AudioEvent, AudioPlayer, Ringtone};
use super::{AlertOrigin, RingAlert, RingAnswer, Ringer};
use crate::config::APP_ID;
use crate::rtc::CallIntent;
use crate::rtc::ring::{IncomingCall, NotifyKind, StopReason};

/// Receives one-sentence warnings (and, for benchmarks, timings) from the ringer.
pub type WarningSink = Arc<dyn Fn(String) + Send + Sync>;

/// A ring on screen: its alert and its notification, once shown.
struct Shown {
    alert: RingAlert,
    handle: Option<Arc<notify_rust::NotificationHandle>>,
}

/// Plays the ringtone and shows desktop notifications, as a [`Ringer`].
pub struct DesktopRinger {
    audio: AudioPlayer,
    /// The tone's file (`None`: built in), the tone and its volume; the settings may change
    /// them while running.
    sound: Mutex<(Option<PathBuf>, Ringtone, f32)>,
    runtime: tokio::runtime::Handle,
    /// Where Answer and Decline from a notification go.
    answers: UnboundedSender<RingAnswer>,
    shown: Arc<Mutex<HashMap<String, Shown>>>,
    warn: WarningSink,
    told_no_notifications: Arc<AtomicBool>,
}

impl DesktopRinger {
    /// A ringer playing `ringtone` (the built-in one when `None` or unusable, said through
    /// `warn`) at `volume` (0.0–1.0), reporting what the person does with a notification to
    /// `answers`. Must be created inside a tokio runtime.
    pub fn new(
        ringtone: Option<&Path>,
        volume: f32,
        warn: WarningSink,
        answers: UnboundedSender<RingAnswer>,
    ) -> Self {
        let (tone, problem) = Ringtone::chosen(ringtone);
        if let Some(sentence) = problem {
            warn(sentence);
        }
        let audio_warn = warn.clone();
        let audio = AudioPlayer::spawn(move |event| match event {
            AudioEvent::Unavailable(sentence) => audio_warn(sentence),
            AudioEvent::Started(after) => {
                tracing::debug!("ringtone started {after:?} after the ring")
            }
        });
        Self {
            audio,
            sound: Mutex::new((ringtone.map(Path::to_path_buf), tone, volume)),
            runtime: tokio::runtime::Handle::current(),
            answers,
            shown: Arc::new(Mutex::new(HashMap::new())),
            warn,
            told_no_notifications: Arc::new(AtomicBool::new(false)),
        }
    }

    fn summary(call: &IncomingCall) -> &'static str {
        match call.intent {
            Some(CallIntent::Video) => "Incoming video call",
            Some(CallIntent::Audio) => "Incoming audio call",
            _ => "Incoming call",
        }
    }
}

/// The notification of an incoming call (critical for a ring, normal for a notification).
fn incoming_notification(alert: &RingAlert) -> Notification {
    let mut notification = Notification::new();
    notification
        .appname(APP_ID)
        .hint(Hint::DesktopEntry(APP_ID.into()))
        .summary(DesktopRinger::summary(&alert.call))
        .body(&format!("{} in {}", alert.caller_name, alert.room_name))
        .icon(APP_ID)
        .hint(Hint::Category("call.incoming".into()))
        .timeout(Timeout::Never)
        .urgency(if alert.call.kind == NotifyKind::Ring {
            Urgency::Critical
        } else {
            Urgency::Normal
        });
    notification
}

/// A ring's notification on its way to the screen, and what it needs there.
struct Showing {
    notification: Notification,
    /// The notification event id the ring is shown under.
    id: String,
    room_id: String,
    /// A real call (else a test ring, which offers no actions).
    is_call: bool,
    shown: Arc<Mutex<HashMap<String, Shown>>>,
    answers: UnboundedSender<RingAnswer>,
    warn: WarningSink,
    told_no_notifications: Arc<AtomicBool>,
}

impl Showing {
    /// Shows the notification and reports Answer or Decline, unless the ring stopped meanwhile.
    async fn run(mut self) {
        // Offer Answer and Decline only where the notification service shows actions.
        let capabilities = tokio::task::spawn_blocking(notify_rust::get_capabilities).await;
        let actions = capabilities.is_ok_and(|c| c.is_ok_and(|c| c.iter().any(|c| c == "actions")));
        if actions && self.is_call {
            self.notification
                .action("answer", "Answer")
                .action("decline", "Decline");
        }
        let handle = match self.notification.show_async().await {
            Ok(handle) => Arc::new(handle),
            Err(e) => {
                tracing::debug!("no notification service: {e}");
                if !self.told_no_notifications.swap(true, Ordering::Relaxed) {
                    (self.warn)(
                        "No notification service is running: calls will ring but show no notification."
                            .into(),
                    );
                }
                return;
            }
        };
        let still_ringing = match lock(&self.shown).get_mut(&self.id) {
            Some(entry) => {
                entry.handle = Some(handle.clone());
                true
            }
            None => false,
        };
        if !still_ringing {
            // The ring stopped while the notification was on its way.
            handle.close_async().await;
            return;
        }
        let (room_id, is_call, answers) = (self.room_id, self.is_call, self.answers);
        handle
            .wait_for_action_async(|action| {
                let room_id = room_id.clone();
                let answer = match action {
                    NotificationResponse::Default if is_call => {
                        Some(RingAnswer::Answer { room_id })
                    }
                    NotificationResponse::Action(key) if key == "answer" => {
                        Some(RingAnswer::Answer { room_id })
                    }
                    NotificationResponse::Action(key) if key == "decline" => {
                        Some(RingAnswer::Decline { room_id })
                    }
                    _ => None,
                };
                if let Some(answer) = answer
                    && answers.send(answer).is_err()
                {
                    tracing::debug!("the ring was answered after Vestibule stopped listening");
                }
            })
            .await;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves plain data behind: keep using it.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Ringer for DesktopRinger {
    fn start(&self, alert: &RingAlert) {
        if alert.call.kind == NotifyKind::Ring {
            let (_, tone, volume) = lock(&self.sound).clone();
            self.audio.play(tone, volume);
        }
        let id = alert.call.notification_event_id.clone();
        lock(&self.shown).insert(
            id.clone(),
            Shown {
                alert: alert.clone(),
                handle: None,
            },
        );
        let shown = Showing {
            notification: incoming_notification(alert),
            id,
            room_id: alert.call.room_id.clone(),
            is_call: alert.origin == AlertOrigin::Call,
            shown: self.shown.clone(),
            answers: self.answers.clone(),
            warn: self.warn.clone(),
            told_no_notifications: self.told_no_notifications.clone(),
        };
        self.runtime.spawn(shown.run());
    }

    fn configure(&self, ringtone: Option<&Path>, volume: f32) {
        {
            let mut sound = lock(&self.sound);
            if sound.0.as_deref() == ringtone {
                // The same file: only the volume changed; the file is not read again.
                sound.2 = volume;
                return;
            }
        }
        let (tone, problem) = Ringtone::chosen(ringtone);
        if let Some(sentence) = problem {
            (self.warn)(sentence);
        }
        *lock(&self.sound) = (ringtone.map(Path::to_path_buf), tone, volume);
    }

    fn stop(&self, call: &IncomingCall, reason: StopReason) {
        let removed = {
            let mut shown = lock(&self.shown);
            let removed = shown.remove(&call.notification_event_id);
            if !shown
                .values()
                .any(|s| s.alert.call.kind == NotifyKind::Ring)
            {
                self.audio.stop();
            }
            removed
        };
        let Some(Shown { alert, handle }) = removed else {
            return;
        };

        self.runtime.spawn(async move {
            if let Some(handle) = handle {
                handle.close_async().await;
            }
            if reason.is_missed() {
                let shown = Notification::new()
                    .appname(APP_ID)
                    .hint(Hint::DesktopEntry(APP_ID.into()))
                    .summary(&format!("Missed call from {}", alert.caller_name))
                    .body(&alert.room_name)
                    .icon(APP_ID)
                    .hint(Hint::Category("call.unanswered".into()))
                    .urgency(Urgency::Normal)
                    .show_async()
                    .await;
                if let Err(e) = shown {
                    tracing::debug!("missed-call notification not shown: {e}");
                }
            }
        });
    }
}
