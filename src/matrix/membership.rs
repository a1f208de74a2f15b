//! Joining and leaving calls: which forms the power levels let us publish (and the sentence when
//! none), and carrying out what the protocol core's own-call machines ask of the homeserver.

use std::time::Duration;

use matrix_sdk::ruma::api::client::delayed_events::{
    DelayParameters, delayed_state_event, update_delayed_event,
};
use matrix_sdk::ruma::events::room::power_levels::UserPowerLevel;
use matrix_sdk::ruma::events::{AnyStateEventContent, StateEventType};
use matrix_sdk::ruma::serde::Raw;
use matrix_sdk::ruma::{OwnedRoomId, RoomId, RoomOrAliasId, UserId};
use matrix_sdk::{Client, Room};
use tokio::sync::mpsc;

use super::error::{WorkerError, failure_of, failure_of_http, sentence};
use super::session;
use super::worker::{Internal, Worker};
use crate::clock::now_ms;
use crate::rtc::own::{Action, Failure, Notice, Reply};
use crate::rtc::own_call::{JoinPlan, OwnCall, OwnCallEffect};
use crate::rtc::publish::{JoinParams, PublishForm};
use crate::rtc::ring::{Me, NotifyKind};
use crate::rtc::{CALL_MEMBER, CallIntent};

/// What to ask the user to accept when the server has no delayed events.
const NO_DELAYED_EVENTS: &str = "This homeserver cannot remove a call entry by itself: if Vestibule stops unexpectedly, others may see you in the call for a while.";

impl Worker {
    /// Joins `room`'s call (ringing or notifying it once joined, with `notify`), preferring
    /// `extra_foci` over the configured ones.
    pub(super) async fn join(
        &mut self,
        room: &RoomOrAliasId,
        intent: CallIntent,
        notify: Option<NotifyKind>,
        extra_foci: &[String],
    ) -> Result<(), WorkerError> {
        let room_id = self.resolve(room).await?;
        self.join_room(&room_id, intent, notify, extra_foci).await
    }

    /// [`Worker::join`] for a room id already resolved.
    pub(super) async fn join_room(
        &mut self,
        room_id: &RoomId,
        intent: CallIntent,
        notify: Option<NotifyKind>,
        extra_foci: &[String],
    ) -> Result<(), WorkerError> {
        let (client, me) = self.signed_in_as()?;
        let sdk_room = client
            .get_room(room_id)
            .ok_or_else(|| WorkerError::NotInRoom(room_id.to_string()))?;
        // Answering here stops the ring.
        self.stop_rings_answered(room_id).await;
        if let Some(own) = self.rooms.get_mut(room_id).and_then(|e| e.call.own_mut()) {
            own.rejoin(notify);
            return Ok(());
        }
        let (forms, refused) = self.allowed_forms(&sdk_room, &me).await;
        for (form, sentence) in refused {
            self.tell_once(format!("forbidden:{room_id}:{form:?}"), sentence);
        }
        let delayed_events = self
            .account
            .as_ref()
            .is_some_and(|a| a.delayed_events == Some(true));
        let foci = self.foci.for_join(extra_foci);
        let plan = JoinPlan {
            params: JoinParams {
                room_id: room_id.to_string(),
                room_version: sdk_room
                    .version()
                    .map_or_else(|| "1".to_owned(), |v| v.to_string()),
                user_id: me.user_id.clone(),
                device_id: me.device_id.clone(),
                member_id: session::random_id(16),
                call_id: String::new(),
                intent,
                foci,
            },
            forms,
            delayed_events,
            config: self.config.own,
            notify,
            with_rtc_notify: self.config.settings.calls.publish_rtc_notify,
        };
        let Some(entry) = self.rooms.get_mut(room_id) else {
            return Err(WorkerError::NotInRoom(room_id.to_string()));
        };
        if plan.forms.is_empty() {
            let reason = power_level_sentence(&sdk_room, &me, &entry.name).await;
            entry.call.set_own(None);
            entry.failed = Some(reason.clone());
            self.send_lobby(room_id);
            return Err(WorkerError::CallNotAllowed(reason));
        }
        entry.failed = None;
        entry.call.set_own(Some(OwnCall::join(plan)));
        Ok(())
    }

