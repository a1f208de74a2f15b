//! Logging: `tracing` to stderr (our warnings unless `RUST_LOG` asks for more) and to a log
//! file in the profile's state directory, rotated by size. Nothing logged holds a token or a
//! password: the types that carry them redact themselves.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Env var: when set, spans are logged with their timings as they close.
pub const SPANS_ENV: &str = "VESTIBULE_LOG_SPANS";

/// When the log file reaches this size it is moved to `vestibule.log.1` and a new one starts.
pub const MAX_LOG_BYTES: u64 = 1024 * 1024;

/// Starts logging; with `log_file`, also into that file (created owner-only).
pub fn init(log_file: Option<PathBuf>) {
    let stderr_filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("vestibule=warn"));
    // With `VESTIBULE_LOG_SPANS` set, each span `RUST_LOG` enables says when it opened, when it
    // closed and how long it was busy and idle: where the time of a sync or a ring goes.
    let spans = if std::env::var_os(SPANS_ENV).is_some() {
        FmtSpan::NEW | FmtSpan::CLOSE
    } else {
        FmtSpan::NONE
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(io::stderr)
        .with_span_events(spans)
        .with_filter(stderr_filter);
    let file = log_file.and_then(|path| {
        if let Some(dir) = path.parent()
            && let Err(e) = crate::config::create_private_dir(dir)
        {
            eprintln!("{e} Logging to the terminal only.");
            return None;
        }
        let filter = EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new("vestibule=info,warn"));
        Some(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(LogFile::new(path, MAX_LOG_BYTES))
                .with_filter(filter),
        )
    });
    // A second initialisation (tests) keeps the first.
    tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init()
        .ok();
}

/// A log file that rotates itself when it grows past its limit.
#[derive(Clone)]
pub struct LogFile {
    inner: Arc<Mutex<Rotating>>,
}

struct Rotating {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    max_bytes: u64,
}

impl LogFile {
    /// A log at `path` that keeps at most about `2 × max_bytes` (the file and one older one).
    pub fn new(path: PathBuf, max_bytes: u64) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Rotating {
                path,
                file: None,
                size: 0,
                max_bytes,
            })),
        }
    }
}

impl Rotating {
    fn open(&mut self) -> io::Result<&mut File> {
        if self.file.is_none() {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&self.path)?;
            self.size = file.metadata()?.len();
            self.file = Some(file);
        }
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("log file not open"))
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.file.is_some() && self.size + buf.len() as u64 > self.max_bytes {
            self.file = None;
            let old = self.path.with_extension("log.1");
            std::fs::rename(&self.path, old)?;
        }
        let file = self.open()?;
        file.write_all(buf)?;
        self.size += buf.len() as u64;
        Ok(buf.len())
    }
}

impl Write for LogFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner
            .lock()
            .map_err(|_| io::Error::other("log file lock poisoned"))?
            .write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.inner.lock() {
            Ok(mut inner) => inner.file.as_mut().map_or(Ok(()), Write::flush),
            Err(_) => Ok(()),
        }
    }
}

impl<'a> MakeWriter<'a> for LogFile {
    type Writer = LogFile;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_and_keeps_one_old_file() {
        let dir = std::env::temp_dir().join(format!("vestibule-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("vestibule.log");
        let mut log = LogFile::new(path.clone(), 100);
        for i in 0..30 {
            writeln!(log, "line {i:03} of the log").unwrap();
        }
        let current = std::fs::read_to_string(&path).unwrap();
        let older = std::fs::read_to_string(dir.join("vestibule.log.1")).unwrap();
        assert!(
            current.len() <= 100 && older.len() <= 100,
            "{current:?} {older:?}"
        );
        assert!(current.ends_with("line 029 of the log\n"), "{current:?}");
        assert!(older.contains("line 02"), "{older:?}");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
