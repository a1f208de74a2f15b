//! The window over a scripted worker: the test plays the worker, sending updates and reading
//! the commands the window sends.

use std::path::PathBuf;
use std::time::Duration;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use vestibule::app::VestibuleApp;

use crate::support::scripted::Scripted;
use vestibule::config::Settings;
use vestibule::matrix::{
    Command, Concealed, Connection, FocusInfo, FocusSource, IdentityProvider, LoginMethods,
    OwnCallState, Profile, RingAlert, RoomAvatar, RoomLobby, SessionTrust, Update,
};
use vestibule::rtc::membership::WireForm;
use vestibule::rtc::ring::{IncomingCall, NotifyKind, StopReason};
use vestibule::rtc::{Call, CallIntent, CallKey, Focus, Participant};
use vestibule::shell::Signals;

/// The test's fixed "now".
pub(crate) const NOW: u64 = 1_800_000_000_000;

pub(crate) struct Window {
    pub(crate) harness: Harness<'static, VestibuleApp>,
    pub(crate) workers: Scripted,
    config_file: PathBuf,
    /// The addresses the window opened in the browser.
    opened: std::rc::Rc<std::cell::RefCell<Vec<String>>>,
}

impl Window {
    pub(crate) fn open(name: &str) -> Self {
        Self::open_with(name, Settings::default())
    }

