//! The module's cost in instructions: Xorg under callgrind, instructions counted only while a
//! workload runs (`callgrind_control -i on/off`, then `-d` to dump and zero the count of that
//! window). Workloads: a raw flood of NoOperation requests, and each x11perf test of
//! [`crate::overhead::TESTS`] with a fixed rep count.
//!
//! Callgrind counts user-space instructions only: the kernel's part of a request (the socket
//! reads and writes, epoll, the context switches of a round trip) is not in these figures.

mod callgrind;

use crate::overhead::{self, Size, TESTS, Test};
use callgrind::Dump;
use lifesign_proto::ByteOrder;
use lifesign_tests::raw::RawClient;
use lifesign_tests::{Server, Xorg};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// NoOperation requests in the raw flood.
pub const FLOOD: usize = 2_000_000;

/// x11perf's reps under callgrind, per test of [`TESTS`]; each test runs twice, with these reps
/// and with twice as many. Under callgrind the server is tens of times slower: these keep a
/// test's two runs within about ten seconds, with enough operations that the set-up left in
/// a window is far below one instruction per operation.
pub const REPS: [u64; 4] = [500_000, 2_000, 2_000, 2_000];

/// One workload's instructions per operation on each server (the order of
/// [`overhead::SERVERS`]).
pub struct Count {
    pub workload: String,
    /// The x11perf test's option (`-prop`), None for the raw flood.
    pub test: Option<&'static str>,
    /// Operations counted on each server.
    pub ops: u64,
    pub per_op: [f64; 3],
    /// Of `per_op`, the module's own (see [`Dump::module`]).
    pub module_per_op: [f64; 3],
}

impl Count {
    /// Stock's instructions per operation over `server`'s: noisy for round trips, whose count
    /// depends on how often the main loop went round in each window.
    pub fn ratio_to_stock(&self, server: usize) -> f64 {
        self.per_op[0] / self.per_op[server]
    }

    /// The server's instructions without the module's over all of them, in the same windows.
    pub fn ratio_without_module(&self, server: usize) -> f64 {
        1.0 - self.module_per_op[server] / self.per_op[server]
    }
}

/// A server under callgrind and the windows counted so far.
struct Callgrind {
    server: Server,
    out: PathBuf,
    dumps: usize,
}

impl Callgrind {
    fn start(xorg: Xorg, out: PathBuf) -> Self {
        let file = format!("--callgrind-out-file={}", out.display());
        let server = xorg
            .wrapped(&["valgrind", "--tool=callgrind", "--instr-atstart=no", &file])
            .start();
        // As in the throughput part: the server on one CPU, x11perf on the other. The server
        // then sleeps between round trips, one turn of its main loop each, as it does for a
        // client on another machine. (On one CPU the client would answer before the server
        // slept, the loop would hardly turn, and the per-turn costs would not show.)
        overhead::pin(&server);
        Self {
            server,
            out,
            dumps: 0,
        }
    }

    fn control(&self, args: &[&str]) {
        let out = Command::new("callgrind_control")
            .args(args)
            .arg(self.server.pid().to_string())
            .output()
            .expect("run callgrind_control (valgrind)");
        assert!(
            out.status.success(),
            "callgrind_control {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The server's instructions while `work` runs. Each dump holds the count since the one
    /// before, and instrumentation is off between windows, so a dump is its window alone.
    fn count(&mut self, work: impl FnOnce(&Server)) -> Dump {
        self.control(&["-i", "on"]);
        work(&self.server);
        self.control(&["-i", "off"]);
        self.control(&["-d"]);
        self.dumps += 1;
        read(&PathBuf::from(format!(
            "{}.{}",
            self.out.display(),
            self.dumps
        )))
    }
}

/// A dump, waiting for callgrind to finish writing it.
fn read(path: &Path) -> Dump {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(dump) = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| callgrind::parse(&t))
        {
            return dump;
        }
        assert!(
            Instant::now() < deadline,
            "callgrind wrote no totals to {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn flood(server: &Server) {
    let mut client =
        RawClient::connect(server.display_number(), ByteOrder::native()).expect("connect");
    client.round_trip().expect("a first round trip");
    client
        .flood_no_operations(FLOOD)
        .expect("send NoOperations");
    client
        .round_trip()
        .expect("the server answers after the flood");
}

/// Instructions per rep of `test`, all and the module's: runs of `reps` and `2 * reps` differ
/// by `reps` reps and nothing else, so x11perf's connection, window and GC set-up and the
/// module's work for a new client cancel out.
fn per_rep(cg: &mut Callgrind, test: &Test, reps: u64) -> (f64, f64) {
    let mut run = |n: u64| {
        cg.count(|server| {
            overhead::x11perf(
                &server.display(),
                test,
                Size::Reps(n),
                Some(overhead::CLIENT_CPU),
            );
        })
    };
    let once = run(reps);
    let twice = run(2 * reps);
    let per = |a: u64, b: u64| b.saturating_sub(a) as f64 / reps as f64;
    (per(once.total, twice.total), per(once.module, twice.module))
}

/// Every workload on one server: the raw flood's instructions per NoOperation, then each
/// test's per rep; each as (all, the module's).
fn measure(name: &str, xorg: Xorg, out: PathBuf) -> Vec<(f64, f64)> {
    let mut cg = Callgrind::start(xorg, out);
    // The connection's set-up is in this window too: at 2000000 requests its few thousand
    // instructions are below the figure's last digit.
    let flood = cg.count(flood);
    let mut per_op = vec![(
        flood.total as f64 / FLOOD as f64,
        flood.module as f64 / FLOOD as f64,
    )];
    for (test, reps) in TESTS.iter().zip(REPS) {
        per_op.push(per_rep(&mut cg, test, reps));
    }
    eprintln!("{name}: instructions per operation (all, the module's) {per_op:.1?}");
    per_op
}

/// Stock, every mode with x11perf (and the raw client) watched, and the module's defaults
/// (local clients not watched).
pub fn run() -> Vec<Count> {
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!("lifesign-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let [stock, all, defaults] = overhead::servers();
    let measured = [
        measure("stock", stock, dir.join("stock.out")),
        measure("every mode", all, dir.join("all.out")),
        measure("defaults", defaults, dir.join("defaults.out")),
    ];
    eprintln!("instructions: {:.0} s", started.elapsed().as_secs_f64());
    // LIFESIGN_BENCH_KEEP=1 keeps the dumps, to read with callgrind_annotate.
    if std::env::var_os("LIFESIGN_BENCH_KEEP").is_some() {
        eprintln!("callgrind dumps kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let workloads = std::iter::once((
        format!("raw client, {FLOOD} NoOperation requests"),
        None,
        FLOOD as u64,
    ))
    .chain(TESTS.iter().zip(REPS).map(|(t, r)| {
        (
            format!("x11perf `{}` ({})", t.option, t.description),
            Some(t.option),
            r,
        )
    }));
    workloads
        .enumerate()
        .map(|(i, (workload, test, ops))| Count {
            workload,
            test,
            ops,
            per_op: measured.each_ref().map(|m| m[i].0),
            module_per_op: measured.each_ref().map(|m| m[i].1),
        })
        .collect()
}
