//! The desktop notification of the rings on screen: one notification however many calls ring
//! at once (the oldest's Answer and Decline, the others listed), text from others escaped where
//! the notification server reads markup, and the missed-call notice.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::StreamExt;
use notify_rust::{Hint, Notification, NotificationHandle, Timeout, Urgency};
use tokio::sync::mpsc::UnboundedSender;

use super::desktop::WarningSink;
use super::{AlertOrigin, RingAlert, RingAnswer};
use crate::config::APP_ID;
use crate::rtc::ring::NotifyKind;
use crate::wording::incoming_title;

/// A ring on screen: its alert and, once shown, the notification it is shown in.
pub(super) struct Shown {
    pub alert: RingAlert,
    pub handle: Option<Arc<NotificationHandle>>,
}

/// The rings on screen, oldest first. The oldest owns the notification; the others are listed
/// in it.
pub(super) type Rings = Arc<Mutex<Vec<Shown>>>;

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves plain data behind: keep using it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where the notification's buttons and warnings go.
#[derive(Clone)]
pub(super) struct Notifier {
    pub rings: Rings,
    pub answers: UnboundedSender<RingAnswer>,
    pub warn: WarningSink,
    pub told_no_notifications: Arc<AtomicBool>,
}

/// What the notification server can do.
struct Capabilities {
    actions: bool,
    markup: bool,
}

async fn capabilities() -> Capabilities {
    let caps = match tokio::task::spawn_blocking(notify_rust::get_capabilities).await {
        Ok(Ok(caps)) => caps,
        Ok(Err(e)) => {
            tracing::debug!("notification capabilities: {e}");
            Vec::new()
        }
        Err(e) => {
            tracing::debug!("notification capabilities: {e}");
            Vec::new()
        }
    };
    Capabilities {
        actions: caps.iter().any(|c| c == "actions"),
        markup: caps.iter().any(|c| c == "body-markup"),
    }
}

/// Text from others, made inert for a server that reads markup in bodies.
pub fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn summary(alerts: &[RingAlert]) -> String {
    match alerts {
        [alert] => incoming_title(alert.call.intent.as_ref()).to_owned(),
        many => format!("{} incoming calls", many.len()),
    }
}

