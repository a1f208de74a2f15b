//! The ringer: what happens on the desktop when a call rings us. The worker drives it, so
//! ringing works with the window hidden. [`DesktopRinger`] plays the ringtone and shows the
//! notification, and reports Answer and Decline as [`RingAnswer`]s on the channel it is given;
//! [`SilentRinger`] rings nowhere.

pub mod audio;
pub mod desktop;
pub mod notification;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use desktop::{DesktopRinger, WarningSink};

use crate::rtc::ring::{IncomingCall, NotifyKind, StopReason};
use crate::rtc::{CallIntent, CallKey};

/// A call ringing us, with the names to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingAlert {
    /// The call.
    pub call: IncomingCall,
    /// The caller's display name.
    pub caller_name: String,
    /// The room's display name.
    pub room_name: String,
    /// Whether do-not-disturb or the room's mute keeps it silent.
    pub muted: bool,
    /// A real call, or a test of the ringtone and notification.
    #[serde(skip, default)]
    pub origin: AlertOrigin,
}

/// Where an alert comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlertOrigin {
    /// A call in a room: Answer and Decline act on it.
    #[default]
    Call,
    /// A test ring: there is no call to answer or decline.
    Test,
}

impl RingAlert {
    /// The alert of a test ring lasting until `expires_at_ms`: rings without a real call.
    pub fn test(expires_at_ms: u64) -> Self {
        Self {
            call: IncomingCall {
                room_id: String::new(),
                notification_event_id: format!("$test-ring-{expires_at_ms}"),
                caller: String::new(),
                kind: NotifyKind::Ring,
                intent: Some(CallIntent::Audio),
                call: CallKey::room_call(),
                expires_at_ms,
                quieted: None,
            },
            caller_name: "Vestibule".into(),
            room_name: "a test ring".into(),
            muted: false,
            origin: AlertOrigin::Test,
        }
    }
}

/// What the person did with a ring's notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RingAnswer {
    /// Answer the ring of this room (join its call).
    Answer {
        /// The room id.
        room_id: String,
    },
    /// Decline the ring of this room.
    Decline {
        /// The room id.
        room_id: String,
    },
}

/// Plays the ringtone and shows the desktop notification.
pub trait Ringer: Send + Sync {
    /// A call started ringing (`alert.call.kind` says whether to play a ringtone or only
    /// notify). Must not block.
    fn start(&self, alert: &RingAlert);
    /// A ring stopped. Must not block.
    fn stop(&self, call: &IncomingCall, reason: StopReason);
    /// Ring with this tone (the built-in one when `None`) at this volume from now on.
    fn configure(&self, _ringtone: Option<&Path>, _volume: f32) {}
}

/// A ringer that does nothing (`watch --silent`, and where nothing may be shown).
#[derive(Debug, Default)]
pub struct SilentRinger;

impl Ringer for SilentRinger {
    fn start(&self, _alert: &RingAlert) {}
    fn stop(&self, _call: &IncomingCall, _reason: StopReason) {}
}

#[cfg(any(test, feature = "test-support"))]
pub use recording::{RecordingRinger, RingerEvent};

#[cfg(any(test, feature = "test-support"))]
mod recording {
    use std::sync::Mutex;

    use super::{RingAlert, Ringer};
    use crate::rtc::ring::{IncomingCall, StopReason};

    /// What a [`RecordingRinger`] was asked.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum RingerEvent {
        /// `start` was called.
        Started(RingAlert),
        /// `stop` was called.
        Stopped(IncomingCall, StopReason),
    }

    /// A ringer that records its calls, for tests.
    #[derive(Debug, Default)]
    pub struct RecordingRinger {
        events: Mutex<Vec<RingerEvent>>,
    }

    impl RecordingRinger {
        /// What it was asked so far.
        pub fn events(&self) -> Vec<RingerEvent> {
            self.events.lock().map(|e| e.clone()).unwrap_or_default()
        }

        fn push(&self, event: RingerEvent) {
            if let Ok(mut events) = self.events.lock() {
                events.push(event);
            }
        }
    }

    impl Ringer for RecordingRinger {
        fn start(&self, alert: &RingAlert) {
            self.push(RingerEvent::Started(alert.clone()));
        }

        fn stop(&self, call: &IncomingCall, reason: StopReason) {
            self.push(RingerEvent::Stopped(call.clone(), reason));
        }
    }
}
