//! The repaint probe (decision 64): how soon it finds a hung application, and what it costs.
//!
//! - Detection: real applications of toolkits that list no `_NET_WM_PING` (xlogo, Athena;
//!   `wish`, Tk) on an Xorg with `RepaintProbe 1s`, `RepaintProbeTimeout 2s`, several at
//!   once; each is stopped (SIGSTOP) at a random moment of its probe cycle and timed from the
//!   stop to its `lost`. Beside them a stock Xorg holds the same applications, stopped the
//!   same way, for the whole part: what it does with them.
//! - Cost: 2000 idle raw clients per server, each with a mapped window that selected
//!   exposures and answering every Expose with a 1x1 ClearArea, on three Xorg side by side:
//!   stock, the module with the probe off, and on. Server CPU per measuring window, the
//!   probes (Exposes) the clients got, and the answers they sent.

use crate::fleet;
use crate::scale::MAX_CLIENTS;
use lifesign_proto::ByteOrder;
use lifesign_proto::event::{Body, Event, LostReason};
use lifesign_tests::windows::{mapped_windows, parse_id};
use lifesign_tests::{Server, Xorg, unix_ms};
use rustix::event::epoll;
use rustix::process::{Pid, Signal, kill_process};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt as _, MapState};
use x11rb::rust_connection::RustConnection;

/// The probe's settings measured: a probe after a second of quiet, two seconds to answer.
pub const INTERVAL_MS: u64 = 1000;
pub const TIMEOUT_MS: u64 = 2000;
pub const GRACE_MS: u64 = 1000;
/// The detection servers' options: every client watched, the probe and nothing else.
pub const OPTIONS: &[(&str, &str)] = &[
    ("Watch", "all"),
    ("Grace", "1s"),
    ("RepaintProbe", "1s"),
    ("RepaintProbeTimeout", "2s"),
    ("TransportTimeout", "0"),
    ("Launcher", "none"),
];
/// Applications started at once on a detection server (each trial waits seconds, mostly).
pub const PARALLEL: usize = 10;
/// After Grace, this long for the probe cycle to settle (a first probe, its answer) before
/// the random moment of the stop is chosen.
const SETTLE: Duration = Duration::from_millis(2000);
/// The stop falls uniformly within this much after the settling: more than one probe cycle
/// (the interval plus the answer), so every phase of it is reached.
pub const STOP_SPREAD_MS: u64 = 1500;
/// How long a stopped application's `lost` is waited for: the bound and room for a loaded
/// 2-core machine.
const LOST_WAIT: Duration = Duration::from_secs(10);
/// The least time the stock server holds its stopped applications before it is looked at.
pub const STOCK_WAIT: Duration = Duration::from_secs(60);

/// An application of a toolkit that lists no `_NET_WM_PING`.
pub struct Toolkit {
    pub name: &'static str,
    /// How the report names the application.
    pub app: &'static str,
    program: &'static str,
    args: &'static [&'static str],
}

pub const TOOLKITS: [Toolkit; 2] = [
    Toolkit {
        name: "Athena (Xt)",
        app: "xlogo",
        program: "xlogo",
        args: &[],
    },
    Toolkit {
        name: "Tk",
        app: "wish compat/apps/tk-label.tcl",
        program: "wish",
        args: &[concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../compat/apps/tk-label.tcl"
        )],
    },
];

/// One stopped application.
pub struct Trial {
    /// The stop to the module's `lost`, ms.
    pub latency_ms: f64,
    /// When the probe that went unanswered was sent, after the stop: an interval after the
    /// client's last request (`at_ms` less the event's `silent_ms`, which counts from that
    /// request), to the module's sweep: where in its probe cycle the stop fell. Negative: the
    /// probe was already out when the client stopped.
    pub probe_after_ms: f64,
    /// The event's `silent_ms` less the interval and the timeout: how late after its deadline
    /// the loss came.
    pub late_ms: f64,
    pub reason: LostReason,
}

pub struct ToolkitRun {
    pub toolkit: &'static Toolkit,
    pub trials: Vec<Trial>,
    /// Stopped applications never declared lost within `LOST_WAIT`.
    pub not_lost: usize,
    /// Running applications declared lost before their stop: false positives (must be 0).
    pub lost_running: usize,
    pub took: Duration,
}

/// What the stock server did with a stopped application.
pub struct StockFate {
    pub app: &'static str,
    /// Its window was still there and viewable, and the process still stopped, this long
    /// after the stop.
    pub still_there_after: Option<Duration>,
}

