//! What sets a failover going (a client's end, a start that failed), and flap protection.

use super::clients::host_of;
use super::{Command, Engine, Phase, describe, ms};
use crate::config::Trigger;
use crate::flap;
use crate::state::{Deferred, Replacing};
use lifesign_proto::event::ClientInfo;

/// A `lost` or `gone` event.
pub(super) struct Ending<'a> {
    pub seq: u64,
    pub client: &'a ClientInfo,
    pub trigger: Trigger,
    pub reason: &'a str,
    /// The application ended by itself (`gone`, `closed`: an exit, a crash, an OOM kill).
    pub by_itself: bool,
    /// When a lost client was last heard of (the event's `at_ms - silent_ms`).
    pub active_since: Option<u64>,
}

impl Engine {
    /// A client ended (`lost` or `gone`): a failover when the event is one the service
    /// fails over on and none of its clients is left (or it was the started candidate's).
    /// For a service matched by `peer`, the clients left that count are those of the ended
    /// one's host and those of the launcher's current start ([`Engine::stands_for`]).
    pub(super) fn end(&mut self, ending: Ending<'_>, now: u64, out: &mut Vec<Command>) {
        let Ending {
            seq,
            client,
            trigger,
            reason,
            by_itself,
            active_since,
        } = ending;
        // An end older than what is known of the id is an earlier client's: the known one is
        // still connected (the replay said so), and stays known.
        let known = match self.clients.get(&client.id) {
            Some(k) if k.is_newer_than(seq) => None,
            _ => self.clients.remove(&client.id),
        };
        if self.state.handled.contains(seq) {
            tracing::info!(seq, "event already acted on; ignored");
            return;
        }
        let mut info = client.clone();
        let mut owner = None;
        let mut since = active_since;
        if let Some(known) = known {
            merge(&mut info, &known.info);
            owner = known.owner;
            since = known.connected_at.or(active_since);
        }
        let Some(s) = self.owner_of_end(&info, owner) else {
            tracing::info!(client = %describe(&info), "no service takes this client");
            return;
        };
        self.state.handled.insert(seq);
        out.push(Command::Save);
        let name = &self.services[s].name;
        if self.older(s, since) {
            tracing::info!(service = %name, client = %describe(&info), "a client older than the active candidate; its end changes nothing");
            return;
        }
        let triggers = self.services[s].on.contains(&trigger);
        let sure = self.services[s].matcher.matches(&info);
        let host = host_of(&info);
        // A client whose class shows it is the service's is not kept up by others that only
        // may be (a windowless sidecar from the same network), nor, when the service is
        // matched by peer, by one of its class from another host (anyone may take a class).
        let others = self.kept_up(s, host, sure);
        match self.phases[s] {
            Phase::Starting { attempt, .. } => {
                // The new candidate's own client: taken for this start, or (unknown to this
                // run of the launcher) a lost one last heard of after the start; and its
                // class, now known, says so.
                let the_candidate = sure
                    && match owner {
                        Some(o) => o.service == s && o.attempt == Some(attempt),
                        None => active_since.is_some(),
                    };
                if the_candidate && triggers {
                    tracing::warn!(service = %name, client = %describe(&info), reason = %reason, "the new candidate lost its client; failing over");
                    self.lost_hosts[s] = host;
                    self.fail_over(s, now, out, Some(&info.id));
                } else {
                    tracing::info!(service = %name, client = %describe(&info), "service is already failing over");
                }
            }
            Phase::Deferred { .. } => {
                tracing::info!(service = %name, "service's failover is held back by flap protection");
            }
            Phase::Up | Phase::Down if triggers => {
                if others {
                    tracing::info!(service = %name, "other clients of the service are up; no failover");
                } else {
                    tracing::warn!(service = %name, client = %describe(&info), reason = %reason, "service lost its client; failing over");
                    self.lost_hosts[s] = host;
                    self.fail_over(s, now, out, Some(&info.id));
                }
            }
            Phase::Up if !others && !sure => {
                // A client that only may have been it: nothing definite ended.
                tracing::info!(service = %name, "a client that may have been the service's ended by itself");
                self.mark_down(s, out);
            }
            Phase::Up if !others && self.services[s].restart && by_itself => {
                // Exited, crashed, OOM-killed: its host is fine, so the same candidate.
                tracing::warn!(service = %name, client = %describe(&info), "service's application ended by itself; starting it again");
                let candidate = self.state_of(s).active.unwrap_or(0);
                self.lost_hosts[s] = host;
                self.admit_and_start(s, candidate, now, out, Some(&info.id));
            }
            Phase::Up if !others => {
                tracing::info!(service = %name, reason = %reason, "service ended by itself; it is not restarted");
                self.not_started_again(s, out);
            }
            Phase::Up | Phase::Down => {}
        }
    }

