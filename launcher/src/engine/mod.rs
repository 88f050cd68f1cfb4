//! The launcher's decisions, without any I/O: which events start which candidate, when a
//! candidate is given up, flap protection, duplicates, what a restarted launcher resumes.
//!
//! The daemon feeds it what happens (a connection's `hello`, events, a child's exit, the
//! passing of time, all in Unix ms) and carries out the [`Command`]s it returns, in order:
//! the state is saved before a candidate is started, and an event is acknowledged only
//! after what it caused was done.

use crate::config::{Service, Trigger};
use crate::flap;
use crate::matching::Verdict;
use crate::state::{Deferred, ServiceState, State};
use lifesign_proto::event::{Body, ClientInfo, Event, ServerInfo};
use std::collections::HashMap;

#[cfg(test)]
mod tests;

/// A connection from a server, numbered by the daemon.
pub type ConnId = u64;

/// How long after `hello` the replay and the resent events are taken to be in: the module
/// writes them in one burst right after `hello`.
pub const SETTLE_MS: u64 = 500;

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
    /// Terminate the process of a start that was given up.
    Stop { attempt: u64 },
    /// Acknowledge event `seq` on connection `conn`.
    Ack { conn: ConnId, seq: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Nothing of it runs, as far as we know.
    Down,
    /// A candidate was started and has `deadline` to connect. `attempt` is none when a
    /// previous launcher process started it.
    Starting {
        candidate: usize,
        attempt: Option<u64>,
        deadline: u64,
    },
    /// A client of it is watched by the server.
    Up,
    /// A failover waits for flap protection.
    Deferred { candidate: usize, until: u64 },
}

/// A client the server reported, and the service it was taken for.
struct Known {
    info: ClientInfo,
    service: Option<usize>,
}

pub struct Engine {
    services: Vec<Service>,
    phases: Vec<Phase>,
    /// `start_primary` is done for this service in this run of the launcher.
    primary_done: Vec<bool>,
    state: State,
    /// Connections that said `hello`, and when their opening burst is over.
    sessions: HashMap<ConnId, Option<u64>>,
    /// The clients of the server, by id.
    clients: HashMap<String, Known>,
    next_attempt: u64,
}

impl Engine {
    /// The engine of a launcher that starts at `now` with `state` read from its file.
    pub fn new(services: Vec<Service>, mut state: State, now: u64) -> Self {
        state
            .services
            .retain(|name, _| services.iter().any(|s| &s.name == name));
        let phases = services
            .iter()
            .map(|service| {
                let st = state.services.entry(service.name.clone()).or_default();
                if st.active.is_some_and(|a| a >= service.start.len()) {
                    st.active = Some(0);
                }
                match (st.deferred, st.starting_since_ms, st.active) {
                    (Some(d), _, _) if d.candidate < service.start.len() => Phase::Deferred {
                        candidate: d.candidate,
                        until: d.until_ms,
                    },
                    (_, Some(since), Some(candidate)) => Phase::Starting {
                        candidate,
                        attempt: None,
                        deadline: since.saturating_add(ms(service.startup_timeout)).max(now),
                    },
                    _ => Phase::Down,
                }
            })
            .collect();
        Self {
            primary_done: vec![false; services.len()],
            services,
            phases,
            state,
            sessions: HashMap::new(),
            clients: HashMap::new(),
            next_attempt: 1,
        }
    }

