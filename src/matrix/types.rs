//! What goes in and out of the worker: [`Command`]s in, [`Update`]s out, and the plain snapshot
//! structs the UI and the CLI draw. No SDK handle crosses this boundary.

use std::fmt;

use serde::{Deserialize, Serialize};

use matrix_sdk::ruma::{OwnedRoomId, OwnedRoomOrAliasId, OwnedUserId};

use crate::config::Settings;
use crate::ring::{RingAlert, RingAnswer};
use crate::rtc::focus_list::FocusInfo;
use crate::rtc::own::OwnState;
use crate::rtc::ring::{IncomingCall, NotifyKind, RingOutput, StopReason};
use crate::rtc::{Call, CallIntent};

/// What the UI or the CLI asks the worker to do.
#[derive(Clone)]
pub enum Command {
    /// Sign in with a password. `homeserver` is a server name or a URL; `user` a localpart or a
    /// full user id.
    Login {
        /// Server name or URL.
        homeserver: String,
        /// Localpart or user id.
        user: String,
        /// The password; never logged.
        password: String,
    },
    /// Ask a homeserver how it signs people in; answered by [`Update::LoginMethods`] or
    /// [`Update::LoginFailed`].
    LoginMethods {
        /// Server name or URL.
        homeserver: String,
    },
    /// Sign in in the browser: with OAuth 2.0 where the server offers it, else with its single
    /// sign-on (`provider`: one of its identity providers). [`Update::BrowserLogin`] gives the
    /// address to open; [`Update::SignedIn`] or [`Update::LoginFailed`] the outcome.
    LoginInBrowser {
        /// Server name or URL.
        homeserver: String,
        /// The single sign-on identity provider's id; `None` lets the server choose.
        provider: Option<String>,
    },
    /// Give up a sign-in in the browser that is under way.
    CancelLogin,
    /// Verify this session with the account's recovery key (or passphrase), which also opens
    /// the key backup; answered by [`Update::Trust`] or an error.
    Recover {
        /// The recovery key or passphrase; never logged.
        key: String,
    },
    /// Set up recovery for an account that has none: its cross-signing identity and key
    /// backup, sealed by a new recovery key ([`Update::RecoveryKey`]).
    SetUpRecovery,
    /// Sign out: invalidate the token and remove every local trace of the account.
    Logout,
    /// Join a room's call, optionally ringing or notifying the room.
    Join {
        /// Room id or alias.
        room: OwnedRoomOrAliasId,
        /// Audio or video.
        intent: CallIntent,
        /// Send a ring or a notification once joined; `None` sends nothing.
        notify: Option<NotifyKind>,
        /// Foci to prefer before the configured ones.
        foci: Vec<String>,
    },
    /// Join and ring: `ring` in DMs, `notification` elsewhere.
    Ring {
        /// Room id or alias.
        room: OwnedRoomOrAliasId,
        /// Audio or video.
        intent: CallIntent,
    },
    /// Leave a room's call.
    Leave {
        /// Room id or alias.
        room: OwnedRoomOrAliasId,
    },
    /// Answer the ring of a room (joins its call).
    Answer {
        /// Room id.
        room: OwnedRoomId,
    },
    /// Decline the ring of a room, or every current ring.
    Decline {
        /// Room id or alias; `None` declines every ring.
        room: Option<OwnedRoomOrAliasId>,
    },
    /// Find the SFU foci the homeserver advertises, merged with the configured ones.
    DiscoverFoci,
    /// Ask whether a focus's service answers ([`Update::FocusChecked`]).
    CheckFocus {
        /// The LiveKit JWT service URL.
        url: String,
    },
    /// Use these settings from now on (the caller has saved them).
    ApplySettings(Box<Settings>),
    /// Ring briefly with the current ringtone and volume, as a test.
    TestRing,
    /// Look up the display names and avatars of users in a room ([`Update::Profiles`]).
    Profiles {
        /// Room id.
        room: OwnedRoomId,
        /// User ids.
        users: Vec<OwnedUserId>,
    },
    /// Fetch the avatar thumbnails of rooms ([`Update::RoomAvatars`]).
    RoomAvatars {
        /// Room ids.
        rooms: Vec<OwnedRoomId>,
    },
    /// Mark the missed calls of a room (or of every room) seen ([`Update::History`]).
    MarkCallsSeen {
        /// The room; `None` marks every room's.
        room: Option<OwnedRoomId>,
    },
    /// Leave every call and stop.
    Quit,
}

