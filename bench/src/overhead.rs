//! Request overhead: `x11perf -noop` on Xorg (dummy driver) with the module watching every
//! client in every mode, against the same server without the module, interleaved A/B/A/B.

use lifesign_tests::{Server, Xorg};
use std::process::Command;

pub struct Overhead {
    pub module_options: Vec<(&'static str, &'static str)>,
    pub stock: Vec<Sample>,
    /// Every mode on, x11perf itself watched (its every request passes the hook).
    pub with_module: Vec<Sample>,
    /// The module loaded with its default options (Watch tcp): the local x11perf is not watched.
    pub unwatched: Vec<Sample>,
}

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

/// The CPU the servers run on; x11perf runs on the other. On a small machine, letting the
/// scheduler move them around makes run-to-run noise larger than the effect measured.
const SERVER_CPU: &str = "0";
const CLIENT_CPU: &str = "1";

fn pin(server: &Server) {
    let status = Command::new("taskset")
        .args(["-a", "-pc", SERVER_CPU, &server.pid().to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run taskset (util-linux)");
    assert!(status.success(), "taskset failed");
}

/// Nanoseconds the server's threads have spent on a CPU (`/proc/PID/task/*/schedstat`).
fn cpu_ns(server: &Server) -> u64 {
    let tasks = format!("/proc/{}/task", server.pid());
    std::fs::read_dir(&tasks)
        .expect("the server's tasks")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// One x11perf run, and one raw flood: x11perf's requests per second, and the server's CPU
/// nanoseconds per NoOperation of a flood of exactly [`FLOOD`] of them.
pub struct Sample {
    pub rate: f64,
    pub cpu_ns_per_request: f64,
}

/// NoOperation requests in one raw flood.
pub const FLOOD: usize = 20_000_000;

/// Sends [`FLOOD`] NoOperation requests as fast as a socket takes them, then a round trip, and
/// returns the server's CPU nanoseconds per request. The client is no bottleneck here (it only
/// copies a buffer), so this is the server's own cost per request, steadier than a rate.
fn raw_flood(server: &Server) -> f64 {
    use lifesign_tests::raw::RawClient;
    let mut client =
        RawClient::connect(server.display_number(), lifesign_proto::ByteOrder::native())
            .expect("a raw connection");
    let before = cpu_ns(server);
    let sent = client
        .flood_no_operations(FLOOD)
        .expect("send NoOperations");
    client
        .round_trip()
        .expect("the server answers after the flood");
    (cpu_ns(server) - before) as f64 / sent as f64
}

/// NoOperation requests per second reported by one `x11perf -noop` run.
fn x11perf_noop(server: &Server, seconds: u32) -> Sample {
    let out = Command::new("taskset")
        .args(["-c", CLIENT_CPU, "x11perf", "-display", &server.display()])
        .args(["-noop", "-repeat", "1", "-time"])
        .arg(seconds.to_string())
        .output()
        .expect("run x11perf (x11-apps)");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("NoOperation") && l.contains("/sec"))
        .unwrap_or_else(|| panic!("no x11perf result in: {text}"));
    // "  60000000 reps @   0.0001 msec (8200000.0/sec): X protocol NoOperation"
    let number = |text: Option<&str>| -> f64 {
        text.and_then(|t| t.trim().parse().ok())
            .unwrap_or_else(|| panic!("cannot read x11perf's line {line:?}"))
    };
    let rate = number(line.split('(').nth(1).and_then(|r| r.split('/').next()));
    Sample {
        rate,
        cpu_ns_per_request: raw_flood(server),
    }
}

pub fn run(rounds: usize, seconds: u32) -> Overhead {
    let stock = Xorg::new().stock().start();
    let mut all_modes = Xorg::new();
    for (name, value) in ALL_MODES {
        all_modes = all_modes.option(name, value);
    }
    let module = all_modes.start();
    let defaults = Xorg::new().start();
    for server in [&stock, &module, &defaults] {
        pin(server);
    }
    let mut result = Overhead {
        module_options: ALL_MODES.to_vec(),
        stock: Vec::new(),
        with_module: Vec::new(),
        unwatched: Vec::new(),
    };
    for round in 0..rounds {
        // Rotate which goes first, so drift favours none.
        let mut order = [0, 1, 2];
        order.rotate_left(round % 3);
        for which in order {
            let (server, samples, name) = match which {
                0 => (&stock, &mut result.stock, "stock"),
                1 => (&module, &mut result.with_module, "all modes"),
                _ => (&defaults, &mut result.unwatched, "defaults"),
            };
            let sample = x11perf_noop(server, seconds);
            eprintln!(
                "round {}: {name:9} {:.0}/s, server {:.1} ns CPU per request",
                round + 1,
                sample.rate,
                sample.cpu_ns_per_request
            );
            samples.push(sample);
        }
    }
    let lost = module
        .events()
        .iter()
        .filter(|e| e.to_line().contains("\"lost\""))
        .count();
    assert_eq!(lost, 0, "x11perf was convicted: the overhead run is void");
    result
}
