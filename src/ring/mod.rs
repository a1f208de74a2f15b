//! The ringer: what happens on the desktop when a call rings us. The worker drives it, so
//! ringing works with the window hidden. [`DesktopRinger`] plays the ringtone and shows the
//! notification; [`SilentRinger`] and [`RecordingRinger`] need no desktop.

pub mod audio;
pub mod desktop;

use std::path::Path;
use std::sync::Mutex;

pub use desktop::{DesktopRinger, WarningSink};

use crate::matrix::RingAlert;
use crate::rtc::ring::{IncomingCall, NotifyKind, StopReason};
use crate::rtc::{CallIntent, CallKey};

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

/// The room of test rings: not a real room, so their notifications offer no Answer or Decline.
pub const TEST_ROOM: &str = "!test:vestibule";

/// The alert of a test ring lasting until `expires_at_ms` (which also tells test rings apart):
/// rings without a real call.
pub fn test_alert(expires_at_ms: u64) -> RingAlert {
    RingAlert {
        call: IncomingCall {
            room_id: TEST_ROOM.into(),
            notification_event_id: format!("$test-ring-{expires_at_ms}"),
            caller: "@vestibule:test".into(),
            kind: NotifyKind::Ring,
            intent: Some(CallIntent::Audio),
            call: CallKey::room_call(),
            expires_at_ms,
        },
        caller_name: "Vestibule".into(),
        room_name: "a test ring".into(),
        muted: false,
    }
}

/// A ringer that does nothing (`watch --silent`, and where nothing may be shown).
#[derive(Debug, Default)]
pub struct SilentRinger;

impl Ringer for SilentRinger {
    fn start(&self, _alert: &RingAlert) {}
    fn stop(&self, _call: &IncomingCall, _reason: StopReason) {}
}

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
