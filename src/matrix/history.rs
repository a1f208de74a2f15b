//! The call history as the worker keeps it: a ring that stops becomes a missed, answered or
//! declined call, a ring we send an outgoing one; the file is written on every change and the
//! front ends hear of it ([`Update::History`]).

use std::collections::HashMap;

use matrix_sdk::ruma::RoomId;

use super::types::Update;
use super::worker::Worker;
use crate::clock::now_ms;
use crate::history::{CallHistory, CallRecord, HistoryFile};
use crate::ring::RingAlert;
use crate::rtc::CallIntent;
use crate::rtc::publish::OutgoingMessage;
use crate::rtc::ring::{IncomingCall, NotifyKind, StopReason};

/// How many rings may be waiting for their end at once; a flood of rings past it is recorded
/// without the names they had when they started.
const MAX_RINGING: usize = 64;

/// What the worker keeps of the history.
pub(super) struct History {
    file: HistoryFile,
    calls: CallHistory,
    /// The rings under way, by notification event id: when they started and the names then.
    ringing: HashMap<String, Started>,
}

struct Started {
    at_ms: u64,
    room_name: String,
    caller_name: String,
}

impl History {
    /// The profile's history, read from its file; a sentence when the file was unreadable.
    pub fn load(file: HistoryFile) -> (Self, Option<String>) {
        let (calls, problem) = file.load();
        let history = Self {
            file,
            calls,
            ringing: HashMap::new(),
        };
        (history, problem)
    }
}

impl Worker {
    /// Sends the history to the front ends.
    pub(super) fn send_history(&self) {
        self.out.send(Update::History {
            history: self.history.calls.clone(),
        });
    }

    /// Notes that `alert` started ringing, for the record made when it stops.
    pub(super) fn history_ring_started(&mut self, alert: &RingAlert) {
        let ringing = &mut self.history.ringing;
        if ringing.len() >= MAX_RINGING {
            return;
        }
        ringing.insert(
            alert.call.notification_event_id.clone(),
            Started {
                at_ms: now_ms(),
                room_name: alert.room_name.clone(),
                caller_name: alert.caller_name.clone(),
            },
        );
    }

    /// Records a ring that stopped for `reason`.
    pub(super) fn history_ring_stopped(&mut self, call: &IncomingCall, reason: StopReason) {
        let started = self.history.ringing.remove(&call.notification_event_id);
        let (at_ms, room_name, caller_name) = match started {
            Some(s) => (s.at_ms, s.room_name, s.caller_name),
            None => (now_ms(), call.room_id.clone(), call.caller.clone()),
        };
        let record = CallRecord::incoming(call, &room_name, &caller_name, reason, at_ms);
        self.history.calls.record(record);
        self.history_changed();
    }

    /// Records the ring (or notification) we are sending to `room_id`.
    pub(super) fn history_outgoing(&mut self, room_id: &RoomId, messages: &[OutgoingMessage]) {
        let Some(first) = messages.first() else {
            return;
        };
        let kind = match first.content["notification_type"].as_str() {
            Some("ring") => NotifyKind::Ring,
            _ => NotifyKind::Notification,
        };
        let intent = first.content[crate::rtc::INTENT_KEY]
            .as_str()
            .map_or(CallIntent::Video, CallIntent::parse);
        let room_name = self
            .rooms
            .get(room_id)
            .map_or_else(|| room_id.to_string(), |e| e.name.clone());
        let record = CallRecord::outgoing(room_id.as_str(), &room_name, &intent, kind, now_ms());
        self.history.calls.record(record);
        self.history_changed();
    }

    /// Marks the missed calls of `room_id` (every room's with `None`) seen.
    pub(super) fn mark_calls_seen(&mut self, room_id: Option<&RoomId>) {
        if self.history.calls.mark_seen(room_id.map(RoomId::as_str)) {
            self.history_changed();
        }
    }

    /// Forgets the history with the account (signing out).
    pub(super) fn forget_history(&mut self) {
        self.history.calls = CallHistory::default();
        self.history.ringing.clear();
        if let Err(sentence) = self.history.file.remove() {
            tracing::warn!("{sentence}");
        }
    }

    fn history_changed(&mut self) {
        if let Err(sentence) = self.history.file.save(&self.history.calls) {
            // Said once: a full disk would otherwise repeat it on every ring.
            self.tell_once("history-not-saved".into(), sentence);
        }
        self.send_history();
    }
}
