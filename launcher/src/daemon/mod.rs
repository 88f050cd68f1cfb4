//! The daemon: one main loop owns the engine, the state file and the started candidates;
//! threads that block (accepting, reading a connection, waiting for a signal) only hand
//! what they got to it over a channel.

mod children;
mod clock;
mod notify;
mod overlay;
mod socket;

use crate::config::Config;
use crate::engine::{Command, ConnId, Engine};
use crate::state::{Saver, State};
use children::{Children, Env};
use clock::Clock;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use lifesign_proto::event::Event;
use overlay::OverlayProcess;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// The longest the loop sleeps (a deadline may be far away, or never: `max_failovers = 0`).
const IDLE_WAKE_MS: u64 = 60_000;

/// How often started candidates and the overlay are checked for their exit.
const CHILD_POLL: Duration = Duration::from_millis(100);

/// How soon a state write that failed (a full disk) is tried again.
const SAVE_RETRY: Duration = Duration::from_secs(1);

/// What the threads tell the main loop.
pub enum Msg {
    Connected {
        conn: ConnId,
        writer: UnixStream,
    },
    /// An event a connection sent.
    Event {
        conn: ConnId,
        event: Event,
    },
    Closed {
        conn: ConnId,
    },
    Signal(i32),
}

/// Runs the launcher until SIGTERM or SIGINT.
pub fn run(config: Config) -> io::Result<()> {
    let state = State::load(&config.state)?;
    let listener = socket::listen(&config.socket, config.socket_mode)?;
    tracing::info!(
        socket = %config.socket.display(),
        mode = format!("{:04o}", config.socket_mode),
        services = config.services.len(),
        "listening"
    );
    let (tx, rx) = crossbeam_channel::unbounded();
    let signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])?;
    spawn("signals", {
        let tx = tx.clone();
        move || {
            let mut signals = signals;
            for signal in signals.forever() {
                if tx.send(Msg::Signal(signal)).is_err() {
                    return;
                }
            }
        }
    })?;
    spawn("accept", {
        let (uids, tx) = (config.allow_uids.clone(), tx.clone());
        move || socket::accept_loop(listener, uids, tx)
    })?;
    let clock = Clock::new();
    let overlay = config
        .overlay
        .as_ref()
        .map(|o| OverlayProcess::new(o, &config.display, config.state.clone(), clock.now_ms()));
    let mut daemon = Daemon {
        engine: Engine::new(config.services.clone(), state, clock.now_ms()),
        clock,
        saver: Saver::default(),
        acks: Vec::new(),
        config,
        writers: HashMap::new(),
        children: Children::default(),
        overlay,
        notifier: notify::Notifier::new(),
    };
    daemon.notifier.ready();
    let result = daemon.main_loop(&rx);
    daemon.notifier.stopping();
    if let Some(overlay) = &mut daemon.overlay {
        overlay.stop();
    }
    let _ = std::fs::remove_file(&daemon.config.socket);
    drop(tx);
    result
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> io::Result<()> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .map(drop)
}

struct Daemon {
    config: Config,
    engine: Engine,
    clock: Clock,
    /// Writes the engine's state when it changed.
    saver: Saver,
    /// Acks to write once the state is saved.
    acks: Vec<(ConnId, u64)>,
    writers: HashMap<ConnId, UnixStream>,
    children: Children,
    /// The overlay, when configured: kept running beside the launcher.
    overlay: Option<OverlayProcess>,
    notifier: notify::Notifier,
}

