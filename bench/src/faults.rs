//! Faults: how long the module ever held the server's thread while things went wrong.
//!
//! The fault tests (`tests/tests/faults.rs`, `faults_server.rs`: the launcher absent, killed,
//! stopped, slow, refused, out of disk; the server stopped; clients that stop reading; a
//! thousand lost at once) are run as they are, with the `handler-timing` build of the module,
//! which times every call from the server into it (`ext/src/timing.rs`) in wall time and in
//! the thread's CPU time; each test's prober keeps its round trips. The tests assert their
//! behaviour with margins for a loaded machine; the figures here are what they measured.
//!
//! A stock Xorg's round trips, probed alone in the same run, are the machine's floor.

use crate::scale::timing_module;
use crate::stats::{Summary, summarize};
use lifesign_proto::timing::BUCKETS_NS;
pub use lifesign_proto::timing::SERVER_CLOSE;
use lifesign_tests::Xorg;
use lifesign_tests::prober::Prober;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The bound the issue sets: no call into the module longer than this.
pub const BOUND_NS: u64 = 5_000_000;
/// How long the stock server is probed.
const STOCK_PROBE: Duration = Duration::from_secs(10);

/// One entry point's figures in one clock: the longest call, and calls per bucket.
#[derive(Clone, Debug, Default)]
pub struct Spread {
    pub longest_ns: u64,
    pub buckets: [u64; 8],
}

impl Spread {
    fn merge(&mut self, other: &Spread) {
        self.longest_ns = self.longest_ns.max(other.longest_ns);
        for (a, b) in self.buckets.iter_mut().zip(other.buckets) {
            *a += b;
        }
    }

    /// Calls longer than `ns` (a bucket bound).
    pub fn over(&self, ns: u64) -> u64 {
        let from = BUCKETS_NS.iter().take_while(|&&b| b < ns).count() + 1;
        self.buckets[from..].iter().sum()
    }
}

#[derive(Clone, Debug, Default)]
pub struct EntryFigures {
    pub calls: u64,
    pub wall: Spread,
    pub cpu: Spread,
}

impl EntryFigures {
    pub fn merge(&mut self, other: &EntryFigures) {
        self.calls += other.calls;
        self.wall.merge(&other.wall);
        self.cpu.merge(&other.cpu);
    }
}

/// What one fault test measured: its servers' entry points, merged, and its probers' round
/// trips, µs.
#[derive(Debug, Default)]
pub struct TestFigures {
    pub entries: BTreeMap<String, EntryFigures>,
    pub round_trips_us: Vec<f64>,
}

pub struct Faults {
    pub tests: BTreeMap<String, TestFigures>,
    /// Tests that failed in this run (their figures are kept too).
    pub failed: bool,
    pub stock_round_trips_us: Vec<f64>,
    pub runtime: Duration,
}

pub fn run() -> Faults {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    eprintln!("faults: the fault tests with the handler-timing module");
    let tests = [
        "-p",
        "lifesign-tests",
        "--test",
        "faults",
        "--test",
        "faults_server",
        "--no-fail-fast",
    ];
    // One at a time: each test's figures are its own, not its neighbour's load.
    let mut command = Command::new("cargo");
    if nextest() {
        command
            .args(["nextest", "run", "--locked"])
            .args(tests)
            .args(["--test-threads", "1"]);
    } else {
        command
            .args(["test", "--locked"])
            .args(tests)
            .args(["--", "--test-threads", "1"]);
    }
    let status = command
        .env("LIFESIGN_ENTRY_TIMES_DIR", dir.path())
        .env("LIFESIGN_MODULE", timing_module())
        .status()
        .expect("run cargo nextest");
    let tests = read_dir(dir.path());
    eprintln!("faults: a stock Xorg probed alone for {STOCK_PROBE:?}");
    let stock = Xorg::new().stock().start();
    let prober = Prober::start(&stock);
    std::thread::sleep(STOCK_PROBE);
    let stock_round_trips_us = prober
        .finish()
        .trips
        .iter()
        .map(|(_, d)| d.as_secs_f64() * 1e6)
        .collect();
    Faults {
        tests,
        failed: !status.success(),
        stock_round_trips_us,
        runtime: started.elapsed(),
    }
}

