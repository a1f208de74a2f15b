//! The command line's ringing: Answer and Decline from a notification handed to the worker, and
//! `test-ring`.

use std::sync::Arc;

use super::inert::inert;
use crate::clock::now_ms;
use crate::config::Settings;
use crate::interrupts::Interrupts;
use crate::matrix::Command;
use crate::ring::{DesktopRinger, RingAlert, RingAnswer, Ringer};

/// Hands Answer and Decline from a ring's notification to the worker.
pub(super) async fn forward_answers(
    mut answers: tokio::sync::mpsc::UnboundedReceiver<RingAnswer>,
    commands: tokio::sync::mpsc::UnboundedSender<Command>,
) {
    while let Some(answer) = answers.recv().await {
        if let Some(command) = Command::from_ring_answer(answer)
            && commands.send(command).is_err()
        {
            return;
        }
    }
}

/// Rings for `seconds` with a test call, so a person can check their set-up.
pub(super) async fn test_ring(
    settings: &Settings,
    ringtone: Option<&std::path::Path>,
    seconds: u64,
    mut interrupts: Interrupts,
) -> Result<(), String> {
    let ringtone = ringtone.or(settings.ring.ringtone.as_deref());
    // A test ring has no call: nothing answers it.
    let (answers, _) = tokio::sync::mpsc::unbounded_channel();
    let ringer = DesktopRinger::new(
        ringtone,
        settings.ring.volume,
        Arc::new(|s| eprintln!("{}", inert(&s))),
        answers,
    );
    let alert = RingAlert::test(now_ms() + seconds * 1000);
    println!("Ringing for {seconds} s…");
    ringer.start(&alert);
    tokio::select! {
        () = tokio::time::sleep(std::time::Duration::from_secs(seconds)) => {}
        () = interrupts.reached(1) => {}
    }
    ringer.stop(&alert.call, crate::rtc::ring::StopReason::Answered);
    // Let the notification close before the process ends.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    println!("Done.");
    Ok(())
}
