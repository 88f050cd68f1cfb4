//! `lifesign-compat`: measures every toolkit of the table under every mode and writes
//! docs/compatibility.md. scripts/compat.sh installs the programs, builds the module and
//! runs this; run as root (Xorg, and the programs' own files under /root, need it).

#![forbid(unsafe_code)]

mod adopted;

use clap::{Parser, ValueEnum};
use lifesign_compat::debian;
use lifesign_compat::measure::{self, Observed, ServerKind, Settings};
use lifesign_compat::mode::{MODES, Mode};
use lifesign_compat::report::{self, Header, Row};
use lifesign_compat::toolkits::{self, Context, TOOLKITS, Toolkit};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, ValueEnum)]
enum ServerArg {
    Xvfb,
    Xorg,
}

#[derive(Parser)]
#[command(
    about = "Measures which toolkits' hangs each lifesign mode catches; writes docs/compatibility.md"
)]
struct Args {
    /// Where the table goes.
    #[arg(long, default_value_os_t = default_out())]
    out: PathBuf,
    /// How long the healthy instance is left idle, in seconds.
    #[arg(long, default_value_t = 60)]
    idle: u64,
    /// Measurements run at once (each a server and two instances of a program).
    #[arg(long, default_value_t = 8)]
    jobs: usize,
    /// Measure only these toolkits (as the table names them; repeatable).
    #[arg(long)]
    only: Vec<String>,
    /// The server to measure in.
    #[arg(long, value_enum, default_value_t = ServerArg::Xvfb)]
    server: ServerArg,
    /// Print each measurement's events.
    #[arg(long)]
    verbose: bool,
    /// The command the table's header names as the one that made it.
    #[arg(long, default_value = "sudo ./scripts/compat.sh")]
    command: String,
}

fn default_out() -> PathBuf {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest.parent().unwrap_or(manifest);
    workspace.join("docs/compatibility.md")
}

fn main() -> ExitCode {
    let args = Args::parse();
    let started = Instant::now();
    let selected: Vec<&'static Toolkit> = if args.only.is_empty() {
        TOOLKITS.iter().collect()
    } else {
        let found: Option<Vec<_>> = args.only.iter().map(|n| toolkits::find(n)).collect();
        let Some(found) = found else {
            let names: Vec<&str> = TOOLKITS.iter().map(|t| t.name).collect();
            eprintln!("lifesign-compat: --only takes one of: {}", names.join(", "));
            return ExitCode::FAILURE;
        };
        found
    };
    let (kind, server) = match args.server {
        ServerArg::Xvfb => (ServerKind::Xvfb, "xvfb"),
        ServerArg::Xorg => (ServerKind::Xorg, "xserver-xorg-core"),
    };
    let settings = Settings {
        idle: Duration::from_secs(args.idle),
        start_timeout: Duration::from_secs(60),
        server: kind,
        context: Context::in_tree(),
        verbose: args.verbose,
    };
    if let Err(e) = settings.context.prepare(&selected) {
        eprintln!("lifesign-compat: {e}");
        return ExitCode::FAILURE;
    }
    if let Err(e) = adopted::adopt_orphans() {
        eprintln!("lifesign-compat: cannot adopt the programs' daemons: {e}");
    }

    let jobs: Vec<(usize, Mode)> = (0..selected.len())
        .flat_map(|i| MODES.iter().map(move |m| (i, *m)))
        .collect();
    let results = run_all(&selected, &jobs, &settings, args.jobs.max(1));
    let left = adopted::end_adopted();
    if !left.is_empty() {
        eprintln!("ended what the programs left running: {}", left.join(", "));
    }

    let rows: Vec<Row> = selected
        .iter()
        .enumerate()
        .map(|(i, toolkit)| Row {
            toolkit,
            packages: toolkit
                .packages
                .iter()
                .map(|p| debian::describe(p))
                .collect(),
            results: jobs
                .iter()
                .zip(&results)
                .filter(|((j, _), _)| *j == i)
                .map(|((_, mode), r)| (*mode, r.clone()))
                .collect(),
        })
        .collect();
    let header = Header {
        command: args.command,
        date: today(),
        server: format!(
            "{} with the module{}",
            debian::describe(server),
            if kind == ServerKind::Xvfb {
                " preloaded"
            } else {
                " (dummy driver)"
            }
        ),
        debian: debian::release(),
        idle: settings.idle,
        elapsed: started.elapsed(),
    };
    let page = report::render(&header, MODES, &rows);
    if let Err(e) = std::fs::write(&args.out, &page) {
        eprintln!("lifesign-compat: cannot write {}: {e}", args.out.display());
        return ExitCode::FAILURE;
    }
    println!("wrote {}", args.out.display());
    ExitCode::SUCCESS
}

/// Runs every job on `workers` threads; the results in the jobs' order.
fn run_all(
    toolkits: &[&Toolkit],
    jobs: &[(usize, Mode)],
    settings: &Settings,
    workers: usize,
) -> Vec<Result<Observed, String>> {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(vec![None; jobs.len()]);
    std::thread::scope(|scope| {
        for _ in 0..workers.min(jobs.len()) {
            scope.spawn(|| {
                loop {
                    let slot = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(i, mode)) = jobs.get(slot) else {
                        break;
                    };
                    let toolkit = toolkits[i];
                    let result = catch_unwind(AssertUnwindSafe(|| {
                        measure::measure(toolkit, &mode, settings)
                    }))
                    .unwrap_or_else(|panic| Err(panic_text(&*panic)));
                    eprintln!(
                        "{} under {}: {}",
                        toolkit.name,
                        mode.name,
                        summary(&mode, &result)
                    );
                    results.lock().expect("no worker panics holding it")[slot] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .expect("no worker panicked holding it")
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect()
}

fn summary(mode: &Mode, result: &Result<Observed, String>) -> String {
    match result {
        Ok(observed) => format!(
            "lists _NET_WM_PING: {}, a ping: {:?}; hung: caught {}; idle: kept {}",
            observed.facts.lists_ping,
            observed.facts.ping,
            report::caught_cell(mode, result),
            report::kept_cell(result)
        ),
        Err(e) => format!("not measured: {e}"),
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .map_or_else(|| "it panicked".to_owned(), |s| format!("it panicked: {s}"))
}

/// Today's date (UTC), as `date` writes it.
fn today() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}
