//! Which service a client the server reports belongs to.
//!
//! A `lost` or `gone` event carries the client's `wm_class`; a `watched` at connection time
//! cannot (no window yet), so a client may *maybe* match. Such a client is taken for a
//! service only tentatively: for the one waiting for its candidate to come up, or, in the
//! replay of the server the state knows, for one that should be running.

use super::{Engine, Phase, describe};
use crate::matching::Verdict;
use lifesign_proto::event::ClientInfo;

/// A client of the server, as far as the launcher knows it.
pub(super) struct Known {
    pub info: ClientInfo,
    pub owner: Option<Owner>,
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
    /// The server reported a client (`watched`: `fresh`; `suspect`): take it for a service.
    pub(super) fn seen(
        &mut self,
        client: &ClientInfo,
        fresh: bool,
        replay: bool,
        now: u64,
        out: &mut Vec<super::Command>,
    ) {
        let mut info = client.clone();
        let mut owner = None;
        if let Some(known) = self.clients.remove(&client.id)
            && !fresh
        {
            // A `watched` is a new connection, maybe with a reused id: it replaces.
            super::failover::merge(&mut info, &known.info);
            owner = known.owner;
        }
        let verdicts = self.verdicts(&info);
        let revoked = owner.filter(|o| verdicts[o.service] == Verdict::No);
        owner = owner.filter(|o| verdicts[o.service] != Verdict::No);
        if let Some(o) = &mut owner {
            o.sure |= verdicts[o.service] == Verdict::Yes;
        }
        let owner = owner.or_else(|| {
            let (service, sure) = match verdicts.iter().position(|v| *v == Verdict::Yes) {
                Some(s) => (s, true),
                None => (self.maybe_owner(&verdicts, replay)?, false),
            };
            Some(Owner {
                service,
                sure,
                attempt: self.starting_attempt(service),
            })
        });
        self.clients
            .insert(client.id.clone(), Known { info, owner });
        if let Some(r) = revoked {
            tracing::info!(service = %self.services[r.service].name, client = %describe(client), "the client is not of this service after all");
            if self.phases[r.service] == Phase::Up && !self.owned_by(r.service, None) {
                // It was taken for up on a doubt: it is not.
                self.phases[r.service] = Phase::Down;
                let active = self.state_of(r.service).active;
                if let Some(candidate) = active.filter(|_| self.settled) {
                    tracing::info!(service = %self.services[r.service].name, candidate, "service is not up; starting its active candidate");
                    self.start(r.service, candidate, now, out);
                }
            }
        }
        let Some(o) = owner else { return };
        let starting = matches!(self.phases[o.service], Phase::Starting { .. });
        if o.sure || (replay && !starting) {
            self.came_up(o.service, out);
        } else if starting {
            tracing::info!(service = %self.services[o.service].name, client = %describe(client), "a client connected that may be the new candidate");
        }
    }

    fn verdicts(&self, info: &ClientInfo) -> Vec<Verdict> {
        self.services
            .iter()
            .map(|s| s.matcher.verdict(info))
            .collect()
    }

    /// The service a client that may match is taken for: the one waiting longest for its
    /// candidate to come up; in the replay of the server the state knows, also one that
    /// should be running (a doubt must not start a duplicate).
    fn maybe_owner(&self, verdicts: &[Verdict], replay: bool) -> Option<usize> {
        let maybe = (0..self.services.len()).filter(|&s| verdicts[s] == Verdict::Maybe);
        let starting = maybe
            .clone()
            .filter_map(|s| match self.phases[s] {
                Phase::Starting { deadline, .. } => Some((deadline, s)),
                _ => None,
            })
            .min()
            .map(|(_, s)| s);
        let should_run = |s: &usize| {
            self.state
                .services
                .get(&self.services[*s].name)
                .is_some_and(|st| st.active.is_some())
        };
        starting.or_else(|| {
            maybe
                .filter(|_| replay && self.same_server)
                .find(should_run)
        })
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
