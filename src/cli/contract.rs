//! The scripting contract: the JSON that `lobbies --json`, `foci --json`, `history --json` and
//! `watch --json` print, apart from the internal types so that those can change freely. Every document carries
//! [`SCHEMA_VERSION`]; values are snake_case, wire names are the protocol's (event types for
//! forms, `audio`/`video` for intents), ids are as Matrix spells them and times are milliseconds
//! since the Unix epoch. `docs/cli.schema.json` describes every document, and the tests check
//! real output against it.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::history::{CallRecord, NotificationType};
use crate::matrix::{Connection, FocusInfo, FocusSource, OwnCallState, RoomLobby, Update};
use crate::rtc::membership::WireForm;
use crate::rtc::ring::{IgnoreReason, IncomingCall, RingOutput, StopReason};
use crate::rtc::{
    CALL_MEMBER, Call, CallIntent, Focus, Participant, RTC_MEMBER, RTC_MEMBER_STICKY,
};

/// The version of the documents below; it grows when a field changes meaning or goes away
/// (new fields may come without it).
pub const SCHEMA_VERSION: u32 = 1;

/// `lobbies --json`: every joined room's lobby.
pub fn lobbies(rooms: &[RoomLobby]) -> Value {
    json!({
        "schema_version": SCHEMA_VERSION,
        "rooms": rooms.iter().map(room).collect::<Vec<_>>(),
    })
}

/// `inspect --json`: the calls read from a room's state.
pub fn calls_doc(calls: &[Call]) -> Value {
    json!({
        "schema_version": SCHEMA_VERSION,
        "calls": calls.iter().map(call).collect::<Vec<_>>(),
    })
}

/// `foci --json`: the foci we would use, best first.
pub fn foci(foci: &[FocusInfo]) -> Value {
    json!({ "schema_version": SCHEMA_VERSION, "foci": foci_list(foci) })
}

/// `history --json`: the recent calls, newest first.
pub fn history(calls: &[CallRecord]) -> Value {
    let calls: Vec<Value> = calls
        .iter()
        .map(|c| {
            json!({
                "outcome": c.outcome.as_str(),
                "room_id": c.room_id,
                "room_name": c.room_name,
                "caller": c.caller,
                "caller_name": c.caller_name,
                "intent": c.intent,
                "notification_type": match c.notification_type {
                    NotificationType::Ring => "ring",
                    NotificationType::Notification => "notification",
                },
                "elsewhere": c.elsewhere,
                "at_ms": c.at_ms,
                "seen": c.seen,
            })
        })
        .collect();
    json!({ "schema_version": SCHEMA_VERSION, "history": calls })
}

/// A failed command on `--json`: the same sentence as on stderr.
pub fn error(message: &str, command: Option<&str>, room_id: Option<&str>) -> Value {
    let mut doc = json!({
        "schema_version": SCHEMA_VERSION,
        "type": "error",
        "message": message,
    });
    if let Some(command) = command {
        doc["command"] = json!(command);
    }
    if let Some(room_id) = room_id {
        doc["room_id"] = json!(room_id);
    }
    doc
}

fn foci_list(foci: &[FocusInfo]) -> Vec<Value> {
    foci.iter()
        .map(|f| {
            let source = match f.source {
                FocusSource::User => "user",
                FocusSource::Transports => "transports",
                FocusSource::WellKnown => "well_known",
            };
            json!({ "focus": focus(&f.focus), "source": source })
        })
        .collect()
}

/// A room: `room_id`, `name`, `is_direct`, `calls`, `own`.
fn room(lobby: &RoomLobby) -> Value {
    let mut room = Map::new();
    room_fields(lobby, &mut room);
    Value::Object(room)
}

fn room_fields(lobby: &RoomLobby, into: &mut Map<String, Value>) {
    into.insert("room_id".into(), json!(lobby.room_id));
    into.insert("name".into(), json!(lobby.name));
    into.insert("is_direct".into(), json!(lobby.is_direct));
    into.insert(
        "calls".into(),
        Value::Array(lobby.calls.iter().map(call).collect()),
    );
    into.insert("own".into(), own(&lobby.own));
}

fn own(state: &OwnCallState) -> Value {
    match state {
        OwnCallState::NotJoined => json!({ "state": "not_joined" }),
        OwnCallState::Joining => json!({ "state": "joining" }),
        OwnCallState::Joined => json!({ "state": "joined" }),
        OwnCallState::Leaving => json!({ "state": "leaving" }),
        OwnCallState::Failed { reason } => json!({ "state": "failed", "reason": reason }),
    }
}

