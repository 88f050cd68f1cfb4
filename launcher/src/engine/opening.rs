//! A connection's opening burst, and what is decided once it is in.
//!
//! After `hello` the module sends a `watched` replay of every client it watches, then the
//! events it kept for want of an ack, then `replayed`. `replayed` says the launcher has the
//! server's whole view, and that nothing kept is still to come: until then nothing is
//! started and nothing times out (a half view would start what runs, or give up a start
//! whose client is merely not replayed yet), and a kept `lost` is acted on, as a failover,
//! before the view is (not found "older" than a restart of the lost candidate made a moment
//! before). What the view leads to (a service that should run and does not is started,
//! `start_primary`) is decided at the next [`Engine::tick`], which the daemon makes once it
//! has taken in what was queued with `replayed`.
//!
//! A connection of another server start than the one the state is for (a new X server, or
//! a stray: another server with the same socket path, a tool run as root) changes nothing
//! of the state until its `replayed` makes its view whole: what it sends is held until then,
//! and only then does the state turn to its server start (its handled seqs, no client to
//! show replaced). A stray that goes before its `replayed` leaves the state as the real
//! server's link made it: an xkill on that link meanwhile holds for the real server start.

use super::{Command, ConnId, Engine, Phase, UNSET, ms};
use crate::config::Service;
use crate::state::{HANDLED_BOUND, Replacing};
use lifesign_proto::event::{Body, Event};

/// How many events a connection of another server start may send before its `replayed`:
/// the module's replay (one per client: at most 2048, the server's largest client limit)
/// and what it kept (at most [`HANDLED_BOUND`]), with room to spare. A peer that sends more
/// is not a module, and is not held in memory without bound.
const HELD_BOUND: usize = 2 * (2048 + HANDLED_BOUND);

/// A connection that said `hello`.
#[derive(Clone, Debug)]
pub(super) struct Session {
    /// The server start it said hello for (`started_ms`).
    pub server: u64,
    /// The seq of its `replayed`, once it came.
    replayed: Option<u64>,
    /// For a connection of another server start than the state's: what it sent, held until
    /// its `replayed` makes its view whole.
    held: Option<Held>,
}

/// What a connection of another server start sent before its view was whole.
#[derive(Clone, Debug)]
struct Held {
    /// The server's clock minus ours, as its `hello` read it.
    offset: i64,
    events: Vec<Event>,
}

impl Session {
    /// A connection that said `hello` for server start `server`; `offset`: its stamp's
    /// reading of the server's clock. `current`: the server start the state is for.
    pub fn new(server: u64, offset: i64, current: u64) -> Self {
        Self {
            server,
            replayed: None,
            held: (server != current).then(|| Held {
                offset,
                events: Vec::new(),
            }),
        }
    }

    /// What it sends is held until its view is whole.
    pub fn is_held(&self) -> bool {
        self.held.is_some()
    }

    /// An event numbered `seq` is of the connection's opening burst: its replay (before
    /// `replayed`), or an event the module kept and sends again (made before the replay,
    /// so numbered before it). Its stamp is not the time it arrived.
    pub fn in_burst(&self, seq: u64) -> bool {
        self.replayed.is_none_or(|r| seq < r)
    }
}

/// What the launcher knows of the server's clients, and whether it may act on it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum View {
    /// No whole view: none came in this run yet, or the connection whose replay was coming
    /// ended before its `replayed`. Nothing is started and nothing times out.
    #[default]
    Partial,
    /// Connection `conn` said `hello` last; its replay is coming.
    Replaying { conn: ConnId },
    /// The latest `hello`'s replay is in. `settle_due`: when its `replayed` came, while what
    /// the view leads to waits for the next tick.
    Whole { settle_due: Option<u64> },
}

impl Engine {
    /// An event on `conn`, a connection of another server start than the state's: held
    /// until its `replayed` makes its view whole, then taken in, in order. Nothing of it is
    /// acknowledged before: a launcher that stops meanwhile has it sent again.
    pub(super) fn hold(&mut self, conn: ConnId, event: &Event, now: u64) -> Vec<Command> {
        let latest = self.view == (View::Replaying { conn });
        let Some(held) = self.sessions.get_mut(&conn).and_then(|s| s.held.as_mut()) else {
            return Vec::new();
        };
        if !matches!(event.body, Body::Replayed { .. }) {
            if held.events.len() < HELD_BOUND {
                held.events.push(event.clone());
                return Vec::new();
            }
            tracing::warn!(
                conn,
                bound = HELD_BOUND,
                "closing the connection: more events before its replayed than a module sends"
            );
            let mut out = vec![Command::Close { conn }];
            out.extend(self.disconnected(conn));
            return out;
        }
        if !latest {
            tracing::info!(
                conn,
                "the replay of a connection that is not the latest; the latest one's is awaited"
            );
            return Vec::new();
        }
        let Some(session) = self.sessions.get_mut(&conn) else {
            return Vec::new();
        };
        let (server, held) = (session.server, session.held.take());
        tracing::info!(
            conn,
            started_ms = server,
            "the replay of a new server start is whole; what the state knew of the last one is forgotten"
        );
        let mut out = Vec::new();
        // What the last server start's connections reported since this `hello` is not of
        // this server start.
        self.clients.clear();
        self.forget_replaced_clients(&mut out);
        self.state.handled.for_server(server);
        out.push(Command::Save);
        if let Some(held) = held {
            self.server_offset = held.offset;
            for event in &held.events {
                out.extend(self.event(conn, event, now));
            }
        }
        out.extend(self.event(conn, event, now));
        out
    }

