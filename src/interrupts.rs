//! SIGINT, SIGTERM and SIGHUP (Ctrl-C, `kill`, a closed terminal or a desktop logout), heard by
//! one set of listeners for the life of the process and counted, so that every wait sees every
//! signal: one that arrives while nothing is waiting is still counted when the next wait starts.

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// How many of the signals have arrived since [`Interrupts::listen`]; clones share the count.
#[derive(Clone)]
pub struct Interrupts {
    count: watch::Receiver<u32>,
}

impl Interrupts {
    /// Listens from now on; call it within a tokio runtime. Once it returns, these signals no
    /// longer end the process by themselves: the waits on [`reached`](Self::reached) decide.
    pub fn listen() -> Result<Self, String> {
        let kinds = [
            (SignalKind::interrupt(), "SIGINT"),
            (SignalKind::terminate(), "SIGTERM"),
            (SignalKind::hangup(), "SIGHUP"),
        ];
        let mut streams = Vec::new();
        for (kind, name) in kinds {
            let stream = signal(kind).map_err(|e| format!("Could not listen for {name}: {e}."))?;
            streams.push((stream, name));
        }
        let (tx, count) = watch::channel(0u32);
        for (mut stream, name) in streams {
            let tx = tx.clone();
            tokio::spawn(async move {
                while stream.recv().await.is_some() {
                    tracing::info!("{name} received");
                    tx.send_modify(|n| *n = n.saturating_add(1));
                }
            });
        }
        Ok(Self { count })
    }

    /// How many signals have arrived so far.
    pub fn count(&self) -> u32 {
        *self.count.borrow()
    }

    /// Resolves once `n` signals in all have arrived (at once when they already have).
    pub async fn reached(&mut self, n: u32) {
        if self.count.wait_for(|count| *count >= n).await.is_err() {
            // The listeners stopped with their runtime: no signal can arrive any more.
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Sends `signal` to this test process; safe once [`Interrupts::listen`] has returned, as
    /// the handlers it installs stay for the life of the process.
    fn raise(signal: &str) {
        let pid = std::process::id().to_string();
        let status = std::process::Command::new("kill")
            .args(["-s", signal, &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill -s {signal}");
    }

    #[tokio::test]
    async fn every_signal_is_counted_even_when_nothing_waits() {
        let mut interrupts = Interrupts::listen().unwrap();
        let mut other = interrupts.clone();
        raise("HUP");
        tokio::time::timeout(Duration::from_secs(10), interrupts.reached(1))
            .await
            .expect("SIGHUP counted");
        // Two different signals back to back, nobody waiting: both count, for every clone.
        raise("TERM");
        raise("INT");
        tokio::time::timeout(Duration::from_secs(10), other.reached(3))
            .await
            .expect("SIGTERM and SIGINT counted");
        assert_eq!(interrupts.count(), 3);
        tokio::time::timeout(Duration::from_secs(1), interrupts.reached(2))
            .await
            .expect("a count already reached resolves at once");
    }
}
