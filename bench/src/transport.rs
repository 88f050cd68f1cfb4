//! TransportTimeout on real links (issue 17): Xorg (dummy driver) with the module in labs of
//! network namespaces, real clients on the labs' hosts, packets dropped by nftables in a
//! host's namespace (`Host::drop_packets`: the display's kernel sees only silence).
//!
//! For T = 3, 10 and 30 s, one lab each, all at once:
//! - cuts that last: idle xlogos whose hosts drop every packet from a known moment, spread
//!   over the keepalive cycle; the cut to the module's `lost` (its `at_ms`);
//! - outages that end: a sweep of durations around the designed tolerance
//!   ([`Keepalive::tolerated_outage_ms`]), each at three phases of the keepalive cycle, every
//!   one on a host of its own at the same time (as tests/tests/transport.rs does).
//!
//! For T = 3 and 10 s and loss of 1% and 5% both ways, four labs and four servers at once:
//! healthy clients (an idle xlogo, `xclock -update 1`, a `zenity --info` dialog) for minutes,
//! each convicted client started again at once, convictions per client-hour.

use lifesign_proto::event::{Body, Event, LostReason};
use lifesign_tests::net::{Host, Lab, Proc};
use lifesign_tests::{Server, Xorg, unix_ms};
use lifesign_watchdog::policy::Keepalive;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The timeouts whose cuts and outages are measured, ms.
pub const TIMEOUTS_MS: [u64; 3] = [3_000, 10_000, 30_000];
/// Where in the keepalive cycle an outage begins (of the idle time since the last answer):
/// those of tests/tests/transport.rs, and one just before a probe, the worst phase, which the
/// designed tolerance is for.
pub const PHASES: [f64; 4] = [0.25, 0.5, 0.75, 0.95];
/// Durations swept: from this many steps below the designed tolerance...
pub const STEPS_BELOW: i64 = 2;
/// ...to this many above it.
pub const STEPS_ABOVE: i64 = 4;
/// The combinations of the loss runs: (TransportTimeout ms, % of packets dropped both ways).
pub const LOSSES: [(u64, u32); 4] = [(3_000, 1), (3_000, 5), (10_000, 1), (10_000, 5)];
/// The target: at this timeout and loss, nobody is convicted.
pub const TARGET: (u64, u32) = (10_000, 5);
/// Clients of each kind per loss run.
pub const PER_KIND: usize = 3;
/// How close to its phase an outage must begin: the keepalive timer's time left is read
/// every few ms, in the kernel's 10 ms ticks.
const PHASE_SLACK: Duration = Duration::from_millis(60);

/// `tcp_retries2` in the labs' namespaces: a new network namespace starts with the kernel's
/// default, whatever the host's sysctl says. The module fits its retransmission cap to it;
/// the keepalive probes, which idle connections live by, do not depend on it.
pub const NETNS_TCP_RETRIES2: u32 = 15;

/// The keepalive the module sets at `timeout_ms`, in the labs' namespaces.
pub fn keepalive(timeout_ms: u64) -> Keepalive {
    Keepalive::for_timeout(timeout_ms, NETNS_TCP_RETRIES2)
}

/// The step of a timeout's sweep: a quarter second at 3 s, half a second at 10, a second
/// at 30 (about a twentieth of the timeout, rounded to those).
pub fn sweep_step_ms(timeout_ms: u64) -> u64 {
    if timeout_ms <= 5_000 {
        250
    } else if timeout_ms <= 15_000 {
        500
    } else {
        1_000
    }
}

/// The outage durations swept at a timeout, ms, around its designed tolerance.
pub fn sweep(timeout_ms: u64) -> Vec<u64> {
    let designed = keepalive(timeout_ms).tolerated_outage_ms() as i64;
    let step = sweep_step_ms(timeout_ms) as i64;
    (-STEPS_BELOW..=STEPS_ABOVE)
        .map(|k| designed + k * step)
        .filter(|&d| d > 0)
        .map(|d| d as u64)
        .collect()
}

