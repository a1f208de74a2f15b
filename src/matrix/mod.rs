//! The Matrix side: a tokio worker that owns the SDK client and talks to the rest of the app
//! only through [`Command`]s in and [`Update`]s out.

pub mod error;
pub mod session;
mod types;
mod worker;

pub use types::{
    Command, Connection, FocusInfo, FocusSource, OwnCallState, Profile, RingAlert, RoomLobby,
    Update,
};
pub use worker::{Waker, WorkerConfig, WorkerHandle, now_ms, spawn};
