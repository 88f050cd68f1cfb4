//! A client that stopped being watched (it sent Unwatch).
//!
//! The server will not report its end, so the launcher must not count it as a live client of
//! its service: it is forgotten. When it was what kept its service up, the service is
//! *not supervised*: its application still runs, unwatched, so nothing is started in its
//! place, not now, not at the next `hello` (which will not replay it) and not by
//! `start_primary` after a restart of the launcher, until a client of the service is watched
//! again or the X server starts anew (as for an application the operator closed).

use super::clients::host_of;
use super::failover::merge;
use super::{Command, Engine, Phase, describe};
use lifesign_proto::event::ClientInfo;

impl Engine {
    pub(super) fn unwatched(&mut self, seq: u64, client: &ClientInfo, out: &mut Vec<Command>) {
        // A report older than what is known of the id is an earlier client's (the replay
        // showed this one watched since).
        let known = match self.clients.get(&client.id) {
            Some(k) if k.is_newer_than(seq) => return,
            _ => self.clients.remove(&client.id),
        };
        let mut info = client.clone();
        let mut owner = None;
        if let Some(known) = known {
            merge(&mut info, &known.info);
            owner = known.owner;
        }
        // Also a client this run does not know: a launcher restarted meanwhile gets the event
        // again, and must not start the service that the replay no longer shows.
        let Some(s) = self.owner_of_end(&info, owner) else {
            return;
        };
        if self.state.handled.contains(seq) {
            tracing::info!(seq, "event already acted on; ignored");
            return;
        }
        let name = &self.services[s].name;
        let sure = self.services[s].matcher.matches(&info);
        let others = self.kept_up(s, host_of(&info), sure);
        let acted = match self.phases[s] {
            Phase::Starting { attempt, .. } => {
                let its_own =
                    owner.is_some_and(|o| o.service == s && o.sure && o.attempt == Some(attempt));
                if its_own {
                    tracing::warn!(service = %name, client = %describe(&info), "the new candidate's client is no longer watched; the service is not supervised until a client of it is watched again");
                    self.not_started_again(s, out);
                }
                its_own
            }
            Phase::Up | Phase::Down if others => {
                tracing::info!(service = %name, "other clients of the service are watched; it stays up");
                false
            }
            Phase::Up | Phase::Down if sure => {
                tracing::warn!(service = %name, client = %describe(&info), "the service's client is no longer watched; nothing is started for it until a client of it is watched again");
                self.not_started_again(s, out);
                true
            }
            Phase::Up => {
                // One that only may have been it: nothing definite is known to run.
                tracing::info!(service = %name, "a client that may have been the service's is no longer watched");
                self.mark_down(s, out);
                true
            }
            Phase::Down | Phase::Deferred { .. } => false,
        };
        if acted {
            self.state.handled.insert(seq);
            out.push(Command::Save);
        }
    }
}
