//! Ringing: carrying out the ring decisions (the ringer and the front ends), answering and
//! declining, our own rings going out, and the test ring.

use std::collections::BTreeSet;
use std::time::Duration;

use matrix_sdk::Client;
use matrix_sdk::ruma::{OwnedRoomId, RoomId, RoomOrAliasId, UserId};

use super::error::{WorkerError, sentence};
use super::types::Update;
use super::worker::{Internal, Worker};
use crate::clock::now_ms;
use crate::ring::{AlertOrigin, RingAlert};
use crate::rtc::CallIntent;
use crate::rtc::publish::{self, OutgoingMessage};
use crate::rtc::ring::{NotifyKind, RingOutput, StopReason};

/// How long a test ring lasts.
const TEST_RING: Duration = Duration::from_secs(3);

impl Worker {
    /// Joins `room`'s call and rings it: `ring` in a direct chat, `notification` elsewhere.
    pub(super) async fn ring(
        &mut self,
        room: &RoomOrAliasId,
        intent: CallIntent,
    ) -> Result<(), WorkerError> {
        let room_id = self.resolve(room).await?;
        let kind = match self.rooms.get(&room_id) {
            Some(entry) if entry.is_direct => NotifyKind::Ring,
            _ => NotifyKind::Notification,
        };
        self.join_room(&room_id, intent, Some(kind), &[]).await
    }

    /// Answers the ring of `room_id`: joins its call with the ring's intent (video when unsaid).
    pub(super) async fn answer(&mut self, room_id: &RoomId) -> Result<(), WorkerError> {
        let intent = self
            .account
            .as_ref()
            .and_then(|a| {
                a.tracker
                    .ringing()
                    .find(|c| c.room_id == room_id.as_str())
                    .and_then(|c| c.intent.clone())
            })
            .unwrap_or(CallIntent::Video);
        let room_id = self.resolve(<&RoomOrAliasId>::from(room_id)).await?;
        self.join_room(&room_id, intent, None, &[]).await
    }

    /// Stops the rings of a room we joined the call of here.
    pub(super) async fn stop_rings_answered(&mut self, room_id: &RoomId) {
        let stopped = match self.account.as_mut() {
            Some(account) => account.tracker.answer(room_id.as_str()),
            None => Vec::new(),
        };
        self.handle_ring_outputs(stopped).await;
    }

    /// Declines the ring of `room`, or every ring when `None`, and tells the caller.
    pub(super) async fn decline(
        &mut self,
        room: Option<&RoomOrAliasId>,
    ) -> Result<(), WorkerError> {
        let room_id = match room {
            Some(room) => Some(self.resolve(room).await?),
            None => None,
        };
        let account = self.account.as_mut().ok_or(WorkerError::NotSignedIn)?;
        let tracker = &mut account.tracker;
        let outputs = match &room_id {
            Some(room_id) => tracker.decline(room_id.as_str()),
            None => {
                let rooms: BTreeSet<String> =
                    tracker.ringing().map(|c| c.room_id.clone()).collect();
                rooms.iter().flat_map(|r| tracker.decline(r)).collect()
            }
        };
        if outputs.is_empty() {
            return Err(WorkerError::NothingRinging);
        }
        let client = account.client.clone();
        let mut failure = None;
        for output in &outputs {
            let RingOutput::Stop { call, .. } = output else {
                continue;
            };
            let decline = publish::decline(&call.notification_event_id);
            let room = OwnedRoomId::try_from(call.room_id.as_str())
                .ok()
                .and_then(|id| client.get_room(&id));
            if let Some(room) = room
                && let Err(e) = room.send_raw(decline.event_type, decline.content).await
            {
                failure = Some(WorkerError::DeclineNotSent(sentence(&e)));
            }
        }
        self.handle_ring_outputs(outputs).await;
        failure.map_or(Ok(()), Err)
    }

    /// Carries out ring decisions: the ringer rings or stops, and the front ends hear of it.
    pub(super) async fn handle_ring_outputs(&mut self, outputs: Vec<RingOutput>) {
        for output in outputs {
            tracing::debug!("ring decision: {output:?}");
            match &output {
                RingOutput::Ring(call) | RingOutput::Notify(call) => {
                    let room_name = OwnedRoomId::try_from(call.room_id.as_str())
                        .ok()
                        .and_then(|id| self.rooms.get(&id))
                        .map_or_else(|| call.room_id.clone(), |e| e.name.clone());
                    let caller_name = self.caller_name(&call.room_id, &call.caller).await;
                    let ring = &self.config.settings.ring;
                    let muted = ring.do_not_disturb || ring.muted_rooms.contains(&call.room_id);
                    let alert = RingAlert {
                        call: call.clone(),
                        caller_name,
                        room_name,
                        muted,
                        origin: AlertOrigin::Call,
                    };
                    if !muted {
                        self.config.ringer.start(&alert);
                    }
                    self.history_ring_started(&alert);
                    self.out.send(Update::RingDecision {
                        decision: output.clone(),
                    });
                    self.out.send(Update::Ringing { alert });
                }
                RingOutput::Stop { call, reason } => {
                    self.config.ringer.stop(call, *reason);
                    self.out.send(Update::RingDecision {
                        decision: output.clone(),
                    });
                    self.out.send(Update::RingStopped {
                        call: call.clone(),
                        reason: *reason,
                    });
                    self.history_ring_stopped(call, *reason);
                }
                RingOutput::Waiting { .. } | RingOutput::Ignore { .. } => {
                    self.out.send(Update::RingDecision { decision: output });
                }
            }
        }
    }

    /// The caller's display name in the room; their user id when the store has none.
    async fn caller_name(&self, room_id: &str, user_id: &str) -> String {
        let room = self
            .client()
            .and_then(|client| client.get_room(<&RoomId>::try_from(room_id).ok()?));
        if let (Some(room), Ok(user)) = (room, <&UserId>::try_from(user_id))
            && let Ok(Some(member)) = room.get_member_no_sync(user).await
        {
            return member.name().to_owned();
        }
        user_id.to_owned()
    }

    /// Sends our ring beside the loop; a failure comes back as a problem to tell.
    pub(super) fn send_ring(
        &mut self,
        client: &Client,
        room_id: OwnedRoomId,
        messages: Vec<OutgoingMessage>,
    ) {
        let Some(room) = client.get_room(&room_id) else {
            return;
        };
        let done = self.internal_tx.clone();
        self.spawn_beside(async move {
            for message in messages {
                if let Err(e) = room.send_raw(message.event_type, message.content).await {
                    let error = WorkerError::RingNotSent(sentence(&e));
                    // The loop is gone only when the worker stops; nobody is left to tell then.
                    done.send(Internal::Problem {
                        error,
                        room_id: room_id.clone(),
                    })
                    .ok();
                }
            }
        });
    }

    /// Rings briefly with the current ringtone and volume, with no call behind it.
    pub(super) fn test_ring(&self) {
        let expires_at_ms = now_ms() + TEST_RING.as_millis() as u64;
        let alert = RingAlert::test(expires_at_ms);
        let ringer = self.config.ringer.clone();
        ringer.start(&alert);
        tokio::spawn(async move {
            tokio::time::sleep(TEST_RING).await;
            ringer.stop(&alert.call, StopReason::Answered);
        });
    }
}
