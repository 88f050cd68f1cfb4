//! Server regenerations: an Xorg that resets whenever its last client leaves, run through
//! `count` resets. In every generation the extension must work as in the first — QueryVersion
//! answers 1.0, a client opts in with Watch and is lost at its deadline and closed — and the
//! server's descriptors and memory, sampled at the same point of each generation, stay flat.
//!
//! Xorg itself (dummy driver) grows by some 70 KiB a generation with or without the module,
//! so the memory is judged against the same resets of a stock Xorg, run first: what the
//! module adds to the growth after the warm-up must stay under a limit.

use crate::cycle::{self, Ending, Transport};
use crate::health;
use lifesign::Lifesign;
use lifesign_proto::event::{Body, LostReason};
use lifesign_proto::ext;
use lifesign_tests::Server;
use lifesign_tests::usage::{self, Usage};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use x11rb::protocol::xproto::ConnectionExt as _;
use x11rb::rust_connection::RustConnection;

pub struct Args {
    /// Resets: the run goes through `count + 1` generations.
    pub count: u64,
    /// How long past its deadline the lost client may take to be closed.
    pub bound: Duration,
    /// The most the module may add to the server's RSS growth after the warm-up, in KiB.
    pub rss_growth_kib: u64,
}

/// How long a generation may take to start, or to close, on a loaded machine.
const GENERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// One server's generations.
struct Series {
    samples: Vec<Usage>,
    seconds: f64,
    /// The generation after which growth counts: a tenth of the run, at least the second.
    warm_up: usize,
}

impl Series {
    fn first(&self) -> Usage {
        self.samples.first().copied().unwrap_or_default()
    }

    fn warm(&self) -> Usage {
        self.samples
            .get(self.warm_up - 1)
            .copied()
            .unwrap_or(self.first())
    }

    fn last(&self) -> Usage {
        self.samples.last().copied().unwrap_or_default()
    }

    fn growth(&self) -> i64 {
        self.last().rss_kib as i64 - self.warm().rss_kib as i64
    }

    fn json(&self) -> Value {
        json!({
            "generations": self.samples.len(),
            "seconds": self.seconds,
            "rss_first_kib": self.first().rss_kib,
            "rss_warm_kib": self.warm().rss_kib,
            "rss_last_kib": self.last().rss_kib,
            "rss_growth_kib": self.growth(),
            "fds_first": self.first().fds,
            "fds_last": self.last().fds,
            "samples": self.samples.iter().map(|u| json!([u.rss_kib, u.fds])).collect::<Vec<_>>(),
        })
    }

    fn print(&self, name: &str) {
        println!(
            "{name}: {} generations in {:.1} s; RSS {} KiB in generation 1, {} KiB in generation {}, {} KiB in generation {}: {:+} KiB after the warm-up; fds {} in generation 1, the same in all: {}",
            self.samples.len(),
            self.seconds,
            self.first().rss_kib,
            self.warm().rss_kib,
            self.warm_up,
            self.last().rss_kib,
            self.samples.len(),
            self.growth(),
            self.first().fds,
            self.samples.iter().all(|u| u.fds == self.first().fds)
        );
    }
}

/// The resets of `stock` (a baseline), then of `module`, the server with the module.
pub fn run(stock: &Server, module: &Server, args: &Args) -> (Value, Vec<String>) {
    let mut failures = Vec::new();
    let baseline = series(stock, true, args, &mut failures);
    let with = series(module, false, args, &mut failures);
    failures.extend(health::module_errors(module));
    failures.extend(health::unparseable_events(module));
    for (name, s) in [("stock", &baseline), ("module", &with)] {
        let first = s.first().fds;
        if let Some((g, u)) = s.samples.iter().enumerate().find(|(_, u)| u.fds != first) {
            failures.push(format!(
                "{name}: generation {} has {} fds, the first had {first}",
                g + 1,
                u.fds
            ));
        }
    }
    let added = with.growth() - baseline.growth();
    if added > args.rss_growth_kib as i64 {
        failures.push(format!(
            "the module adds {added} KiB to the server's RSS growth over {} resets ({:+} KiB, stock {:+} KiB), more than {} KiB",
            args.count,
            with.growth(),
            baseline.growth(),
            args.rss_growth_kib
        ));
    }
    println!();
    baseline.print("stock Xorg");
    with.print("Xorg with the module");
    println!(
        "the module's part of the growth after the warm-up: {added:+} KiB (limit {} KiB)",
        args.rss_growth_kib
    );
    let summary = json!({
        "regenerations": with.samples.len().saturating_sub(1),
        "stock": baseline.json(),
        "module": with.json(),
        "added_growth_kib": added,
    });
    (summary, failures)
}

