//! Which service a client the server reports belongs to.
//!
//! A `watched` at connection time has no `wm_class` (no window yet) and maybe no declared
//! `service`: such a client may *maybe* match (one that declared a service, only a match
//! that names a service: [`crate::matching::Match::verdict`]). When its class or service
//! becomes known the module says so (`updated`, with the whole new identity), and the
//! client is attributed again on what it is: a start's candidate is up on it, a client
//! taken for the wrong service is let go. Until then a client that maybe matches is taken,
//! tentatively, for the service waiting for its candidate to come up; only for a client that
//! never shows a class (no top-level window the module can read) does that last to the
//! start's deadline, where it makes the start up. A client last heard of before the
//! service's active candidate was started is an older one: it neither makes the start up
//! nor, when it ends, fails over.
//!
//! For a service whose match names a `peer`, a client of it stands for the service only on
//! its own host: when one of its clients ends, only the clients of the same host, or those
//! taken for the launcher's current start of it, keep it up; while it fails over, only those
//! make it up (docs/decisions.md, 60). Another host's client of the same class may be anyone's.

use super::{Engine, Heard, Phase, describe};
use crate::matching::Verdict;
use lifesign_formats::net::unmapped;
use lifesign_proto::event::ClientInfo;
use std::net::{IpAddr, SocketAddr};

/// A client of the server, as far as the launcher knows it.
pub(super) struct Known {
    pub info: ClientInfo,
    pub owner: Option<Owner>,
    /// When it connected (server clock), if this run saw its live `watched`.
    pub connected_at: Option<u64>,
    /// The seq of the report it was last heard of in.
    pub seq: u64,
}

impl Known {
    /// A report numbered `seq` is of an earlier client than this one: the server reuses ids,
    /// and after `hello` the module replays who is connected now *before* it sends again the
    /// older events that were not acknowledged, so a lower seq is history (of an earlier
    /// client that had the id, or of this one, which the replay shows as it is now).
    pub fn is_newer_than(&self, seq: u64) -> bool {
        self.seq > seq
    }
}

/// The service a client was taken for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Owner {
    pub service: usize,
    /// Its full match was seen (a window class), not only a maybe.
    pub sure: bool,
    /// The start it was taken for, if the service was starting.
    pub attempt: Option<u64>,
}

impl Engine {
    /// The server reported a client (`watched`, `suspect`, `recovered`, `updated`): take it
    /// for a service.
    pub(super) fn seen(
        &mut self,
        client: &ClientInfo,
        heard: Heard,
        out: &mut Vec<super::Command>,
    ) {
        if self
            .clients
            .get(&client.id)
            .is_some_and(|k| k.is_newer_than(heard.seq))
        {
            return;
        }
        let mut info = client.clone();
        let mut owner = None;
        let mut connected_at = heard.live.then_some(heard.since).flatten();
        let fresh = heard.live || heard.since.is_none();
        if let Some(known) = self.clients.remove(&client.id)
            && !fresh
        {
            // A `watched` is a new connection, maybe with a reused id: it replaces. An
            // `updated` is the same connection's whole identity now; any other report may
            // lack what was learnt before (a window gone since).
            if !heard.complete {
                super::failover::merge(&mut info, &known.info);
            }
            owner = known.owner;
            connected_at = known.connected_at;
        }
        // Its connection time, when known, says best whether it is older than a start (a
        // `suspect`'s silence is counted without grabs and stalls of the server).
        let since = connected_at.or(heard.since);
        let verdicts = self.verdicts(&info);
        let revoked = owner.filter(|o| verdicts[o.service] == Verdict::No);
        owner = owner.filter(|o| verdicts[o.service] != Verdict::No);
        if let Some(o) = &mut owner {
            o.sure |= verdicts[o.service] == Verdict::Yes;
        }
        let owner = owner.or_else(|| {
            let (service, sure) = match verdicts.iter().position(|v| *v == Verdict::Yes) {
                Some(s) => (s, true),
                // Only a client that just connected may be a start's candidate.
                None if heard.live => (self.starting_maybe(&verdicts)?, false),
                None => return None,
            };
            let older = self.older(service, since);
            Some(Owner {
                service,
                sure,
                attempt: self.starting_attempt(service).filter(|_| !older),
            })
        });
        self.clients.insert(
            client.id.clone(),
            Known {
                info,
                owner,
                connected_at,
                seq: heard.seq,
            },
        );
        if let Some(r) = revoked {
            tracing::info!(service = %self.services[r.service].name, client = %describe(client), "the client is not of this service after all");
        }
        let Some(o) = owner else { return };
        let starting = matches!(self.phases[o.service], Phase::Starting { .. });
        let failing_over = matches!(
            self.phases[o.service],
            Phase::Starting { .. } | Phase::Deferred { .. }
        );
        if starting && self.older(o.service, since) {
            tracing::info!(service = %self.services[o.service].name, client = %describe(client), "a client older than the new candidate");
        } else if o.sure
            && failing_over
            && !self.stands_for(o.service, client, o, self.lost_hosts[o.service])
        {
            tracing::info!(service = %self.services[o.service].name, client = %describe(client), "a client that matches the service, from another host than its lost one; it does not make the service up");
        } else if o.sure {
            self.came_up(o.service, out);
        } else if starting {
            tracing::info!(service = %self.services[o.service].name, client = %describe(client), "a client connected that may be the new candidate");
        }
    }

