//! Detection latency per mode: a real cable cut of a real client on a test host, many times,
//! each measured from the client's last sign of life to the module's `lost` event.

use lifesign_proto::event::{Body, ClientInfo, Event, LostReason};
use lifesign_proto::ext::WatchRequest;
use lifesign_tests::net::Lab;
use lifesign_tests::{Server, Xorg, lifesign, unix_ms};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use x11rb::connection::Connection;
use x11rb::protocol::Event as XEvent;
use x11rb::protocol::xproto::{
    AtomEnum, ClientMessageEvent, ConnectionExt as _, CreateWindowAux, EventMask, PropMode,
    WindowClass,
};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

/// One mode's trials: latency of the `lost` event after the deadline, in ms.
pub struct Mode {
    pub name: &'static str,
    pub setting: String,
    pub deadline: &'static str,
    pub latencies_ms: Vec<f64>,
    pub wrong_reason: usize,
    /// Wall-clock time of the mode's trials (its server's start included).
    pub took: Duration,
}

/// The detection part: every mode, and the stock server's figure for the same cut.
pub struct Detection {
    pub modes: Vec<Mode>,
    /// The seconds a stock server still held a cut-off idle client, if it still did.
    pub stock_wait: Option<u64>,
    pub took: Duration,
}

/// Every mode, `trials` cuts each, one after the other (never two servers timing at once). The
/// stock server's cut is made first and checked last: it only has to sit idle for `stock_wait`,
/// so the trials run meanwhile instead of after it.
pub fn run(trials: usize, stock_wait: Duration) -> Detection {
    let began = Instant::now();
    let stock = StockCut::start();
    let modes = vec![
        idle_timeout(trials),
        noop_missed(trials),
        wm_ping_timeout(trials),
        transport_timeout(trials),
    ];
    let stock_wait = stock.finish(stock_wait);
    Detection {
        modes,
        stock_wait,
        took: began.elapsed(),
    }
}

fn id(conn: &RustConnection) -> String {
    ClientInfo::format_id(conn.setup().resource_id_base)
}

fn wait_watched(server: &Server, id: &str) {
    server
        .wait_for_event(Duration::from_secs(20), |e| {
            matches!(e.body, Body::Watched { .. }) && e.client().is_some_and(|c| c.id == id)
        })
        .expect("the trial's client is watched");
}

fn wait_lost(server: &Server, id: &str, seen: u64) -> Event {
    server
        .wait_for_event(Duration::from_secs(30), |e| {
            e.seq > seen
                && matches!(e.body, Body::Lost { .. })
                && e.client().is_some_and(|c| c.id == id)
        })
        .expect("the trial's client is lost")
}

fn last_seq(server: &Server) -> u64 {
    server.events().last().map_or(0, |e| e.seq)
}

struct Bench {
    lab: Lab,
    server: Server,
}

impl Bench {
    fn new(options: &[(&str, &str)]) -> Self {
        let lab = Lab::new(1);
        let mut xorg = Xorg::new().in_lab(&lab).option("Grace", "0");
        for (name, value) in options {
            xorg = xorg.option(name, value);
        }
        let server = xorg.start();
        Self { lab, server }
    }

    fn connect(&self) -> RustConnection {
        self.lab.host(0).connect_x(self.server.display_number())
    }

    /// A new client from the host, once the module watches it.
    fn watched_client(&self) -> (RustConnection, String) {
        let conn = self.connect();
        let id = id(&conn);
        wait_watched(&self.server, &id);
        (conn, id)
    }

    /// One trial: `run` prepares the client and returns the reference time (Unix ms) the
    /// deadline counts from after it cut the cable; the result is the lost event.
    fn trial(&self, run: impl FnOnce(&Self) -> (String, u64)) -> (Event, u64) {
        self.lab.host(0).restore();
        let seen = last_seq(&self.server);
        let (id, reference) = run(self);
        let lost = wait_lost(&self.server, &id, seen);
        (lost, reference)
    }

    fn cut(&self) {
        self.lab.host(0).cut();
    }
}

fn reason(e: &Event) -> Option<LostReason> {
    match e.body {
        Body::Lost { reason, .. } => Some(reason),
        _ => None,
    }
}

