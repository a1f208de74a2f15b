//! The model's unit tests: what updates and the person's actions do to it.

use super::*;
use crate::matrix::OwnCallState;
use crate::ring::AlertOrigin;
use crate::rtc::CallKey;
use crate::rtc::ring::NotifyKind;

fn room(id: &str, name: &str) -> RoomLobby {
    RoomLobby {
        room_id: id.into(),
        name: name.into(),
        is_direct: false,
        peer: None,
        avatar_url: None,
        calls: Vec::new(),
        own: OwnCallState::NotJoined,
    }
}

fn alert(event: &str) -> RingAlert {
    RingAlert {
        call: IncomingCall {
            room_id: "!a:example.org".into(),
            notification_event_id: event.into(),
            caller: "@carol:example.org".into(),
            kind: NotifyKind::Ring,
            intent: None,
            call: CallKey::room_call(),
            expires_at_ms: 30_000,
            quieted: None,
        },
        caller_name: "Carol".into(),
        room_name: "Alpha".into(),
        muted: false,
        origin: AlertOrigin::Call,
    }
}

#[test]
fn rooms_are_listed_selected_and_kept_in_name_order() {
    let mut model = Model::new(Settings::default());
    let rooms = vec![
        room("!a:example.org", "Alpha"),
        room("!c:example.org", "Gamma"),
    ];
    model.apply(Update::Rooms { rooms }, 0);
    assert_eq!(model.selected(), Some("!a:example.org"));
    let lobby = room("!b:example.org", "Beta");
    model.apply(Update::Lobby { lobby }, 0);
    let lobby = RoomLobby {
        is_direct: true,
        peer: None,
        avatar_url: None,
        ..room("!a:example.org", "Alpha")
    };
    model.apply(Update::Lobby { lobby }, 0);
    let names: Vec<&str> = model.rooms().iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["Alpha", "Beta", "Gamma"]);
    assert!(model.lobby("!a:example.org").is_some_and(|r| r.is_direct));
    assert_eq!(model.version(), 3);
}

#[test]
fn a_stopped_ring_says_why_for_a_while_once() {
    let mut model = Model::new(Settings::default());
    model.apply(Update::Ringing { alert: alert("$1") }, 0);
    let call = alert("$1").call;
    let reason = StopReason::Expired;
    model.apply(Update::RingStopped { call, reason }, 1000);
    assert!(model.ringing().is_empty());
    let sentence = "The call from Carol in Alpha stopped ringing: nobody answered.";
    assert_eq!(
        model.ring_stopped(),
        Some((sentence, 1000 + RING_STOPPED_SHOWN_MS))
    );
    // A call that was not ringing here has nothing to say.
    let call = alert("$2").call;
    model.apply(Update::RingStopped { call, reason }, 9000);
    assert_eq!(
        model.ring_stopped(),
        Some((sentence, 1000 + RING_STOPPED_SHOWN_MS))
    );
}

#[test]
fn signing_out_forgets_the_session_but_not_the_settings() {
    let mut model = Model::new(Settings::default());
    let user_id = "@alice:example.org".to_owned();
    let device_id = "DEVICE".to_owned();
    model.apply(Update::SignedIn { user_id, device_id }, 0);
    model.set_room_muted("!a:example.org", true);
    model.set_search("alp".into());
    model.apply(Update::SignedOut, 0);
    assert_eq!(*model.screen(), Screen::Login);
    assert_eq!(model.account(), None);
    assert_eq!(model.search(), "");
    assert_eq!(model.settings().ring.muted_rooms, ["!a:example.org"]);
    assert_eq!(model.version(), 2);
}

#[test]
fn what_the_user_does_changes_the_model() {
    let mut model = Model::new(Settings::default());
    model.toggle_settings();
    assert!(model.settings_open());
    model.select_room("!a:example.org".into());
    assert_eq!(model.selected(), Some("!a:example.org"));
    assert!(!model.settings_open());
    model.set_video(false);
    assert!(!model.video());
    model.set_room_muted("!a:example.org", true);
    model.set_room_muted("!a:example.org", true);
    assert_eq!(model.settings().ring.muted_rooms, ["!a:example.org"]);
    model.set_room_muted("!a:example.org", false);
    assert!(model.settings().ring.muted_rooms.is_empty());
}

#[test]
fn banners_are_not_stacked_and_the_oldest_go() {
    let mut model = Model::new(Settings::default());
    for i in 0..=MAX_BANNERS {
        model.banner(format!("sentence {i}"), false);
    }
    model.banner("sentence 1".into(), true);
    let shown: Vec<&str> = model.banners().iter().map(|b| b.message.as_str()).collect();
    assert_eq!(
        shown,
        ["sentence 1", "sentence 2", "sentence 3", "sentence 4"]
    );
    model.dismiss_banner(0);
    model.dismiss_banner(9);
    assert_eq!(model.banners().len(), MAX_BANNERS - 1);
}
