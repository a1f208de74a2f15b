//! The Matrix side: a tokio worker per profile that owns the SDK client and talks to the rest of
//! the app only through [`Command`]s in and [`Update`]s out.
//!
//! [`worker`](self) holds the loop; each concept has its own file: `account` (signing in and
//! out), `sync` (the sync loop, handing each room's events to the protocol core's reducer), `peek`
//! (rings decided from a sync response before the SDK has stored it),
//! `rooms` (the room registry, resolving ids and aliases, names and profiles), `membership`
//! (joining and leaving, power levels), `ringing` (ring effects, answer, decline, our rings),
//! `foci` (discovery and the health check), `history` (the call history), `lock` (one process per profile), `session` (the
//! SDK client's sign-in, restore and sign-out), `browser_login` (OAuth 2.0 and single sign-on in
//! the browser), `verification` (recovery and the session's trust),
//! `late_keys` (events decrypted when their key arrives late) and `error` (sentences for what went wrong).

mod account;
mod browser_login;
pub mod error;
mod foci;
mod history;
mod late_keys;
pub mod lock;
mod membership;
mod peek;
mod ringing;
mod rooms;
pub mod session;
mod sync;
mod types;
mod verification;
mod worker;

pub use crate::ring::RingAlert;
pub use crate::rtc::focus_list::{FocusInfo, FocusSource};
pub use error::WorkerError;
pub use types::{
    Command, Concealed, Connection, IdentityProvider, LoginMethods, OwnCallState, Profile,
    RoomAvatar, RoomLobby, SessionTrust, Update,
};
pub use worker::{Waker, WorkerConfig, WorkerHandle, spawn};