    /// A client last heard of at `since` (server clock) is older than the active candidate
    /// of service `s`.
    pub(super) fn older(&self, s: usize, since: Option<u64>) -> bool {
        let started = self
            .state
            .services
            .get(&self.services[s].name)
            .and_then(|st| st.started_server_ms);
        matches!((since, started), (Some(a), Some(t)) if a < t)
    }

    fn verdicts(&self, info: &ClientInfo) -> Vec<Verdict> {
        self.services
            .iter()
            .map(|s| s.matcher.verdict(info))
            .collect()
    }

    /// The service a client that just connected and may match is taken for: one waiting for
    /// its candidate to come up, first one that no client was taken for yet (starts bring a
    /// client each: several services started at once, told apart only by their class, get one
    /// each), then the one waiting longest.
    fn starting_maybe(&self, verdicts: &[Verdict]) -> Option<usize> {
        (0..self.services.len())
            .filter(|&s| verdicts[s] == Verdict::Maybe)
            .filter_map(|s| match self.phases[s] {
                Phase::Starting {
                    deadline, attempt, ..
                } => Some(((self.owned_by(s, Some(attempt)), deadline), s)),
                _ => None,
            })
            .min()
            .map(|(_, s)| s)
    }

    pub(super) fn starting_attempt(&self, s: usize) -> Option<u64> {
        match self.phases[s] {
            Phase::Starting { attempt, .. } => Some(attempt),
            _ => None,
        }
    }

    /// Some client is taken for service `s` (for start `attempt`, when given).
    pub(super) fn owned_by(&self, s: usize, attempt: Option<u64>) -> bool {
        self.clients
            .values()
            .filter_map(|k| k.owner)
            .any(|o| o.service == s && attempt.is_none_or(|a| o.attempt == Some(a)))
    }

    /// A client of service `s` from `host` ended: another client keeps the service up, one
    /// taken for it (surely, its class seen, when `sure`) that [stands for
    /// it](Engine::stands_for) on that host.
    pub(super) fn kept_up(&self, s: usize, host: Option<IpAddr>, sure: bool) -> bool {
        self.clients.values().any(|k| {
            k.owner.is_some_and(|o| {
                o.service == s && (o.sure || !sure) && self.stands_for(s, &k.info, o, host)
            })
        })
    }

    /// A client taken for service `s` (as `owner`) stands for the service's instance on
    /// `host`: any does when the service's match names no `peer` (no host to tie it to);
    /// otherwise one from that host, or one taken for the launcher's current start of the
    /// service (its own candidate's). A client of the same class from another host in the
    /// range may be anyone's.
    pub(super) fn stands_for(
        &self,
        s: usize,
        info: &ClientInfo,
        owner: Owner,
        host: Option<IpAddr>,
    ) -> bool {
        self.services[s].matcher.peer.is_none()
            || owner.attempt.is_some_and(|a| self.attempts[s] == Some(a))
            || host.is_some_and(|h| host_of(info) == Some(h))
    }

    /// The service a client that ended belongs to: its full match, or the one it was taken
    /// for unless its class now shows it is not of that one.
    pub(super) fn owner_of_end(&self, info: &ClientInfo, owner: Option<Owner>) -> Option<usize> {
        let verdicts = self.verdicts(info);
        verdicts
            .iter()
            .position(|v| *v == Verdict::Yes)
            .or_else(|| {
                owner
                    .map(|o| o.service)
                    .filter(|&s| verdicts[s] != Verdict::No)
            })
    }
}

/// The host a client connected from (its peer's address, a v4-mapped one as v4), if any.
pub(super) fn host_of(info: &ClientInfo) -> Option<IpAddr> {
    info.peer
        .as_deref()
        .and_then(|p| p.parse::<SocketAddr>().ok())
        .map(|a| unmapped(a.ip()))
}