    /// The configured forms our power level lets us publish, and a sentence for each refused one.
    async fn allowed_forms(
        &self,
        room: &Room,
        me: &Me,
    ) -> (Vec<PublishForm>, Vec<(PublishForm, String)>) {
        let configured = self.config.settings.calls.publish_forms.clone();
        let Ok(user) = <&UserId>::try_from(me.user_id.as_str()) else {
            return (configured, Vec::new());
        };
        let levels = match room.power_levels().await {
            Ok(levels) => levels,
            Err(e) => {
                tracing::debug!("{}: no power levels: {e}", room.room_id());
                return (configured, Vec::new());
            }
        };
        let (allowed, refused): (Vec<_>, Vec<_>) = configured
            .into_iter()
            .partition(|form| levels.user_can_send_state(user, form.event_type().into()));
        let refused = refused
            .into_iter()
            .map(|form| {
                tracing::info!(
                    "{}: the power levels forbid publishing {}",
                    room.room_id(),
                    form.event_type()
                );
                let sentence = format!(
                    "This room does not let you publish {}; joined without it.",
                    form.event_type()
                );
                (form, sentence)
            })
            .collect();
        (allowed, refused)
    }

    /// Leaves `room`'s call. A call joined by another process of this device is cleared by
    /// emptying the slots this device holds in the room.
    pub(super) async fn leave(&mut self, room: &RoomOrAliasId) -> Result<(), WorkerError> {
        let room_id = self.resolve(room).await?;
        let (client, me) = self.signed_in_as()?;
        let Some(entry) = self.rooms.get_mut(&room_id) else {
            return Err(WorkerError::NotInRoom(room.to_string()));
        };
        if let Some(own) = entry.call.own_mut() {
            own.leave();
            return Ok(());
        }
        let sdk_room = client
            .get_room(&room_id)
            .ok_or_else(|| WorkerError::NotInRoom(room.to_string()))?;
        for slot in entry.call.lobby().own_slots(&me.user_id, &me.device_id) {
            sdk_room
                .send_state_event_raw(slot.event_type, &slot.key, serde_json::json!({}))
                .await
                .map_err(|e| WorkerError::Homeserver(sentence(&e)))?;
        }
        Ok(())
    }

    /// When a join was refused, says which power level it takes (unless another form got in).
    pub(super) async fn explain_forbidden(&mut self, room_id: &RoomId) {
        let Ok((client, me)) = self.signed_in_as() else {
            return;
        };
        let Some(room) = client.get_room(room_id) else {
            return;
        };
        let Some(entry) = self.rooms.get_mut(room_id) else {
            return;
        };
        if entry.call.own().is_some_and(OwnCall::is_joining_or_joined) {
            return;
        }
        let reason = power_level_sentence(&room, &me, &entry.name).await;
        entry.failed = Some(reason.clone());
        entry.call.set_own(None);
        self.send_lobby(room_id);
        self.out.error(
            WorkerError::CallNotAllowed(reason),
            Some("join"),
            Some(room_id),
        );
    }

    /// Polls every own call and carries out what it asks: requests to the homeserver, our ring,
    /// notices, and leaving unanswered calls.
    pub(super) fn drive_own_calls(&mut self) {
        let Ok((client, me)) = self.signed_in_as() else {
            return;
        };
        let now = now_ms();
        let mut changed = Vec::new();
        let mut notices = Vec::new();
        let mut rings = Vec::new();
        for (room_id, entry) in self.rooms.iter_mut() {
            for effect in entry.call.poll_own(now, &me) {
                match effect {
                    OwnCallEffect::Perform { form, action } => {
                        tokio::spawn(perform(
                            client.clone(),
                            room_id.clone(),
                            form,
                            action,
                            self.internal_tx.clone(),
                        ));
                    }
                    OwnCallEffect::SendRing(messages) => rings.push((room_id.clone(), messages)),
                    OwnCallEffect::Notice(notice) => notices.push(notice),
                    OwnCallEffect::Unanswered => {
                        self.out.send(super::types::Update::Notice {
                            message: "Nobody answered; the call was left.".into(),
                        });
                        changed.push(room_id.clone());
                    }
                    OwnCallEffect::StateChanged(_) => changed.push(room_id.clone()),
                }
            }
        }
        for (room_id, messages) in rings {
            self.history_outgoing(&room_id, &messages);
            self.send_ring(&client, room_id, messages);
        }
        for notice in notices {
            match notice {
                Notice::NoDelayedEvents => {
                    // Later joins go straight to `expires` refreshes.
                    if let Some(account) = self.account.as_mut() {
                        account.delayed_events = Some(false);
                    }
                    self.tell_once("no-delayed-events".into(), NO_DELAYED_EVENTS.into());
                }
            }
        }
        changed.dedup();
        for room_id in changed {
            self.send_lobby(&room_id);
        }
    }

