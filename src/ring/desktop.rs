//! The desktop ringer: the ringtone plus a desktop notification with Answer and Decline.
//!
//! Either half may be missing (no sound card, no notification service): each says so once
//! through the warning callback and the other half keeps working.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::UnboundedSender;

use super::audio::{AudioEvent, AudioPlayer, Ringtone};
use super::notification::{Notifier, Rings, Shown, lock, missed_call};
use super::{RingAlert, RingAnswer, Ringer};
use crate::rtc::ring::{IncomingCall, NotifyKind, StopReason};

/// Receives one-sentence warnings (and, for benchmarks, timings) from the ringer.
pub type WarningSink = Arc<dyn Fn(String) + Send + Sync>;

/// Plays the ringtone and shows desktop notifications, as a [`Ringer`].
pub struct DesktopRinger {
    audio: AudioPlayer,
    /// The tone's file (`None`: built in), the tone and its volume; the settings may change
    /// them while running.
    sound: Mutex<(Option<PathBuf>, Ringtone, f32)>,
    runtime: tokio::runtime::Handle,
    warn: WarningSink,
    notifier: Notifier,
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
            notifier: Notifier {
                rings: Rings::default(),
                answers,
                warn: warn.clone(),
                told_no_notifications: Arc::new(AtomicBool::new(false)),
            },
            warn,
        }
    }
}

impl Ringer for DesktopRinger {
    fn start(&self, alert: &RingAlert) {
        if alert.call.kind == NotifyKind::Ring {
            let (_, tone, volume) = lock(&self.sound).clone();
            self.audio.play(tone, volume);
        }
        let first = {
            let mut rings = lock(&self.notifier.rings);
            rings.push(Shown {
                alert: alert.clone(),
                handle: None,
            });
            rings.len() == 1
        };
        let notifier = self.notifier.clone();
        if first {
            self.runtime.spawn(notifier.show_first());
        } else {
            // One notification for every ring on screen: this one joins the list.
            self.runtime.spawn(notifier.refresh());
        }
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
        let (removed, was_first, others) = {
            let mut rings = lock(&self.notifier.rings);
            let Some(at) = rings
                .iter()
                .position(|s| s.alert.call.notification_event_id == call.notification_event_id)
            else {
                return;
            };
            let removed = rings.remove(at);
            if !rings.iter().any(|s| s.alert.call.kind == NotifyKind::Ring) {
                self.audio.stop();
            }
            (removed, at == 0, !rings.is_empty())
        };
        let notifier = self.notifier.clone();
        self.runtime.spawn(async move {
            match (was_first, others) {
                // The oldest's notification goes; the next oldest gets one of its own.
                (true, _) => {
                    if let Some(handle) = removed.handle {
                        handle.close_async().await;
                    }
                    if others {
                        notifier.show_first().await;
                    }
                }
                (false, _) => notifier.refresh().await,
            }
            if reason.is_missed() {
                missed_call(removed.alert).await;
            }
        });
    }
}