/// What a mode's trials measure.
struct Spec {
    name: &'static str,
    setting: String,
    deadline: &'static str,
    expected: LostReason,
    /// The deadline, from the reference time a trial returns.
    offset_ms: u64,
}

fn run_mode(
    spec: Spec,
    trials: usize,
    options: &[(&str, &str)],
    mut trial: impl FnMut(&Bench) -> (String, u64),
) -> Mode {
    let began = Instant::now();
    let bench = Bench::new(options);
    let mut latencies_ms = Vec::new();
    let mut wrong_reason = 0;
    for i in 0..trials {
        let (lost, reference) = bench.trial(&mut trial);
        if reason(&lost) != Some(spec.expected) {
            wrong_reason += 1;
        }
        let latency = lost.at_ms as f64 - (reference + spec.offset_ms) as f64;
        eprintln!(
            "{} trial {}: {latency:+.0} ms after the deadline",
            spec.name,
            i + 1
        );
        latencies_ms.push(latency);
    }
    Mode {
        name: spec.name,
        setting: spec.setting,
        deadline: spec.deadline,
        latencies_ms,
        wrong_reason,
        took: began.elapsed(),
    }
}

/// How many round trips (or pulses) 100 ms apart a busy client makes before its cable is cut.
/// The deadline counts from the last of them whatever came before, so a few show the client
/// busy without making every trial longer.
const WARM_UP: usize = 3;

/// IdleTimeout: a client making a round trip every 100 ms; the cable is cut right after one.
pub fn idle_timeout(trials: usize) -> Mode {
    let timeout = 1000;
    run_mode(
        Spec {
            name: "idle-timeout",
            setting: "IdleTimeout 1s".into(),
            deadline: "last request + IdleTimeout",
            expected: LostReason::IdleTimeout,
            offset_ms: timeout,
        },
        trials,
        &[("IdleTimeout", "1s"), ("TransportTimeout", "0")],
        |b| {
            let (conn, id) = b.watched_client();
            for _ in 0..WARM_UP {
                conn.get_input_focus().unwrap().reply().unwrap();
                thread::sleep(Duration::from_millis(100));
            }
            conn.get_input_focus().unwrap().reply().unwrap();
            let last = unix_ms();
            b.cut();
            (id, last)
        },
    )
}

/// ExpectNoOperation: a client that opted in, pulsing every 100 ms; cut right after a pulse.
pub fn noop_missed(trials: usize) -> Mode {
    let timeout = 1000;
    run_mode(
        Spec {
            name: "noop-missed",
            setting: "Watch request, ExpectNoOperation 1s".into(),
            deadline: "last NoOperation + ExpectNoOperation",
            expected: LostReason::NoopMissed,
            offset_ms: timeout,
        },
        trials,
        &[("TransportTimeout", "0")],
        |b| {
            let conn = b.connect();
            let id = id(&conn);
            let asked = WatchRequest {
                expect_noop_ms: timeout as u32,
                ..WatchRequest::defaults()
            };
            lifesign::watch(&conn, asked).check().unwrap();
            for _ in 0..WARM_UP {
                conn.no_operation().unwrap();
                conn.flush().unwrap();
                thread::sleep(Duration::from_millis(100));
            }
            conn.no_operation().unwrap();
            conn.get_input_focus().unwrap().reply().unwrap();
            let last = unix_ms();
            b.cut();
            (id, last)
        },
    )
}