fn call(call: &Call) -> Value {
    json!({
        "application": call.key.application,
        "call_id": call.key.call_id,
        "scope": call.key.scope,
        "focus_selection": call.focus_selection().map(|s| s.as_str()),
        "participants": call.participants.iter().map(participant).collect::<Vec<_>>(),
    })
}

fn participant(p: &Participant) -> Value {
    json!({
        "user_id": p.user_id,
        // The lobby knows no display names; the window asks for them separately.
        "display_name": Value::Null,
        "device_id": p.device_id,
        "member_id": p.member_id,
        "since_ms": p.joined_ts,
        "expires_ms": p.expires_at_ms,
        "intent": p.intent.as_ref().map(CallIntent::as_str),
        "focus": p.active_focus.as_ref().map(focus),
        "foci_preferred": p.foci_preferred.iter().map(focus).collect::<Vec<_>>(),
        "forms": p.forms.iter().map(|f| form(*f)).collect::<Vec<_>>(),
    })
}

/// A focus as the protocol writes it: `type`, then the LiveKit fields when known.
fn focus(f: &Focus) -> Value {
    let mut v = json!({ "type": f.kind });
    if let Some(url) = &f.livekit_service_url {
        v["livekit_service_url"] = json!(url);
    }
    if let Some(alias) = &f.livekit_alias {
        v["livekit_alias"] = json!(alias);
    }
    v
}

/// The event type a wire form arrives in.
fn form(form: WireForm) -> &'static str {
    match form {
        WireForm::Session | WireForm::Array => CALL_MEMBER,
        WireForm::RtcMember => RTC_MEMBER,
        WireForm::Sticky => RTC_MEMBER_STICKY,
    }
}

/// Why a ring stopped, snake_case.
pub fn stop_reason(reason: StopReason) -> &'static str {
    match reason {
        StopReason::Expired => "expired",
        StopReason::Answered => "answered",
        StopReason::AnsweredElsewhere => "answered_elsewhere",
        StopReason::Declined => "declined",
        StopReason::DeclinedElsewhere => "declined_elsewhere",
        StopReason::CallEnded => "call_ended",
        StopReason::CallerLeft => "caller_left",
        StopReason::Redacted => "redacted",
    }
}

fn ignore_reason(reason: IgnoreReason) -> &'static str {
    match reason {
        IgnoreReason::FromUs => "from_us",
        IgnoreReason::Duplicate => "duplicate",
        IgnoreReason::Expired => "expired",
        IgnoreReason::NotMentioned => "not_mentioned",
        IgnoreReason::NotACall => "not_a_call",
        IgnoreReason::AlreadyRang => "already_rang",
        IgnoreReason::AlreadyInCall => "already_in_call",
        IgnoreReason::CallNeverStarted => "call_never_started",
        IgnoreReason::Declined => "declined",
        IgnoreReason::Redacted => "redacted",
        IgnoreReason::RingFlood => "ring_flood",
    }
}

/// The fields a ring shares with its decision.
fn ring_fields(call: &IncomingCall, into: &mut Map<String, Value>) {
    into.insert("room_id".into(), json!(call.room_id));
    into.insert("event_id".into(), json!(call.notification_event_id));
    into.insert("sender".into(), json!(call.caller));
    into.insert("notification_type".into(), json!(call.kind.as_str()));
    into.insert(
        "intent".into(),
        json!(call.intent.as_ref().map(CallIntent::as_str)),
    );
    into.insert("expires_ms".into(), json!(call.expires_at_ms));
    if let Some(why) = call.quieted {
        into.insert(
            "quieted".into(),
            serde_json::to_value(why).unwrap_or(Value::Null),
        );
    }
}

fn decision(output: &RingOutput) -> Map<String, Value> {
    let mut doc = Map::new();
    let (name, room_id, event_id) = match output {
        RingOutput::Ring(call) | RingOutput::Notify(call) => {
            ring_fields(call, &mut doc);
            let name = if matches!(output, RingOutput::Ring(_)) {
                "ring"
            } else {
                "notify"
            };
            return with_decision(doc, name);
        }
        RingOutput::Waiting { room_id, event_id } => ("waiting", room_id, event_id),
        RingOutput::Ignore {
            room_id,
            event_id,
            reason,
        } => {
            doc.insert("reason".into(), json!(ignore_reason(*reason)));
            ("ignore", room_id, event_id)
        }
        RingOutput::Stop { call, reason } => {
            doc.insert("reason".into(), json!(stop_reason(*reason)));
            ("stop", &call.room_id, &call.notification_event_id)
        }
    };
    doc.insert("room_id".into(), json!(room_id));
    doc.insert("event_id".into(), json!(event_id));
    with_decision(doc, name)
}

