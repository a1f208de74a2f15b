//! The window, driven through AccessKit labels with egui_kittest (no GPU): the views and the
//! app's state machine over a scripted worker, and one run against the real worker and a real
//! homeserver; the incoming call's own window under a real X server.

mod support;

mod window {
    pub mod calls;
    pub mod live;
    pub mod scripted;
    pub mod xorg;
}