/// The shortest outage beginning at `phase` of the idle time that convicts an idle
/// connection, by the keepalive's arithmetic: it must swallow the first probe, due
/// `(1 - phase) * idle` after it begins, and every later one, `interval` apart.
pub fn convicting_beyond_ms(k: &Keepalive, phase: f64) -> f64 {
    (1.0 - phase) * f64::from(k.idle_s) * 1000.0
        + f64::from(k.count.saturating_sub(1) * k.interval_s) * 1000.0
}

/// The phases of the cuts that last, `n` of them, spread over the part of the keepalive
/// cycle where the timer's time left names one moment. With an idle time longer than the
/// probe interval (5 s and 1 s at 30 s), an answered probe sets the timer for an interval,
/// and only when that runs out for the rest of the idle time: a time left under an interval
/// is a moment near the start of the cycle or near its end, and one above the rest of the
/// idle time never comes. So the cuts lie within `interval / idle` of either end, less a
/// twentieth of the cycle more.
pub fn cut_phases(k: &Keepalive, n: usize) -> Vec<f64> {
    let ambiguous = if k.idle_s > k.interval_s {
        f64::from(k.interval_s) / f64::from(k.idle_s)
    } else {
        0.0
    };
    let (lo, hi) = (ambiguous + 0.05, 1.0 - ambiguous - 0.05);
    match n {
        0 => vec![],
        1 => vec![(lo + hi) / 2.0],
        _ => (0..n)
            .map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64)
            .collect(),
    }
}

/// From trials `(duration ms, convicted)`, where `None` is a trial that did not run: the
/// longest duration every trial of which ran and convicted nobody, shorter than any that
/// convicted; and the shortest that convicted.
pub fn tolerance(trials: &[(u64, Option<bool>)]) -> (Option<u64>, Option<u64>) {
    let first_convicting = trials
        .iter()
        .filter(|(_, c)| *c == Some(true))
        .map(|(d, _)| *d)
        .min();
    let survived = trials
        .iter()
        .map(|(d, _)| *d)
        .filter(|&d| first_convicting.is_none_or(|f| d < f))
        .filter(|&d| {
            trials
                .iter()
                .filter(|(t, _)| *t == d)
                .all(|(_, c)| *c == Some(false))
        })
        .max();
    (survived, first_convicting)
}

/// Convictions per client-hour.
pub fn per_client_hour(convictions: usize, client_ms: u64) -> f64 {
    if client_ms == 0 {
        return f64::NAN;
    }
    convictions as f64 / (client_ms as f64 / 3_600_000.0)
}

/// Convictions per hour of an idle connection on a link that drops `loss_pct` of the packets
/// each way, by the keepalive's arithmetic. A probe goes unanswered when it or its answer is
/// dropped (q); a cycle starts at an answer and ends at the next answered probe, or in a
/// conviction when `count` probes in a row go unanswered. The rate is the chance of that per
/// cycle over a cycle's expected length.
pub fn idle_rate_per_hour(k: &Keepalive, loss_pct: u32) -> f64 {
    let kept = 1.0 - f64::from(loss_pct) / 100.0;
    let q = 1.0 - kept * kept;
    let (idle, interval) = (f64::from(k.idle_s), f64::from(k.interval_s));
    let mut expected_s = 0.0;
    for probe in 1..=k.count {
        // The cycle ends at this probe, answered after `probe - 1` unanswered ones.
        let p = (1.0 - q) * q.powi(probe as i32 - 1);
        expected_s += p * (idle + f64::from(probe - 1) * interval);
    }
    let convicted = q.powi(k.count as i32);
    expected_s += convicted * (idle + f64::from(k.count) * interval);
    convicted * 3600.0 / expected_s
}

/// The keepalive timer's time left of each of the display namespace's established TCP
/// connections, by peer: `/proc/net/tcp` (`tr` 2 is the socket's own timer, keepalive on an
/// established connection; `tm->when` in USER_HZ ticks, 100 a second).
pub fn parse_proc_tcp(text: &str) -> HashMap<Ipv4Addr, Duration> {
    let mut out = HashMap::new();
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(remote), Some(state), Some(timer)) =
            (fields.get(2), fields.get(3), fields.get(5))
        else {
            continue;
        };
        let (Some((addr, _)), Some((tr, when))) = (remote.split_once(':'), timer.split_once(':'))
        else {
            continue;
        };
        if *state != "01" || tr != "02" {
            continue;
        }
        let (Ok(addr), Ok(ticks)) = (u32::from_str_radix(addr, 16), u64::from_str_radix(when, 16))
        else {
            continue;
        };
        // The kernel prints the address as the u32 it holds in network order.
        out.insert(
            Ipv4Addr::from(addr.to_ne_bytes()),
            Duration::from_millis(ticks * 10),
        );
    }
    out
}