    pub fn services(&self) -> &[Service] {
        &self.services
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// A connection said `hello`: a server (maybe the same one again) is there. What it
    /// watches now comes as the replay right after; the clients known so far are forgotten.
    pub fn hello(&mut self, conn: ConnId, server: &ServerInfo, now: u64) -> Vec<Command> {
        tracing::info!(
            display = %server.display,
            pid = server.pid,
            started_ms = server.started_ms,
            "server said hello"
        );
        self.sessions.insert(conn, Some(now + SETTLE_MS));
        self.clients.clear();
        self.state.handled.for_server(server.started_ms);
        Vec::new()
    }

    pub fn disconnected(&mut self, conn: ConnId) {
        self.sessions.remove(&conn);
    }

    /// An event other than `hello`, on a connection that said `hello`.
    pub fn event(&mut self, conn: ConnId, event: &Event, now: u64) -> Vec<Command> {
        let mut out = Vec::new();
        let seq = event.seq;
        match &event.body {
            Body::Hello { server } => return self.hello(conn, server, now),
            Body::Watched { client, replay } => {
                tracing::info!(seq, client = %describe(client), replay, "event watched");
                self.seen(client, now, &mut out);
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
                self.seen(client, now, &mut out);
            }
            Body::Lost {
                client,
                reason,
                silent_ms,
            } => {
                tracing::info!(seq, client = %describe(client), reason = %reason.as_str(), silent_ms, "event lost");
                self.end(seq, client, Trigger::Lost, reason.as_str(), now, &mut out);
            }
            Body::Gone { client, reason } => {
                let reason = format!("{reason:?}").to_lowercase();
                tracing::info!(seq, client = %describe(client), reason = %reason, "event gone");
                self.end(seq, client, Trigger::Gone, &reason, now, &mut out);
            }
        }
        out.push(Command::Ack { conn, seq });
        out
    }

    /// The process of `attempt` ended (or could not be started): `status` says how.
    pub fn exited(&mut self, attempt: u64, status: &str, now: u64) -> Vec<Command> {
        let mut out = Vec::new();
        let starting = self
            .phases
            .iter()
            .position(|p| matches!(p, Phase::Starting { attempt: Some(a), .. } if *a == attempt));
        if let Some(s) = starting {
            let Phase::Starting { candidate, .. } = self.phases[s] else {
                unreachable!("matched above")
            };
            tracing::warn!(
                service = %self.services[s].name,
                candidate,
                status = %status,
                "candidate exited before it came up; trying the next"
            );
            self.fail_over(s, now, &mut out);
        }
        out
    }

    /// Time passed: opening bursts end, starts time out, deferred failovers come due.
    pub fn tick(&mut self, now: u64) -> Vec<Command> {
        let mut out = Vec::new();
        let settled: Vec<ConnId> = self
            .sessions
            .iter_mut()
            .filter_map(|(conn, at)| at.filter(|t| *t <= now).map(|_| (conn, at)))
            .map(|(conn, at)| {
                *at = None;
                *conn
            })
            .collect();
        if !settled.is_empty() {
            self.settle(now, &mut out);
        }
        for s in 0..self.services.len() {
            match self.phases[s] {
                Phase::Starting {
                    candidate,
                    attempt,
                    deadline,
                } if deadline <= now => {
                    tracing::warn!(
                        service = %self.services[s].name,
                        candidate,
                        timeout_ms = ms(self.services[s].startup_timeout),
                        "candidate did not come up in time; trying the next"
                    );
                    if let Some(attempt) = attempt {
                        out.push(Command::Stop { attempt });
                    }
                    self.fail_over(s, now, &mut out);
                }
                Phase::Deferred { candidate, until } if until <= now => {
                    tracing::info!(service = %self.services[s].name, candidate, "flap protection lets the held-back failover start");
                    self.st(s).deferred = None;
                    self.admit_and_start(s, candidate, now, &mut out);
                }
                _ => {}
            }
        }
        out
    }

    /// When [`Engine::tick`] has something to do next.
    pub fn next_deadline(&self) -> Option<u64> {
        let phases = self.phases.iter().filter_map(|p| match p {
            Phase::Starting { deadline, .. } => Some(*deadline),
            Phase::Deferred { until, .. } => Some(*until),
            Phase::Down | Phase::Up => None,
        });
        self.sessions
            .values()
            .flatten()
            .copied()
            .chain(phases)
            .min()
    }

    fn st(&mut self, s: usize) -> &mut ServiceState {
        self.state
            .services
            .entry(self.services[s].name.clone())
            .or_default()
    }

    /// The opening burst after a `hello` is in: what should run and is not, starts.
    fn settle(&mut self, now: u64, out: &mut Vec<Command>) {
        for s in 0..self.services.len() {
            let has_clients = self.clients.values().any(|k| k.service == Some(s));
            if self.phases[s] == Phase::Up && !has_clients {
                self.phases[s] = Phase::Down;
            }
            if self.phases[s] == Phase::Down {
                let name = &self.services[s].name;
                if let Some(candidate) = self.state.services.get(name).and_then(|st| st.active) {
                    tracing::info!(service = %name, candidate, "service is not up; starting its active candidate");
                    self.start(s, candidate, now, out);
                } else if self.services[s].start_primary && !self.primary_done[s] {
                    tracing::info!(service = %name, "starting the primary");
                    self.start(s, 0, now, out);
                }
            }
            self.primary_done[s] = true;
        }
    }

    /// The server reported a client (watched, suspect): take it for a service.
    fn seen(&mut self, client: &ClientInfo, now: u64, out: &mut Vec<Command>) {
        let known = self.clients.entry(client.id.clone()).or_insert(Known {
            info: client.clone(),
            service: None,
        });
        merge(&mut known.info, client);
        let verdicts: Vec<Verdict> = self
            .services
            .iter()
            .map(|s| s.matcher.verdict(&known.info))
            .collect();
        if let Some(s) = known.service
            && verdicts[s] == Verdict::No
        {
            known.service = None;
        }
        if known.service.is_none() {
            known.service = verdicts
                .iter()
                .position(|v| *v == Verdict::Yes)
                .or_else(|| {
                    // A client that connected but has no window yet: taken for the service
                    // that is waiting longest for its candidate to come up, if it may be that.
                    (0..self.services.len())
                        .filter(|&s| verdicts[s] == Verdict::Maybe)
                        .filter_map(|s| match self.phases[s] {
                            Phase::Starting { deadline, .. } => Some((deadline, s)),
                            _ => None,
                        })
                        .min()
                        .map(|(_, s)| s)
                });
        }
        if let Some(s) = known.service {
            let id = client.id.clone();
            self.came_up(s, &id, now, out);
        }
    }

    fn came_up(&mut self, s: usize, id: &str, _now: u64, out: &mut Vec<Command>) {
        let name = self.services[s].name.clone();
        match self.phases[s] {
            Phase::Up => return,
            Phase::Starting { candidate, .. } => {
                tracing::info!(service = %name, candidate, client = %id, "service is up");
                self.st(s).active = Some(candidate);
            }
            Phase::Down => {
                tracing::info!(service = %name, client = %id, "service is up (already running)");
                self.st(s).active.get_or_insert(0);
            }
            Phase::Deferred { .. } => {
                tracing::info!(service = %name, client = %id, "service is up again by itself; the held-back failover is dropped");
                self.st(s).deferred = None;
            }
        }
        self.st(s).starting_since_ms = None;
        self.phases[s] = Phase::Up;
        out.push(Command::Save);
    }

    /// A client ended (`lost` or `gone`): a failover when the event is one the service
    /// fails over on and none of its clients is left.
    fn end(
        &mut self,
        seq: u64,
        client: &ClientInfo,
        trigger: Trigger,
        reason: &str,
        now: u64,
        out: &mut Vec<Command>,
    ) {
        if self.state.handled.contains(seq) {
            tracing::info!(seq, "event already acted on; ignored");
            return;
        }
        let known = self.clients.remove(&client.id);
        let mut info = client.clone();
        let mut claimed = None;
        if let Some(known) = known {
            merge(&mut info, &known.info);
            claimed = known.service;
        }
        let service = self
            .services
            .iter()
            .position(|s| s.matcher.matches(&info))
            .or(claimed);
        self.state.handled.insert(seq);
        let mut acts = Vec::new();
        if let Some(s) = service {
            let name = &self.services[s].name;
            let others = self.clients.values().any(|k| k.service == Some(s));
            if self.services[s].on.contains(&trigger) {
                match self.phases[s] {
                    Phase::Starting { .. } | Phase::Deferred { .. } => {
                        tracing::info!(service = %name, "service is already failing over")
                    }
                    _ if others => {
                        tracing::info!(service = %name, "other clients of the service are up; no failover")
                    }
                    _ => {
                        tracing::warn!(service = %name, client = %describe(&info), reason = %reason, "service lost its client; failing over");
                        self.fail_over(s, now, &mut acts);
                    }
                }
            } else if self.phases[s] == Phase::Up && !others {
                tracing::info!(service = %name, reason = %reason, "service ended by itself; it is not restarted");
                self.phases[s] = Phase::Down;
                self.st(s).active = None;
            }
        } else {
            tracing::info!(client = %describe(&info), "no service takes this client");
        }
        out.push(Command::Save);
        out.extend(acts);
    }

    /// The next candidate after the active one, within flap protection.
    fn fail_over(&mut self, s: usize, now: u64, out: &mut Vec<Command>) {
        let count = self.services[s].start.len();
        let from = self.st(s).active.unwrap_or(0);
        self.admit_and_start(s, (from + 1) % count, now, out);
    }

    fn admit_and_start(&mut self, s: usize, candidate: usize, now: u64, out: &mut Vec<Command>) {
        let (window, max) = (ms(self.services[s].window), self.services[s].max_failovers);
        match flap::admit(&mut self.st(s).failovers, now, window, max) {
            Ok(()) => self.start(s, candidate, now, out),
            Err(until) => {
                tracing::warn!(
                    service = %self.services[s].name,
                    candidate,
                    max_failovers = max,
                    window_ms = window,
                    wait_ms = until.saturating_sub(now),
                    "flap protection: failover held back"
                );
                self.phases[s] = Phase::Deferred { candidate, until };
                self.st(s).deferred = Some(Deferred {
                    candidate,
                    until_ms: until,
                });
                out.push(Command::Save);
            }
        }
    }

    fn start(&mut self, s: usize, candidate: usize, now: u64, out: &mut Vec<Command>) {
        let attempt = self.next_attempt;
        self.next_attempt += 1;
        self.phases[s] = Phase::Starting {
            candidate,
            attempt: Some(attempt),
            deadline: now.saturating_add(ms(self.services[s].startup_timeout)),
        };
        let st = self.st(s);
        st.active = Some(candidate);
        st.starting_since_ms = Some(now);
        out.push(Command::Save);
        out.push(Command::Start {
            service: s,
            candidate,
            attempt,
        });
    }
}

/// Fills what `into` does not know yet from `from`.
fn merge(into: &mut ClientInfo, from: &ClientInfo) {
    if into.wm_class.is_none() {
        into.wm_class.clone_from(&from.wm_class);
    }
    if into.service.is_none() {
        into.service.clone_from(&from.service);
    }
}

fn describe(c: &ClientInfo) -> String {
    let mut text = c.id.clone();
    if let Some(peer) = &c.peer {
        text += &format!(" peer {peer}");
    }
    if let Some(pid) = c.pid {
        text += &format!(" pid {pid}");
    }
    if let Some([instance, class]) = &c.wm_class {
        text += &format!(" wm_class {instance}/{class}");
    }
    if let Some(service) = &c.service {
        text += &format!(" service {service}");
    }
    text
}

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