/// WmPing: a client that takes `_NET_WM_PING` and answers like GTK; the deadline is the first
/// ping after the cut (one interval after the last one it answered) plus WmPingTimeout.
pub fn wm_ping_timeout(trials: usize) -> Mode {
    let (interval, timeout) = (500, 1000);
    run_mode(
        Spec {
            name: "wm-ping-timeout",
            setting: "WmPing 500ms, WmPingTimeout 1s".into(),
            deadline: "last ping answered + WmPing + WmPingTimeout",
            expected: LostReason::WmPingTimeout,
            offset_ms: interval + timeout,
        },
        trials,
        &[
            ("WmPing", "500ms"),
            ("WmPingTimeout", "1s"),
            ("TransportTimeout", "0"),
        ],
        |b| {
            let (conn, id) = b.watched_client();
            let conn = Arc::new(conn);
            let last_ping = Arc::new(AtomicU64::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let responder = answer_pings(conn.clone(), last_ping.clone(), stop.clone());
            // Cut just after the first ping was answered, as the other modes cut after a
            // request: the deadline counts from it, and the next ping is an interval away.
            while last_ping.load(Ordering::Relaxed) == 0 {
                thread::sleep(Duration::from_millis(1));
            }
            b.cut();
            let last = last_ping.load(Ordering::Relaxed);
            stop.store(true, Ordering::Relaxed);
            drop(responder);
            (id, last)
        },
    )
}

/// A top-level window that takes `_NET_WM_PING`, answered as GTK answers it. Records when the
/// last ping came (Unix ms).
fn answer_pings(
    conn: Arc<RustConnection>,
    last: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<()> {
    let root = conn.setup().roots[0].root;
    let atom = |name: &str| {
        conn.intern_atom(false, name.as_bytes())
            .unwrap()
            .reply()
            .unwrap()
            .atom
    };
    let (protocols, ping) = (atom("WM_PROTOCOLS"), atom("_NET_WM_PING"));
    let window = conn.generate_id().unwrap();
    conn.create_window(
        0,
        window,
        root,
        0,
        0,
        50,
        50,
        0,
        WindowClass::INPUT_OUTPUT,
        0,
        &CreateWindowAux::new(),
    )
    .unwrap();
    conn.change_property32(
        PropMode::REPLACE,
        window,
        protocols,
        AtomEnum::ATOM,
        &[ping],
    )
    .unwrap();
    conn.map_window(window).unwrap();
    conn.flush().unwrap();
    thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match conn.poll_for_event() {
                Ok(Some(XEvent::ClientMessage(e))) if e.data.as_data32()[0] == ping => {
                    last.store(unix_ms(), Ordering::Relaxed);
                    let d = e.data.as_data32();
                    let answer = ClientMessageEvent::new(32, root, protocols, d);
                    let mask = EventMask::SUBSTRUCTURE_NOTIFY | EventMask::SUBSTRUCTURE_REDIRECT;
                    let _ = conn.send_event(false, root, mask, answer);
                    let _ = conn.flush();
                }
                Ok(_) => thread::sleep(Duration::from_millis(1)),
                Err(_) => return,
            }
        }
    })
}

/// TransportTimeout: an idle client; the deadline is the cut plus TransportTimeout (the kernel
/// gives up on the connection; the module only classifies the end).
pub fn transport_timeout(trials: usize) -> Mode {
    let timeout = 2000;
    run_mode(
        Spec {
            name: "transport-timeout",
            setting: "TransportTimeout 2s (keepalive 1s + 1 x 1s)".into(),
            deadline: "cut + TransportTimeout",
            expected: LostReason::TransportTimeout,
            offset_ms: timeout,
        },
        trials,
        &[("TransportTimeout", "2s")],
        |b| {
            let (conn, id) = b.watched_client();
            conn.get_input_focus().unwrap().reply().unwrap();
            thread::sleep(Duration::from_millis(1500)); // idle: keepalive probes are under way
            let cut = unix_ms();
            b.cut();
            (id, cut)
        },
    )
}

/// The same cable cut against a stock Xorg, of an idle client: is it still connected a bound
/// after the cut? The server idles meanwhile, so the other trials run while it waits.
struct StockCut {
    lab: Lab,
    _server: Server,
    _conn: RustConnection,
    cut: Instant,
}

impl StockCut {
    fn start() -> Self {
        let lab = Lab::new(1);
        let server = Xorg::new().in_lab(&lab).stock().start();
        let conn = lab.host(0).connect_x(server.display_number());
        conn.get_input_focus().unwrap().reply().unwrap();
        lab.host(0).cut();
        Self {
            lab,
            _server: server,
            _conn: conn,
            cut: Instant::now(),
        }
    }

    /// Waits until `bound` after the cut; the seconds waited if the connection still was
    /// ESTABLISHED then.
    fn finish(self, bound: Duration) -> Option<u64> {
        thread::sleep(bound.saturating_sub(self.cut.elapsed()));
        let waited = self.cut.elapsed();
        let sockets = self.lab.server_sockets_to(self.lab.host(0).addr);
        let established = sockets.iter().any(|l| l.starts_with("ESTAB"));
        eprintln!("stock server {waited:?} after the cut: {sockets:?}");
        established.then_some(waited.as_secs())
    }
}