impl Command {
    /// The command's name, as errors report it (`join`, `decline`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Login { .. } => "login",
            Self::LoginMethods { .. } => "login_methods",
            Self::LoginInBrowser { .. } => "login_in_browser",
            Self::CancelLogin => "cancel_login",
            Self::Recover { .. } => "verify",
            Self::SetUpRecovery => "set_up_recovery",
            Self::Logout => "logout",
            Self::Join { .. } => "join",
            Self::Ring { .. } => "ring",
            Self::Leave { .. } => "leave",
            Self::Answer { .. } => "answer",
            Self::Decline { .. } => "decline",
            Self::DiscoverFoci => "discover_foci",
            Self::CheckFocus { .. } => "check_focus",
            Self::ApplySettings(_) => "apply_settings",
            Self::TestRing => "test_ring",
            Self::Profiles { .. } => "profiles",
            Self::RoomAvatars { .. } => "room-avatars",
            Self::MarkCallsSeen { .. } => "mark_calls_seen",
            Self::Quit => "quit",
        }
    }

    /// The command for what the person did with a ring's notification; `None` when the room
    /// id is not one.
    pub fn from_ring_answer(answer: RingAnswer) -> Option<Self> {
        Some(match answer {
            RingAnswer::Answer { room_id } => Self::Answer {
                room: OwnedRoomId::try_from(room_id).ok()?,
            },
            RingAnswer::Decline { room_id } => Self::Decline {
                room: Some(OwnedRoomOrAliasId::try_from(room_id).ok()?),
            },
        })
    }

    /// Whether the command is about rooms, so it needs a session and the first sync.
    pub fn is_about_rooms(&self) -> bool {
        matches!(
            self,
            Self::Join { .. }
                | Self::Ring { .. }
                | Self::Leave { .. }
                | Self::Answer { .. }
                | Self::Decline { .. }
        )
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The password never reaches a log.
            Self::Login {
                homeserver, user, ..
            } => f
                .debug_struct("Login")
                .field("homeserver", homeserver)
                .field("user", user)
                .finish_non_exhaustive(),
            Self::LoginMethods { homeserver } => f
                .debug_struct("LoginMethods")
                .field("homeserver", homeserver)
                .finish(),
            Self::LoginInBrowser {
                homeserver,
                provider,
            } => f
                .debug_struct("LoginInBrowser")
                .field("homeserver", homeserver)
                .field("provider", provider)
                .finish(),
            Self::CancelLogin => f.write_str("CancelLogin"),
            Self::Recover { .. } => f.write_str("Recover { .. }"),
            Self::SetUpRecovery => f.write_str("SetUpRecovery"),
            Self::Logout => f.write_str("Logout"),
            Self::Join {
                room,
                intent,
                notify,
                foci,
            } => f
                .debug_struct("Join")
                .field("room", room)
                .field("intent", intent)
                .field("notify", notify)
                .field("foci", foci)
                .finish(),
            Self::Ring { room, intent } => f
                .debug_struct("Ring")
                .field("room", room)
                .field("intent", intent)
                .finish(),
            Self::Leave { room } => f.debug_struct("Leave").field("room", room).finish(),
            Self::Answer { room } => f.debug_struct("Answer").field("room", room).finish(),
            Self::Decline { room } => f.debug_struct("Decline").field("room", room).finish(),
            Self::DiscoverFoci => f.write_str("DiscoverFoci"),
            Self::CheckFocus { url } => f.debug_struct("CheckFocus").field("url", url).finish(),
            Self::ApplySettings(settings) => {
                f.debug_tuple("ApplySettings").field(settings).finish()
            }
            Self::TestRing => f.write_str("TestRing"),
            Self::Profiles { room, users } => f
                .debug_struct("Profiles")
                .field("room", room)
                .field("users", users)
                .finish(),
            Self::RoomAvatars { rooms } => {
                f.debug_struct("RoomAvatars").field("rooms", rooms).finish()
            }
            Self::MarkCallsSeen { room } => {
                f.debug_struct("MarkCallsSeen").field("room", room).finish()
            }
            Self::Quit => f.write_str("Quit"),
        }
    }
}