/// Reads the keepalive timers of a namespace's connections every 5 ms, from a thread that
/// lives in it (no `ss` process per look: dozens of hosts wait for their phase at once).
struct KeepaliveTimers {
    latest: Arc<Mutex<(Instant, HashMap<Ipv4Addr, Duration>)>>,
    stop: Arc<AtomicBool>,
    reader: Option<thread::JoinHandle<()>>,
}

impl KeepaliveTimers {
    fn start(netns: &str) -> Self {
        let latest = Arc::new(Mutex::new((Instant::now(), HashMap::new())));
        let stop = Arc::new(AtomicBool::new(false));
        let path = format!("/var/run/netns/{netns}");
        let reader = thread::spawn({
            let (latest, stop) = (latest.clone(), stop.clone());
            move || {
                let ns = File::open(&path).expect("the display's namespace");
                rustix::thread::move_into_link_name_space(
                    ns.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .expect("enter the display's namespace");
                while !stop.load(Ordering::Relaxed) {
                    let at = Instant::now();
                    // This thread's namespace, not the process's (/proc/self is the leader's).
                    if let Ok(text) = std::fs::read_to_string("/proc/thread-self/net/tcp") {
                        *latest.lock().expect("timers") = (at, parse_proc_tcp(&text));
                    }
                    thread::sleep(Duration::from_millis(5));
                }
            }
        });
        Self {
            latest,
            stop,
            reader: Some(reader),
        }
    }

    /// The time left on the keepalive timer of the connection to `addr`, now.
    fn left(&self, addr: Ipv4Addr) -> Option<Duration> {
        let (at, timers) = &*self.latest.lock().expect("timers");
        // Ticks are whole: the timer is due within the tick after the one read.
        let left = *timers.get(&addr)? + Duration::from_millis(5);
        Some(left.saturating_sub(at.elapsed()))
    }

    /// Waits until the connection to `addr` is `phase` of the way through its idle time
    /// `idle` (its timer's time left is `(1 - phase) * idle`), for at most `limit`; the
    /// phase it was at, or `None` if it never came there.
    fn wait_for_phase(
        &self,
        addr: Ipv4Addr,
        idle: Duration,
        phase: f64,
        limit: Duration,
    ) -> Option<f64> {
        let due = idle.mul_f64(1.0 - phase);
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(left) = self.left(addr)
                && left <= due
                && left + PHASE_SLACK >= due
            {
                return Some(1.0 - left.as_secs_f64() / idle.as_secs_f64());
            }
            thread::sleep(Duration::from_millis(2));
        }
        None
    }
}

impl Drop for KeepaliveTimers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

fn server(lab: &Lab, timeout_ms: u64) -> Server {
    Xorg::new()
        .in_lab(lab)
        .option("Launcher", "none")
        .option("WatchPeers", "10.211.0.0/16")
        .option("TransportTimeout", &format!("{timeout_ms}ms"))
        .option("Grace", "0")
        .start()
}

fn peer_ip(e: &Event) -> Option<Ipv4Addr> {
    let peer = e.client()?.peer.as_deref()?;
    peer.rsplit_once(':')?.0.parse().ok()
}

/// The first end (`lost` or `gone`) of a client of `host`.
fn end_of(events: &[Event], host: &Host) -> Option<Event> {
    events
        .iter()
        .find(|e| {
            peer_ip(e) == Some(host.addr) && matches!(e.body, Body::Lost { .. } | Body::Gone { .. })
        })
        .cloned()
}

fn watched(events: &[Event], host: &Host) -> bool {
    events
        .iter()
        .any(|e| peer_ip(e) == Some(host.addr) && matches!(e.body, Body::Watched { .. }))
}