    /// A client of service `s` is watched: the service is up.
    pub(super) fn came_up(&mut self, s: usize, out: &mut Vec<Command>) {
        let name = self.services[s].name.clone();
        match self.phases[s] {
            Phase::Up => return,
            Phase::Starting { candidate, .. } => {
                tracing::info!(service = %name, candidate, "service is up");
                self.state_of(s).active = Some(candidate);
            }
            Phase::Down => {
                tracing::info!(service = %name, "service is up (already running)");
                self.state_of(s).active.get_or_insert(0);
            }
            Phase::Deferred { .. } => {
                tracing::info!(service = %name, "service is up again by itself; the held-back failover is dropped");
                self.state_of(s).deferred = None;
            }
        }
        let st = self.state_of(s);
        st.starting_since_ms = None;
        st.closed_on_server = None;
        // What the overlay showed in the ended client's place is replaced now.
        st.replacing = None;
        self.phases[s] = Phase::Up;
        out.push(Command::Save);
    }

    /// Service `s` is down: nothing of it runs as far as the launcher knows, and no start of
    /// it is under way (so none replaces anything).
    pub(super) fn mark_down(&mut self, s: usize, out: &mut Vec<Command>) {
        self.phases[s] = Phase::Down;
        if self.state_of(s).replacing.take().is_some() {
            out.push(Command::Save);
        }
    }

    /// Service `s` is down and stays so on this server start: it is not started again, not
    /// at the next `hello` and not by `start_primary` after a restart of the launcher. Its
    /// active candidate stays what it was: a client of it watched again is that candidate's
    /// (a failover goes on from it, not from the primary), and a new server start starts it.
    pub(super) fn not_started_again(&mut self, s: usize, out: &mut Vec<Command>) {
        self.mark_down(s, out);
        let server = self.state.handled.server_started_ms;
        let st = self.state_of(s);
        st.started_server_ms = None;
        st.starting_since_ms = None;
        st.closed_on_server = Some(server);
        out.push(Command::Save);
    }

    /// The next candidate after the active one, within flap protection. `ended`: the client
    /// whose end sets it going; none when it goes on from a candidate that failed (it
    /// replaces what that one was to replace).
    pub(super) fn fail_over(
        &mut self,
        s: usize,
        now: u64,
        out: &mut Vec<Command>,
        ended: Option<&str>,
    ) {
        let count = self.services[s].start.len();
        let from = self.state_of(s).active.unwrap_or(0);
        self.admit_and_start(s, (from + 1) % count, now, out, ended);
    }

    /// Starts `candidate` of service `s`, or holds it back if flap protection says so. The
    /// start replaces client `ended`, or (none) what the service's current start replaces,
    /// if anything: the state tells the overlay.
    pub(super) fn admit_and_start(
        &mut self,
        s: usize,
        candidate: usize,
        now: u64,
        out: &mut Vec<Command>,
        ended: Option<&str>,
    ) {
        let (window, max) = (ms(self.services[s].window), self.services[s].max_failovers);
        let command = self.services[s].start[candidate].clone();
        let st = self.state_of(s);
        let replaced = ended
            .map(str::to_owned)
            .or_else(|| st.replacing.take().map(|r| r.client));
        let replacing = replaced.map(|client| Replacing {
            client,
            candidate,
            command,
            since_ms: now,
        });
        match flap::admit(&mut st.failovers, now, window, max) {
            Ok(()) => {
                self.start(s, candidate, now, out);
                self.state_of(s).replacing = replacing;
            }
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
                let st = self.state_of(s);
                st.deferred = Some(Deferred {
                    candidate,
                    until_ms: until,
                });
                st.starting_since_ms = None;
                // Never (`max_failovers = 0`): no backup is coming to show.
                st.replacing = replacing.filter(|_| until != u64::MAX);
                out.push(Command::Save);
            }
        }
    }

    pub(super) fn start(&mut self, s: usize, candidate: usize, now: u64, out: &mut Vec<Command>) {
        let attempt = self.next_attempt;
        self.next_attempt += 1;
        self.attempts[s] = Some(attempt);
        self.phases[s] = Phase::Starting {
            candidate,
            attempt,
            deadline: now.saturating_add(ms(self.services[s].startup_timeout)),
        };
        let server_now = now.saturating_add_signed(self.server_offset);
        let st = self.state_of(s);
        st.active = Some(candidate);
        st.starting_since_ms = Some(now);
        st.started_server_ms = Some(server_now);
        st.closed_on_server = None;
        out.push(Command::Save);
        out.push(Command::Start {
            service: s,
            candidate,
            attempt,
        });
    }
}

/// Fills what `into` does not know yet from `from`.
pub(super) fn merge(into: &mut ClientInfo, from: &ClientInfo) {
    if into.wm_class.is_none() {
        into.wm_class.clone_from(&from.wm_class);
    }
    if into.service.is_none() {
        into.service.clone_from(&from.service);
    }
}
