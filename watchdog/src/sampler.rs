//! Client activity read from the server's own request counts.
//!
//! The dispatcher counts every request of a client (`client->sequence`) before any handler or
//! request vector is called, whoever else wraps or records them; the module's NoOperation wrap
//! notes the request number of a client's last NoOperation. Neither is a time: a sample
//! compares the counts with the last sample's, and a change means the client sent a request
//! (a NoOperation) since then, so its activity is stamped with the sample's time, the earliest
//! time known to come after the request. Stamps are never early, so a deadline is never
//! reached early; they are late by at most the time between two samples, which the module
//! keeps short (every [`TICK`] while any client is watched); a client that is silent keeps its
//! stamp where its last request was seen.

use crate::clock::Millis;
use crate::tracker::Activity;

/// How often watched clients are sampled: how late, at most, a request is stamped.
pub const TICK: Millis = 10;

/// What the server counts for a client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// The client's request count (`sequence`): it changes with every request.
    pub requests: u32,
    /// The request number of its last NoOperation, when the module can see them (`None`: its
    /// NoOperations may bypass the module; then every request counts as one, so that it is
    /// never convicted for NoOperations it may have sent).
    pub no_operation: Option<u32>,
}

#[derive(Clone, Copy, Debug)]
struct Seen {
    counts: Counts,
    activity: Activity,
}

/// The last counts and activity of every watched client.
#[derive(Debug, Default)]
pub struct Sampler {
    slots: Vec<Option<Seen>>,
    /// The watched indices, for a sample of all of them.
    watched: Vec<usize>,
}

impl Sampler {
    /// Starts following client `index` from `counts`, as active at `now`.
    pub fn start(&mut self, index: usize, counts: Counts, now: Millis) {
        if self.slots.len() <= index {
            self.slots.resize(index + 1, None);
        }
        if self.slots[index].is_none() {
            self.watched.push(index);
        }
        self.slots[index] = Some(Seen {
            counts,
            activity: Activity {
                request: now,
                no_operation: now,
            },
        });
    }

    pub fn stop(&mut self, index: usize) {
        if let Some(slot) = self.slots.get_mut(index)
            && slot.take().is_some()
        {
            self.watched.retain(|&i| i != index);
        }
    }

    /// The followed clients' indices.
    pub fn watched(&self) -> &[usize] {
        &self.watched
    }

    /// Client `index` has `counts` at `now`: true if it sent a request since the last sample.
    pub fn sample(&mut self, index: usize, counts: Counts, now: Millis) -> bool {
        let Some(Some(seen)) = self.slots.get_mut(index) else {
            return false;
        };
        let requested = counts.requests != seen.counts.requests;
        if requested {
            seen.activity.request = seen.activity.request.max(now);
        }
        let no_operation = match (counts.no_operation, seen.counts.no_operation) {
            (Some(now_at), Some(before)) => now_at != before,
            // Blind to its NoOperations now, or just became able to see them: any request is
            // taken for one, never the absence of one for a missed one.
            _ => requested,
        };
        if no_operation {
            seen.activity.no_operation = seen.activity.no_operation.max(now);
        }
        seen.counts = counts;
        requested
    }

    /// Client `index`'s latest activity as sampled.
    pub fn activity(&self, index: usize) -> Activity {
        self.slots
            .get(index)
            .and_then(|s| s.as_ref())
            .map_or_else(Activity::default, |s| s.activity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(requests: u32, no_operation: u32) -> Counts {
        Counts {
            requests,
            no_operation: Some(no_operation),
        }
    }

    #[test]
    fn a_client_is_active_from_its_start() {
        let mut s = Sampler::default();
        s.start(3, counts(0, 0), 100);
        assert_eq!(
            s.activity(3),
            Activity {
                request: 100,
                no_operation: 100
            }
        );
        assert_eq!(s.watched(), &[3]);
    }

    #[test]
    fn a_request_is_stamped_with_the_first_sample_that_sees_it() {
        let mut s = Sampler::default();
        s.start(1, counts(0, 0), 0);
        assert!(!s.sample(1, counts(0, 0), 10));
        assert!(s.sample(1, counts(5, 0), 20));
        assert_eq!(
            s.activity(1),
            Activity {
                request: 20,
                no_operation: 0
            }
        );
        // Silent from then on: the stamp stays where the last request was seen.
        assert!(!s.sample(1, counts(5, 0), 3000));
        assert_eq!(s.activity(1).request, 20);
    }

    #[test]
    fn a_no_operation_is_told_from_other_requests() {
        let mut s = Sampler::default();
        s.start(1, counts(0, 0), 0);
        s.sample(1, counts(4, 3), 10);
        assert_eq!(
            s.activity(1),
            Activity {
                request: 10,
                no_operation: 10
            }
        );
        s.sample(1, counts(9, 3), 20);
        assert_eq!(
            s.activity(1),
            Activity {
                request: 20,
                no_operation: 10
            }
        );
    }

    #[test]
    fn a_client_whose_no_operations_may_be_unseen_counts_every_request_as_one() {
        let mut s = Sampler::default();
        s.start(1, counts(0, 0), 0);
        let blind = Counts {
            requests: 7,
            no_operation: None,
        };
        s.sample(1, blind, 10);
        assert_eq!(
            s.activity(1),
            Activity {
                request: 10,
                no_operation: 10
            }
        );
        // Seeing them again: a request in that sample still counts.
        s.sample(1, counts(8, 0), 20);
        assert_eq!(s.activity(1).no_operation, 20);
        s.sample(1, counts(9, 0), 30);
        assert_eq!(s.activity(1).no_operation, 20);
    }

    #[test]
    fn the_count_wrapping_or_going_back_is_still_a_change() {
        let mut s = Sampler::default();
        s.start(1, counts(u32::MAX, 0), 0);
        assert!(s.sample(1, counts(0, 0), 10));
        // A handler that re-runs its request later decrements the count: still a change.
        assert!(s.sample(1, counts(u32::MAX, 0), 20));
    }

    #[test]
    fn stamps_never_move_back() {
        let mut s = Sampler::default();
        s.start(1, counts(0, 0), 50);
        s.sample(1, counts(1, 1), 40);
        assert_eq!(
            s.activity(1),
            Activity {
                request: 50,
                no_operation: 50
            }
        );
    }

    #[test]
    fn a_stopped_client_is_not_followed_and_its_slot_can_start_again() {
        let mut s = Sampler::default();
        s.start(1, counts(0, 0), 0);
        s.start(2, counts(0, 0), 0);
        s.stop(1);
        assert_eq!(s.watched(), &[2]);
        assert!(!s.sample(1, counts(3, 3), 10));
        assert_eq!(s.activity(1), Activity::default());
        s.start(1, counts(3, 3), 20);
        assert_eq!(s.watched(), &[2, 1]);
        assert!(!s.sample(1, counts(3, 3), 30));
    }
}
