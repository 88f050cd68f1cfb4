//! Many light X clients on one server: raw connections over its Unix socket, some pulsing
//! NoOperation on a schedule from one thread, the rest idle. What the scale and delivery parts
//! load a server with.

use lifesign_proto::ByteOrder;
use lifesign_proto::ext::{EXTENSION_NAME, Request, WatchRequest};
use lifesign_tests::raw::RawClient;
use lifesign_tests::{Server, unix_ms};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Lets this process, and the servers it starts, hold thousands of connections.
pub fn raise_fd_limit(n: u64) {
    use rustix::process::{Resource, Rlimit, setrlimit};
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(n),
            maximum: Some(n),
        },
    )
    .expect("raise RLIMIT_NOFILE (run as root)");
}

/// The LIFESIGN major opcode on `server`, if the extension is there.
pub fn major_opcode(server: &Server) -> Option<u8> {
    let mut probe =
        RawClient::connect(server.display_number(), ByteOrder::native()).expect("connect");
    probe
        .query_extension(EXTENSION_NAME)
        .expect("QueryExtension")
}

/// `count` connections; each asks to be watched with `watch` first when it is given (and
/// the extension is there), and each has made a round trip when this returns.
pub fn connect(server: &Server, count: usize, watch: Option<WatchRequest>) -> Vec<RawClient> {
    let major = major_opcode(server);
    let order = ByteOrder::native();
    let request = watch
        .zip(major)
        .map(|(w, major)| Request::Watch(w).encode(major, order));
    let mut clients: Vec<RawClient> = (0..count)
        .map(|i| {
            let mut c = RawClient::connect(server.display_number(), order)
                .unwrap_or_else(|e| panic!("client {i} of {count}: {e}"));
            if let Some(request) = &request {
                c.send(request).expect("send Watch");
            }
            c
        })
        .collect();
    for c in &mut clients {
        c.round_trip().expect("a round trip");
    }
    clients
}

/// The client id the module's events give a raw client.
pub fn event_id(client: &RawClient) -> String {
    lifesign_proto::event::ClientInfo::format_id(client.resource_id_base())
}

/// A thread sending each of its clients one NoOperation per `period`, spread evenly over the
/// period. A client can be silenced (it sends nothing more); when each one last sent is kept.
pub struct Pulser {
    silenced: Arc<Vec<AtomicBool>>,
    last_sent_ms: Arc<Vec<AtomicU64>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<Vec<RawClient>>>,
}

impl Pulser {
    pub fn start(mut clients: Vec<RawClient>, period: Duration) -> Self {
        let n = clients.len();
        let silenced: Arc<Vec<AtomicBool>> = Arc::new((0..n).map(|_| false.into()).collect());
        let last_sent_ms: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| 0.into()).collect());
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (silenced, last_sent_ms, stop) =
                (silenced.clone(), last_sent_ms.clone(), stop.clone());
            thread::spawn(move || {
                let noop = lifesign_tests::raw::no_operation(ByteOrder::native());
                let slot = period / u32::try_from(n.max(1)).unwrap_or(u32::MAX);
                let start = Instant::now();
                let mut k: u64 = 0;
                while !stop.load(Ordering::Relaxed) {
                    let i = usize::try_from(k % n as u64).unwrap_or(0);
                    let due = start + slot * u32::try_from(k).unwrap_or(u32::MAX);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        thread::sleep(wait);
                    }
                    if !silenced[i].load(Ordering::Relaxed) {
                        // A client the server closed (lost) fails here: it stays silent.
                        if clients[i].send(&noop).is_ok() {
                            last_sent_ms[i].store(unix_ms(), Ordering::Relaxed);
                        } else {
                            silenced[i].store(true, Ordering::Relaxed);
                        }
                    }
                    k += 1;
                }
                clients
            })
        };
        Self {
            silenced,
            last_sent_ms,
            stop,
            thread: Some(thread),
        }
    }

    /// Silences client `i` and returns when it last sent (Unix ms). Its next slot is skipped,
    /// so the value cannot change after this returns but for one send already under way,
    /// which the short sleep lets finish.
    pub fn silence(&self, i: usize) -> u64 {
        self.silenced[i].store(true, Ordering::Relaxed);
        thread::sleep(Duration::from_millis(2));
        self.last_sent_ms[i].load(Ordering::Relaxed)
    }

    /// Stops the thread and gives the clients back.
    pub fn stop(mut self) -> Vec<RawClient> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .map(|t| t.join().expect("the pulse thread"))
            .unwrap_or_default()
    }
}

impl Drop for Pulser {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Nanoseconds the server's threads have spent on a CPU.
pub fn cpu_ns(server: &Server) -> u64 {
    lifesign_tests::usage::cpu_ns(server.pid())
}

/// Each server's CPU over `windows` windows of `window`, in % of one core, side by side;
/// each window is logged as `label` with the servers' `names`.
pub fn cpu_windows<const N: usize>(
    servers: &[Server; N],
    names: [&str; N],
    windows: usize,
    window: Duration,
    label: &str,
) -> Vec<[f64; N]> {
    let mut cpu_pct = Vec::new();
    for w in 0..windows {
        let before = servers.each_ref().map(cpu_ns);
        thread::sleep(window);
        let after = servers.each_ref().map(cpu_ns);
        let pct: [f64; N] = std::array::from_fn(|i| {
            (after[i] - before[i]) as f64 / window.as_nanos() as f64 * 100.0
        });
        eprintln!(
            "{label} window {}: {}",
            w + 1,
            names
                .iter()
                .zip(pct)
                .map(|(name, p)| format!("{name} {p:.2}%"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        cpu_pct.push(pct);
    }
    cpu_pct
}

/// The server's resident memory in bytes (`VmRSS`).
pub fn rss_bytes(server: &Server) -> u64 {
    lifesign_tests::usage::of(server.pid())
        .expect("the server's usage")
        .rss_kib
        * 1024
}
