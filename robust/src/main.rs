//! `lifesign-robust`: long runs against a real Xorg (dummy driver) with the module, to show
//! the display server never goes down because of it — a live fuzzer of LIFESIGN requests,
//! a soak of watched clients' lives, and server regenerations. Each prints its figures,
//! exits 1 on any failure, and with `--summary FILE` writes them as JSON (for the tests).
//!
//! Run as root (Xorg), after `cargo build -p lifesign-ext`: see docs/robustness.md.

#![forbid(unsafe_code)]

mod cycle;
mod fuzz;
mod health;
mod regen;
mod rng;
mod soak;

use clap::{Parser, Subcommand};
use lifesign_tests::Xorg;
use lifesign_tests::listener::Listener;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    about = "Robustness runs of lifesign against a real Xorg: live fuzzer, soak, regenerations"
)]
struct Args {
    #[command(subcommand)]
    run: Run,
    /// The module to load (default: target/debug/liblifesign.so, or $LIFESIGN_MODULE).
    #[arg(long, global = true)]
    module: Option<PathBuf>,
    /// Also write the figures and failures as JSON to this file.
    #[arg(long, global = true)]
    summary: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Run {
    /// Random and mutated LIFESIGN requests on raw connections, every answer checked.
    LiveFuzz {
        #[arg(long, default_value_t = 1_000_000)]
        requests: u64,
        /// The seed of the random part (default: from the clock; printed either way).
        #[arg(long)]
        seed: Option<u64>,
        /// Requests between two checks of the server and the bystander.
        #[arg(long, default_value_t = 10_000)]
        batch: u64,
        /// The longest a healthy connection's round trip may take at a check, in ms.
        #[arg(long, default_value_t = 2_000)]
        bound_ms: u64,
    },
    /// Connect, Watch with ExpectNoOperation 100ms, then lost (or closed, or killed).
    Soak {
        #[arg(long, default_value_t = 10_000)]
        cycles: u64,
        /// Clients alive at once.
        #[arg(long, default_value_t = 50)]
        parallel: u64,
        /// How much later than its deadline a lost client may be closed, in ms.
        #[arg(long, default_value_t = 3_000)]
        bound_ms: u64,
        /// The most the server's RSS may grow after the warm-up (a tenth of the cycles).
        #[arg(long, default_value_t = 1_024)]
        rss_growth_kib: u64,
    },
    /// Server resets, each generation checked: QueryVersion, Watch, a client lost.
    Regenerations {
        #[arg(long, default_value_t = 100)]
        count: u64,
        /// How much later than its deadline the lost client may be closed, in ms.
        #[arg(long, default_value_t = 3_000)]
        bound_ms: u64,
        /// The most the module may add to the server's RSS growth after the warm-up (a
        /// tenth of the generations), against the same resets of a stock Xorg.
        #[arg(long, default_value_t = 512)]
        rss_growth_kib: u64,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let xorg = || base_xorg(&args.module, "none");
    let (summary, failures) = match args.run {
        Run::LiveFuzz {
            requests,
            seed,
            batch,
            bound_ms,
        } => {
            let seed = seed.unwrap_or_else(clock_seed);
            let server = xorg().start();
            let outcome = fuzz::run(
                &server,
                &fuzz::Args {
                    requests,
                    seed,
                    batch,
                    bound: Duration::from_millis(bound_ms),
                },
            );
            log_tail(&server, &outcome.1);
            outcome
        }
        Run::Soak {
            cycles,
            parallel,
            bound_ms,
            rss_growth_kib,
        } => {
            // Its events go to a launcher socket served here: tens of thousands of them, more
            // than the module's log keeps in a burst (its lines are rate-limited).
            let dir = tempfile::tempdir().expect("a temp dir");
            let socket = dir.path().join("launcher.sock");
            let listener = Listener::bind(&socket);
            let server = base_xorg(&args.module, socket.to_str().expect("a UTF-8 path"))
                .tcp()
                .start();
            // Linked before the soak counts the server's fds (the link is one of them).
            listener.wait_for(Duration::from_secs(10), |r| !r.is_empty());
            let outcome = soak::run(
                &server,
                &listener,
                &soak::Args {
                    cycles,
                    parallel: parallel.max(1),
                    bound: Duration::from_millis(bound_ms),
                    rss_growth_kib,
                },
            );
            log_tail(&server, &outcome.1);
            outcome
        }
        Run::Regenerations {
            count,
            bound_ms,
            rss_growth_kib,
        } => {
            let stock = base_xorg(&args.module, "none")
                .stock()
                .tcp()
                .resets()
                .start();
            let server = xorg().tcp().resets().start();
            let outcome = regen::run(
                &stock,
                &server,
                &regen::Args {
                    count,
                    bound: Duration::from_millis(bound_ms),
                    rss_growth_kib,
                },
            );
            log_tail(&server, &outcome.1);
            outcome
        }
    };
    let mut summary = summary;
    summary["failures"] = serde_json::json!(failures);
    if let Some(path) = &args.summary
        && let Err(e) = std::fs::write(path, summary.to_string())
    {
        eprintln!("cannot write {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    if failures.is_empty() {
        println!("PASS");
        ExitCode::SUCCESS
    } else {
        println!("FAIL:");
        for f in &failures {
            println!("- {f}");
        }
        ExitCode::FAILURE
    }
}

/// After a failure, the end of the server's log: the server and its log go with the run.
fn log_tail(server: &lifesign_tests::Server, failures: &[String]) {
    if failures.is_empty() {
        return;
    }
    let log = server.log();
    let lines: Vec<&str> = log.lines().collect();
    println!("----- the last lines of the server's log -----");
    for line in &lines[lines.len().saturating_sub(40)..] {
        println!("{line}");
    }
    println!("----- end of the server's log -----");
}

/// Only clients that opt in are watched (the runs' own checkers are not), deadlines from the
/// first request, events to `launcher` (`none`: logged only).
fn base_xorg(module: &Option<PathBuf>, launcher: &str) -> Xorg {
    // HostScope all: the oracle takes a Watch with the host flag for a valid one (the
    // refusal of strangers is tests/tests/threats.rs's).
    let xorg = Xorg::new()
        .option("Watch", "none")
        .option("Grace", "0")
        .option("HostScope", "all")
        .option("Launcher", launcher);
    match module {
        Some(path) => xorg.module_file(path.clone()),
        None => xorg,
    }
}

fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
}
