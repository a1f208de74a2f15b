//! The `vestibule` command.

use std::process::ExitCode;

use clap::Parser;
use vestibule::cli::{self, Cli};
use vestibule::logging;

fn main() -> ExitCode {
    let started = std::time::Instant::now();
    vestibule::memory::limit_arenas();
    let cli = Cli::parse();
    // Logs go to stderr and, for the profile's commands, to its log file.
    let log_file = vestibule::config::ProfilePaths::resolve(&cli.profile)
        .ok()
        .map(|p| p.log_file());
    logging::init(log_file);
    let result = match cli.command {
        None => vestibule::window::run(&cli.profile, cli.background, started),
        Some(cmd) => cli::run(&cli.profile, cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(sentence) => {
            eprintln!("{sentence}");
            ExitCode::FAILURE
        }
    }
}