fn with_decision(mut doc: Map<String, Value>, name: &str) -> Map<String, Value> {
    doc.insert("decision".into(), json!(name));
    doc
}

/// Turns the worker's updates into `watch --json` lines. It remembers our part in each room's
/// call, to say `joined` and `left` when it changes.
#[derive(Debug, Default)]
pub struct WatchEncoder {
    own: HashMap<String, OwnCallState>,
}

impl WatchEncoder {
    /// The lines for one update (none for what is only the window's).
    pub fn encode(&mut self, update: &Update) -> Vec<Value> {
        let mut lines = Vec::new();
        let mut line = |kind: &str, mut fields: Map<String, Value>| {
            fields.insert("schema_version".into(), json!(SCHEMA_VERSION));
            fields.insert("type".into(), json!(kind));
            lines.push(Value::Object(fields));
        };
        match update {
            Update::SignedIn { user_id, device_id } => line(
                "signed_in",
                object(json!({ "user_id": user_id, "device_id": device_id })),
            ),
            Update::Connection { connection } => line("status", status(connection)),
            Update::Rooms { rooms } => {
                for lobby in rooms {
                    self.own.insert(lobby.room_id.clone(), lobby.own.clone());
                }
                line(
                    "rooms",
                    object(json!({ "rooms": rooms.iter().map(room).collect::<Vec<_>>() })),
                );
            }
            Update::Lobby { lobby } => {
                let mut fields = Map::new();
                room_fields(lobby, &mut fields);
                line("lobby", fields);
                let before = self.own.insert(lobby.room_id.clone(), lobby.own.clone());
                let room_id = object(json!({ "room_id": lobby.room_id }));
                match (before, &lobby.own) {
                    (Some(OwnCallState::Joined), OwnCallState::Joined) => {}
                    (_, OwnCallState::Joined) => line("joined", room_id),
                    (
                        Some(OwnCallState::Joined | OwnCallState::Leaving),
                        OwnCallState::NotJoined,
                    ) => line("left", room_id),
                    _ => {}
                }
            }
            Update::Ringing { alert } => {
                let mut fields = Map::new();
                ring_fields(&alert.call, &mut fields);
                fields.insert("caller_name".into(), json!(alert.caller_name));
                fields.insert("room_name".into(), json!(alert.room_name));
                fields.insert("muted".into(), json!(alert.muted));
                line("ring", fields);
            }
            Update::RingStopped { call, reason } => line(
                "ring_stopped",
                object(json!({
                    "room_id": call.room_id,
                    "event_id": call.notification_event_id,
                    "reason": stop_reason(*reason),
                })),
            ),
            Update::RingDecision { decision: output } => line("ring_decision", decision(output)),
            Update::Foci { foci } => line("foci", object(json!({ "foci": foci_list(foci) }))),
            Update::Notice { message } => line("notice", object(json!({ "message": message }))),
            Update::Error {
                message,
                command,
                room_id,
            } => {
                let Value::Object(fields) = error(message, command.as_deref(), room_id.as_deref())
                else {
                    return lines;
                };
                line("error", fields);
            }
            Update::NeedsLogin
            | Update::LoginFailed { .. }
            | Update::LoginMethods { .. }
            | Update::BrowserLogin { .. }
            | Update::Trust { .. }
            | Update::RecoveryKey { .. }
            | Update::SignedOut
            | Update::StoredRooms { .. }
            | Update::FocusChecked { .. }
            | Update::Profiles { .. }
            | Update::RoomAvatars { .. }
            | Update::History { .. }
            | Update::Fatal { .. }
            | Update::Stopped => {}
        }
        lines
    }
}

fn status(connection: &Connection) -> Map<String, Value> {
    object(match connection {
        Connection::Syncing => json!({ "state": "syncing" }),
        Connection::Online => json!({ "state": "online" }),
        Connection::Offline {
            retry_in_secs,
            reason,
        } => json!({
            "state": "offline",
            "retry_in_ms": retry_in_secs.saturating_mul(1000),
            "reason": reason,
        }),
    })
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