    /// Takes the outcome of a request of an own-call machine.
    pub(super) async fn on_action_done(
        &mut self,
        room_id: OwnedRoomId,
        form: PublishForm,
        result: Result<Reply, Failure>,
    ) {
        if let Err(failure) = &result {
            tracing::debug!("{room_id}: {form:?} action failed: {failure:?}");
        }
        let forbidden = matches!(result, Err(Failure::Forbidden));
        if let Some(own) = self.rooms.get_mut(&room_id).and_then(|e| e.call.own_mut()) {
            own.on_response(form, result, now_ms());
        }
        if forbidden {
            self.explain_forbidden(&room_id).await;
        }
    }
}

/// The sentence for a join the power levels forbid, naming the level it takes.
async fn power_level_sentence(room: &Room, me: &Me, room_name: &str) -> String {
    let Ok(levels) = room.power_levels().await else {
        return format!("You may not join calls in {room_name}.");
    };
    let event_type = StateEventType::from(CALL_MEMBER);
    let needed = levels
        .events
        .get(&event_type.to_string().into())
        .copied()
        .unwrap_or(levels.state_default);
    let mine = <&UserId>::try_from(me.user_id.as_str()).map_or_else(
        |_| "0".to_owned(),
        |u| match levels.for_user(u) {
            UserPowerLevel::Int(i) => i.to_string(),
            _ => "creator".to_owned(),
        },
    );
    format!(
        "You may not join calls in {room_name}: call membership needs power level {needed}, and you have {mine}. Ask a room admin to lower it."
    )
}

/// Carries out one request of an own-call machine and reports its outcome to the loop.
async fn perform(
    client: Client,
    room_id: OwnedRoomId,
    form: PublishForm,
    action: Action,
    done: mpsc::UnboundedSender<Internal>,
) {
    tracing::debug!("{room_id}: {form:?}: {action:?}");
    let result = match action {
        Action::ScheduleDelayedLeave {
            event_type,
            state_key,
            delay_ms,
        } => schedule_delayed_leave(&client, &room_id, event_type, state_key, delay_ms).await,
        Action::SendState {
            event_type,
            state_key,
            content,
        } => match client.get_room(&room_id) {
            Some(room) => room
                .send_state_event_raw(event_type, &state_key, content)
                .await
                .map(|r| Reply::EventId(r.event_id.to_string()))
                .map_err(|e| failure_of(&e)),
            None => Err(Failure::NotInRoom),
        },
        Action::RestartDelayedLeave { delay_id } => {
            update_delayed(&client, delay_id, UpdateAction::Restart).await
        }
        Action::SendDelayedLeaveNow { delay_id } => {
            update_delayed(&client, delay_id, UpdateAction::Send).await
        }
        Action::CancelDelayedLeave { delay_id } => {
            update_delayed(&client, delay_id, UpdateAction::Cancel).await
        }
    };
    // The loop is gone only when the worker stops; nothing is waiting for the outcome then.
    done.send(Internal::ActionDone {
        room_id,
        form,
        result,
    })
    .ok();
}

use update_delayed_event::unstable::UpdateAction;

async fn schedule_delayed_leave(
    client: &Client,
    room_id: &RoomId,
    event_type: &str,
    state_key: String,
    delay_ms: u64,
) -> Result<Reply, Failure> {
    let body = Raw::<AnyStateEventContent>::from_json_string("{}".to_owned())
        .map_err(|e| Failure::Other(e.to_string()))?;
    let request = delayed_state_event::unstable::Request::new_raw(
        room_id.to_owned(),
        state_key,
        StateEventType::from(event_type),
        DelayParameters::Timeout {
            timeout: Duration::from_millis(delay_ms),
        },
        body,
    );
    client
        .send(request)
        .await
        .map(|r| Reply::DelayId(r.delay_id))
        .map_err(|e| failure_of_http(&e))
}

async fn update_delayed(
    client: &Client,
    delay_id: String,
    action: UpdateAction,
) -> Result<Reply, Failure> {
    client
        .send(update_delayed_event::unstable::Request::new(
            delay_id, action,
        ))
        .await
        .map(|_| Reply::Done)
        .map_err(|e| failure_of_http(&e))
}
