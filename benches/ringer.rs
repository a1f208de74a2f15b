//! Ringer figures (`cargo bench --bench ringer`): from a Ring decision to the first audio frame
//! taken by the output and to the `Notify` call on a real session bus, and the CPU the ringtone
//! costs per second of sound.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::desktop::{Bus, Server, alsa_to_file};
use vestibule::matrix::RingAlert;
use vestibule::ring::audio::{AudioEvent, AudioPlayer, Ringtone};
use vestibule::ring::{AlertOrigin, DesktopRinger, Ringer};
use vestibule::rtc::ring::{IncomingCall, NotifyKind, StopReason};
use vestibule::rtc::{CallIntent, CallKey};

const RUNS: usize = 20;

fn summary(name: &str, mut ms: Vec<f64>) {
    ms.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "{name:<48} median {:6.2} ms   p95 {:6.2} ms   (n = {})",
        at(0.5),
        at(0.95),
        ms.len()
    );
}

/// CPU time (user + system) of this process, from /proc (USER_HZ is 100 on Linux).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // After the command name: state is field 0 here, utime 11, stime 12.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn alert(n: usize) -> (IncomingCall, RingAlert) {
    let call = IncomingCall {
        room_id: format!("!bench{n}:vestibule"),
        notification_event_id: format!("$bench{n}"),
        caller: "@caller:vestibule".into(),
        kind: NotifyKind::Ring,
        intent: Some(CallIntent::Video),
        call: CallKey::room_call(),
        expires_at_ms: u64::MAX,
        quieted: None,
    };
    let alert = RingAlert {
        call: call.clone(),
        caller_name: "Caller".into(),
        room_name: "Bench".into(),
        muted: false,
        origin: AlertOrigin::Call,
    };
    (call, alert)
}

fn main() {
    let dir = std::env::temp_dir().join(format!("vestibule-ringer-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (conf, wav) = alsa_to_file(&dir);
    let bus = Bus::start();
    // SAFETY: no other thread exists yet; ALSA and the session bus read these once they start.
    unsafe {
        std::env::set_var("ALSA_CONFIG_PATH", &conf);
        std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &bus.address);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = Server::start(&bus).await;

        let (tx, rx) = std::sync::mpsc::channel();
        let audio = AudioPlayer::spawn(move |event| {
            if let AudioEvent::Started(after) = event {
                let _ = tx.send(after);
            }
        });
        let mut first_frame = Vec::new();
        for _ in 0..RUNS {
            audio.play(Ringtone::builtin(), 0.8);
            let after = rx.recv_timeout(Duration::from_secs(5)).expect("the output took the ringtone");
            first_frame.push(after.as_secs_f64() * 1000.0);
            audio.stop();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        summary("ring decision -> first audio frame taken", first_frame);

        let (answers, _answered) = tokio::sync::mpsc::unbounded_channel();
        let ringer = DesktopRinger::new(None, 0.8, Arc::new(|s| eprintln!("{s}")), answers);
        let mut notify = Vec::new();
        for n in 0..RUNS {
            let (call, alert) = alert(n);
            let before = server.notified().len();
            let start = Instant::now();
            ringer.start(&alert);
            let shown = loop {
                if let Some(shown) = server.notified().get(before).cloned() {
                    break shown;
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            };
            notify.push(shown.at.saturating_duration_since(start).as_secs_f64() * 1000.0);
            ringer.stop(&call, StopReason::Answered);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        summary("ring decision -> Notify on the session bus", notify);

        // CPU per second of sound: the file output runs faster than real time, so divide the CPU
        // spent by the seconds of audio written.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = std::fs::remove_file(&wav);
        let cpu_before = cpu_time();
        audio.play(Ringtone::builtin(), 0.8);
        tokio::time::sleep(Duration::from_secs(2)).await;
        audio.stop();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let cpu = cpu_time().saturating_sub(cpu_before);
        let bytes = std::fs::metadata(&wav).map(|m| m.len()).unwrap_or(0);
        // 48 kHz stereo S16: 192,000 bytes per second of sound.
        let sound_secs = bytes as f64 / 192_000.0;
        println!(
            "ringtone CPU per second of sound (goal < 5%)       {:.2} %   ({:.2} s CPU for {sound_secs:.0} s of sound)",
            100.0 * cpu.as_secs_f64() / sound_secs.max(0.001),
            cpu.as_secs_f64()
        );
    });
    let _ = std::fs::remove_dir_all(&dir);
}