/// A cut that lasts: from its moment to the client's end.
pub struct Cut {
    /// Where in the keepalive cycle it came (`None`: it never came to its phase).
    pub phase: Option<f64>,
    /// The cut to the module's event, ms.
    pub detect_ms: Option<f64>,
    /// The end was not `lost`/`transport-timeout`, or there was none.
    pub wrong: bool,
}

/// An outage that ends.
pub struct Outage {
    pub duration_ms: u64,
    /// The phase asked for.
    pub phase: f64,
    /// The phase it began at; `None` if it never came to it (the trial did not run).
    pub began_at: Option<f64>,
    /// Whether the client was ended; `None` if the trial did not run.
    pub convicted: Option<bool>,
}

/// One timeout's cuts and outages.
pub struct Timeout {
    pub timeout_ms: u64,
    pub keepalive: Keepalive,
    pub cuts: Vec<Cut>,
    pub outages: Vec<Outage>,
    /// How long `nft` took to put the drop in place, ms (the outage is timed from then).
    pub nft_ms: Vec<f64>,
    pub took: Duration,
}

impl Timeout {
    pub fn tolerance(&self) -> (Option<u64>, Option<u64>) {
        let trials: Vec<(u64, Option<bool>)> = self
            .outages
            .iter()
            .map(|o| (o.duration_ms, o.convicted))
            .collect();
        tolerance(&trials)
    }
}

enum Trial {
    Cut(f64),
    Outage(u64, f64),
}

/// What one host's thread did.
struct Done {
    began_at: Option<f64>,
    cut_ms: u64,
    nft_ms: f64,
    /// When the link came back (outages), as an `Instant`.
    ended: Option<Instant>,
}

