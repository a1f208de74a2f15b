//! The ringtone: played in a loop on a thread that owns the audio output, so that starting and
//! stopping never block the worker or the UI. No sound card is a warning, not an error.

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rodio::{Decoder, DeviceSinkBuilder, MixerDeviceSink, Player, Source};

/// Vestibule's own ringtone (synthesised by `scripts/make-ringtone.py`; CC0).
pub const BUILTIN_RINGTONE: &[u8] = include_bytes!("../../assets/ringtone.wav");

/// Encoded audio (WAV, Ogg Vorbis, FLAC or MP3) to loop while ringing.
#[derive(Clone)]
pub struct Ringtone(Arc<[u8]>);

impl Ringtone {
    /// The built-in ringtone.
    pub fn builtin() -> Self {
        Self(Arc::from(BUILTIN_RINGTONE))
    }

    /// A user's file; `Err` holds a sentence saying why it cannot be used.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| {
            format!(
                "The ringtone {} could not be read ({e}); using the built-in one.",
                path.display()
            )
        })?;
        let tone = Self(Arc::from(bytes));
        match tone.decoder().map(|mut d| d.next().is_some()) {
            Ok(true) => Ok(tone),
            Ok(false) => Err(format!(
                "The ringtone {} holds no sound; using the built-in one.",
                path.display()
            )),
            Err(e) => Err(format!(
                "The ringtone {} could not be decoded ({e}); using the built-in one.",
                path.display()
            )),
        }
    }

    /// The user's file when given and usable, else the built-in one with the sentence saying why.
    pub fn chosen(path: Option<&Path>) -> (Self, Option<String>) {
        match path.map(Self::from_file) {
            Some(Ok(tone)) => (tone, None),
            Some(Err(sentence)) => (Self::builtin(), Some(sentence)),
            None => (Self::builtin(), None),
        }
    }

    fn decoder(&self) -> Result<Decoder<Cursor<Arc<[u8]>>>, rodio::decoder::DecoderError> {
        Decoder::new(Cursor::new(self.0.clone()))
    }
}

enum Order {
    Play {
        tone: Ringtone,
        volume: f32,
        started: Instant,
    },
    Stop,
}

/// Plays the ringtone on its own thread.
pub struct AudioPlayer {
    orders: mpsc::Sender<Order>,
}

/// What the audio thread reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioEvent {
    /// The first frames of a ring were handed to the output, this long after `play`.
    Started(Duration),
    /// No sound can be played (said once).
    Unavailable(String),
}

impl AudioPlayer {
    /// Starts the audio thread; `report` hears what happens (once per ring, and the first
    /// time no output can be opened).
    pub fn spawn(report: impl Fn(AudioEvent) + Send + 'static) -> Self {
        let (orders, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("vestibule-audio".into())
            .spawn(move || audio_thread(&rx, &report));
        if let Err(e) = spawned {
            tracing::warn!("could not start the audio thread: {e}");
        }
        Self { orders }
    }

    /// Starts looping `tone` at `volume` (0.0–1.0), replacing what plays. Never blocks.
    pub fn play(&self, tone: Ringtone, volume: f32) {
        let order = Order::Play {
            tone,
            volume: volume.clamp(0.0, 1.0),
            started: Instant::now(),
        };
        // A send fails only when the thread is gone: there is no sound to stop then either.
        self.orders.send(order).ok();
    }

    /// Stops the ringtone. Never blocks.
    pub fn stop(&self) {
        self.orders.send(Order::Stop).ok();
    }
}

fn audio_thread(orders: &mpsc::Receiver<Order>, report: &dyn Fn(AudioEvent)) {
    let mut sink: Option<MixerDeviceSink> = None;
    let mut told_unavailable = false;
    let mut player: Option<Player> = None;
    while let Ok(order) = orders.recv() {
        if let Some(p) = player.take() {
            p.stop();
        }
        let Order::Play {
            tone,
            volume,
            started,
        } = order
        else {
            // Release the device between rings so other programs can use it.
            sink = None;
            continue;
        };
        if sink.is_none() {
            match DeviceSinkBuilder::open_default_sink() {
                Ok(mut opened) => {
                    opened.log_on_drop(false);
                    sink = Some(opened);
                }
                Err(e) => {
                    tracing::debug!("no audio output: {e}");
                    if !told_unavailable {
                        told_unavailable = true;
                        report(AudioEvent::Unavailable(
                            "No sound device could be opened: calls will show but not ring aloud."
                                .into(),
                        ));
                    }
                    continue;
                }
            }
        }
        let Some(opened) = sink.as_ref() else {
            continue;
        };
        let decoder = match tone.decoder() {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("the ringtone could not be decoded: {e}");
                continue;
            }
        };
        let p = Player::connect_new(opened.mixer());
        p.set_volume(volume);
        let (first_tx, first_rx) = mpsc::channel();
        p.append(FirstFrame {
            inner: decoder.buffered().repeat_infinite(),
            signal: Some(first_tx),
        });
        // The output pulls the first samples within a few milliseconds, or never (a stuck
        // device): wait briefly so the report says when sound really started.
        if first_rx.recv_timeout(Duration::from_secs(1)).is_ok() {
            report(AudioEvent::Started(started.elapsed()));
        }
        player = Some(p);
    }
}

/// Passes a source through and signals when the output takes its first sample.
struct FirstFrame<S> {
    inner: S,
    signal: Option<mpsc::Sender<()>>,
}

impl<S: Source> Iterator for FirstFrame<S> {
    type Item = rodio::Sample;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(signal) = self.signal.take() {
            signal.send(()).ok();
        }
        self.inner.next()
    }
}

impl<S: Source> Source for FirstFrame<S> {
    fn current_span_len(&self) -> Option<usize> {
        self.inner.current_span_len()
    }

    fn channels(&self) -> rodio::ChannelCount {
        self.inner.channels()
    }

    fn sample_rate(&self) -> rodio::SampleRate {
        self.inner.sample_rate()
    }

    fn total_duration(&self) -> Option<Duration> {
        self.inner.total_duration()
    }
}
