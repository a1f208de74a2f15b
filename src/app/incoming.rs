//! The incoming call's own window: a small top-level window (an egui viewport) that appears on
//! top, centred and focused when a ring starts, also while the main window is hidden in the
//! tray; Enter answers, Escape declines, and when the ring stops by itself it says why for a
//! few seconds before it closes.

use std::sync::{Arc, Mutex};

use egui::{ViewportBuilder, ViewportClass, ViewportCommand, ViewportId};
use matrix_sdk::ruma::OwnedRoomId;

use super::VestibuleApp;
use crate::config::APP_ID;
use crate::matrix::{Command, Profile, RingAlert};
use crate::ui::incoming::{IncomingAction, incoming_stopped_ui, incoming_ui};

/// The incoming-call window's size, in points.
const SIZE: [f32; 2] = [380.0, 420.0];

/// How many passes the window waits to learn its own and the screen's size before it takes
/// the focus uncentred, and how long between them.
const PLACE_TRIES: u8 = 10;
const PLACE_RETRY: std::time::Duration = std::time::Duration::from_millis(50);

/// The window's id among the viewports.
pub fn incoming_viewport_id() -> ViewportId {
    ViewportId::from_hash_of("incoming-call")
}

/// What the window shows, handed to it on each pass of the main window.
struct Content {
    alert: Option<RingAlert>,
    caller: Option<Profile>,
    stopped: Option<String>,
    now_ms: u64,
}

/// What the main window and the incoming window (a deferred viewport, drawn in its own pass)
/// share.
#[derive(Default)]
struct Shared {
    content: Option<Content>,
    /// Centre and focus the window at its next pass (a new ring).
    place: bool,
    /// Passes spent waiting to know the sizes for centring.
    place_tries: u8,
    /// What the person did there, for the main window's next pass.
    action: Option<IncomingAction>,
}

/// Draws the incoming window's pass.
fn incoming_viewport_ui(ui: &mut egui::Ui, class: ViewportClass, shared: &Mutex<Shared>) {
    let Ok(mut shared) = shared.lock() else {
        return;
    };
    let ctx = ui.ctx().clone();
    let place = shared.place;
    if place && class != ViewportClass::EmbeddedWindow {
        // Centred on the screen and given the focus once its size and the screen's are known
        // (not yet on its very first pass). A desktop that never says (Wayland does not tell
        // positions) gets the focus alone after a few tries.
        let center = ViewportCommand::center_on_screen(&ctx);
        shared.place_tries += 1;
        if center.is_some() || shared.place_tries >= PLACE_TRIES {
            if let Some(center) = center {
                ctx.send_viewport_cmd(center);
            }
            ctx.send_viewport_cmd(ViewportCommand::Focus);
            // Where focus is refused (focus-stealing prevention), the window asks for
            // attention: the urgency hint on X11, an xdg-activation request on Wayland.
            ctx.send_viewport_cmd(ViewportCommand::RequestUserAttention(
                egui::UserAttentionType::Critical,
            ));
            shared.place = false;
        } else {
            ctx.request_repaint_after(PLACE_RETRY);
        }
    } else {
        shared.place = false;
    }
    let action = match &shared.content {
        Some(Content {
            alert: Some(alert),
            caller,
            now_ms,
            ..
        }) => {
            egui::CentralPanel::default()
                .show(ui, |ui| {
                    incoming_ui(ui, alert, caller.as_ref(), *now_ms, place)
                })
                .inner
        }
        Some(Content {
            stopped: Some(sentence),
            ..
        }) => egui::CentralPanel::default()
            .show(ui, |ui| incoming_stopped_ui(ui, sentence))
            .inner
            .then_some(IncomingAction::Dismiss),
        _ => None,
    };
    let closed = ctx.input(|i| i.viewport().close_requested());
    if closed {
        // The main window decides when this one goes.
        ctx.send_viewport_cmd(ViewportCommand::CancelClose);
    }
    if let Some(action) = action.or(closed.then_some(IncomingAction::Dismiss)) {
        shared.action = Some(action);
        ctx.request_repaint_of(ViewportId::ROOT);
    }
}

/// What the incoming window remembers between frames, by the rings' notification event ids.
#[derive(Default)]
pub(super) struct IncomingWindow {
    shared: Arc<Mutex<Shared>>,
    /// The ring the window was last put on screen for (placed and focused once per ring).
    shown: Option<String>,
    /// The ring the person answered, declined or closed the window of here: its window closes
    /// at once and does not linger when the ring stops.
    done: Option<String>,
}

