//! Watching clients: the glue between the server's hooks and the logic of
//! `lifesign-watchdog`, which holds every rule about time.
//!
//! - [`clients`]: a client's life: connected, set up (watched by default), opted in or out,
//!   ended;
//! - [`events`]: events made, kept for the launcher and logged; what a new launcher
//!   connection is told; ListClients;
//! - [`pass`]: the module's timer and what wakes it: samples of the clients' request counts,
//!   the tracker's decisions, acting on them; grabs; answers to the module's own pings;
//! - [`subscribers`]: clients subscribed to the events (SelectEvents), and the X events
//!   written to them.
//!
//! Borrow discipline: the state is borrowed only for the length of one tracker call. Acting
//! on a client (closing it, pinging it) happens with the state released, because closing a
//! client re-enters the module through the client-state callback.

mod clients;
mod events;
mod pass;
mod subscribers;

pub use clients::{Refused, on_class_written, on_client_state, opt_in, opt_out};
pub use events::{list_json, on_ack, opening_lines};
pub use pass::{on_grab, on_sent_event, on_timer};
pub use subscribers::select_events;

use crate::link;
use crate::server::socket;
use crate::server::windows::{self, Atoms};
use lifesign_proto::event::Transport;
use lifesign_watchdog::Config;
use lifesign_watchdog::outbox::Outbox;
use lifesign_watchdog::pace::Pace;
use lifesign_watchdog::policy::Keepalive;
use lifesign_watchdog::sampler::{Cadence, Sampler};
use lifesign_watchdog::tracker::{Activity, Probe, Tracker};
use lifesign_watchdog::transfer::Transfer;
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;

/// What is known of a client between its connection and its setup.
struct Joining {
    transport: Transport,
    peer: Option<SocketAddr>,
    pid: Option<u32>,
    command: Option<String>,
    by_default: bool,
}

struct Watching {
    config: Config,
    tracker: Tracker,
    /// The watched clients' request counts, as last sampled.
    sampler: Sampler,
    /// The request counts a pass reads, kept so that a pass allocates nothing.
    counted: Vec<u32>,
    /// When the next sweep of every watched client's counts is due (the module's ms).
    next_sweep: u64,
    /// How often the sweeps come, from what they cost.
    cadence: Cadence,
    /// How many losses a pass may make, from what the last ones took.
    pace: Pace,
    atoms: Option<Atoms>,
    joining: HashMap<usize, Joining>,
    /// Duplicates of the sockets of watched TCP clients, read at their end.
    sockets: HashMap<usize, socket::Watch>,
    /// The kernel's settings the keepalive settings are fitted to.
    tcp: socket::KernelTcp,
    /// Events kept for the launcher until it acknowledges them (`Launcher none`: no outbox,
    /// events are numbered and logged only).
    outbox: Option<Outbox>,
    seq: u64,
    started_ms: u64,
    /// Clients that asked for the events as X events.
    subscribers: subscribers::Subscribers,
}

thread_local! {
    static WATCHING: RefCell<Option<Watching>> = const { RefCell::new(None) };
}

fn with<R>(f: impl FnOnce(&mut Watching) -> R) -> Option<R> {
    WATCHING.with_borrow_mut(|w| w.as_mut().map(f))
}

/// Starts watching with the decided options (first generation).
pub fn start(config: &Config) {
    let pace = Pace::default();
    let mut tracker = Tracker::new(config);
    tracker.set_losses_per_pass(pace.limit());
    WATCHING.set(Some(Watching {
        config: config.clone(),
        tracker,
        sampler: Sampler::default(),
        counted: Vec::new(),
        next_sweep: 0,
        cadence: Cadence::default(),
        pace,
        atoms: None,
        joining: HashMap::new(),
        sockets: HashMap::new(),
        tcp: socket::KernelTcp::read(),
        outbox: config.launcher.is_some().then(Outbox::default),
        seq: 0,
        started_ms: crate::server::time::unix_ms(),
        subscribers: Default::default(),
    }));
    if let Some(path) = &config.launcher {
        link::start(path.clone());
    }
}

/// A new server generation: atoms were reset, and the callback lists and timers are new.
pub fn new_generation() {
    let atoms = Atoms::intern();
    if atoms.is_none() {
        tracing::warn!("cannot intern WM_PROTOCOLS/_NET_WM_PING; WmPing is inactive");
    }
    with(|w| w.atoms = atoms);
    pass::new_generation();
    link::new_generation();
}

/// What the tracker asks of the server while it decides. A client's activity is read as the
/// tracker asks for it: its counts are sampled then, at the tracker's time, so a decision
/// about a client is made on its counts of that moment, whenever the last sweep was.
struct ServerProbe<'a> {
    atoms: Option<Atoms>,
    sampler: &'a mut Sampler,
    sockets: &'a HashMap<usize, socket::Watch>,
    vnow: lifesign_watchdog::clock::Millis,
}

impl Watching {
    /// The keepalive settings for a transport timeout.
    fn keepalive(&self, timeout: lifesign_watchdog::clock::Millis) -> Keepalive {
        Keepalive::for_timeout(timeout, self.tcp.retries2)
    }

    /// The tracker, brought to the time `now`, and a probe that samples at that time.
    fn decide_at(
        &mut self,
        now: lifesign_watchdog::clock::Millis,
    ) -> (&mut Tracker, ServerProbe<'_>) {
        self.tracker.refresh_to(now);
        let vnow = self.tracker.virtual_now();
        let probe = ServerProbe {
            atoms: self.atoms,
            sampler: &mut self.sampler,
            sockets: &self.sockets,
            vnow,
        };
        (&mut self.tracker, probe)
    }
}

impl Probe for ServerProbe<'_> {
    fn activity(&mut self, index: usize) -> Activity {
        if let Some(counts) = crate::server::clients::counts(index) {
            self.sampler.sample(index, counts, self.vnow);
        }
        self.sampler.activity(index)
    }

    fn held(&mut self, index: usize) -> bool {
        crate::server::clients::held(index)
    }

    fn ping_window(&mut self, index: usize) -> Option<u32> {
        windows::ping_window(index, self.atoms?)
    }

    fn repaint_window(&mut self, index: usize) -> Option<u32> {
        crate::server::repaint::repaint_window(index)
    }

    fn transfer(&mut self, index: usize) -> Option<Transfer> {
        self.sockets.get(&index)?.transfer()
    }
}
