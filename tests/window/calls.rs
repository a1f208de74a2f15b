//! The incoming call's own window, the room list that tells rooms apart, and "Recent calls",
//! over a scripted worker.

use egui::{ViewportCommand, ViewportId};
use egui_kittest::kittest::Queryable;
use vestibule::history::{CallHistory, CallOutcome, CallRecord, NotificationType};
use vestibule::matrix::{Command, Update};
use vestibule::rtc::CallIntent;
use vestibule::rtc::ring::StopReason;

use super::scripted::{NOW, Window, alert, room};

fn two_rooms() -> Vec<vestibule::matrix::RoomLobby> {
    vec![
        room(
            "!dm:example.org",
            "Carol (DM)",
            true,
            &["@carol:example.org"],
        ),
        room("!other:example.org", "Other", false, &[]),
    ]
}

/// Makes the main window hidden (or minimised) as eframe then reports it.
fn hide_main(w: &mut Window) {
    let input = w.harness.input_mut();
    let root = input.viewports.entry(ViewportId::ROOT).or_default();
    root.minimized = Some(true);
}

fn root_commands(w: &Window) -> Vec<ViewportCommand> {
    w.harness.output().viewport_output[&ViewportId::ROOT]
        .commands
        .clone()
}

#[test]
fn a_ring_opens_its_own_window_also_while_the_main_one_is_hidden_and_enter_answers() {
    let mut w = Window::open("incoming-window");
    w.signed_in(two_rooms());
    w.click("Other\nNo call");
    hide_main(&mut w);
    w.send(Update::Ringing {
        alert: alert("!dm:example.org", "$ring1"),
    });
    w.harness.step();
    // A hidden main window runs no UI pass by itself: the ring asks for one, from which the
    // incoming window opens.
    assert!(
        root_commands(&w).contains(&ViewportCommand::RequestPaintWhileHidden),
        "{:?}",
        root_commands(&w)
    );
    w.harness.run();
    // Its own window, titled for the screen reader, with the caller, the room and the
    // countdown; the main window is not brought up for it.
    assert!(w.has("Incoming video call from Carol"));
    assert!(w.has("in Carol (DM)"));
    assert!(w.has("Rings for 30 s more"));
    assert!(!root_commands(&w).contains(&ViewportCommand::Visible(true)));
    w.harness.key_press(egui::Key::Enter);
    w.harness.run();
    assert!(matches!(
        w.commands().as_slice(),
        [Command::Answer { room }] if room == "!dm:example.org"
    ));
    // Answered here: the window closes with the ring, without lingering.
    w.update(Update::RingStopped {
        call: alert("!dm:example.org", "$ring1").call,
        reason: StopReason::Answered,
    });
    assert!(!w.has("Incoming video call from Carol"));
    assert!(!w.has("Call ended"));
}

#[test]
fn escape_declines_and_a_ring_that_stops_by_itself_says_why_before_its_window_closes() {
    let mut w = Window::open("incoming-stops");
    w.signed_in(two_rooms());
    w.update(Update::Ringing {
        alert: alert("!dm:example.org", "$ring1"),
    });
    w.harness.key_press(egui::Key::Escape);
    w.harness.run();
    assert!(matches!(
        w.commands().as_slice(),
        [Command::Decline { room: Some(room) }] if room == "!dm:example.org"
    ));
    w.update(Update::RingStopped {
        call: alert("!dm:example.org", "$ring1").call,
        reason: StopReason::Declined,
    });
    assert!(!w.has("Call ended"));

    // The next ring ends because the caller left: its window stays to say so, until closed.
    w.update(Update::Ringing {
        alert: alert("!dm:example.org", "$ring2"),
    });
    assert!(w.has("Incoming video call from Carol"));
    w.update(Update::RingStopped {
        call: alert("!dm:example.org", "$ring2").call,
        reason: StopReason::CallerLeft,
    });
    assert!(w.has("Call ended"));
    assert!(
        w.harness
            .query_all_by_label_contains("stopped ringing: the caller left.")
            .next()
            .is_some()
    );
    w.click("Close");
    assert!(!w.has("Call ended"));
    assert!(w.commands().is_empty(), "closing sends nothing");
}