impl IncomingWindow {
    /// Whether the window stays a moment after its ring stopped by itself, to say why.
    fn lingers(&self) -> bool {
        self.shown.is_some() && self.shown != self.done
    }
}

impl VestibuleApp {
    /// Asks for one pass of the main window's UI while it is hidden, so that a ring can open
    /// its window: a hidden main window only runs `logic`, and viewports are declared in the
    /// UI pass. Once the incoming window shows, eframe keeps running the main
    /// window's UI for it by itself.
    pub(super) fn wake_for_incoming(&self, ctx: &egui::Context) {
        if self.incoming_wanted(ctx) {
            ctx.send_viewport_cmd_to(ViewportId::ROOT, ViewportCommand::RequestPaintWhileHidden);
        }
    }

    /// Whether a ring waits for its window while the main window runs no UI pass: once the
    /// window is up, eframe runs the main window's UI for it.
    fn incoming_wanted(&self, ctx: &egui::Context) -> bool {
        let waiting = self.model.ringing().first().is_some_and(|a| {
            let ring = Some(&a.call.notification_event_id);
            self.incoming.shown.as_ref() != ring && self.incoming.done.as_ref() != ring
        });
        waiting && ctx.input(|i| i.viewport().visible() == Some(false))
    }

    /// Draws the incoming-call window while something rings (or just stopped ringing).
    pub(super) fn incoming_window(&mut self, ctx: &egui::Context, now_ms: u64) {
        let alert = self.model.ringing().first().cloned();
        if let Some(alert) = &alert
            && self.incoming.done.as_ref() == Some(&alert.call.notification_event_id)
        {
            return;
        }
        let stopped = match &alert {
            Some(_) => None,
            None => self
                .model
                .ring_stopped()
                .filter(|(_, until)| now_ms < *until && self.incoming.lingers())
                .map(|(sentence, _)| sentence.to_owned()),
        };
        if alert.is_none() && stopped.is_none() {
            self.incoming.shown = None;
            if let Ok(mut shared) = self.incoming.shared.lock() {
                *shared = Shared::default();
            }
            return;
        }
        if let Some(alert) = &alert {
            self.fetch_profiles(&alert.call.room_id);
        }
        let title = match &alert {
            Some(alert) => format!(
                "{} from {}",
                crate::ui::incoming::incoming_headline(alert),
                alert.caller_name
            ),
            None => "Call ended".to_owned(),
        };
        let builder = ViewportBuilder::default()
            .with_title(&title)
            .with_app_id(APP_ID)
            .with_inner_size(SIZE)
            .with_min_inner_size(SIZE)
            .with_resizable(false)
            .with_always_on_top()
            .with_active(true);
        let ring_id = alert.as_ref().map(|a| a.call.notification_event_id.clone());
        let place = ring_id.is_some() && self.incoming.shown != ring_id;
        let caller = alert
            .as_ref()
            .and_then(|a| self.model.profiles().get(&a.call.caller))
            .cloned();
        // What the window did since the last pass, and what it shows next.
        let action = {
            let Ok(mut shared) = self.incoming.shared.lock() else {
                return;
            };
            let action = shared.action.take();
            shared.content = Some(Content {
                alert: alert.clone(),
                caller,
                stopped,
                now_ms,
            });
            if place {
                shared.place = true;
                shared.place_tries = 0;
            }
            action
        };
        let shared = self.incoming.shared.clone();
        ctx.show_viewport_deferred(incoming_viewport_id(), builder, move |ui, class| {
            incoming_viewport_ui(ui, class, &shared);
        });
        ctx.request_repaint_of(incoming_viewport_id());
        if place {
            self.incoming.shown = ring_id.clone();
        }
        let Some(action) = action else {
            return;
        };
        let Some(alert) = alert else {
            // The ring had stopped; its sentence is read.
            self.incoming.shown = None;
            return;
        };
        self.incoming.done = ring_id;
        let Ok(room) = OwnedRoomId::try_from(alert.call.room_id.as_str()) else {
            return;
        };
        match action {
            IncomingAction::Answer => {
                self.model.select_room(room.to_string());
                self.send(Command::Answer { room });
                // The call is in the main window.
                self.model.raise();
            }
            IncomingAction::Decline => self.send(Command::Decline {
                room: Some(room.into()),
            }),
            // Closed without an answer: it still rings in the tray and the notification.
            IncomingAction::Dismiss => {}
        }
    }
}
