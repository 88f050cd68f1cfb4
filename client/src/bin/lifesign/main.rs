//! `lifesign`: the watched clients of an X server, a heartbeat sidecar, and an overlay
//! that marks stale windows on the display.

mod follow;
mod overlay;
mod pulse;
mod status;
mod table;

use clap::{Parser, Subcommand, ValueEnum};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    version,
    about = "lifesign: what the X server watches, a heartbeat for it, and marks on stale windows"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The watched clients: a table, or the contract's JSON with --json; with --follow, then
    /// one line per event as it happens.
    Status {
        /// The X display (default: $DISPLAY).
        #[arg(long)]
        display: Option<String>,
        /// Print JSON instead of text: the array, and with --follow each event as the
        /// launcher gets it.
        #[arg(long)]
        json: bool,
        /// After the list, print each event (suspect, recovered, lost, gone, watched,
        /// unwatched, updated) as the server makes it, until interrupted.
        #[arg(long)]
        follow: bool,
    },
    /// A heartbeat sidecar: opts in with a NoOperation expectation and sends NoOperation at
    /// the interval; exits non-zero when it loses the server.
    Pulse {
        /// How often NoOperation is sent.
        #[arg(long, default_value = "1s", value_parser = duration)]
        interval: Duration,
        /// `host`: when this pulse stops, every watched client from this host is lost.
        #[arg(long, value_enum, default_value = "client")]
        scope: Scope,
        /// The service name the launcher matches.
        #[arg(long)]
        service: Option<String>,
        /// The X display (default: $DISPLAY).
        #[arg(long)]
        display: Option<String>,
        /// The NoOperation deadline declared to the server (default: 3 × interval).
        #[arg(long, value_parser = duration)]
        expect: Option<Duration>,
        /// How long a round trip may take before the server is taken for lost (default:
        /// 3 × interval).
        #[arg(long, value_parser = duration)]
        timeout: Option<Duration>,
    },
    /// Marks stale windows on the display: a frame and a banner over a suspect client's
    /// windows, a placeholder where a lost client's were until a new one of its service
    /// maps a window. The marks take no input. Exits non-zero when it loses the server.
    Overlay {
        /// The X display (default: $DISPLAY).
        #[arg(long)]
        display: Option<String>,
        /// The launcher's state file, read for the backup being started (default:
        /// $LIFESIGN_LAUNCHER_STATE, which the launcher sets).
        #[arg(long, value_name = "FILE")]
        launcher_state: Option<std::path::PathBuf>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scope {
    Client,
    Host,
}

fn duration(text: &str) -> Result<Duration, String> {
    lifesign_formats::duration::parse(text)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            format!(
                "{text:?}: expected a positive duration ({})",
                lifesign_formats::duration::FORM
            )
        })
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.command {
        Command::Status {
            display,
            json,
            follow: false,
        } => status::run(display.as_deref(), json),
        Command::Status {
            display,
            json,
            follow: true,
        } => follow::run(display.as_deref(), json),
        Command::Pulse {
            interval,
            scope,
            service,
            display,
            expect,
            timeout,
        } => pulse::run(&pulse::Options {
            interval,
            host_scope: scope == Scope::Host,
            service,
            display,
            expect: expect.unwrap_or(interval * 3),
            timeout: timeout.unwrap_or(interval * 3),
        }),
        Command::Overlay {
            display,
            launcher_state,
        } => overlay::run(overlay::Options {
            display,
            launcher_state,
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lifesign: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A connection to `display` (or $DISPLAY).
fn connect(display: Option<&str>) -> Result<x11rb::rust_connection::RustConnection, String> {
    x11rb::connect(display).map(|(conn, _)| conn).map_err(|e| {
        let name = display
            .map(str::to_owned)
            .or_else(|| std::env::var("DISPLAY").ok())
            .unwrap_or_else(|| "(no DISPLAY)".into());
        format!("cannot connect to X display {name}: {e}")
    })
}
