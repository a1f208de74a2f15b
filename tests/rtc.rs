//! Tests of the pure MatrixRTC core (`src/rtc`), one module per concern.

mod rtc {
    mod bounds;
    mod bulk;
    pub mod factory;
    mod incremental;
    mod lobby;
    mod membership;
    mod own;
    mod own_call;
    mod properties;
    mod publish;
    mod ring;
    mod room;
    mod trust;
}
