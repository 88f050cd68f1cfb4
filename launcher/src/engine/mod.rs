//! The launcher's decisions, without any I/O: which events start which candidate, when a
//! candidate is given up, flap protection, duplicates, what a restarted launcher resumes.
//!
//! The daemon feeds it what happens (a connection's `hello`, events, a child's exit, the
//! passing of time, all in Unix ms) and carries out the [`Command`]s it returns, in order:
//! the state is saved before a candidate is started, and an event is acknowledged only
//! after what it caused was done.
//!
//! - `clients.rs`: which service a reported client belongs to.
//! - `failover.rs`: what a client's end, a failed start or flap protection set going.
//! - `opening.rs`: a connection's opening burst, and what is decided once it is in.
//! - `unwatched.rs`: a client that stopped being watched.

mod clients;
mod failover;
mod opening;
#[cfg(test)]
mod tests;
mod unwatched;

use crate::config::{Service, Trigger};
use crate::state::State;
use clients::Known;
use failover::Ending;
use lifesign_proto::event::{Body, ClientInfo, Event, GoneReason, ServerInfo};
use opening::{Session, View, replacing_on_load};
use std::collections::HashMap;

/// A connection from a server, numbered by the daemon.
pub type ConnId = u64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Write the state file ([`Engine::state`]).
    Save,
    /// Start candidate `candidate` of service `service` (indices into the configuration).
    Start {
        service: usize,
        candidate: usize,
        attempt: u64,
    },
    /// Terminate the process of a start that was given up (nothing, if this run of the
    /// launcher did not start it).
    Stop { attempt: u64 },
    /// Acknowledge event `seq` on connection `conn`.
    Ack { conn: ConnId, seq: u64 },
    /// Close connection `conn` (after the acks already due on it): its server connects
    /// again and sends its whole view, and what it had not seen acknowledged.
    Close { conn: ConnId },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Nothing of it runs, as far as we know.
    Down,
    /// A candidate was started and has until `deadline` to connect.
    Starting {
        candidate: usize,
        attempt: u64,
        deadline: u64,
    },
    /// A client of it is watched by the server.
    Up,
    /// A failover waits for flap protection.
    Deferred { candidate: usize, until: u64 },
}

/// A restored start's deadline, until the first whole view of this run (`replayed`) sets it.
const UNSET: u64 = u64::MAX;

pub struct Engine {
    services: Vec<Service>,
    phases: Vec<Phase>,
    state: State,
    /// Connections that said `hello`, and how far their opening burst is.
    sessions: HashMap<ConnId, Session>,
    /// What the launcher knows of the server's clients, and whether it may act on it.
    view: View,
    /// The server's clock minus ours (its events' `at_ms` against our time), to tell when,
    /// on its clock, a candidate was started.
    server_offset: i64,
    /// The clients of the server, by id.
    clients: HashMap<String, Known>,
    next_attempt: u64,
    /// Each service's current start in this run of the launcher (the attempt of its latest
    /// one): the clients taken for it are its own candidate's.
    attempts: Vec<Option<u64>>,
    /// The host of the client whose end set each service's latest failover (or restart)
    /// going, in this run: while it fails over, a client of the service's class from another
    /// host does not make it up.
    lost_hosts: Vec<Option<std::net::IpAddr>>,
}