    /// The module's `replayed` on `conn`: the view is whole. Connections whose view cannot
    /// become whole now (another server start's, or held for one) are closed: a server of
    /// theirs connects again and replays.
    pub(super) fn replayed(&mut self, conn: ConnId, seq: u64, now: u64, out: &mut Vec<Command>) {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        if session.replayed.is_some() {
            tracing::warn!(conn, seq, "a second replayed on the connection; ignored");
            return;
        }
        session.replayed = Some(seq);
        if self.view != (View::Replaying { conn }) {
            tracing::info!(
                conn,
                "the replay of a connection that is not the latest; the latest one's is awaited"
            );
            return;
        }
        self.view = View::Whole {
            settle_due: Some(now),
        };
        let current = self.state.handled.server_started_ms;
        let mut others: Vec<ConnId> = self
            .sessions
            .iter()
            .filter(|(c, s)| **c != conn && (s.is_held() || s.server != current))
            .map(|(c, _)| *c)
            .collect();
        others.sort_unstable();
        for other in others {
            tracing::info!(
                conn = other,
                "closing a connection of another server start: the view is this server's"
            );
            self.sessions.remove(&other);
            out.push(Command::Close { conn: other });
        }
    }

    /// The server's whole view is in (and what came with it): what should run and does not,
    /// starts.
    pub(super) fn settle(&mut self, now: u64, out: &mut Vec<Command>) {
        for s in 0..self.services.len() {
            if let Phase::Starting { deadline, .. } = &mut self.phases[s]
                && *deadline == UNSET
            {
                // Started by an earlier run: it has its time from now to show up.
                *deadline = now.saturating_add(ms(self.services[s].startup_timeout));
            }
            if self.phases[s] == Phase::Up && !self.owned_by(s, None) {
                self.mark_down(s, out);
            }
            if self.phases[s] == Phase::Down {
                self.start_what_should_run(s, now, out);
            }
        }
    }

    /// Service `s` is down when a server's whole view is in: what should run on this server
    /// start is started. Nothing, when its application was closed (or opted out) on this
    /// server start; on another (the X server started anew) it comes back as after any X
    /// server restart: its active candidate, or with `start_primary` its primary.
    fn start_what_should_run(&mut self, s: usize, now: u64, out: &mut Vec<Command>) {
        let name = &self.services[s].name;
        let st = self.state.services.get(name);
        let server = self.state.handled.server_started_ms;
        if st.and_then(|st| st.closed_on_server) == Some(server) {
            tracing::info!(service = %name, "service is not up; it was closed on this server start, so it is not started");
        } else if let Some(candidate) = st.and_then(|st| st.active) {
            tracing::info!(service = %name, candidate, "service is not up; starting its active candidate");
            self.start(s, candidate, now, out);
        } else if self.services[s].start_primary {
            tracing::info!(service = %name, "starting the primary");
            self.start(s, 0, now, out);
        }
    }

    /// A new server start: the clients the overlay was told are being replaced were the
    /// previous server's. The starts go on; they replace nothing the overlay can show.
    pub(super) fn forget_replaced_clients(&mut self, out: &mut Vec<Command>) {
        let mut changed = false;
        for st in self.state.services.values_mut() {
            changed |= st.replacing.take().is_some();
        }
        if changed {
            out.push(Command::Save);
        }
    }
}

/// What a state file says a service's start replaces, as this run of the launcher takes it:
/// only for a start still under way (restored as starting or held back), for its candidate,
/// with that candidate's argv in this configuration.
pub(super) fn replacing_on_load(
    replacing: Option<Replacing>,
    phase: Phase,
    service: &Service,
) -> Option<Replacing> {
    let candidate = match phase {
        Phase::Starting { candidate, .. } | Phase::Deferred { candidate, .. } => candidate,
        Phase::Down | Phase::Up => return None,
    };
    let command = service.start.get(candidate)?.clone();
    replacing.map(|r| Replacing {
        candidate,
        command,
        ..r
    })
}
