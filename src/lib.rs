//! Vestibule: a native desktop app for Matrix calls.
//!
//! [`rtc`] is the pure MatrixRTC protocol core: memberships of every wire form, call lobbies,
//! ringing decisions, what we publish, and our own membership's state machine. [`matrix`] is
//! the worker that owns the Matrix client; [`ring`] rings on the desktop; [`app`] and [`ui`]
//! are the window; [`cli`] drives the same worker from a terminal; [`wording`] holds the
//! words both say.

#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod app;
pub mod appearance;
pub mod browser;
pub mod cli;
pub mod clock;
pub mod config;
pub mod history;
pub mod interrupts;
pub mod logging;
pub mod matrix;
pub mod memory;
pub mod remote;
pub mod ring;
pub mod rtc;
pub mod secrets;
pub mod shell;
pub mod ui;
pub mod window;
pub mod wording;

/// The version and the git commit it was built from, as `--version` prints them.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("VESTIBULE_GIT_COMMIT"),
    ")"
);