impl Engine {
    /// The engine of a launcher that starts with `state` read from its file.
    pub fn new(services: Vec<Service>, mut state: State, now: u64) -> Self {
        state
            .services
            .retain(|name, _| services.iter().any(|s| &s.name == name));
        let mut next_attempt = 1;
        let mut attempts = vec![None; services.len()];
        let phases = services
            .iter()
            .enumerate()
            .map(|(s, service)| {
                let st = state.services.entry(service.name.clone()).or_default();
                if st.active.is_some_and(|a| a >= service.start.len()) {
                    st.active = Some(0);
                }
                // A clock that was ahead when these were written must not hold them for long.
                for t in st.failovers.iter_mut() {
                    *t = (*t).min(now);
                }
                let phase = match (st.deferred, st.starting_since_ms, st.active) {
                    // Due at once (once the first whole view is in): flap protection is
                    // asked again, with this configuration and the clamped history.
                    (Some(d), _, _) if d.candidate < service.start.len() => Phase::Deferred {
                        candidate: d.candidate,
                        until: 0,
                    },
                    (_, Some(_), Some(candidate)) => {
                        attempts[s] = Some(next_attempt);
                        next_attempt += 1;
                        Phase::Starting {
                            candidate,
                            attempt: next_attempt - 1,
                            deadline: UNSET,
                        }
                    }
                    _ => Phase::Down,
                };
                st.replacing = replacing_on_load(st.replacing.take(), phase, service);
                phase
            })
            .collect();
        Self {
            lost_hosts: vec![None; services.len()],
            attempts,
            services,
            phases,
            state,
            sessions: HashMap::new(),
            view: View::default(),
            server_offset: 0,
            clients: HashMap::new(),
            next_attempt,
        }
    }