/// Cuts and outages at one timeout, `cuts` cuts that last.
pub fn timeout_run(timeout_ms: u64, cuts: usize) -> Timeout {
    let began = Instant::now();
    let keepalive = keepalive(timeout_ms);
    let idle = Duration::from_secs(u64::from(keepalive.idle_s));
    let trials: Vec<Trial> = cut_phases(&keepalive, cuts)
        .into_iter()
        .map(Trial::Cut)
        .chain(
            sweep(timeout_ms)
                .into_iter()
                .flat_map(|d| PHASES.iter().map(move |&p| Trial::Outage(d, p))),
        )
        .collect();
    let lab = Lab::new(trials.len());
    let server = server(&lab, timeout_ms);
    let n = server.display_number();
    let hosts: Vec<&Host> = (0..trials.len()).map(|i| lab.host(i)).collect();
    let _clients: Vec<Proc> = hosts.iter().map(|h| h.spawn(n, "xlogo", &[])).collect();
    let all_watched = lifesign_tests::windows::wait_until(Duration::from_secs(60), || {
        let events = server.events();
        hosts.iter().all(|h| watched(&events, h))
    });
    assert!(
        all_watched.is_some(),
        "T={timeout_ms}ms: every xlogo is watched"
    );
    // Idle long enough that the keepalive cycle runs (the first probe comes after idle_s).
    thread::sleep(idle + Duration::from_millis(500));
    let timers = KeepaliveTimers::start(lab.display_ns().name());
    let limit = idle * 3 + Duration::from_secs(10);
    let done: Vec<Done> = thread::scope(|scope| {
        let threads: Vec<_> = hosts
            .iter()
            .zip(&trials)
            .map(|(host, trial)| {
                let timers = &timers;
                scope.spawn(move || {
                    let phase = match trial {
                        Trial::Cut(p) | Trial::Outage(_, p) => *p,
                    };
                    let began_at = timers.wait_for_phase(host.addr, idle, phase, limit);
                    if began_at.is_none() {
                        return Done {
                            began_at,
                            cut_ms: 0,
                            nft_ms: 0.0,
                            ended: None,
                        };
                    }
                    let cut_ms = unix_ms();
                    let t0 = Instant::now();
                    host.drop_packets(100);
                    let nft_ms = t0.elapsed().as_secs_f64() * 1000.0;
                    let ended = match trial {
                        Trial::Cut(_) => None,
                        Trial::Outage(d, _) => {
                            thread::sleep(Duration::from_millis(*d));
                            host.pass_packets();
                            Some(Instant::now())
                        }
                    };
                    Done {
                        began_at,
                        cut_ms,
                        nft_ms,
                        ended,
                    }
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("a trial's thread"))
            .collect()
    });
    drop(timers);
    // Every outage is over: a whole timeout after the last of them, and every cut host's
    // end, or a timeout and more after its cut.
    if let Some(last) = done.iter().filter_map(|d| d.ended).max() {
        let wait = Duration::from_millis(timeout_ms) + Duration::from_secs(1);
        thread::sleep(wait.saturating_sub(last.elapsed()));
    }
    let cut_hosts: Vec<(&Host, &Done)> = hosts
        .iter()
        .zip(&done)
        .zip(&trials)
        .filter(|(_, t)| matches!(t, Trial::Cut(_)))
        .map(|((h, d), _)| (*h, d))
        .collect();
    lifesign_tests::windows::wait_until(
        Duration::from_millis(timeout_ms) + Duration::from_secs(5),
        || {
            let events = server.events();
            cut_hosts
                .iter()
                .all(|(h, d)| d.began_at.is_none() || end_of(&events, h).is_some())
        },
    );
    let events = server.events();
    let mut out_cuts = Vec::new();
    let mut outages = Vec::new();
    for ((host, d), trial) in hosts.iter().zip(&done).zip(&trials) {
        let end = end_of(&events, host);
        match *trial {
            Trial::Cut(_) => {
                let detect_ms = d
                    .began_at
                    .and(end.as_ref())
                    .map(|e| e.at_ms as f64 - d.cut_ms as f64);
                let wrong = d.began_at.is_some()
                    && !matches!(
                        end.as_ref().map(|e| &e.body),
                        Some(Body::Lost {
                            reason: LostReason::TransportTimeout,
                            ..
                        })
                    );
                eprintln!(
                    "transport T={timeout_ms}ms: cut at phase {:?}: {}",
                    d.began_at,
                    match (&end, detect_ms) {
                        (Some(e), Some(ms)) => format!("{:?} {ms:.0} ms after the cut", e.body),
                        _ => "no end".into(),
                    }
                );
                out_cuts.push(Cut {
                    phase: d.began_at,
                    detect_ms,
                    wrong,
                });
            }
            Trial::Outage(duration_ms, phase) => {
                let convicted = d.began_at.map(|_| end.is_some());
                eprintln!(
                    "transport T={timeout_ms}ms: outage {duration_ms} ms at phase {phase} \
                     (began at {:?}): {}",
                    d.began_at,
                    match (&end, convicted) {
                        (_, None) => "did not run".to_owned(),
                        (Some(e), _) => format!(
                            "ended {} ms into it: {:?}",
                            e.at_ms as i64 - d.cut_ms as i64,
                            e.body
                        ),
                        (None, _) => "kept".to_owned(),
                    }
                );
                outages.push(Outage {
                    duration_ms,
                    phase,
                    began_at: d.began_at,
                    convicted,
                });
            }
        }
    }
    Timeout {
        timeout_ms,
        keepalive,
        cuts: out_cuts,
        outages,
        nft_ms: done
            .iter()
            .filter(|d| d.began_at.is_some())
            .map(|d| d.nft_ms)
            .collect(),
        took: began.elapsed(),
    }
}

/// A kind of healthy client of the loss runs.
pub struct Kind {
    pub name: &'static str,
    pub program: &'static str,
    pub args: &'static [&'static str],
}

/// An idle client, one that draws every second, and a GTK dialog (xterm where zenity is
/// missing).
pub fn kinds() -> [Kind; 3] {
    let zenity = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("zenity").is_file()));
    [
        Kind {
            name: "xlogo (idle)",
            program: "xlogo",
            args: &[],
        },
        Kind {
            name: "xclock -update 1",
            program: "xclock",
            args: &["-update", "1"],
        },
        if zenity {
            Kind {
                name: "zenity --info",
                program: "zenity",
                args: &["--info", "--text", "lifesign transport benchmark"],
            }
        } else {
            Kind {
                name: "xterm",
                program: "xterm",
                args: &[],
            }
        },
    ]
}