/// The connection to the homeserver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Connection {
    /// Syncing for the first time.
    Syncing,
    /// Up to date.
    Online,
    /// The last sync failed; the next try is in `retry_in_secs`.
    Offline {
        /// Seconds until the next try.
        retry_in_secs: u64,
        /// Why, as a sentence.
        reason: String,
    },
}

/// Our own part in a room's call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum OwnCallState {
    /// Not in the call.
    NotJoined,
    /// Publishing our membership.
    Joining,
    /// In the call.
    Joined,
    /// Withdrawing.
    Leaving,
    /// Joining failed.
    Failed {
        /// Why, as a sentence.
        reason: String,
    },
}

impl From<&OwnState> for OwnCallState {
    fn from(state: &OwnState) -> Self {
        match state {
            OwnState::NotJoined => Self::NotJoined,
            OwnState::Joining => Self::Joining,
            OwnState::Joined => Self::Joined,
            OwnState::Leaving => Self::Leaving,
            OwnState::Failed(f) => Self::Failed {
                reason: crate::matrix::error::failure_sentence(f),
            },
        }
    }
}

/// One room's call lobby, as the UI and the CLI show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomLobby {
    /// The room id.
    pub room_id: String,
    /// The room's display name.
    pub name: String,
    /// Whether the room is a direct chat.
    pub is_direct: bool,
    /// In a direct chat, the other person (their user id), to tell apart two chats whose
    /// names are the same.
    #[serde(default)]
    pub peer: Option<String>,
    /// The active calls, each with its participants, oldest first.
    pub calls: Vec<Call>,
    /// Our part in the room's call.
    pub own: OwnCallState,
    /// The room's own avatar (`m.room.avatar`, an `mxc://` URI), when it has one.
    #[serde(default)]
    pub avatar_url: Option<String>,
}

/// A room's avatar thumbnail.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomAvatar {
    /// The room id.
    pub room_id: String,
    /// The avatar it is of (`mxc://`), or `None` when the room has none.
    pub avatar_url: Option<String>,
    /// The thumbnail as an encoded image (PNG or JPEG), when it could be fetched.
    #[serde(skip, default)]
    pub avatar: Option<std::sync::Arc<[u8]>>,
}

impl fmt::Debug for RoomAvatar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoomAvatar")
            .field("room_id", &self.room_id)
            .field("avatar_url", &self.avatar_url)
            .field("avatar_bytes", &self.avatar.as_ref().map(|a| a.len()))
            .finish()
    }
}

/// A room member's display name and avatar.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The user id.
    pub user_id: String,
    /// The display name in the room (the user id when none is set).
    pub display_name: String,
    /// The avatar thumbnail as an encoded image (PNG or JPEG), when the user has one.
    #[serde(skip, default)]
    pub avatar: Option<std::sync::Arc<[u8]>>,
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profile")
            .field("user_id", &self.user_id)
            .field("display_name", &self.display_name)
            .field("avatar_bytes", &self.avatar.as_ref().map(|a| a.len()))
            .finish()
    }
}

/// A secret that travels in an update: its `Debug` never shows it (updates reach debug logs).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Concealed(pub String);

impl fmt::Debug for Concealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<concealed>")
    }
}

/// Whether this session is trusted by the rest of the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionTrust {
    /// The account's self-signing key signed this session: other clients trust it.
    Verified,
    /// The account has a cross-signing identity; this session is not signed by it yet.
    Unverified,
    /// The account has no cross-signing identity: there is nothing to verify against.
    NoCrossSigning,
}

/// How a homeserver signs people in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginMethods {
    /// OAuth 2.0 (next-generation auth, MSC3861): sign in in the browser.
    pub oauth: bool,
    /// Single sign-on (`m.login.sso`) through one of these identity providers (empty with
    /// `sso` set: the server picks).
    pub providers: Vec<IdentityProvider>,
    /// Single sign-on is offered.
    pub sso: bool,
    /// A user name and password (`m.login.password`).
    pub password: bool,
}

