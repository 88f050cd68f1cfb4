//! Scale: 2000 watched clients on one Xorg (`-maxclients 2048`), half pulsing NoOperation
//! every second (opted in with ExpectNoOperation), half idle (watched by `Watch all`, with an
//! idle deadline far away). Measured: the server's CPU against a stock Xorg carrying the same
//! load at the same time, resident memory per client, the time per main-loop pass in the
//! module's handlers (a `handler-timing` build), and detection latency at that scale.

use crate::fleet::{self, Pulser};
use lifesign_proto::event::{Body, LostReason};
use lifesign_proto::ext::WatchRequest;
use lifesign_tests::Xorg;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

pub const CLIENTS: usize = 2000;
pub const PULSING: usize = CLIENTS / 2;
pub const PERIOD: Duration = Duration::from_secs(1);
/// The pulsing clients' ExpectNoOperation: three missed pulses.
pub const NOOP_DEADLINE_MS: u32 = 3000;
pub const OPTIONS: &[(&str, &str)] = &[
    ("Watch", "all"),
    ("Grace", "0"),
    ("IdleTimeout", "10m"),
    ("Launcher", "none"),
];
pub const MAX_CLIENTS: &[&str] = &["-maxclients", "2048"];
const WARM_UP: Duration = Duration::from_secs(3);

pub struct Memory {
    /// Resident bytes before and after the clients connected.
    pub before: u64,
    pub after: u64,
}

impl Memory {
    pub fn per_client(&self) -> f64 {
        (self.after as f64 - self.before as f64) / CLIENTS as f64
    }
}

pub struct Scale {
    pub window: Duration,
    /// Per measuring window: the stock server's and the module's server's CPU, in % of one core.
    pub cpu_pct: Vec<(f64, f64)>,
    pub stock_memory: Memory,
    pub module_memory: Memory,
    /// Per pass of the module's deadline timer, in steady state: its wall time and the
    /// server thread's CPU time, in nanoseconds.
    pub handler_ns: Vec<(u32, u32)>,
    pub handler_seconds: f64,
    /// `lost` minus (last NoOperation + ExpectNoOperation) of silenced clients, ms.
    pub detection_ms: Vec<f64>,
    pub wrong_reason: usize,
    /// Clients lost that were never silenced: false positives (must be 0).
    pub unexpected_lost: usize,
    /// The same number of idle TCP clients: what the transport mode costs.
    pub tcp: crate::scale_tcp::TcpCost,
}

/// The module built with `handler-timing` (`scripts/bench.sh` builds it into
/// `target/timing`), or `$LIFESIGN_TIMING_MODULE`.
pub fn timing_module() -> PathBuf {
    std::env::var_os("LIFESIGN_TIMING_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            lifesign_tests::server::target_dir().join("timing/release/liblifesign.so")
        })
}

fn module_server() -> Xorg {
    let mut xorg = Xorg::new().args(MAX_CLIENTS);
    for (name, value) in OPTIONS {
        xorg = xorg.option(name, value);
    }
    xorg
}

fn pulse_request() -> WatchRequest {
    WatchRequest {
        expect_noop_ms: NOOP_DEADLINE_MS,
        ..WatchRequest::defaults()
    }
}

fn watched_ids(server: &lifesign_tests::Server) -> usize {
    let ids: std::collections::HashSet<String> = server
        .events()
        .iter()
        .filter(|e| matches!(e.body, Body::Watched { .. }))
        .filter_map(|e| e.client().map(|c| c.id.clone()))
        .collect();
    ids.len()
}

fn settle_rss(server: &lifesign_tests::Server) -> u64 {
    thread::sleep(Duration::from_millis(500));
    fleet::rss_bytes(server)
}

/// The stock and the module's server side by side, each with the same clients pulsing from its
/// own thread: CPU per window and memory per client.
fn side_by_side(windows: usize, window: Duration) -> (Vec<(f64, f64)>, Memory, Memory) {
    let stock = Xorg::new().stock().args(MAX_CLIENTS).start();
    let module = module_server().start();
    let (stock_before, module_before) = (settle_rss(&stock), settle_rss(&module));
    let mut stock_clients = fleet::connect(&stock, CLIENTS, None);
    let mut module_clients = fleet::connect(&module, PULSING, Some(pulse_request()));
    module_clients.extend(fleet::connect(&module, CLIENTS - PULSING, None));
    let watched = watched_ids(&module);
    assert!(
        watched >= CLIENTS,
        "only {watched} of {CLIENTS} clients are watched"
    );
    let stock_memory = Memory {
        before: stock_before,
        after: settle_rss(&stock),
    };
    let module_memory = Memory {
        before: module_before,
        after: settle_rss(&module),
    };
    let stock_idle = stock_clients.split_off(PULSING);
    let module_idle = module_clients.split_off(PULSING);
    let stock_pulse = Pulser::start(stock_clients, PERIOD);
    let module_pulse = Pulser::start(module_clients, PERIOD);
    thread::sleep(WARM_UP);
    let mut cpu_pct = Vec::new();
    for w in 0..windows {
        let (s0, m0) = (fleet::cpu_ns(&stock), fleet::cpu_ns(&module));
        thread::sleep(window);
        let (s1, m1) = (fleet::cpu_ns(&stock), fleet::cpu_ns(&module));
        let pct = |ns: u64| ns as f64 / window.as_nanos() as f64 * 100.0;
        let (s, m) = (pct(s1 - s0), pct(m1 - m0));
        eprintln!(
            "scale window {}: stock {s:.2}% of a core, lifesign {m:.2}%",
            w + 1
        );
        cpu_pct.push((s, m));
    }
    drop((
        stock_pulse.stop(),
        module_pulse.stop(),
        stock_idle,
        module_idle,
    ));
    let lost = module
        .events()
        .iter()
        .filter(|e| matches!(e.body, Body::Lost { .. }))
        .count();
    assert_eq!(lost, 0, "clients were convicted in the CPU run: it is void");
    (cpu_pct, stock_memory, module_memory)
}