impl Daemon {
    fn main_loop(&mut self, rx: &Receiver<Msg>) -> io::Result<()> {
        loop {
            if let Some(overlay) = &mut self.overlay {
                overlay.poll(self.clock.now_ms());
            }
            let now = Instant::now();
            let mut wake = self.notifier.tick(now);
            let deadlines = [
                self.engine.next_deadline(),
                self.overlay.as_ref().and_then(OverlayProcess::due),
            ];
            for at in deadlines.into_iter().flatten() {
                let wait = at.saturating_sub(self.clock.now_ms()).min(IDLE_WAKE_MS);
                wake = earliest(wake, now + Duration::from_millis(wait));
            }
            if !self.children.is_empty()
                || self.overlay.as_ref().is_some_and(OverlayProcess::running)
            {
                wake = earliest(wake, now + CHILD_POLL);
            }
            if self.saver.pending() {
                wake = earliest(wake, now + SAVE_RETRY);
            }
            let timeout = wake.map_or(Duration::from_millis(IDLE_WAKE_MS), |w| {
                w.saturating_duration_since(now)
            });
            let first = match rx.recv_timeout(timeout) {
                Ok(msg) => Some(msg),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(io::Error::other("the accepting thread ended"));
                }
            };
            // Everything already queued is taken in before time is let pass: the state is
            // written once for all of it, before its acks. The engine acts on a view at the
            // tick after its `replayed`; what the module kept comes before that `replayed` on
            // the same connection, whose reader hands over its lines in order, so all of it
            // is in by then (what comes after `replayed` may or may not be: it is live).
            for msg in first
                .into_iter()
                .chain(std::iter::from_fn(|| rx.try_recv().ok()))
            {
                if let Msg::Signal(signal) = msg {
                    tracing::info!(signal, "stopping; the started clients keep running");
                    self.flush();
                    return Ok(());
                }
                self.handle(msg);
                self.notifier.tick(Instant::now());
            }
            for (attempt, how) in self.children.poll() {
                let commands = self.engine.exited(attempt, &how, self.clock.now_ms());
                self.execute(commands);
            }
            let commands = self.engine.tick(self.clock.now_ms());
            self.execute(commands);
            self.flush();
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Connected { conn, writer } => {
                self.writers.insert(conn, writer);
            }
            Msg::Event { conn, event } => {
                let commands = self.engine.event(conn, &event, self.clock.now_ms());
                self.execute(commands);
            }
            Msg::Closed { conn } => {
                self.writers.remove(&conn);
                let commands = self.engine.disconnected(conn);
                self.execute(commands);
            }
            Msg::Signal(_) => unreachable!("handled by the loop"),
        }
    }

    /// Carries out the engine's commands in order, and what they lead to. Saves are
    /// coalesced: the state is written once before the next start, and once before the acks
    /// of a whole batch of events are written ([`Daemon::flush`]), which keeps the order that
    /// matters (saved, started, acknowledged) at one write per batch, not per event.
    fn execute(&mut self, commands: Vec<Command>) {
        let mut queue = VecDeque::from(commands);
        while let Some(command) = queue.pop_front() {
            match command {
                Command::Save => self.saver.changed(),
                Command::Start {
                    service,
                    candidate,
                    attempt,
                } => {
                    self.save_if_dirty();
                    let s = &self.engine.services()[service];
                    let argv = &s.start[candidate];
                    let env = Env {
                        display: &self.config.display,
                        service: &s.name,
                        user: s.user.as_ref(),
                    };
                    match self.children.spawn(attempt, candidate, argv, &env) {
                        Ok(pid) => {
                            tracing::info!(service = %s.name, candidate, pid, argv = ?argv, user = s.user.as_ref().map(|u| u.name.as_str()), "started candidate");
                        }
                        Err(e) => {
                            tracing::error!(service = %s.name, candidate, argv = ?argv, "cannot start candidate: {e}");
                            let how = format!("could not be started: {e}");
                            queue.extend(self.engine.exited(attempt, &how, self.clock.now_ms()));
                        }
                    }
                }
                Command::Stop { attempt } => self.children.stop(attempt),
                Command::Ack { conn, seq } => self.acks.push((conn, seq)),
                Command::Close { conn } => {
                    // What was acted on is acknowledged first (the module takes acks read
                    // with the close): sent again, it would be acted on again once another
                    // server start's view made the handled seqs that server start's.
                    self.flush();
                    if let Some(writer) = self.writers.remove(&conn) {
                        tracing::info!(
                            conn,
                            "closing the connection: its server is to send its whole view again"
                        );
                        let _ = writer.shutdown(std::net::Shutdown::Both);
                    }
                }
            }
        }
    }

    /// Saves what changed, then writes the acks that waited for it. (Also when the save
    /// failed: what they acknowledge was done, and an event sent again would be acted on
    /// again by a launcher that could not save that it had been.)
    fn flush(&mut self) {
        self.save_if_dirty();
        for (conn, seq) in std::mem::take(&mut self.acks) {
            if let Some(writer) = self.writers.get_mut(&conn)
                && !socket::write_ack(writer, seq)
            {
                tracing::warn!(
                    conn,
                    "the server does not take acks; closing the connection"
                );
                let _ = writer.shutdown(std::net::Shutdown::Both);
                self.writers.remove(&conn);
            }
        }
    }

    fn save_if_dirty(&mut self) {
        self.saver.save(self.engine.state(), &self.config.state);
    }
}

fn earliest(a: Option<Instant>, b: Instant) -> Option<Instant> {
    Some(a.map_or(b, |a| a.min(b)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn wake_up_is_the_earliest() {
        let now = std::time::Instant::now();
        let later = now + std::time::Duration::from_secs(1);
        assert_eq!(super::earliest(None, later), Some(later));
        assert_eq!(super::earliest(Some(now), later), Some(now));
    }
}
