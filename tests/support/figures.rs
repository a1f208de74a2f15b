//! What the benchmarks and the command-line tests share: signing the command line in, and
//! printing figures.

use std::io::Write;
use std::process::{Command, Stdio};

/// Signs `user` in at `hs_url` with `vestibule login` (`cmd` is the binary with its
/// environment), the password on stdin; panics when it fails.
pub fn cli_login(mut cmd: Command, hs_url: &str, user: &str, password: &str) {
    let mut login = cmd
        .args(["login", hs_url, user])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    login
        .stdin
        .take()
        .unwrap()
        .write_all(password.as_bytes())
        .unwrap();
    assert!(login.wait().unwrap().success());
}

/// The `p`-th quantile (0.0–1.0) of sorted figures.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Prints the median and p95 of `ms` under `name`; returns the median.
pub fn summary(name: &str, mut ms: Vec<f64>) -> f64 {
    ms.sort_by(|a, b| a.total_cmp(b));
    let median = percentile(&ms, 0.5);
    println!(
        "{name:<58} median {median:8.2} ms   p95 {:8.2} ms   (n = {})",
        percentile(&ms, 0.95),
        ms.len()
    );
    median
}