fn missed(room_id: &str, at_ms: u64) -> CallRecord {
    CallRecord {
        outcome: CallOutcome::Missed,
        room_id: room_id.into(),
        room_name: "Carol (DM)".into(),
        caller: Some("@carol:example.org".into()),
        caller_name: Some("Carol".into()),
        intent: Some("audio".into()),
        notification_type: NotificationType::Ring,
        elsewhere: false,
        at_ms,
        seen: false,
    }
}

#[test]
fn a_missed_call_is_badged_until_seen_and_call_back_rings_the_room() {
    let mut w = Window::open("history");
    w.signed_in(two_rooms());
    w.click("Other\nNo call");
    let mut history = CallHistory::default();
    history.record(missed("!dm:example.org", NOW - 5 * 60_000));
    history.record(CallRecord {
        outcome: CallOutcome::Outgoing,
        caller: None,
        caller_name: None,
        seen: true,
        intent: Some("video".into()),
        room_name: "Other".into(),
        ..missed("!other:example.org", NOW - 3 * 3_600_000)
    });
    w.update(Update::History { history });
    assert!(w.has("Recent calls · 1 missed"));
    assert!(w.has("Carol (DM)\n1 missed call · "));

    // Opening the room sees its missed call.
    w.click("Carol (DM)\n1 missed call · 1 person · video · 5 min");
    assert!(matches!(
        w.commands().as_slice(),
        [Command::MarkCallsSeen { room: Some(room) }] if room == "!dm:example.org"
    ));
    assert!(!w.has("1 missed"));

    w.click("Recent calls");
    assert!(w.has("Missed call"));
    assert!(w.has("Carol (@carol:example.org)"));
    assert!(w.has("in Carol (DM) · audio · 5 min ago"));
    assert!(w.has("You called"));
    assert!(w.has("in Other · video · 3 h ago"));
    // Seen already: opening the history tells the worker nothing more.
    assert!(w.commands().is_empty());
    let first_call_back = w
        .harness
        .query_all_by_label("Call back")
        .next()
        .expect("a Call back button");
    first_call_back.click();
    w.harness.run();
    assert!(matches!(
        w.commands().as_slice(),
        [Command::Ring { room, intent: CallIntent::Audio }] if room.as_str() == "!dm:example.org"
    ));
    // Calling back shows the room's lobby.
    assert!(!w.has("You called"));
}

#[test]
fn opening_recent_calls_sees_every_missed_call() {
    let mut w = Window::open("history-seen");
    w.signed_in(two_rooms());
    let mut history = CallHistory::default();
    history.record(missed("!dm:example.org", NOW - 60_000));
    history.record(missed("!other:example.org", NOW - 120_000));
    w.update(Update::History { history });
    assert!(w.has("Recent calls · 2 missed"));
    w.click("Recent calls · 2 missed");
    assert!(matches!(
        w.commands().as_slice(),
        [Command::MarkCallsSeen { room: None }]
    ));
    assert!(w.has("Recent calls"));
    assert!(!w.has("2 missed"));
}

#[test]
fn two_chats_of_the_same_name_are_told_apart_and_the_room_id_is_only_copied() {
    let mut w = Window::open("disambiguate");
    let mut alex1 = room("!alex1:example.org", "Alex", true, &[]);
    alex1.peer = Some("@alex:one.example".into());
    let mut alex2 = room("!alex2:example.org", "Alex", true, &[]);
    alex2.peer = Some("@alex:two.example".into());
    let single = {
        let mut r = room("!sam:example.org", "Sam", true, &[]);
        r.peer = Some("@sam:example.org".into());
        r
    };
    w.signed_in(vec![alex1, alex2, single]);
    assert!(w.has("Alex (@alex:one.example)\nNo call"));
    assert!(w.has("Alex (@alex:two.example)\nNo call"));
    // A name nobody else has stays as it is.
    assert!(w.has("Sam\nNo call"));
    // The id is not on screen, only behind the "Copy room id" action.
    w.click("Alex (@alex:two.example)\nNo call");
    assert!(!w.has("!alex2:example.org"));
    w.harness.get_by_label("Copy room id").click();
    w.harness.step();
    let copied = w
        .harness
        .output()
        .platform_output
        .commands
        .iter()
        .any(|c| matches!(c, egui::OutputCommand::CopyText(t) if t == "!alex2:example.org"));
    assert!(copied, "{:?}", w.harness.output().platform_output.commands);
}
