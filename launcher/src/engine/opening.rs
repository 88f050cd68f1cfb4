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

use super::{Command, ConnId, Engine, Phase, UNSET, ms};
use crate::config::Service;
use crate::state::Replacing;

/// A connection that said `hello`.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Session {
    /// The seq of its `replayed`, once it came.
    replayed: Option<u64>,
}

impl Session {
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
    /// The module's `replayed` on `conn`: the view is whole.
    pub(super) fn replayed(&mut self, conn: ConnId, seq: u64, now: u64) {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        if session.replayed.is_some() {
            tracing::warn!(conn, seq, "a second replayed on the connection; ignored");
            return;
        }
        session.replayed = Some(seq);
        if self.view == (View::Replaying { conn }) {
            self.view = View::Whole {
                settle_due: Some(now),
            };
        } else {
            tracing::info!(
                conn,
                "the replay of a connection that is not the latest; the latest one's is awaited"
            );
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