/// One kind's figures in a loss run.
pub struct KindFigures {
    pub name: &'static str,
    pub clients: usize,
    /// Time its clients were watched while the link lost packets, summed.
    pub client_ms: u64,
    pub convictions: usize,
    /// Clients that ended by themselves (`gone`), started again too.
    pub other_ends: usize,
}

/// One combination's run.
pub struct LossRun {
    pub timeout_ms: u64,
    pub loss_pct: u32,
    pub run: Duration,
    pub kinds: Vec<KindFigures>,
    /// Reasons of the convictions, with counts.
    pub reasons: Vec<(String, usize)>,
}

impl LossRun {
    pub fn convictions(&self) -> usize {
        self.kinds.iter().map(|k| k.convictions).sum()
    }

    pub fn client_ms(&self) -> u64 {
        self.kinds.iter().map(|k| k.client_ms).sum()
    }
}

/// One client's place in a loss run: its host and the application on it now.
struct Slot<'a> {
    host: &'a Host,
    kind: usize,
    proc: Proc,
    /// The X clients of the application running now (an application may open more than one).
    ids: HashSet<String>,
    /// Since when (Unix ms) it has been watched under loss, if it is.
    alive_since: Option<u64>,
}

/// Healthy clients on links losing `loss_pct` both ways, for `run`, at `timeout_ms`.
pub fn loss_run(timeout_ms: u64, loss_pct: u32, run: Duration) -> LossRun {
    let kinds = kinds();
    let lab = Lab::new(kinds.len() * PER_KIND);
    let server = server(&lab, timeout_ms);
    let n = server.display_number();
    let start = |host: &Host, kind: usize| host.spawn(n, kinds[kind].program, kinds[kind].args);
    let mut slots: Vec<Slot> = (0..kinds.len() * PER_KIND)
        .map(|i| {
            let (host, kind) = (lab.host(i), i / PER_KIND);
            Slot {
                host,
                kind,
                proc: start(host, kind),
                ids: HashSet::new(),
                alive_since: None,
            }
        })
        .collect();
    let label = format!("transport loss T={timeout_ms}ms {loss_pct}%");
    let up = lifesign_tests::windows::wait_until(Duration::from_secs(60), || {
        let events = server.events();
        slots.iter().all(|s| watched(&events, s.host))
    });
    assert!(up.is_some(), "{label}: every client is watched");
    // Their clients so far, then the loss on every link.
    let mut seen = 0;
    for e in server.events() {
        seen = e.seq;
        if let (Some(ip), Body::Watched { client, .. }) = (peer_ip(&e), &e.body)
            && let Some(slot) = slots.iter_mut().find(|s| s.host.addr == ip)
        {
            slot.ids.insert(client.id.clone());
        }
    }
    for s in &slots {
        s.host.drop_packets(loss_pct);
    }
    let began = unix_ms();
    for s in &mut slots {
        s.alive_since = Some(began);
    }
    let mut figures: Vec<KindFigures> = kinds
        .iter()
        .map(|k| KindFigures {
            name: k.name,
            clients: PER_KIND,
            client_ms: 0,
            convictions: 0,
            other_ends: 0,
        })
        .collect();
    let mut reasons: HashMap<String, usize> = HashMap::new();
    let end_at = Instant::now() + run;
    loop {
        let last = Instant::now() >= end_at;
        let now_ms = unix_ms();
        for e in server.events() {
            if e.seq <= seen || e.at_ms > now_ms {
                continue;
            }
            seen = e.seq;
            let Some(ip) = peer_ip(&e) else { continue };
            let Some(slot) = slots.iter_mut().find(|s| s.host.addr == ip) else {
                continue;
            };
            let Some(client) = e.client() else { continue };
            match &e.body {
                Body::Watched { .. } => {
                    slot.ids.insert(client.id.clone());
                    slot.alive_since.get_or_insert(e.at_ms);
                }
                Body::Lost { .. } | Body::Gone { .. } if slot.ids.contains(&client.id) => {
                    let figures = &mut figures[slot.kind];
                    if let Some(since) = slot.alive_since.take() {
                        figures.client_ms += e.at_ms.saturating_sub(since);
                    }
                    let what = if let Body::Lost { .. } = e.body {
                        figures.convictions += 1;
                        *reasons.entry(reason_of(&e)).or_default() += 1;
                        format!("lost ({})", reason_of(&e))
                    } else {
                        figures.other_ends += 1;
                        format!("{:?}", e.body)
                    };
                    eprintln!(
                        "{label}: {} on {} {what}; started again",
                        figures.name, slot.host.addr
                    );
                    slot.ids.clear();
                    slot.proc = start(slot.host, slot.kind);
                }
                _ => {}
            }
        }
        // An application that ended before the server ever watched it (its connection
        // failed): started again, nothing counted.
        for s in &mut slots {
            if s.ids.is_empty() && s.alive_since.is_none() && !s.proc.running() {
                eprintln!(
                    "{label}: {} on {} ended before it was watched; started again",
                    kinds[s.kind].name, s.host.addr
                );
                s.proc = start(s.host, s.kind);
            }
        }
        if last {
            for s in &mut slots {
                if let Some(since) = s.alive_since.take() {
                    figures[s.kind].client_ms += now_ms.saturating_sub(since);
                }
            }
            break;
        }
        thread::sleep(Duration::from_millis(500));
    }
    let mut reasons: Vec<(String, usize)> = reasons.into_iter().collect();
    reasons.sort();
    eprintln!(
        "{label}: {} convictions in {:.2} client-hours",
        figures.iter().map(|f| f.convictions).sum::<usize>(),
        figures.iter().map(|f| f.client_ms).sum::<u64>() as f64 / 3_600_000.0
    );
    LossRun {
        timeout_ms,
        loss_pct,
        run,
        kinds: figures,
        reasons,
    }
}

