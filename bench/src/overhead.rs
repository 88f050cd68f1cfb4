//! Request overhead in throughput: four x11perf tests on Xorg (dummy driver) with the module
//! watching every client in every mode, against the same server without the module and with
//! the module's defaults, interleaved A/B/C and rotated each round.

use lifesign_tests::{Server, Xorg};
use std::process::Command;

/// One x11perf test: its option and the description it ends its result line with.
pub struct Test {
    pub option: &'static str,
    pub description: &'static str,
}

/// A request without a reply (batched by Xlib, many per dispatch cycle), and three round
/// trips (one request per dispatch cycle, so any per-cycle cost of the module shows in full):
/// a property read, a small image read, a pointer query.
pub const TESTS: [Test; 4] = [
    Test {
        option: "-noop",
        description: "X protocol NoOperation",
    },
    Test {
        option: "-prop",
        description: "GetProperty",
    },
    Test {
        option: "-getimage10",
        description: "GetImage 10x10 square",
    },
    Test {
        option: "-pointer",
        description: "QueryPointer",
    },
];

/// The servers compared, in the order of every per-server array of the bench.
pub const SERVERS: [&str; 3] = [
    "stock Xorg",
    "lifesign, every mode, x11perf watched",
    "lifesign, default options (x11perf, a local client, not watched)",
];

/// Every mode on at once, with deadlines x11perf keeps easily: the cost of being watched is
/// measured, not a conviction.
pub const ALL_MODES: &[(&str, &str)] = &[
    ("Watch", "all"),
    ("Grace", "0"),
    ("IdleTimeout", "30s"),
    ("ExpectNoOperation", "30s"),
    ("WmPing", "5s"),
    ("TransportTimeout", "10s"),
];

/// Xorg with the module in every mode of [`ALL_MODES`].
pub fn all_modes() -> Xorg {
    ALL_MODES
        .iter()
        .fold(Xorg::new(), |xorg, (name, value)| xorg.option(name, value))
}

/// The three servers of [`SERVERS`], not started.
pub fn servers() -> [Xorg; 3] {
    [Xorg::new().stock(), all_modes(), Xorg::new()]
}

pub struct Overhead {
    pub module_options: Vec<(&'static str, &'static str)>,
    pub seconds: u32,
    pub tests: Vec<Rates>,
}

/// One test's requests per second, per round, per server (the order of [`SERVERS`]).
pub struct Rates {
    pub test: &'static Test,
    /// The fixed rep count every run of the test did.
    pub reps: u64,
    pub per_server: [Vec<f64>; 3],
}

impl Rates {
    /// Each round's rate of `server` over stock's in the same round.
    pub fn ratios(&self, server: usize) -> Vec<f64> {
        self.per_server[server]
            .iter()
            .zip(&self.per_server[0])
            .map(|(m, s)| m / s)
            .collect()
    }
}

/// The CPU the servers run on; x11perf runs on the other. On a small machine, letting the
/// scheduler move them around makes run-to-run noise larger than the effect measured.
const SERVER_CPU: &str = "0";
pub const CLIENT_CPU: &str = "1";

