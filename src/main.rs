//! The `vestibule` command.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use vestibule::cli::{self, Cli};

fn main() -> ExitCode {
    // Logs go to stderr: our warnings only, unless RUST_LOG asks for more.
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("vestibule=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        None => {
            println!(
                "Vestibule {}: the window is not part of this build yet. Run `vestibule --help` for the commands.",
                env!("CARGO_PKG_VERSION")
            );
            Ok(())
        }
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
