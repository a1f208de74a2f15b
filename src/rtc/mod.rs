//! The MatrixRTC protocol core: every rule of `MATRIXRTC.md` §1–§5 as plain Rust.
//!
//! Nothing here performs I/O, reads a clock or knows about async runtimes, the UI or HTTP:
//! callers pass `now_ms` (milliseconds since the Unix epoch) and event contents as JSON values,
//! and get back decisions and the JSON to publish.

pub mod focus;
pub mod focus_list;
pub mod json;
pub mod lobby;
pub mod membership;
pub mod notification;
pub mod own;
pub mod own_call;
pub mod power;
pub mod publish;
pub mod ring;
pub mod room;
pub mod state_key;

pub use focus::{Focus, FocusActive, FocusSelection};
pub use lobby::{Call, CallKey, Lobby, Participant};
pub use membership::{
    CallIntent, Membership, MembershipEvent, ParsedMembershipEvent, Rejection, SlotKey, WireForm,
    parse_membership_event,
};
pub use state_key::StateKey;

/// The Element Call session/array membership type (§1a, §1b).
pub const CALL_MEMBER: &str = "org.matrix.msc3401.call.member";
/// The stable alias of [`CALL_MEMBER`].
pub const CALL_MEMBER_STABLE: &str = "m.call.member";
/// The brief's membership state type (§1c).
pub const RTC_MEMBER: &str = "m.rtc.member";
/// The sticky timeline membership type (§1d).
pub const RTC_MEMBER_STICKY: &str = "org.matrix.msc4143.rtc.member";
/// The ring/notification event in use today (§3).
pub const RTC_NOTIFICATION: &str = "org.matrix.msc4075.rtc.notification";
/// The stable alias of [`RTC_NOTIFICATION`].
pub const RTC_NOTIFICATION_STABLE: &str = "m.rtc.notification";
/// The older notify event (§3).
pub const CALL_NOTIFY: &str = "org.matrix.msc4075.call.notify";
/// The stable alias of [`CALL_NOTIFY`].
pub const CALL_NOTIFY_STABLE: &str = "m.call.notify";
/// The brief's notify event (§3).
pub const RTC_NOTIFY: &str = "m.rtc.notify";
/// The decline event (§3).
pub const RTC_DECLINE: &str = "org.matrix.msc4310.rtc.decline";
/// The stable alias of [`RTC_DECLINE`].
pub const RTC_DECLINE_STABLE: &str = "m.rtc.decline";

/// The application of a voice/video call.
pub const APPLICATION_CALL: &str = "m.call";
/// The scope of a room's call.
pub const SCOPE_ROOM: &str = "m.room";
/// The content key of the call intent.
pub const INTENT_KEY: &str = "m.call.intent";

/// How long a membership lasts when it names no `expires` (4 h).
pub const DEFAULT_MEMBERSHIP_EXPIRES_MS: u64 = 4 * 60 * 60 * 1000;
/// How long a sticky membership lasts when the event names no duration (1 h, MSC4354's cap).
pub const DEFAULT_STICKY_DURATION_MS: u64 = 60 * 60 * 1000;
/// The longest a sticky membership may last (MSC4354).
pub const MAX_STICKY_DURATION_MS: u64 = 60 * 60 * 1000;