    pub fn services(&self) -> &[Service] {
        &self.services
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// A connection said `hello`: a server (maybe the same one again) is there. What it
    /// watches now comes as the replay right after, up to `replayed`; the clients known so
    /// far are forgotten, and nothing is decided on what they said until then. A connection
    /// of another server start changes nothing of the state before its view is whole
    /// (`opening.rs`).
    pub fn hello(&mut self, conn: ConnId, server: &ServerInfo, _now: u64) {
        self.greeted(conn, server, self.server_offset);
    }

    /// [`Engine::hello`], with the server's clock as its stamp reads it.
    fn greeted(&mut self, conn: ConnId, server: &ServerInfo, reading: i64) {
        tracing::info!(
            display = %server.display,
            pid = server.pid,
            started_ms = server.started_ms,
            "server said hello"
        );
        let current = self.state.handled.server_started_ms;
        let session = Session::new(server.started_ms, reading, current);
        if session.is_held() {
            tracing::info!(
                conn,
                "a server start the state is not for: what it sends is taken in once its replay is whole"
            );
        } else {
            self.server_offset = reading;
        }
        self.sessions.insert(conn, session);
        self.view = View::Replaying { conn };
        self.clients.clear();
    }

    /// A connection ended. One that ended before its `replayed` leaves half a view: nothing is
    /// decided on it (nothing started, nothing timed out) until a server's whole view is in.
    /// Its `hello` made the clients known on the other connections forgotten, so those are
    /// closed: their server connects again at once and replays (the module's link is not
    /// left waiting on a view a stray `hello` broke, for as long as it stays up).
    pub fn disconnected(&mut self, conn: ConnId) -> Vec<Command> {
        self.sessions.remove(&conn);
        if self.view != (View::Replaying { conn }) {
            return Vec::new();
        }
        self.view = View::Partial;
        let mut others: Vec<ConnId> = self.sessions.drain().map(|(c, _)| c).collect();
        others.sort_unstable();
        tracing::warn!(
            conn,
            closing = ?others,
            "the connection ended before its replay was complete; nothing is decided until a server's whole view is in, and the other connections are closed so that their servers send theirs again"
        );
        others
            .into_iter()
            .map(|conn| Command::Close { conn })
            .collect()
    }

    /// An event on a connection that said `hello`.
    pub fn event(&mut self, conn: ConnId, event: &Event, now: u64) -> Vec<Command> {
        let mut out = Vec::new();
        let seq = event.seq;
        // An event is stamped when it was made. `hello` and live events are sent as they
        // are made; in the opening burst, the resent ones are older than their arrival, so
        // there the latest stamp is the best reading. Outside it each reading stands (the
        // server's clock may have been set back).
        let reading = offset(event.at_ms, now);
        if let Body::Hello { server } = &event.body {
            self.greeted(conn, server, reading);
            return out;
        }
        let Some(session) = self.sessions.get(&conn) else {
            // A connection closed by the engine, still delivering what it had sent: not
            // acted on, not acknowledged, so its server sends it again on the next.
            tracing::info!(conn, seq, "an event of a closed connection; it comes again");
            return out;
        };
        if session.is_held() {
            return self.hold(conn, event, now);
        }
        // Every event acted on is of the server start the state is for: the handled seqs
        // and `closed_on_server` are that server's.
        debug_assert_eq!(session.server, self.state.handled.server_started_ms);
        self.server_offset = if session.in_burst(seq) {
            self.server_offset.max(reading)
        } else {
            reading
        };
        match &event.body {
            // Taken above.
            Body::Hello { .. } => return out,
            Body::Watched { client, replay } => {
                tracing::info!(seq, client = %describe(client), replay, "event watched");
                let heard = Heard {
                    seq,
                    live: !replay,
                    since: (!replay).then_some(event.at_ms),
                    complete: true,
                };
                self.seen(client, heard, &mut out);
                if *replay {
                    // Not kept by the module: nothing to acknowledge.
                    return out;
                }
            }
            Body::Suspect {
                client,
                reason,
                silent_ms,
            } => {
                tracing::info!(seq, client = %describe(client), reason = %reason.as_str(), silent_ms, "event suspect");
                let heard = Heard {
                    seq,
                    live: false,
                    since: Some(event.at_ms.saturating_sub(*silent_ms)),
                    complete: false,
                };
                self.seen(client, heard, &mut out);
            }
            Body::Lost {
                client,
                reason,
                silent_ms,
            } => {
                tracing::info!(seq, client = %describe(client), reason = %reason.as_str(), silent_ms, "event lost");
                let ending = Ending {
                    seq,
                    client,
                    trigger: Trigger::Lost,
                    reason: reason.as_str(),
                    by_itself: false,
                    active_since: Some(event.at_ms.saturating_sub(*silent_ms)),
                };
                self.end(ending, now, &mut out);
            }
            Body::Gone { client, reason } => {
                tracing::info!(seq, client = %describe(client), reason = %reason.as_str(), "event gone");
                let ending = Ending {
                    seq,
                    client,
                    trigger: Trigger::Gone,
                    reason: reason.as_str(),
                    by_itself: *reason == GoneReason::Closed,
                    active_since: None,
                };
                self.end(ending, now, &mut out);
            }
            // A sign of life: the deadline it was half-way to is off. Nothing to fail over;
            // what it says of the client (its class, maybe) is taken as a `suspect`'s is.
            Body::Recovered { client, silent_ms } => {
                tracing::info!(seq, client = %describe(client), silent_ms, "event recovered");
                let heard = Heard {
                    seq,
                    live: false,
                    since: Some(event.at_ms),
                    complete: false,
                };
                self.seen(client, heard, &mut out);
            }
            Body::Unwatched { client } => {
                tracing::info!(seq, client = %describe(client), "event unwatched");
                self.unwatched(seq, client, &mut out);
            }
            // The client's class or declared service is known now: it is attributed again,
            // on what it is (a candidate that was starting is up on this as on a `watched`
            // that had its class).
            Body::Updated { client } => {
                tracing::info!(seq, client = %describe(client), "event updated");
                let heard = Heard {
                    seq,
                    live: false,
                    since: Some(event.at_ms),
                    complete: true,
                };
                self.seen(client, heard, &mut out);
            }
            // The replay's end: not kept by the module, nothing to acknowledge.
            Body::Replayed { count } => {
                tracing::info!(seq, count, "event replayed");
                self.replayed(conn, seq, now, &mut out);
                return out;
            }
        }
        out.push(Command::Ack { conn, seq });
        out
    }

    /// The process of `attempt` ended (or could not be started): `status` says how.
    pub fn exited(&mut self, attempt: u64, status: &str, now: u64) -> Vec<Command> {
        let mut out = Vec::new();
        let starting = self.phases.iter().enumerate().find_map(|(s, p)| match p {
            Phase::Starting {
                attempt: a,
                candidate,
                ..
            } if *a == attempt => Some((s, *candidate)),
            _ => None,
        });
        if let Some((s, candidate)) = starting {
            tracing::warn!(
                service = %self.services[s].name,
                candidate,
                status = %status,
                "candidate exited before it came up; trying the next"
            );
            self.fail_over(s, now, &mut out, None);
        }
        out
    }

    /// Time passed (and what came with a `replayed` was taken in): the opening view is acted
    /// on, starts time out, held-back failovers come due.
    pub fn tick(&mut self, now: u64) -> Vec<Command> {
        let mut out = Vec::new();
        // Nothing is decided before the server has shown what runs, nor while a reconnect's
        // replay is still coming.
        let View::Whole { settle_due } = self.view else {
            return out;
        };
        if settle_due.is_some() {
            self.view = View::Whole { settle_due: None };
            self.settle(now, &mut out);
        }
        for s in 0..self.services.len() {
            match self.phases[s] {
                Phase::Starting {
                    candidate,
                    attempt,
                    deadline,
                } if deadline <= now => {
                    if self.owned_by(s, Some(attempt)) {
                        tracing::info!(service = %self.services[s].name, candidate, "service is up (its client has shown no window yet)");
                        self.came_up(s, &mut out);
                        continue;
                    }
                    tracing::warn!(
                        service = %self.services[s].name,
                        candidate,
                        timeout_ms = ms(self.services[s].startup_timeout),
                        "candidate did not come up in time; trying the next"
                    );
                    out.push(Command::Stop { attempt });
                    self.fail_over(s, now, &mut out, None);
                }
                Phase::Deferred { candidate, until } if until <= now => {
                    tracing::info!(service = %self.services[s].name, candidate, "the held-back failover starts");
                    self.state_of(s).deferred = None;
                    self.admit_and_start(s, candidate, now, &mut out, None);
                }
                _ => {}
            }
        }
        out
    }

    /// When [`Engine::tick`] has something to do next (nothing before a server's whole view
    /// is in: no timer stands in for the `replayed` that says so).
    pub fn next_deadline(&self) -> Option<u64> {
        let View::Whole { settle_due } = self.view else {
            return None;
        };
        let phases = self.phases.iter().filter_map(|p| match p {
            Phase::Starting { deadline, .. } => Some(*deadline),
            Phase::Deferred { until, .. } => Some(*until),
            Phase::Down | Phase::Up => None,
        });
        settle_due.into_iter().chain(phases).min()
    }

    fn state_of(&mut self, s: usize) -> &mut crate::state::ServiceState {
        self.state
            .services
            .entry(self.services[s].name.clone())
            .or_default()
    }
}

/// A client for the log: the fields a client chose (class, command, service) are quoted and
/// escaped, so that none can forge a log line.
fn describe(c: &ClientInfo) -> String {
    // The module writes `id` and `peer` itself, but they come over the wire: no control
    // character of theirs reaches the log (the quoted fields are escaped by `{:?}`).
    let mut text = crate::wire::one_line(&c.id);
    if let Some(peer) = &c.peer {
        text += &format!(" peer {}", crate::wire::one_line(peer));
    }
    if let Some(pid) = c.pid {
        text += &format!(" pid {pid}");
    }
    if let Some(command) = &c.command {
        text += &format!(" command {command:?}");
    }
    if let Some([instance, class]) = &c.wm_class {
        text += &format!(" wm_class {instance:?}/{class:?}");
    }
    if let Some(service) = &c.service {
        text += &format!(" service {service:?}");
    }
    text
}

/// What a report says of when a client was last heard of.
#[derive(Clone, Copy)]
struct Heard {
    /// The report's seq: the module numbers its events in the order it makes them.
    seq: u64,
    /// A `watched` as it happened (not a replay): a client that just connected.
    live: bool,
    /// On the server's clock; unknown for a replay.
    since: Option<u64>,
    /// The report's client fields are the client's whole identity now (`watched`,
    /// `updated`): they replace what was known, not only fill it in.
    complete: bool,
}

fn offset(server_ms: u64, ours: u64) -> i64 {
    let diff = i128::from(server_ms) - i128::from(ours);
    i64::try_from(diff).unwrap_or(if diff < 0 { i64::MIN } else { i64::MAX })
}

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