/// Whether cargo-nextest is installed (the test command's runner); `cargo test` otherwise.
fn nextest() -> bool {
    Command::new("cargo")
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The files the tests' servers and probers left in `dir`: `<test>.<n>.tsv` and
/// `<test>.probe.<n>.txt`.
fn read_dir(dir: &Path) -> BTreeMap<String, TestFigures> {
    let mut tests: BTreeMap<String, TestFigures> = BTreeMap::new();
    for file in std::fs::read_dir(dir).expect("the figures' directory") {
        let path = file.expect("a directory entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if let Some((test, _)) = name.split_once(".probe.") {
            let trips = text.lines().filter_map(|l| l.trim().parse::<f64>().ok());
            tests
                .entry(test.to_owned())
                .or_default()
                .round_trips_us
                .extend(trips);
        } else if let Some((test, _)) = name.split_once('.') {
            let figures = tests.entry(test.to_owned()).or_default();
            for (entry, e) in parse_entries(&text) {
                figures.entries.entry(entry).or_default().merge(&e);
            }
        }
    }
    tests
}

/// One server's entry-point file: per line, the name, calls, then the wall time's longest
/// and 8 buckets, then the CPU time's.
fn parse_entries(text: &str) -> Vec<(String, EntryFigures)> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let numbers: Vec<u64> = fields
                .get(1..)?
                .iter()
                .map(|f| f.parse().ok())
                .collect::<Option<_>>()?;
            let [calls, rest @ ..] = numbers.as_slice() else {
                return None;
            };
            let spread = |at: usize| -> Option<Spread> {
                let longest_ns = *rest.get(at)?;
                let buckets = rest.get(at + 1..at + 9)?.try_into().ok()?;
                Some(Spread {
                    longest_ns,
                    buckets,
                })
            };
            Some((
                fields[0].to_owned(),
                EntryFigures {
                    calls: *calls,
                    wall: spread(0)?,
                    cpu: spread(9)?,
                },
            ))
        })
        .collect()
}

/// The module names a part of an entry point it times apart in parentheses (the server's
/// CloseDownClient of a lost client, inside the deadline timer): not a call into the module.
pub fn is_entry_point(name: &str) -> bool {
    !name.starts_with('(')
}

impl TestFigures {
    fn entry_points(&self) -> impl Iterator<Item = (&String, &EntryFigures)> {
        self.entries.iter().filter(|(name, _)| is_entry_point(name))
    }

    /// Every entry point of the test together.
    pub fn all(&self) -> EntryFigures {
        let mut all = EntryFigures::default();
        for (_, e) in self.entry_points() {
            all.merge(e);
        }
        all
    }

    /// The entry point with the longest call in `clock`, and that call, ns.
    pub fn longest(&self, clock: impl Fn(&EntryFigures) -> &Spread) -> Option<(&str, u64)> {
        self.entry_points()
            .map(|(name, e)| (name.as_str(), clock(e).longest_ns))
            .max_by_key(|(_, ns)| *ns)
    }

    /// The longest the server's CloseDownClient of a lost client took, CPU ns.
    pub fn longest_server_close_cpu(&self) -> Option<u64> {
        self.entries.get(SERVER_CLOSE).map(|e| e.cpu.longest_ns)
    }

    pub fn round_trips(&self) -> Option<Summary> {
        (!self.round_trips_us.is_empty()).then(|| summarize(&self.round_trips_us))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_file_is_read_as_the_module_writes_it() {
        let text = "the block handler\t6\t3000000\t1\t2\t0\t2\t1\t0\t0\t0\t\
                    900000\t1\t2\t3\t0\t0\t0\t0\t0\n";
        let entries = parse_entries(text);
        assert_eq!(entries.len(), 1);
        let (name, e) = &entries[0];
        assert_eq!((name.as_str(), e.calls), ("the block handler", 6));
        assert_eq!(e.wall.longest_ns, 3_000_000);
        assert_eq!(e.wall.over(1_000_000), 3);
        assert_eq!(e.wall.over(2_000_000), 1);
        assert_eq!(e.wall.over(BOUND_NS), 0);
        assert_eq!(e.cpu.longest_ns, 900_000);
        assert_eq!(e.cpu.over(100_000), 3);
        assert!(parse_entries("short\t1\t2\n").is_empty());
    }
}