impl LoginMethods {
    /// Whether the browser is the way in: OAuth 2.0 or single sign-on.
    pub fn browser(&self) -> bool {
        self.oauth || self.sso
    }
}

/// A single sign-on identity provider of a homeserver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityProvider {
    /// Its id, as [`Command::LoginInBrowser`] takes it.
    pub id: String,
    /// Its name, as the server gives it (from the network: show it as text only).
    pub name: String,
}

/// What the worker tells the UI or the CLI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Update {
    /// No saved session: the user must sign in.
    NeedsLogin,
    /// Signed in (or restored).
    SignedIn {
        /// Our user id.
        user_id: String,
        /// Our device id.
        device_id: String,
    },
    /// How a homeserver signs people in, as asked by [`Command::LoginMethods`].
    LoginMethods {
        /// The server name or URL as it was asked about.
        homeserver: String,
        /// What it offers.
        methods: LoginMethods,
    },
    /// A sign-in in the browser waits for the person at `url`: open it in their browser.
    BrowserLogin {
        /// The authorization (OAuth 2.0) or single sign-on address.
        url: String,
    },
    /// Whether this session is trusted by the account (cross-signed by its owner).
    Trust {
        /// What the account and this session have.
        trust: SessionTrust,
    },
    /// Recovery was set up: the person must save this key now, it is not shown again.
    RecoveryKey {
        /// The recovery key.
        key: Concealed,
    },
    /// Signing in failed.
    LoginFailed {
        /// Why, as a sentence.
        reason: String,
    },
    /// Signed out; every local trace is gone.
    SignedOut,
    /// The connection changed.
    Connection {
        /// The new state.
        connection: Connection,
    },
    /// Every joined room's lobby, after a full sync.
    Rooms {
        /// The lobbies.
        rooms: Vec<RoomLobby>,
    },
    /// Every joined room's lobby as the local store remembers it, before the first sync.
    StoredRooms {
        /// The lobbies.
        rooms: Vec<RoomLobby>,
    },
    /// One room's lobby changed.
    Lobby {
        /// The lobby.
        lobby: RoomLobby,
    },
    /// A ring decision (ring, notify, wait, ignore).
    RingDecision {
        /// The decision.
        decision: RingOutput,
    },
    /// A call rings (or notifies) us.
    Ringing {
        /// The call and its names.
        alert: RingAlert,
    },
    /// A ring stopped.
    RingStopped {
        /// The call.
        call: IncomingCall,
        /// Why.
        reason: StopReason,
    },
    /// The foci we would use, best first.
    Foci {
        /// The foci.
        foci: Vec<FocusInfo>,
    },
    /// Whether a focus's service answered [`Command::CheckFocus`].
    FocusChecked {
        /// The URL checked.
        url: String,
        /// Whether it answered as a focus should.
        ok: bool,
        /// What happened, as a sentence.
        message: String,
    },
    /// Display names and avatars asked for with [`Command::Profiles`].
    Profiles {
        /// The room.
        room_id: String,
        /// One per user found.
        profiles: Vec<Profile>,
    },
    /// Room avatars asked for with [`Command::RoomAvatars`].
    RoomAvatars {
        /// One per room asked for that is joined.
        avatars: Vec<RoomAvatar>,
    },
    /// The call history, newest first: sent after signing in and on every change.
    History {
        /// The calls.
        history: crate::history::CallHistory,
    },
    /// Something the user should know, once, as a sentence.
    Notice {
        /// The sentence.
        message: String,
    },
    /// A request failed, as a sentence; the rest keeps working.
    Error {
        /// The sentence.
        message: String,
        /// The command that failed (`join`, `decline`, …), when a command did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        command: Option<String>,
        /// The room it was about, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room_id: Option<String>,
    },
    /// The worker stopped for good (e.g. another process holds the profile).
    Fatal {
        /// Why, as a sentence.
        message: String,
    },
    /// The worker finished after `Quit` or `Logout`.
    Stopped,
}