/// Samples (pairs of u32 LE nanoseconds: wall, CPU) from byte `from` of `path`.
fn samples_from(path: &Path, from: usize) -> Vec<(u32, u32)> {
    let bytes = std::fs::read(path).unwrap_or_default();
    let word = |c: &[u8]| u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    bytes
        .get(from..)
        .unwrap_or_default()
        .chunks_exact(8)
        .map(|c| (word(&c[..4]), word(&c[4..])))
        .collect()
}

struct Timed {
    handler_ns: Vec<(u32, u32)>,
    seconds: f64,
    detection_ms: Vec<f64>,
    wrong_reason: usize,
    unexpected_lost: usize,
}

/// The same load on the `handler-timing` build: handler time per pass, and `trials` pulsing
/// clients silenced one by one, each timed to its `lost`.
fn timed(trials: usize) -> Timed {
    let dir = std::env::temp_dir().join(format!("lifesign-bench-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let file = dir.join("handler-times");
    let _ = std::fs::remove_file(&file);
    let server = module_server()
        .module_file(timing_module())
        .env(
            "LIFESIGN_HANDLER_TIMES",
            file.to_str().expect("a UTF-8 path"),
        )
        .start();
    let mut clients = fleet::connect(&server, PULSING, Some(pulse_request()));
    clients.extend(fleet::connect(&server, CLIENTS - PULSING, None));
    let idle = clients.split_off(PULSING);
    let ids: Vec<String> = clients.iter().map(fleet::event_id).collect();
    let pulse = Pulser::start(clients, PERIOD);
    thread::sleep(WARM_UP);
    let from = std::fs::metadata(&file).map_or(0, |m| m.len() as usize);
    let started = std::time::Instant::now();
    let stride = PULSING / trials.max(1);
    let silenced: Vec<(usize, u64)> = (0..trials.min(PULSING))
        .map(|t| {
            let i = t * stride.max(1);
            let last = pulse.silence(i);
            thread::sleep(Duration::from_millis(200));
            (i, last)
        })
        .collect();
    // Every deadline passed, and the module's timing file flushed (once a second) after it.
    thread::sleep(Duration::from_millis(u64::from(NOOP_DEADLINE_MS) + 2500));
    let seconds = started.elapsed().as_secs_f64();
    let handler_ns = samples_from(&file, from);
    drop((pulse.stop(), idle));
    let events = server.events();
    let mut detection_ms = Vec::new();
    let mut wrong_reason = 0;
    for (i, last) in &silenced {
        let lost = events.iter().find_map(|e| match &e.body {
            Body::Lost { reason, .. } if e.client().is_some_and(|c| c.id == ids[*i]) => {
                Some((e.at_ms, *reason))
            }
            _ => None,
        });
        let (at_ms, reason) =
            lost.unwrap_or_else(|| panic!("silenced client {} not lost", ids[*i]));
        if reason != LostReason::NoopMissed {
            wrong_reason += 1;
        }
        let latency = at_ms as f64 - (last + u64::from(NOOP_DEADLINE_MS)) as f64;
        eprintln!("scale trial {i}: {latency:+.0} ms after the deadline");
        detection_ms.push(latency);
    }
    let silenced_ids: Vec<&String> = silenced.iter().map(|(i, _)| &ids[*i]).collect();
    let unexpected_lost = events
        .iter()
        .filter(|e| matches!(e.body, Body::Lost { .. }))
        .filter(|e| e.client().is_some_and(|c| !silenced_ids.contains(&&c.id)))
        .count();
    Timed {
        handler_ns,
        seconds,
        detection_ms,
        wrong_reason,
        unexpected_lost,
    }
}

pub fn run(windows: usize, window: Duration, trials: usize) -> Scale {
    // Two servers of 2000 clients each, and this process holding both ends' worth.
    fleet::raise_fd_limit(16_384);
    let (cpu_pct, stock_memory, module_memory) = side_by_side(windows, window);
    let t = timed(trials);
    let tcp = crate::scale_tcp::run(windows, window);
    Scale {
        window,
        cpu_pct,
        stock_memory,
        module_memory,
        handler_ns: t.handler_ns,
        handler_seconds: t.seconds,
        detection_ms: t.detection_ms,
        wrong_reason: t.wrong_reason,
        unexpected_lost: t.unexpected_lost,
        tcp,
    }
}