fn reason_of(e: &Event) -> String {
    match &e.body {
        Body::Lost { reason, .. } => reason.as_str().to_owned(),
        _ => String::new(),
    }
}

/// The whole part.
pub struct Transport {
    pub timeouts: Vec<Timeout>,
    pub losses: Vec<LossRun>,
    pub took: Duration,
}

/// Every loss run at once, the one of the target for `target_run` and the others for
/// `loss_run`; meanwhile, each timeout's cuts (`cuts` of them) and outages, also at once.
pub fn run(cuts: usize, loss_run_for: Duration, target_run: Duration) -> Transport {
    let began = Instant::now();
    let (timeouts, losses) = thread::scope(|scope| {
        let losses: Vec<_> = LOSSES
            .iter()
            .map(|&(t, loss)| {
                let run = if (t, loss) == TARGET {
                    target_run
                } else {
                    loss_run_for
                };
                scope.spawn(move || loss_run(t, loss, run))
            })
            .collect();
        let timeouts: Vec<_> = TIMEOUTS_MS
            .iter()
            .map(|&t| scope.spawn(move || timeout_run(t, cuts)))
            .collect();
        (
            timeouts
                .into_iter()
                .map(|t| t.join().expect("a timeout's run"))
                .collect(),
            losses
                .into_iter()
                .map(|t| t.join().expect("a loss run"))
                .collect(),
        )
    });
    Transport {
        timeouts,
        losses,
        took: began.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_lie_around_the_designed_tolerance() {
        assert_eq!(sweep(3_000), [500, 750, 1000, 1250, 1500, 1750, 2000]);
        assert_eq!(sweep(10_000), [7000, 7500, 8000, 8500, 9000, 9500, 10000]);
        assert_eq!(
            sweep(30_000),
            [22000, 23000, 24000, 25000, 26000, 27000, 28000]
        );
    }

    #[test]
    fn the_arithmetic_of_an_outage_that_convicts() {
        let k = keepalive(3_000);
        assert_eq!(convicting_beyond_ms(&k, 0.75), 1250.0);
        assert_eq!(convicting_beyond_ms(&k, 0.25), 1750.0);
        let k = keepalive(30_000);
        assert_eq!(convicting_beyond_ms(&k, 0.75), 25_250.0);
        // Never below the designed tolerance, whatever the phase.
        for t in TIMEOUTS_MS {
            let k = keepalive(t);
            assert!(convicting_beyond_ms(&k, 1.0) >= k.tolerated_outage_ms() as f64);
        }
    }

    #[test]
    fn cut_phases_spread_where_the_timer_names_one_moment() {
        let near = |a: &[f64], b: &[f64]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9)
        };
        let k3 = keepalive(3_000);
        assert!(cut_phases(&k3, 0).is_empty());
        assert!(near(&cut_phases(&k3, 1), &[0.5]));
        // Idle time and interval of a second: the whole cycle.
        assert!(near(&cut_phases(&k3, 5), &[0.05, 0.275, 0.5, 0.725, 0.95]));
        // Idle 5 s, probes 1 s apart: a fifth of the cycle at either end is out.
        let k30 = keepalive(30_000);
        assert!(near(&cut_phases(&k30, 5), &[0.25, 0.375, 0.5, 0.625, 0.75]));
    }

    #[test]
    fn the_longest_outage_survived_is_below_every_one_that_convicted() {
        let t = |d, c| (d, Some(c));
        // Monotone: 1000 survived at every phase, 1250 convicted at one.
        let trials = [
            t(750, false),
            t(750, false),
            t(1000, false),
            t(1000, false),
            t(1250, false),
            t(1250, true),
            t(1500, true),
        ];
        assert_eq!(tolerance(&trials), (Some(1000), Some(1250)));
        // A longer one that no phase convicted, past the first that did, does not count.
        let trials = [t(1000, false), t(1250, true), t(1500, false)];
        assert_eq!(tolerance(&trials), (Some(1000), Some(1250)));
        // Nobody convicted: the longest of the sweep, and no first conviction.
        assert_eq!(
            tolerance(&[t(500, false), t(750, false)]),
            (Some(750), None)
        );
        // The shortest convicted already.
        assert_eq!(tolerance(&[t(500, true), t(750, true)]), (None, Some(500)));
        // A duration with a trial that did not run is no evidence of survival.
        let trials = [t(500, false), (750, None), t(750, false), t(1000, true)];
        assert_eq!(tolerance(&trials), (Some(500), Some(1000)));
        assert_eq!(tolerance(&[]), (None, None));
    }

    #[test]
    fn rates_per_client_hour() {
        assert_eq!(per_client_hour(3, 3_600_000), 3.0);
        assert_eq!(per_client_hour(0, 1_800_000), 0.0);
        assert_eq!(per_client_hour(1, 900_000), 4.0);
        assert!(per_client_hour(0, 0).is_nan());
    }

    #[test]
    fn an_idle_connection_on_a_lossy_link_by_the_arithmetic() {
        let k3 = keepalive(3_000);
        let k10 = keepalive(10_000);
        // T = 3 s: two probes a second apart after a second of idle.
        let r = idle_rate_per_hour(&k3, 5);
        assert!((29.0..33.0).contains(&r), "{r}");
        let r = idle_rate_per_hour(&k3, 1);
        assert!((1.3..1.5).contains(&r), "{r}");
        // T = 10 s: nine in a row; at 5% that is once in tens of thousands of years.
        assert!(idle_rate_per_hour(&k10, 5) < 1e-5);
        // No loss, no conviction; every probe lost, a conviction every timeout.
        assert_eq!(idle_rate_per_hour(&k3, 0), 0.0);
        assert!((idle_rate_per_hour(&k3, 100) - 1200.0).abs() < 1e-6);
    }

    #[test]
    fn keepalive_timers_are_read_from_proc_net_tcp() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
           0: 0100D30A:1770 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n\
           1: 0101D30A:1770 0201D30A:B2C4 01 00000000:00000000 02:0000005F 00000000     0        0 2 1 0 20 4 30 10 -1\n\
           2: 0102D30A:1770 0202D30A:B2C5 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1\n";
        let timers = parse_proc_tcp(text);
        // Little-endian machines print 10.211.1.2 as 0201D30A.
        let addr = if cfg!(target_endian = "little") {
            Ipv4Addr::new(10, 211, 1, 2)
        } else {
            Ipv4Addr::new(2, 1, 211, 10)
        };
        assert_eq!(timers.len(), 1);
        assert_eq!(timers.get(&addr), Some(&Duration::from_millis(950)));
    }
}
