//! `lifesign-launcher --config FILE [--check]`: the daemon that starts backup clients.

use clap::Parser;
use lifesign_launcher::{Config, daemon};
use std::path::PathBuf;
use std::process::ExitCode;

/// Receives lifesign's events from the X server and starts backup clients.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// The TOML configuration.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/etc/lifesign/launcher.toml"
    )]
    config: PathBuf,
    /// Validate the configuration and exit.
    #[arg(long)]
    check: bool,
    /// Log decisions in more detail.
    #[arg(long, short)]
    verbose: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    lifesign_launcher::log::init(args.verbose);
    let file = args.config.display();
    let config = match std::fs::read_to_string(&args.config) {
        Ok(text) => Config::parse(&text),
        Err(e) => {
            eprintln!("{file}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{file}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.check {
        let names: Vec<&str> = config.services.iter().map(|s| s.name.as_str()).collect();
        let overlay = config
            .overlay
            .as_ref()
            .map(|o| format!("; overlay: {:?}", o.command))
            .unwrap_or_default();
        println!(
            "{file}: valid; {} services: {}{overlay}",
            names.len(),
            names.join(", ")
        );
        return ExitCode::SUCCESS;
    }
    match daemon::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