/// The servers of the cost part, in the order of each window's figures.
pub const SERVERS: [&str; 3] = [
    "stock Xorg",
    "lifesign, RepaintProbe 0 (off)",
    "lifesign, RepaintProbe 1s",
];
pub const COST_CLIENTS: usize = crate::scale::CLIENTS;

pub struct Cost {
    pub window: Duration,
    /// Per measuring window, each server's CPU in % of one core.
    pub cpu_pct: Vec<[f64; 3]>,
    /// Over all the windows, per server: Exposes its clients got, answers they sent.
    pub exposes: [u64; 3],
    pub answers: [u64; 3],
    pub seconds: f64,
    /// Clients the probing server declared lost during the run (must be 0).
    pub lost: usize,
}

pub struct Repaint {
    pub toolkits: Vec<ToolkitRun>,
    pub stock: Vec<StockFate>,
    pub cost: Cost,
    pub took: Duration,
}

/// A small xorshift generator: the stops' moments need no more, and the bench no crate.
struct Random(u64);

impl Random {
    fn seeded() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Self(nanos | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn signal(pid: u32, signal: Signal) {
    if let Some(pid) = Pid::from_raw(pid as i32) {
        let _ = kill_process(pid, signal);
    }
}

fn end(mut child: Child) {
    signal(child.id(), Signal::KILL);
    let _ = child.wait();
}

/// Whether `e` is the `lost` of the client `id` watched at event `since`: client ids are
/// reused, so an earlier round's client of the same id is told apart by the event's order.
fn is_lost(e: &Event, id: &str, since: u64) -> bool {
    e.seq > since && matches!(e.body, Body::Lost { .. }) && e.client().is_some_and(|c| c.id == id)
}

enum Outcome {
    Lost(Trial),
    NotLost,
    LostRunning,
}

/// One application on `server`: started, watched, mapped, past Grace and settled, stopped
/// `delay_ms` later, timed to its `lost`.
fn trial(server: &Server, conn: &RustConnection, toolkit: &Toolkit, delay_ms: u64) -> Outcome {
    let child = server.spawn(toolkit.program, toolkit.args);
    let pid = child.id();
    let watched = server
        .wait_for_event(Duration::from_secs(20), |e| {
            matches!(e.body, Body::Watched { .. }) && e.client().is_some_and(|c| c.pid == Some(pid))
        })
        .unwrap_or_else(|| panic!("{} (pid {pid}) never watched", toolkit.app));
    let id = watched.client().map(|c| c.id.clone()).unwrap_or_default();
    let base = parse_id(&id);
    let until = Instant::now() + Duration::from_secs(20);
    while mapped_windows(conn, base).is_empty() {
        assert!(Instant::now() < until, "{} never mapped", toolkit.app);
        thread::sleep(Duration::from_millis(20));
    }
    let stop_at = watched.at_ms + GRACE_MS + SETTLE.as_millis() as u64 + delay_ms;
    thread::sleep(Duration::from_millis(stop_at.saturating_sub(unix_ms())));
    if server.events().iter().any(|e| is_lost(e, &id, watched.seq)) {
        end(child);
        return Outcome::LostRunning;
    }
    let stopped = unix_ms();
    signal(pid, Signal::STOP);
    let lost = server.wait_for_event(LOST_WAIT, |e| is_lost(e, &id, watched.seq));
    end(child);
    let Some(Event {
        at_ms,
        body: Body::Lost {
            reason, silent_ms, ..
        },
        ..
    }) = lost
    else {
        eprintln!(
            "repaint: {} {id} not lost {LOST_WAIT:?} after its stop",
            toolkit.app
        );
        return Outcome::NotLost;
    };
    let latency_ms = at_ms as f64 - stopped as f64;
    // `silent_ms` counts from the client's last request; the probe went out an interval later.
    let probe_after_ms = at_ms as f64 - silent_ms as f64 + INTERVAL_MS as f64 - stopped as f64;
    let late_ms = silent_ms as f64 - INTERVAL_MS as f64 - TIMEOUT_MS as f64;
    eprintln!(
        "repaint: {} {id}: lost ({}) {latency_ms:.0} ms after the stop, its probe sent {probe_after_ms:.0} ms after the stop, {late_ms:+.0} ms past its deadline",
        toolkit.app,
        reason.as_str()
    );
    Outcome::Lost(Trial {
        latency_ms,
        probe_after_ms,
        late_ms,
        reason,
    })
}

fn detection(toolkit: &'static Toolkit, trials: usize, random: &mut Random) -> ToolkitRun {
    let started = Instant::now();
    let mut xorg = Xorg::new();
    for (name, value) in OPTIONS {
        xorg = xorg.option(name, value);
    }
    let server = xorg.start();
    let conn = server.connect();
    let mut run = ToolkitRun {
        toolkit,
        trials: Vec::new(),
        not_lost: 0,
        lost_running: 0,
        took: Duration::ZERO,
    };
    let mut left = trials;
    while left > 0 {
        let n = left.min(PARALLEL);
        let delays: Vec<u64> = (0..n).map(|_| random.below(STOP_SPREAD_MS)).collect();
        let outcomes: Vec<Outcome> = thread::scope(|s| {
            let handles: Vec<_> = delays
                .iter()
                .map(|&d| {
                    let (server, conn) = (&server, &conn);
                    s.spawn(move || trial(server, conn, toolkit, d))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a trial"))
                .collect()
        });
        for o in outcomes {
            match o {
                Outcome::Lost(t) => run.trials.push(t),
                Outcome::NotLost => run.not_lost += 1,
                Outcome::LostRunning => run.lost_running += 1,
            }
        }
        left -= n;
    }
    run.took = started.elapsed();
    run
}

/// The stock server with each toolkit's application stopped: started before the trials,
/// looked at after them (and at least `STOCK_WAIT` after the stops).
struct Stock {
    _server: Server,
    conn: RustConnection,
    /// Per application: the process, its top-level windows, when it was stopped.
    apps: Vec<(&'static str, Child, Vec<u32>, Instant)>,
}

impl Stock {
    fn start() -> Self {
        let server = Xorg::new().stock().start();
        let conn = server.connect();
        let root = conn.setup().roots[0].root;
        let children = |conn: &RustConnection| -> Vec<u32> {
            conn.query_tree(root)
                .ok()
                .and_then(|c| c.reply().ok())
                .map(|t| t.children)
                .unwrap_or_default()
        };
        let viewable = |conn: &RustConnection, w: u32| {
            conn.get_window_attributes(w)
                .ok()
                .and_then(|c| c.reply().ok())
                .is_some_and(|a| a.map_state == MapState::VIEWABLE)
        };
        let mut apps = Vec::new();
        for toolkit in &TOOLKITS {
            let before = children(&conn);
            let child = server.spawn(toolkit.program, toolkit.args);
            let until = Instant::now() + Duration::from_secs(20);
            let windows = loop {
                let new: Vec<u32> = children(&conn)
                    .into_iter()
                    .filter(|w| !before.contains(w) && viewable(&conn, *w))
                    .collect();
                if !new.is_empty() {
                    break new;
                }
                assert!(
                    Instant::now() < until,
                    "{} never mapped on stock",
                    toolkit.app
                );
                thread::sleep(Duration::from_millis(20));
            };
            // Past where a Grace would be, idle, as on the module's servers.
            thread::sleep(Duration::from_millis(GRACE_MS) + SETTLE);
            signal(child.id(), Signal::STOP);
            apps.push((toolkit.app, child, windows, Instant::now()));
        }
        Self {
            _server: server,
            conn,
            apps,
        }
    }

    fn finish(self) -> Vec<StockFate> {
        let last_stop = self.apps.iter().map(|a| a.3).max();
        if let Some(last) = last_stop {
            thread::sleep(STOCK_WAIT.saturating_sub(last.elapsed()));
        }
        self.apps
            .into_iter()
            .map(|(app, child, windows, stopped)| {
                let after = stopped.elapsed();
                let viewable = windows.iter().all(|&w| {
                    self.conn
                        .get_window_attributes(w)
                        .ok()
                        .and_then(|c| c.reply().ok())
                        .is_some_and(|a| a.map_state == MapState::VIEWABLE)
                });
                let state = std::fs::read_to_string(format!("/proc/{}/stat", child.id()))
                    .ok()
                    .and_then(|s| {
                        s.rsplit_once(')')
                            .and_then(|(_, rest)| rest.split_whitespace().next().map(str::to_owned))
                    });
                let stopped_still = state.as_deref() == Some("T");
                eprintln!(
                    "repaint: stock server, {app} {after:?} after its stop: window viewable {viewable}, process state {state:?}"
                );
                end(child);
                StockFate {
                    app,
                    still_there_after: (viewable && stopped_still).then_some(after),
                }
            })
            .collect()
    }
}

// The raw requests of the cost part's clients, in the native byte order they declare.
fn u16b(v: u16) -> [u8; 2] {
    v.to_ne_bytes()
}
fn u32b(v: u32) -> [u8; 4] {
    v.to_ne_bytes()
}

/// CreateWindow of a 10x10 InputOutput window at (x, y) on `root`, black background,
/// selecting ExposureMask; then MapWindow; then GetInputFocus, whose reply says both are done.
fn create_and_map(window: u32, root: u32, x: i16, y: i16) -> Vec<u8> {
    const BACK_PIXEL: u32 = 1 << 1;
    const EVENT_MASK: u32 = 1 << 11;
    const EXPOSURE_MASK: u32 = 1 << 15;
    let mut r = vec![1, 0];
    r.extend(u16b(10));
    r.extend(u32b(window));
    r.extend(u32b(root));
    r.extend(x.to_ne_bytes());
    r.extend(y.to_ne_bytes());
    r.extend(u16b(10));
    r.extend(u16b(10));
    r.extend(u16b(0)); // border
    r.extend(u16b(1)); // InputOutput
    r.extend(u32b(0)); // CopyFromParent visual
    r.extend(u32b(BACK_PIXEL | EVENT_MASK));
    r.extend(u32b(0));
    r.extend(u32b(EXPOSURE_MASK));
    r.extend([8, 0]);
    r.extend(u16b(2));
    r.extend(u32b(window));
    r.extend([43, 0]);
    r.extend(u16b(1));
    r
}

/// ClearArea of `w`x`h` at (x, y) of `window`, no exposures: a repaint's cheapest request.
fn clear_area(window: u32, x: [u8; 2], y: [u8; 2], w: [u8; 2], h: [u8; 2]) -> [u8; 16] {
    let mut r = [0u8; 16];
    r[0] = 61;
    r[2..4].copy_from_slice(&u16b(4));
    r[4..8].copy_from_slice(&u32b(window));
    r[8..10].copy_from_slice(&x);
    r[10..12].copy_from_slice(&y);
    r[12..14].copy_from_slice(&w);
    r[14..16].copy_from_slice(&h);
    r
}

/// Reads one packet (32 bytes, and a reply's rest).
fn read_packet(s: &mut UnixStream) -> std::io::Result<[u8; 32]> {
    let mut p = [0u8; 32];
    s.read_exact(&mut p)?;
    if p[0] == 1 {
        let extra = u32::from_ne_bytes([p[4], p[5], p[6], p[7]]) as usize * 4;
        let mut rest = vec![0u8; extra];
        s.read_exact(&mut rest)?;
    }
    Ok(p)
}

/// `count` clients of `server`, each with a mapped 10x10 window that selected exposures,
/// laid out in a grid so none covers another; each has made a round trip when this returns.
fn windowed_clients(server: &Server, count: usize) -> Vec<(UnixStream, u32)> {
    let root = server.connect().setup().roots[0].root;
    let path = format!("/tmp/.X11-unix/X{}", server.display_number());
    let mut clients: Vec<(UnixStream, u32)> = (0..count)
        .map(|i| {
            let mut s =
                UnixStream::connect(&path).unwrap_or_else(|e| panic!("client {i} of {count}: {e}"));
            s.set_read_timeout(Some(Duration::from_secs(30)))
                .expect("a read timeout");
            let base = lifesign_tests::raw::set_up(&mut s, ByteOrder::native())
                .unwrap_or_else(|e| panic!("client {i} of {count}: {e}"));
            let window = base | 1;
            let (col, row) = ((i % 120) as i16, (i / 120) as i16);
            s.write_all(&create_and_map(window, root, col * 10, row * 10))
                .expect("CreateWindow");
            (s, window)
        })
        .collect();
    for (i, (s, _)) in clients.iter_mut().enumerate() {
        loop {
            let p = read_packet(s).unwrap_or_else(|e| panic!("client {i}: {e}"));
            match p[0] {
                1 => break,
                0 => panic!("client {i}: X error {} on request {}", p[1], p[10]),
                _ => {}
            }
        }
    }
    clients
}

/// A thread answering every Expose of its clients with a ClearArea of the exposed area
/// (epoll over all their sockets); counts the Exposes and the answers.
struct Responder {
    exposes: Arc<AtomicU64>,
    answers: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Responder {
    fn start(mut clients: Vec<(UnixStream, u32)>) -> Self {
        let exposes = Arc::new(AtomicU64::new(0));
        let answers = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (exposes, answers, stop) = (exposes.clone(), answers.clone(), stop.clone());
            thread::spawn(move || {
                let ep = epoll::create(epoll::CreateFlags::CLOEXEC).expect("epoll_create");
                for (i, (s, _)) in clients.iter().enumerate() {
                    epoll::add(
                        &ep,
                        s,
                        epoll::EventData::new_u64(i as u64),
                        epoll::EventFlags::IN,
                    )
                    .expect("epoll_ctl");
                }
                let timeout = rustix::event::Timespec {
                    tv_sec: 0,
                    tv_nsec: 100_000_000,
                };
                let mut ready = Vec::with_capacity(256);
                while !stop.load(Ordering::Relaxed) {
                    ready.clear();
                    match epoll::wait(
                        &ep,
                        rustix::buffer::spare_capacity(&mut ready),
                        Some(&timeout),
                    ) {
                        Ok(_) => {}
                        Err(rustix::io::Errno::INTR) => continue,
                        Err(e) => panic!("epoll_wait: {e}"),
                    }
                    for ev in &ready {
                        let i = ev.data.u64() as usize;
                        let (s, window) = &mut clients[i];
                        let Ok(p) = read_packet(s) else {
                            // Closed by the server: nothing more comes from it.
                            let _ = epoll::delete(&ep, &*s);
                            continue;
                        };
                        if p[0] & 0x7f == 12 {
                            exposes.fetch_add(1, Ordering::Relaxed);
                            let answer = clear_area(
                                *window,
                                [p[8], p[9]],
                                [p[10], p[11]],
                                [p[12], p[13]],
                                [p[14], p[15]],
                            );
                            if s.write_all(&answer).is_ok() {
                                answers.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            })
        };
        Self {
            exposes,
            answers,
            stop,
            thread: Some(thread),
        }
    }

    fn counts(&self) -> (u64, u64) {
        (
            self.exposes.load(Ordering::Relaxed),
            self.answers.load(Ordering::Relaxed),
        )
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn cost_server(probe: Option<&str>) -> Server {
    let mut xorg = Xorg::new().args(MAX_CLIENTS);
    match probe {
        None => xorg = xorg.stock(),
        Some(p) => {
            for (name, value) in crate::scale::OPTIONS {
                xorg = xorg.option(name, value);
            }
            xorg = xorg
                .option("RepaintProbe", p)
                .option("RepaintProbeTimeout", "2s");
        }
    }
    xorg.start()
}

fn cost(windows: usize, window: Duration) -> Cost {
    fleet::raise_fd_limit(16_384);
    let servers = [
        cost_server(None),
        cost_server(Some("0")),
        cost_server(Some("1s")),
    ];
    let responders: Vec<Responder> = servers
        .iter()
        .map(|s| Responder::start(windowed_clients(s, COST_CLIENTS)))
        .collect();
    // Watch all takes every client, the bench's own connection to each server too.
    for s in &servers[1..] {
        let watched = s
            .events()
            .iter()
            .filter(|e| matches!(e.body, Body::Watched { .. }))
            .count();
        assert!(
            watched >= COST_CLIENTS,
            "only {watched} of {COST_CLIENTS} clients are watched"
        );
    }
    // Every client probed a few times: the probes' rate is steady.
    thread::sleep(Duration::from_secs(5));
    let started = Instant::now();
    let counts0: Vec<(u64, u64)> = responders.iter().map(Responder::counts).collect();
    let cpu_pct = fleet::cpu_windows(&servers, SERVERS, windows, window, "repaint cost");
    let seconds = started.elapsed().as_secs_f64();
    let counts1: Vec<(u64, u64)> = responders.iter().map(Responder::counts).collect();
    let exposes = std::array::from_fn(|i| counts1[i].0 - counts0[i].0);
    let answers = std::array::from_fn(|i| counts1[i].1 - counts0[i].1);
    drop(responders);
    let lost = servers[2]
        .events()
        .iter()
        .filter(|e| matches!(e.body, Body::Lost { .. }))
        .count();
    Cost {
        window,
        cpu_pct,
        exposes,
        answers,
        seconds,
        lost,
    }
}

pub fn run(trials: usize, windows: usize, window: Duration) -> Repaint {
    let started = Instant::now();
    let stock = Stock::start();
    let mut random = Random::seeded();
    let toolkits = TOOLKITS
        .iter()
        .map(|t| detection(t, trials, &mut random))
        .collect();
    let stock = stock.finish();
    let cost = cost(windows, window);
    Repaint {
        toolkits,
        stock,
        cost,
        took: started.elapsed(),
    }
}