/// "Alice in Standup", one line per ring, oldest first.
fn body(alerts: &[RingAlert], markup: bool) -> String {
    let text = |s: &str| {
        if markup {
            escape_markup(s)
        } else {
            s.to_owned()
        }
    };
    alerts
        .iter()
        .map(|a| format!("{} in {}", text(&a.caller_name), text(&a.room_name)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The notification for `alerts` (critical while any of them rings aloud); its buttons answer
/// or decline the first.
fn incoming_notification(alerts: &[RingAlert], caps: &Capabilities) -> Notification {
    let loud = alerts.iter().any(|a| a.call.kind == NotifyKind::Ring);
    let mut notification = Notification::new();
    notification
        .appname(APP_ID)
        .hint(Hint::DesktopEntry(APP_ID.into()))
        .summary(&summary(alerts))
        .body(&body(alerts, caps.markup))
        .icon(APP_ID)
        .hint(Hint::Category("call.incoming".into()))
        .timeout(Timeout::Never)
        .urgency(if loud {
            Urgency::Critical
        } else {
            Urgency::Normal
        });
    let is_call = alerts
        .first()
        .is_some_and(|a| a.origin == AlertOrigin::Call);
    if caps.actions && is_call {
        notification
            .action("answer", "Answer")
            .action("decline", "Decline");
    }
    notification
}

impl Notifier {
    /// The alerts on screen now, oldest first, and the oldest's notification if shown.
    fn on_screen(&self) -> (Vec<RingAlert>, Option<Arc<NotificationHandle>>) {
        let rings = lock(&self.rings);
        let alerts = rings.iter().map(|s| s.alert.clone()).collect();
        (alerts, rings.first().and_then(|s| s.handle.clone()))
    }

    /// Shows the oldest ring's notification and reports what the person does with it.
    pub async fn show_first(self) {
        let (alerts, _) = self.on_screen();
        let Some(first) = alerts.first() else {
            return;
        };
        let id = first.call.notification_event_id.clone();
        let room_id = first.call.room_id.clone();
        let is_call = first.origin == AlertOrigin::Call;
        let caps = capabilities().await;
        // Listening starts before the notification is shown: a click that comes before the
        // server has told us the notification's id is not lost.
        let responses = Responses::listen().await;
        let handle = match incoming_notification(&alerts, &caps).show_async().await {
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
        let listed = {
            let mut rings = lock(&self.rings);
            match rings.first_mut() {
                Some(shown) if shown.alert.call.notification_event_id == id => {
                    shown.handle = Some(handle.clone());
                    Some(rings.len())
                }
                _ => None,
            }
        };
        match listed {
            // The ring stopped while its notification was on its way.
            None => {
                handle.close_async().await;
                return;
            }
            // Others started meanwhile: list them too.
            Some(n) if n != alerts.len() => self.clone().refresh().await,
            Some(_) => {}
        }
        let Some(mut responses) = responses else {
            return;
        };
        let answer = match responses.next_for(handle.id()).await.as_deref() {
            Some("default") if is_call => Some(RingAnswer::Answer { room_id }),
            Some("answer") => Some(RingAnswer::Answer { room_id }),
            Some("decline") => Some(RingAnswer::Decline { room_id }),
            _ => None,
        };
        if let Some(answer) = answer
            && self.answers.send(answer).is_err()
        {
            tracing::debug!("the ring was answered after Vestibule stopped listening");
        }
    }

    /// Shows the rings on screen again in the oldest's notification, in place.
    pub async fn refresh(self) {
        let (alerts, handle) = self.on_screen();
        let Some(handle) = handle else {
            // Not shown yet: `show_first` lists everything once it is.
            return;
        };
        let caps = capabilities().await;
        let shown = incoming_notification(&alerts, &caps)
            .id(handle.id())
            .show_async()
            .await;
        if let Err(e) = shown {
            tracing::debug!("the notification could not be updated: {e}");
        }
    }
}

/// The notification server's signals of what the person did, received from the moment
/// [`Responses::listen`] returns.
struct Responses {
    stream: zbus::MessageStream,
}

impl Responses {
    async fn listen() -> Option<Self> {
        let listening = async {
            let connection = zbus::Connection::session().await?;
            let rule = zbus::MatchRule::builder()
                .msg_type(zbus::message::Type::Signal)
                .interface("org.freedesktop.Notifications")?
                .path("/org/freedesktop/Notifications")?
                .build();
            zbus::MessageStream::for_match_rule(rule, &connection, Some(64)).await
        };
        match listening.await {
            Ok(stream) => Some(Self { stream }),
            Err(e) => {
                tracing::debug!("cannot listen to the notification server: {e}");
                None
            }
        }
    }

    /// The action invoked on notification `id` (`"default"` for a click on its body), or
    /// `None` once it closed without one or the bus went away.
    async fn next_for(&mut self, id: u32) -> Option<String> {
        while let Some(message) = self.stream.next().await {
            let Ok(message) = message else { continue };
            let body = message.body();
            match message.header().member().map(|m| m.as_str()) {
                Some("ActionInvoked") => match body.deserialize::<(u32, String)>() {
                    Ok((shown, action)) if shown == id => return Some(action),
                    _ => {}
                },
                Some("NotificationClosed") => match body.deserialize::<(u32, u32)>() {
                    Ok((shown, _reason)) if shown == id => return None,
                    _ => {}
                },
                _ => {}
            }
        }
        None
    }
}

/// Leaves a "Missed call from …" notice.
pub async fn missed_call(alert: RingAlert) {
    let caps = capabilities().await;
    let room = if caps.markup {
        escape_markup(&alert.room_name)
    } else {
        alert.room_name.clone()
    };
    let shown = Notification::new()
        .appname(APP_ID)
        .hint(Hint::DesktopEntry(APP_ID.into()))
        .summary(&format!("Missed call from {}", alert.caller_name))
        .body(&room)
        .icon(APP_ID)
        .hint(Hint::Category("call.unanswered".into()))
        .urgency(Urgency::Normal)
        .show_async()
        .await;
    if let Err(e) = shown {
        tracing::debug!("missed-call notification not shown: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_from_others_is_escaped() {
        assert_eq!(
            escape_markup("<b>Mallory</b> & \"co\" 'x'"),
            "&lt;b&gt;Mallory&lt;/b&gt; &amp; &quot;co&quot; &#39;x&#39;"
        );
        assert_eq!(escape_markup("Alice"), "Alice");
    }
}