    pub(crate) fn open_with(name: &str, settings: Settings) -> Self {
        let dir =
            std::env::temp_dir().join(format!("vestibule-window-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config_file = dir.join("config.toml");
        settings.save(&config_file).unwrap();
        let workers = Scripted::default();
        let backend = workers.clone();
        let file = config_file.clone();
        let opened = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let browser = opened.clone();
        let harness = Harness::builder()
            .with_size([1100.0, 760.0])
            .build_eframe(move |cc| {
                VestibuleApp::new(
                    &cc.egui_ctx,
                    Box::new(backend),
                    settings,
                    file,
                    None,
                    Signals::new(),
                )
                .with_clock(|| NOW)
                .with_url_opener(move |url| browser.borrow_mut().push(url))
            });
        Self {
            harness,
            workers,
            config_file,
            opened,
        }
    }

    /// Plays the worker: sends an update and lets the window settle.
    pub(crate) fn update(&mut self, update: Update) {
        self.send(update);
        self.harness.run();
    }

    /// Plays the worker: sends an update, for the window to take at its next frame.
    pub(crate) fn send(&mut self, update: Update) {
        let workers = self.workers.0.borrow();
        workers.last().unwrap().updates.send(update).unwrap();
    }

    /// The commands sent since the last call, without the profile look-ups the views make on
    /// their own.
    pub(crate) fn commands(&mut self) -> Vec<Command> {
        let mut workers = self.workers.0.borrow_mut();
        let worker = workers.last_mut().unwrap();
        std::iter::from_fn(|| worker.commands.try_recv().ok())
            .filter(|c| {
                !matches!(
                    c,
                    Command::Profiles { .. }
                        | Command::RoomAvatars { .. }
                        | Command::LoginMethods { .. }
                )
            })
            .collect()
    }

    /// Every command sent since the last call, the homeserver's sign-in methods asked among them.
    pub(crate) fn all_commands(&mut self) -> Vec<Command> {
        let mut workers = self.workers.0.borrow_mut();
        let worker = workers.last_mut().unwrap();
        std::iter::from_fn(|| worker.commands.try_recv().ok())
            .filter(|c| !matches!(c, Command::Profiles { .. }))
            .collect()
    }

    pub(crate) fn signed_in(&mut self, rooms: Vec<RoomLobby>) {
        self.update(Update::SignedIn {
            user_id: "@me:example.org".into(),
            device_id: "VESTIBULE".into(),
        });
        self.update(Update::Connection {
            connection: Connection::Online,
        });
        self.update(Update::Rooms { rooms });
    }

    pub(crate) fn click(&mut self, label: &str) {
        self.harness.get_by_label(label).click();
        self.harness.run();
    }

    pub(crate) fn has(&self, label: &str) -> bool {
        self.harness
            .query_all_by_label_contains(label)
            .next()
            .is_some()
    }

    /// The top of a room's row in the list (its label is the name, a line break, the summary).
    pub(crate) fn top(&self, room_name: &str) -> f32 {
        self.harness
            .get_by_label_contains(&format!("{room_name}\n"))
            .rect()
            .top()
    }
}

pub(crate) fn participant(user: &str, joined_ago_ms: u64) -> Participant {
    Participant {
        user_id: user.into(),
        device_id: "DEVICE".into(),
        member_id: format!("{user}:DEVICE"),
        joined_ts: NOW - joined_ago_ms,
        expires_at_ms: NOW + 3_600_000,
        active_focus: Some(Focus::livekit("https://sfu.example.org/livekit/jwt")),
        focus_selection: None,
        foci_preferred: vec![Focus::livekit("https://sfu.example.org/livekit/jwt")],
        intent: Some(CallIntent::Video),
        forms: vec![WireForm::Session],
    }
}

pub(crate) fn room(id: &str, name: &str, direct: bool, people: &[&str]) -> RoomLobby {
    let calls = if people.is_empty() {
        Vec::new()
    } else {
        vec![Call {
            key: CallKey::room_call(),
            participants: people
                .iter()
                .enumerate()
                .map(|(i, u)| participant(u, 300_000 - i as u64 * 1000))
                .collect(),
        }]
    };
    RoomLobby {
        room_id: id.into(),
        name: name.into(),
        is_direct: direct,
        peer: None,
        avatar_url: None,
        calls,
        own: OwnCallState::NotJoined,
    }
}

pub(crate) fn alert(room_id: &str, event: &str) -> RingAlert {
    RingAlert {
        call: IncomingCall {
            room_id: room_id.into(),
            notification_event_id: event.into(),
            caller: "@carol:example.org".into(),
            kind: NotifyKind::Ring,
            intent: Some(CallIntent::Video),
            call: CallKey::room_call(),
            expires_at_ms: NOW + 30_000,
            quieted: None,
        },
        caller_name: "Carol".into(),
        room_name: "Carol (DM)".into(),
        muted: false,
        origin: vestibule::ring::AlertOrigin::Call,
    }
}

#[test]
fn restoring_shows_progress_not_the_form() {
    let mut w = Window::open("restoring");
    // The spinner keeps repainting: step instead of settling.
    w.harness.run_steps(3);
    assert!(w.has("Restoring your session"));
    assert!(!w.has("Sign in"));
}

#[test]
fn signing_in_sends_login_and_shows_the_failure() {
    let mut w = Window::open("login");
    w.update(Update::NeedsLogin);
    assert!(w.has("Sign in"));
    let homeserver = w.harness.get_by_label("Homeserver").value();
    assert_eq!(homeserver.as_deref(), Some("matrix.org"));
    w.harness.get_by_label("User").focus();
    w.harness.get_by_label("User").type_text("alice");
    w.harness.run();
    w.harness.get_by_label("Password").focus();
    w.harness.get_by_label("Password").type_text("wrong horse");
    w.harness.run();
    // Enter in the password field signs in.
    w.harness.key_press(egui::Key::Enter);
    w.harness.run_steps(3);
    let sent = w.commands();
    assert!(
        matches!(
            sent.as_slice(),
            [Command::Login { homeserver, user, password }]
                if homeserver == "matrix.org" && user == "alice" && password == "wrong horse"
        ),
        "{sent:?}"
    );
    assert!(w.has("Signing in"));
    w.update(Update::LoginFailed {
        reason: "The user name or password is wrong.".into(),
    });
    assert!(w.has("The user name or password is wrong."));
    // The form is usable again, and the password was not kept.
    assert_eq!(
        w.harness.get_by_label("Password").value().as_deref(),
        Some("")
    );
}

#[test]
fn rooms_with_calls_come_first_and_the_search_filters() {
    let mut w = Window::open("rooms");
    w.signed_in(vec![
        room("!a:example.org", "Alpha", false, &[]),
        room("!b:example.org", "Beta", false, &["@x:example.org"]),
        room(
            "!c:example.org",
            "Gamma",
            false,
            &["@x:example.org", "@y:example.org", "@z:example.org"],
        ),
        room("!d:example.org", "Delta", true, &[]),
    ]);
    let (gamma, beta, alpha, delta) = (
        w.top("Gamma"),
        w.top("Beta"),
        w.top("Alpha"),
        w.top("Delta"),
    );
    assert!(
        gamma < beta && beta < alpha && alpha < delta,
        "{gamma} {beta} {alpha} {delta}"
    );
    assert!(w.has("3 people · video · 5 min"));
    assert!(w.has("No call"));
    // The busiest room is selected; Down moves to the next in the list.
    let selected = |w: &Window| w.harness.state().model().selected().map(str::to_owned);
    assert_eq!(selected(&w).as_deref(), Some("!c:example.org"));
    w.harness.key_press(egui::Key::ArrowDown);
    w.harness.run();
    assert_eq!(selected(&w).as_deref(), Some("!b:example.org"));
    w.harness.get_by_label("Search rooms").focus();
    w.harness.get_by_label("Search rooms").type_text("ALP");
    w.harness.run();
    assert!(w.has("Alpha"));
    assert!(!w.has("Beta\n") && !w.has("Gamma\n") && !w.has("Delta\n"));
    w.harness.get_by_label("Search rooms").type_text("zzz");
    w.harness.run();
    assert!(w.has("No room matches the search."));
}

#[test]
fn join_leave_ring_and_notify_send_their_commands() {
    let mut w = Window::open("join");
    let dm = room("!dm:example.org", "Carol", true, &["@carol:example.org"]);
    w.signed_in(vec![
        dm.clone(),
        room("!g:example.org", "Group", false, &[]),
    ]);
    // The busiest room is selected first: its lobby shows the participant.
    assert!(w.has("@carol:example.org"));
    assert!(w.has("DEVICE · in call 5 min · sfu.example.org"));
    w.click("Join");
    assert!(matches!(
        w.commands().as_slice(),
        [Command::Join { room, intent: CallIntent::Video, notify: None, .. }] if room == "!dm:example.org"
    ));
    w.update(Update::Lobby {
        lobby: RoomLobby {
            own: OwnCallState::Joined,
            ..dm.clone()
        },
    });
    assert!(w.has("You are in this call."));
    w.click("Leave");
    assert!(matches!(
        w.commands().as_slice(),
        [Command::Leave { room }] if room == "!dm:example.org"
    ));
    w.update(Update::Lobby { lobby: dm });
    // Audio only, then ring.
    w.click("Video");
    w.click("Ring");
    assert!(matches!(
        w.commands().as_slice(),
        [Command::Ring { room, intent: CallIntent::Audio }] if room == "!dm:example.org"
    ));
    // A group room notifies instead, and says what to do when nobody is in the call.
    w.click("Group\nNo call");
    assert!(w.has("No call in this room right now"));
    assert!(!w.has("Ring"));
    w.click("Notify room");
    assert!(matches!(
        w.commands().as_slice(),
        [Command::Ring { room, .. }] if room == "!g:example.org"
    ));
    // A failure reads as a sentence in the lobby.
    w.update(Update::Lobby {
        lobby: RoomLobby {
            own: OwnCallState::Failed {
                reason: "You need power level 50 to join calls here; you have 0.".into(),
            },
            ..room("!g:example.org", "Group", false, &[])
        },
    });
    assert!(w.has("Joining failed: You need power level 50"));
}

#[test]
fn an_incoming_call_shows_and_answer_and_decline_send_their_commands() {
    let mut w = Window::open("incoming");
    w.signed_in(vec![
        room(
            "!dm:example.org",
            "Carol (DM)",
            true,
            &["@carol:example.org"],
        ),
        room("!other:example.org", "Other", false, &[]),
    ]);
    w.click("Other\nNo call");
    w.update(Update::Ringing {
        alert: alert("!dm:example.org", "$ring1"),
    });
    assert!(w.has("Incoming video call"));
    assert!(w.has("in Carol (DM)"));
    assert!(w.has("Rings for 30 s more"));
    // The room list marks the ringing room.
    assert!(w.has("Carol (DM)\nRinging · "));
    w.click("Answer");
    assert!(matches!(
        w.commands().as_slice(),
        [Command::Answer { room }] if room == "!dm:example.org"
    ));
    // Answering selects the room.
    assert!(w.has("@carol:example.org"));
    w.update(Update::RingStopped {
        call: alert("!dm:example.org", "$ring1").call,
        reason: StopReason::Answered,
    });
    assert!(!w.has("Incoming video call"));
    assert!(w.has("The call from Carol in Carol (DM) stopped ringing: answered."));

    w.update(Update::Ringing {
        alert: alert("!dm:example.org", "$ring2"),
    });
    w.click("Decline");
    assert!(matches!(
        w.commands().as_slice(),
        [Command::Decline { room: Some(room) }] if room == "!dm:example.org"
    ));
    w.update(Update::RingStopped {
        call: alert("!dm:example.org", "$ring2").call,
        reason: StopReason::CallerLeft,
    });
    assert!(!w.has("Incoming video call"));
    assert!(w.has("stopped ringing: the caller left."));
}

#[test]
fn settings_reorder_foci_and_persist_them() {
    let mut settings = Settings::default();
    settings.calls.foci = vec!["https://mine.example.org".into()];
    let mut w = Window::open_with("settings", settings);
    w.signed_in(vec![room("!a:example.org", "Alpha", false, &[])]);
    let focus = |url: &str, source| FocusInfo {
        focus: Focus::livekit(url),
        source,
    };
    w.update(Update::Foci {
        foci: vec![
            focus("https://mine.example.org", FocusSource::User),
            focus("https://hs.example.org", FocusSource::Transports),
        ],
    });
    w.click("Settings");
    assert!(w.has("from your homeserver"));
    w.click("Move https://hs.example.org up");
    let file = w.config_file.clone();
    let saved = || Settings::load(&file).0.calls.foci;
    assert_eq!(
        saved(),
        ["https://hs.example.org", "https://mine.example.org"]
    );
    let sent = w.commands();
    assert!(
        matches!(sent.as_slice(), [Command::ApplySettings(s)] if s.calls.foci == saved()),
        "{sent:?}"
    );
    // Add one by URL, then remove the first.
    w.harness.get_by_label("Add a focus").focus();
    w.harness
        .get_by_label("Add a focus")
        .type_text("https://new.example.org/");
    w.harness.run();
    w.click("Add");
    assert_eq!(
        saved(),
        [
            "https://hs.example.org",
            "https://mine.example.org",
            "https://new.example.org"
        ]
    );
    w.click("Remove https://hs.example.org");
    assert_eq!(
        saved(),
        ["https://mine.example.org", "https://new.example.org"]
    );
    // Check asks the worker and shows its answer.
    w.commands();
    w.harness
        .get_by_label("Check https://new.example.org")
        .click();
    // A spinner shows while checking.
    w.harness.run_steps(3);
    assert!(matches!(
        w.commands().as_slice(),
        [Command::CheckFocus { url }] if url == "https://new.example.org"
    ));
    w.update(Update::FocusChecked {
        url: "https://new.example.org".into(),
        ok: false,
        message: "The focus could not be reached.".into(),
    });
    assert!(w.has("The focus could not be reached."));
    // Do-not-disturb persists too.
    w.click("Do not disturb: show calls in the window only");
    assert!(Settings::load(&w.config_file).0.ring.do_not_disturb);
}

#[test]
fn an_idle_window_does_not_repaint() {
    let mut w = Window::open("idle");
    w.signed_in(vec![room("!a:example.org", "Alpha", false, &[])]);
    let delay =
        |w: &Window| w.harness.output().viewport_output[&egui::ViewportId::ROOT].repaint_delay;
    assert_eq!(delay(&w), Duration::MAX);
    // A live call's duration is due to change: the window wakes for it, not before.
    w.update(Update::Lobby {
        lobby: room("!a:example.org", "Alpha", false, &["@x:example.org"]),
    });
    let due = delay(&w);
    assert!(
        due > Duration::ZERO && due <= Duration::from_secs(60),
        "{due:?}"
    );
    // A call that began 2 s ago, on screen: "<1 min" until its first minute, no second ticks.
    let mut fresh = room("!a:example.org", "Alpha", false, &["@x:example.org"]);
    fresh.calls[0].participants[0] = participant("@x:example.org", 2_000);
    w.update(Update::Lobby { lobby: fresh });
    w.click("Alpha\n1 person · video · <1 min");
    assert!(w.has("DEVICE · in call <1 min · sfu.example.org"));
    let due = delay(&w);
    assert_eq!(due, Duration::from_secs(58), "wakes at the first minute");
}

#[test]
fn signing_out_starts_a_fresh_worker_and_shows_the_form() {
    let mut w = Window::open("signout");
    w.signed_in(vec![room("!a:example.org", "Alpha", false, &[])]);
    w.click("Settings");
    w.click("Sign out");
    assert!(matches!(w.commands().as_slice(), [Command::Logout]));
    w.update(Update::SignedOut);
    w.update(Update::Stopped);
    assert_eq!(w.workers.0.borrow().len(), 2);
    w.update(Update::NeedsLogin);
    assert!(w.has("Sign in"));
    assert!(!w.has("Alpha"));
}

/// A PNG of one colour, `width` by `height`, made the way an avatar upload would be.
fn png(width: u32, height: u32) -> std::sync::Arc<[u8]> {
    let picture = image::RgbaImage::from_pixel(width, height, image::Rgba([200, 40, 40, 255]));
    let mut out = std::io::Cursor::new(Vec::new());
    picture.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner().into()
}

fn profile(user: &str, name: &str, avatar: std::sync::Arc<[u8]>) -> Profile {
    Profile {
        user_id: user.into(),
        display_name: name.into(),
        avatar: Some(avatar),
    }
}

#[test]
fn a_group_room_shows_its_own_avatar_asked_for_once_and_again_when_it_changes() {
    let mut w = Window::open("room-avatars");
    let mut team = room("!t:example.org", "Team", false, &[]);
    team.avatar_url = Some("mxc://example.org/team1".into());
    w.signed_in(vec![
        team.clone(),
        room("!a:example.org", "Alpha", false, &[]),
    ]);
    let asked = |w: &mut Window| {
        w.all_commands()
            .into_iter()
            .filter_map(|c| match c {
                Command::RoomAvatars { rooms } => Some(rooms),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let team_id = matrix_sdk::ruma::OwnedRoomId::try_from("!t:example.org").unwrap();
    assert_eq!(
        asked(&mut w),
        [vec![team_id.clone()]],
        "only the room with a picture"
    );
    w.harness.run_steps(3);
    assert!(asked(&mut w).is_empty(), "asked once");
    assert!(w.has("Avatar of Team (initials T)"));
    w.update(Update::RoomAvatars {
        avatars: vec![RoomAvatar {
            room_id: "!t:example.org".into(),
            avatar_url: team.avatar_url.clone(),
            avatar: Some(png(96, 96)),
        }],
    });
    let picture = w.harness.get_by_label("Avatar of Team");
    assert!(picture.rect().width() > 10.0);
    // The room's picture changed: the initials show until the new one is here.
    team.avatar_url = Some("mxc://example.org/team2".into());
    w.update(Update::Lobby { lobby: team });
    assert_eq!(asked(&mut w), [vec![team_id]]);
    assert!(w.has("Avatar of Team (initials T)"));
}

#[test]
fn huge_or_broken_avatars_show_initials_and_good_ones_are_decoded_once() {
    let mut w = Window::open("avatars");
    let people = [
        "@tall:example.org",
        "@junk:example.org",
        "@fine:example.org",
    ];
    w.signed_in(vec![room("!a:example.org", "Alpha", false, &people)]);
    let textures = |w: &Window| w.harness.ctx.tex_manager().read().num_allocated();
    let before = textures(&w);
    let profiles = || Update::Profiles {
        room_id: "!a:example.org".into(),
        profiles: vec![
            // Taller than any texture may be: the GL painter would abort on it.
            profile("@tall:example.org", "Tall Person", png(1, 40_000)),
            profile(
                "@junk:example.org",
                "Junk Bytes",
                b"\x89PNG but not really"[..].into(),
            ),
            profile("@fine:example.org", "Fine Picture", png(512, 512)),
        ],
    };
    w.update(profiles());
    w.harness.run_steps(5);
    for (name, initials) in [("Tall Person", "TP"), ("Junk Bytes", "JB")] {
        assert!(w.has(name), "{name} is shown");
        assert!(
            w.has(&format!("Avatar of {name} (initials {initials})")),
            "{name} has the initials avatar"
        );
    }
    assert!(w.has("Fine Picture"));
    let fine = w.harness.get_by_label("Avatar of Fine Picture");
    assert_eq!(
        fine.rect().width().round(),
        36.0,
        "drawn at the avatar size"
    );
    // Only the good picture became a texture, and a small one.
    assert_eq!(textures(&w), before + 1);
    let largest = w
        .harness
        .ctx
        .tex_manager()
        .read()
        .allocated()
        .filter(|(_, meta)| meta.name.contains("avatar"))
        .map(|(_, meta)| meta.size[0].max(meta.size[1]))
        .max();
    assert_eq!(largest, Some(96));
    // The same profiles again (fresh bytes, same pictures): nothing is decoded or uploaded again.
    w.update(profiles());
    w.harness.run_steps(5);
    assert_eq!(textures(&w), before + 1);
    let delay = w.harness.output().viewport_output[&egui::ViewportId::ROOT].repaint_delay;
    assert!(
        delay > Duration::from_secs(1),
        "the window rests: {delay:?}"
    );
}

#[test]
fn the_form_asks_the_server_and_offers_the_browser_where_it_signs_in_with_oauth() {
    let mut w = Window::open("oauth-form");
    w.update(Update::NeedsLogin);
    w.harness.run();
    let asked = w.all_commands();
    assert!(
        asked.iter().any(
            |c| matches!(c, Command::LoginMethods { homeserver } if homeserver == "matrix.org")
        ),
        "{asked:?}"
    );
    // Until the server said, the password fields stay, as before.
    assert!(w.has("Password"));
    w.update(Update::LoginMethods {
        homeserver: "matrix.org".into(),
        methods: LoginMethods {
            oauth: true,
            ..LoginMethods::default()
        },
    });
    assert!(w.has("Continue in browser"));
    assert!(!w.has("Password"), "matrix.org takes no passwords");
    w.harness.get_by_label("Continue in browser").click();
    w.harness.run();
    let sent = w.commands();
    assert!(
        matches!(sent.as_slice(), [Command::LoginInBrowser { homeserver, provider: None }] if homeserver == "matrix.org"),
        "{sent:?}"
    );
    let url = "https://account.example.org/authorize?client_id=abc&state=xyz";
    w.send(Update::BrowserLogin { url: url.into() });
    w.harness.run_steps(3);
    assert!(w.has("Waiting for you to sign in in your browser"));
    assert_eq!(*w.opened.borrow(), [url]);
    w.harness.get_by_label("Cancel").click();
    w.harness.run_steps(3);
    let sent = w.commands();
    assert!(
        matches!(sent.as_slice(), [Command::CancelLogin]),
        "{sent:?}"
    );
    w.update(Update::LoginFailed {
        reason: "Sign-in cancelled.".into(),
    });
    assert!(w.has("Sign-in cancelled."));
    assert!(w.has("Continue in browser"), "the way in is offered again");
    // The browser sign-in goes through this time: the window moves on.
    w.harness.get_by_label("Continue in browser").click();
    w.harness.run();
    w.send(Update::BrowserLogin { url: url.into() });
    w.harness.run_steps(3);
    w.signed_in(Vec::new());
    assert!(!w.has("Waiting for you to sign in"));
    assert!(!w.has("Continue in browser"));
}

#[test]
fn single_sign_on_offers_one_button_per_provider_beside_the_password() {
    let mut w = Window::open("sso-form");
    w.update(Update::NeedsLogin);
    w.harness.run();
    w.update(Update::LoginMethods {
        homeserver: "matrix.org".into(),
        methods: LoginMethods {
            sso: true,
            password: true,
            providers: vec![
                IdentityProvider {
                    id: "oidc-example".into(),
                    name: "Example ID".into(),
                },
                IdentityProvider {
                    id: "oidc-other".into(),
                    name: "Other ID".into(),
                },
            ],
            ..LoginMethods::default()
        },
    });
    assert!(w.has("Continue with Example ID"));
    assert!(w.has("Continue with Other ID"));
    assert!(w.has("Password"), "this server takes passwords too");
    w.harness.get_by_label("Continue with Other ID").click();
    w.harness.run();
    let sent = w.commands();
    assert!(
        matches!(sent.as_slice(), [Command::LoginInBrowser { provider: Some(p), .. }] if p == "oidc-other"),
        "{sent:?}"
    );
}

#[test]
fn a_server_with_no_way_in_we_know_is_said_so() {
    let mut w = Window::open("no-way-in");
    w.update(Update::NeedsLogin);
    w.harness.run();
    w.update(Update::LoginMethods {
        homeserver: "matrix.org".into(),
        methods: LoginMethods::default(),
    });
    assert!(w.has("offers no way of signing in that Vestibule knows"));
    assert!(!w.has("Password"));
}

#[test]
fn an_unverified_session_is_said_calmly_and_verifies_with_the_recovery_key() {
    let mut w = Window::open("trust");
    w.signed_in(Vec::new());
    assert!(
        !w.has("not verified"),
        "nothing is said before the account answers"
    );
    w.update(Update::Trust {
        trust: SessionTrust::Unverified,
    });
    assert!(w.has("This session is not verified"));
    w.harness.get_by_label("Verify with recovery key").click();
    w.harness.run();
    w.harness.get_by_label("Recovery key").focus();
    w.harness
        .get_by_label("Recovery key")
        .type_text("EsT1 abcd");
    w.harness.run();
    w.harness.get_by_label("Verify").click();
    w.harness.run_steps(3);
    let sent = w.commands();
    assert!(
        matches!(sent.as_slice(), [Command::Recover { key }] if key == "EsT1 abcd"),
        "{sent:?}"
    );
    w.update(Update::Trust {
        trust: SessionTrust::Verified,
    });
    assert!(!w.has("This session is not verified"));
}

#[test]
fn setting_up_verification_shows_the_new_key_once() {
    let mut w = Window::open("trust-set-up");
    w.signed_in(Vec::new());
    w.update(Update::Trust {
        trust: SessionTrust::NoCrossSigning,
    });
    w.harness.get_by_label("Set up verification").click();
    w.harness.run_steps(3);
    assert!(matches!(w.commands().as_slice(), [Command::SetUpRecovery]));
    w.update(Update::RecoveryKey {
        key: Concealed("EsTz 1234 5678".into()),
    });
    assert!(w.has("EsTz 1234 5678"));
    w.update(Update::Trust {
        trust: SessionTrust::Verified,
    });
    assert!(
        w.has("EsTz 1234 5678"),
        "shown until the person says it is saved"
    );
    w.harness.get_by_label("I saved it").click();
    w.harness.run();
    assert!(!w.has("EsTz 1234 5678"));
    assert!(!w.has("Save your recovery key"));
}

#[test]
fn a_person_on_two_devices_counts_once_with_their_devices_beneath() {
    let mut w = Window::open("people");
    let mut gamma = room(
        "!c:example.org",
        "Gamma",
        false,
        &["@x:example.org", "@y:example.org"],
    );
    let mut laptop = participant("@x:example.org", 100_000);
    laptop.device_id = "LAPTOP".into();
    laptop.member_id = "@x:example.org:LAPTOP".into();
    gamma.calls[0].participants.push(laptop);
    w.signed_in(vec![gamma]);
    // Three devices, two people: in the room list and the lobby's title.
    assert!(w.has("2 people · video · 5 min"), "the room's row");
    assert!(w.has("Video call · 2 people"), "the lobby's title");
    assert!(w.has("· 2 devices"), "the person on two devices says so");
    assert!(w.has("LAPTOP · in call"));
    // One row each: the person on two devices has as many labels as the one on one.
    let labels = |user: &str| w.harness.query_all_by_label(user).count();
    assert_eq!(labels("@x:example.org"), labels("@y:example.org"));
}