pub fn pin(server: &Server) {
    let status = Command::new("taskset")
        .args(["-a", "-pc", SERVER_CPU, &server.pid().to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run taskset (util-linux)");
    assert!(status.success(), "taskset failed");
}

/// One x11perf result: the reps it did and its requests per second.
#[derive(Debug, PartialEq)]
pub struct Run {
    pub reps: u64,
    pub rate: f64,
}

/// Reads `test`'s result line from x11perf's output:
/// `"   30000 reps @   0.0341 msec ( 29400.0/sec): GetProperty"`.
fn parse(output: &str, test: &Test) -> Option<Run> {
    let suffix = format!("): {}", test.description);
    let line = output
        .lines()
        .find(|l| l.trim_end().ends_with(&suffix) && l.contains(" reps @ "))?;
    let reps = line.split_whitespace().next()?.parse().ok()?;
    let rate = line
        .split_once('(')?
        .1
        .split_once("/sec")?
        .0
        .trim()
        .parse()
        .ok()?;
    Some(Run { reps, rate })
}

/// How one x11perf run is sized.
#[derive(Clone, Copy)]
pub enum Size {
    /// x11perf's own calibration, then about this many seconds.
    Seconds(u32),
    /// Exactly this many reps, no calibration (`-reps`): the same work on every server.
    Reps(u64),
}

/// Runs one x11perf test once (`-repeat 1`) against `display`, on `cpu` when given.
pub fn x11perf(display: &str, test: &Test, size: Size, cpu: Option<&str>) -> Run {
    let mut command = match cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.args(["-c", cpu, "x11perf"]);
            c
        }
        None => Command::new("x11perf"),
    };
    command.args(["-display", display, test.option, "-repeat", "1"]);
    match size {
        Size::Seconds(s) => command.args(["-time", &s.to_string()]),
        Size::Reps(n) => command.args(["-reps", &n.to_string()]),
    };
    let out = command.output().expect("run x11perf (x11-apps)");
    let text = String::from_utf8_lossy(&out.stdout);
    parse(&text, test).unwrap_or_else(|| {
        panic!(
            "no x11perf result for {} in: {text}{}",
            test.option,
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Reps that take about `seconds` on stock: x11perf calibrates once, then every run of the
/// test does that fixed count, so the servers do the same work and no run pays for its own
/// calibration (about 2.5 s of x11perf's, more than a run itself).
fn calibrate(stock: &Server, test: &Test, seconds: u32) -> u64 {
    let run = x11perf(&stock.display(), test, Size::Seconds(1), Some(CLIENT_CPU));
    ((run.rate * f64::from(seconds)) as u64).max(1)
}

pub fn run(rounds: usize, seconds: u32) -> Overhead {
    let started = std::time::Instant::now();
    let servers = servers().map(Xorg::start);
    for server in &servers {
        pin(server);
    }
    let mut tests: Vec<Rates> = TESTS
        .iter()
        .map(|test| Rates {
            test,
            reps: calibrate(&servers[0], test, seconds),
            per_server: Default::default(),
        })
        .collect();
    for round in 0..rounds {
        for (t, rates) in tests.iter_mut().enumerate() {
            // Rotate which server goes first, by round and by test, so drift favours none;
            // the three runs of a test are back to back, so each ratio compares runs seconds
            // apart.
            let mut order = [0, 1, 2];
            order.rotate_left((round + t) % 3);
            for which in order {
                let run = x11perf(
                    &servers[which].display(),
                    rates.test,
                    Size::Reps(rates.reps),
                    Some(CLIENT_CPU),
                );
                eprintln!(
                    "round {}: {:12} {:9} {:.0}/s",
                    round + 1,
                    rates.test.option,
                    ["stock", "all modes", "defaults"][which],
                    run.rate
                );
                rates.per_server[which].push(run.rate);
            }
        }
    }
    let lost = servers[1]
        .events()
        .iter()
        .filter(|e| e.to_line().contains("\"lost\""))
        .count();
    assert_eq!(lost, 0, "x11perf was convicted: the overhead run is void");
    eprintln!("throughput: {:.0} s", started.elapsed().as_secs_f64());
    Overhead {
        module_options: ALL_MODES.to_vec(),
        seconds,
        tests,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Result lines as x11perf 1.6 (Debian 12's x11-apps) prints them.
    const OUTPUT: &str = "x11perf - X11 performance program, version 1.2
The X.Org Foundation server version 12101007 on :77
from vm
Tue Dec  1 16:03:38 2026

Sync time adjustment is 0.0000 msecs.

   20000000 reps @   0.0001 msec (17600000.0/sec): X protocol NoOperation

      30000 reps @   0.0341 msec ( 29400.0/sec): GetProperty

      24000 reps @   0.0391 msec ( 25600.0/sec): GetImage 10x10 square

      40000 reps @   0.0283 msec ( 35400.0/sec): QueryPointer
";

    #[test]
    fn reads_each_tests_result_line() {
        let runs: Vec<Run> = TESTS.iter().map(|t| parse(OUTPUT, t).unwrap()).collect();
        assert_eq!(
            runs,
            vec![
                Run {
                    reps: 20_000_000,
                    rate: 17_600_000.0
                },
                Run {
                    reps: 30_000,
                    rate: 29_400.0
                },
                Run {
                    reps: 24_000,
                    rate: 25_600.0
                },
                Run {
                    reps: 40_000,
                    rate: 35_400.0
                },
            ]
        );
    }

    #[test]
    fn a_missing_result_is_none() {
        assert_eq!(
            parse("Sync time adjustment is 0.0000 msecs.\n", &TESTS[1]),
            None
        );
    }
}