fn series(server: &Server, stock: bool, args: &Args, failures: &mut Vec<String>) -> Series {
    let generations = args.count + 1;
    let name = if stock {
        "stock Xorg"
    } else {
        "Xorg with the module"
    };
    println!(
        "{name}: {} resets, {generations} generations (server pid {})",
        args.count,
        server.pid()
    );
    println!("  generation  seconds  RSS KiB  fds  lost after");
    let start = Instant::now();
    let mut samples = Vec::new();
    for generation in 1..=generations {
        match one(server, generation, stock, args) {
            Ok((usage, lost_after)) => {
                samples.push(usage);
                if generation <= 3 || generation % 10 == 0 || generation == generations {
                    println!(
                        "{generation:>12}  {:>7.1}  {:>7}  {:>3}  {:.0} ms",
                        start.elapsed().as_secs_f64(),
                        usage.rss_kib,
                        usage.fds,
                        lost_after.as_secs_f64() * 1e3
                    );
                }
            }
            Err(e) => {
                failures.push(format!("{name}, generation {generation}: {e}"));
                break;
            }
        }
    }
    Series {
        samples,
        seconds: start.elapsed().as_secs_f64(),
        warm_up: (generations / 10).clamp(2, generations.max(2)) as usize,
    }
}

/// One generation: the extension answers, a client is lost at its deadline; then the last
/// client leaves and the server resets. The server's usage with one client connected, and
/// how long the lost client took from its Watch to its close.
fn one(
    server: &Server,
    generation: u64,
    stock: bool,
    args: &Args,
) -> Result<(Usage, Duration), String> {
    // Every generation initializes the extensions again, the first of them this one.
    let begun = "Initializing extension Generic Event Extension";
    if !server.wait_for_log(begun, generation as usize, GENERATION_TIMEOUT) {
        return Err(format!(
            "no {begun:?} for generation {generation} in the log"
        ));
    }
    let started = format!("lifesign: generation {generation}: extension LIFESIGN");
    if !stock && !server.wait_for_log(&started, 1, GENERATION_TIMEOUT) {
        return Err(format!("no {started:?} in the log"));
    }
    let checker = server.connect();
    if stock {
        return stock_generation(server, checker);
    }
    let lifesign = Lifesign::new(&checker).map_err(|e| e.to_string())?;
    let version = lifesign
        .query_version(&checker)
        .map_err(|e| format!("QueryVersion: {e}"))?;
    if (version.major, version.minor) != (ext::MAJOR_VERSION, ext::MINOR_VERSION) {
        return Err(format!("QueryVersion answered {version:?}"));
    }
    let with_checker = usage::of(server.pid())?;
    // TCP in every other generation: the module's duplicate of the socket must not outlive
    // a generation either.
    let transport = if generation.is_multiple_of(2) {
        Transport::Tcp
    } else {
        Transport::Unix
    };
    let life = cycle::live(
        server.display_number(),
        transport,
        Ending::Lost,
        &checker,
        args.bound,
    )?;
    // Ids start again in every generation: it is this generation's loss if there is one
    // loss per generation so far.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let losses = health::events(server)
            .0
            .iter()
            .filter(|e| {
                matches!(
                    e.body,
                    Body::Lost {
                        reason: LostReason::NoopMissed,
                        ..
                    }
                )
            })
            .count() as u64;
        if losses == generation {
            break;
        }
        if losses > generation || Instant::now() > deadline {
            return Err(format!(
                "{losses} lost events after {generation} generations (this one's: {})",
                life.id
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // The sample: with the checker alone connected, once the lost client's socket is gone
    // (its close may still be under way when the client sees it).
    let deadline = Instant::now() + Duration::from_secs(2);
    let usage = loop {
        let now = usage::of(server.pid())?;
        if now.fds <= with_checker.fds || Instant::now() > deadline {
            break now;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    drop(checker);
    let closed = format!("lifesign: generation {generation} closed");
    if generation <= args.count && !server.wait_for_log(&closed, 1, GENERATION_TIMEOUT) {
        return Err(format!(
            "no {closed:?} in the log after the last client left"
        ));
    }
    Ok((usage, life.closed_after.unwrap_or_default()))
}

/// A generation of the stock server: a client connects, makes a round trip and leaves; the
/// sample as in a generation with the module.
fn stock_generation(server: &Server, checker: RustConnection) -> Result<(Usage, Duration), String> {
    let other = server.connect();
    other
        .get_input_focus()
        .map_err(|e| e.to_string())?
        .reply()
        .map_err(|e| e.to_string())?;
    drop(other);
    std::thread::sleep(Duration::from_millis(100));
    let usage = usage::of(server.pid())?;
    drop(checker);
    Ok((usage, Duration::ZERO))
}
