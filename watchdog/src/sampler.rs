//! Client activity read from the server's own request counts.
//!
//! The dispatcher counts every request of a client (`client->sequence`) before any handler or
//! request vector is called, whoever else wraps or records them; the module's NoOperation wrap
//! notes the request number of a client's last NoOperation. Neither is a time: a sample
//! compares the counts with the last sample's, and a change means the client sent a request
//! (a NoOperation) since then, so its activity is stamped with the sample's time, the earliest
//! time known to come after the request. Stamps are never early, so a deadline is never
//! reached early; they are late by at most the time between two samples, which the module
//! keeps short (every [`TICK`] while any client is watched, up to [`MAX_TICK`] when sweeps
//! are dear: [`Cadence`]); a client that is silent keeps its stamp where its last request
//! was seen.

use crate::clock::Millis;
use crate::tracker::Activity;

/// How often watched clients are swept while sweeps are cheap: how late, at most, a request
/// is stamped then.
pub const TICK: Millis = 10;
/// The longest time between two sweeps, however many clients are watched: while the server
/// runs the timer on time, no request is stamped later than this, which keeps detection
/// within 20 ms of a deadline.
pub const MAX_TICK: Millis = 15;
/// The share of the server's time the sweeps may take before they come less often than every
/// [`TICK`], in millionths: 0.25%. (What a sweep costs the server is about twice its own
/// time: the cache lines it reads displace the server's own, and the server wakes for it.)
pub const SWEEP_BUDGET_PPM: u64 = 2_500;

/// How often the sweeps come: every [`TICK`], stretched towards [`MAX_TICK`] when a sweep
/// costs more than [`SWEEP_BUDGET_PPM`] of that. A sweep reads one cache line of the server's
/// record of each watched client, far apart in memory; at a thousand or two clients it
/// takes tens of µs, and at every 10 ms that is about a percent of a core (the scale
/// benchmark): so a large server trades a few ms of precision for its CPU, a small one keeps
/// the 10 ms.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cadence {
    /// What a sweep takes, smoothed (µs, scaled by 8).
    cost: u64,
}

impl Cadence {
    /// A sweep took `us` microseconds.
    pub fn record(&mut self, us: u64) {
        // An average over the last eight or so: one sweep held up by the kernel is forgotten
        // within a few more.
        self.cost = self.cost - self.cost / 8 + us.min(1_000_000);
    }

    /// The time from one sweep to the next.
    pub fn interval(&self) -> Millis {
        // cost / 8 µs at SWEEP_BUDGET_PPM of the interval: interval = cost / 8 / budget.
        let at_budget = (self.cost / 8).saturating_mul(1_000) / SWEEP_BUDGET_PPM;
        at_budget.clamp(TICK, MAX_TICK)
    }
}

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

/// What is kept of a client beside its request count.
#[derive(Clone, Copy, Debug)]
struct Slot {
    /// Its place in [`Sampler::watched`] and [`Sampler::requests`].
    at: usize,
    no_operation: Option<u32>,
    activity: Activity,
}

/// The last counts and activity of every watched client.
///
/// A sweep reads every watched client's request count, and at scale that read is the whole
/// cost of watching: one cache line of the server's client record per client, and whatever
/// the comparison touches. So the counts the pass compares sit in one dense array, in the
/// order of the watched indices, and a client whose count did not change (nearly all, at any
/// moment) costs one comparison: its slot is read and written only when it sent a request.
#[derive(Debug, Default)]
pub struct Sampler {
    /// The watched indices, in no order: a sample reads them all.
    watched: Vec<u32>,
    /// Their request counts at the last sample, in the order of `watched`.
    requests: Vec<u32>,
    /// Per client index, while it is watched.
    slots: Vec<Option<Slot>>,
}

impl Sampler {
    /// Starts following client `index` from `counts`, as active at `now`.
    pub fn start(&mut self, index: usize, counts: Counts, now: Millis) {
        if self.slots.len() <= index {
            self.slots.resize(index + 1, None);
        }
        let at = match self.slots[index] {
            Some(slot) => slot.at,
            None => {
                self.watched.push(index as u32);
                self.requests.push(counts.requests);
                self.watched.len() - 1
            }
        };
        self.requests[at] = counts.requests;
        self.slots[index] = Some(Slot {
            at,
            no_operation: counts.no_operation,
            activity: Activity {
                request: now,
                no_operation: now,
                changes: 0,
            },
        });
    }

    pub fn stop(&mut self, index: usize) {
        let Some(slot) = self.slots.get_mut(index).and_then(Option::take) else {
            return;
        };
        self.watched.swap_remove(slot.at);
        self.requests.swap_remove(slot.at);
        if let Some(&moved) = self.watched.get(slot.at)
            && let Some(Some(moved)) = self.slots.get_mut(moved as usize)
        {
            moved.at = slot.at;
        }
    }

    /// The followed clients' indices.
    pub fn watched(&self) -> &[u32] {
        &self.watched
    }

    /// Their request counts at the last sample, in the order of [`Sampler::watched`].
    pub fn requests(&self) -> &[u32] {
        &self.requests
    }

    /// Every watched client at once: `requests[i]` is the request count of `watched()[i]` at
    /// `now` (a copy of [`Sampler::requests`] in which the server's counts were read), and
    /// `no_operation` gives a client's NoOperation count, asked only of the clients whose
    /// request count changed. Returns how many sent requests since the last sample.
    pub fn sample_all(
        &mut self,
        requests: &[u32],
        now: Millis,
        mut no_operation: impl FnMut(usize) -> Option<u32>,
    ) -> usize {
        debug_assert_eq!(requests.len(), self.requests.len());
        let mut changed = 0;
        for (at, (&count, last)) in requests.iter().zip(self.requests.iter_mut()).enumerate() {
            if count == *last {
                continue;
            }
            *last = count;
            changed += 1;
            let index = self.watched[at] as usize;
            if let Some(Some(slot)) = self.slots.get_mut(index) {
                slot.requested(no_operation(index), now);
            }
        }
        changed
    }

    /// Client `index` has `counts` at `now`: true if it sent a request since the last sample.
    pub fn sample(&mut self, index: usize, counts: Counts, now: Millis) -> bool {
        let Some(Some(slot)) = self.slots.get_mut(index) else {
            return false;
        };
        let last = &mut self.requests[slot.at];
        if counts.requests == *last {
            return false;
        }
        *last = counts.requests;
        slot.requested(counts.no_operation, now);
        true
    }

    /// Client `index`'s latest activity as sampled.
    pub fn activity(&self, index: usize) -> Activity {
        self.slots
            .get(index)
            .and_then(|s| s.as_ref())
            .map_or_else(Activity::default, |s| s.activity)
    }
}

impl Slot {
    /// The client sent a request since the last sample; `no_operation` is its NoOperation
    /// count now.
    fn requested(&mut self, no_operation: Option<u32>, now: Millis) {
        self.activity.request = self.activity.request.max(now);
        self.activity.changes = self.activity.changes.wrapping_add(1);
        let sent_one = match (no_operation, self.no_operation) {
            (Some(now_at), Some(before)) => now_at != before,
            // Blind to its NoOperations now, or just became able to see them: any request is
            // taken for one, never the absence of one for a missed one.
            _ => true,
        };
        if sent_one {
            self.activity.no_operation = self.activity.no_operation.max(now);
        }
        self.no_operation = no_operation;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stamps of an activity (its count of changes is another test's).
    fn times(a: Activity) -> (Millis, Millis) {
        (a.request, a.no_operation)
    }

    fn counts(requests: u32, no_operation: u32) -> Counts {
        Counts {
            requests,
            no_operation: Some(no_operation),
        }
    }

    #[test]
    fn each_sample_that_sees_a_change_counts_one() {
        let mut s = Sampler::default();
        s.start(1, counts(0, 0), 0);
        assert_eq!(s.activity(1).changes, 0);
        s.sample(1, counts(3, 0), 10);
        s.sample(1, counts(3, 0), 10);
        s.sample(1, counts(4, 0), 10);
        assert_eq!(
            s.activity(1).changes,
            2,
            "two changes seen, in the same millisecond"
        );
        s.sample_all(&[9], 20, |_| None);
        assert_eq!(s.activity(1).changes, 3);
    }

    #[test]
    fn a_client_is_active_from_its_start() {
        let mut s = Sampler::default();
        s.start(3, counts(0, 0), 100);
        assert_eq!(times(s.activity(3)), (100, 100));
        assert_eq!(s.watched(), &[3]);
    }

    #[test]
    fn a_request_is_stamped_with_the_first_sample_that_sees_it() {
        let mut s = Sampler::default();
        s.start(1, counts(0, 0), 0);
        assert!(!s.sample(1, counts(0, 0), 10));
        assert!(s.sample(1, counts(5, 0), 20));
        assert_eq!(times(s.activity(1)), (20, 0));
        // Silent from then on: the stamp stays where the last request was seen.
        assert!(!s.sample(1, counts(5, 0), 3000));
        assert_eq!(s.activity(1).request, 20);
    }

    #[test]
    fn a_no_operation_is_told_from_other_requests() {
        let mut s = Sampler::default();
        s.start(1, counts(0, 0), 0);
        s.sample(1, counts(4, 3), 10);
        assert_eq!(times(s.activity(1)), (10, 10));
        s.sample(1, counts(9, 3), 20);
        assert_eq!(times(s.activity(1)), (20, 10));
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
        assert_eq!(times(s.activity(1)), (10, 10));
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
        assert_eq!(times(s.activity(1)), (50, 50));
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

    /// What a pass does: a copy of the last counts with the server's read into it.
    fn sample_all_with(
        s: &mut Sampler,
        read: impl Fn(u32) -> u32,
        now: Millis,
    ) -> (usize, Vec<usize>) {
        let counted: Vec<u32> = s.watched().iter().map(|&i| read(i)).collect();
        let mut asked = Vec::new();
        let changed = s.sample_all(&counted, now, |index| {
            asked.push(index);
            Some(0)
        });
        (changed, asked)
    }

    #[test]
    fn a_sweep_stamps_only_the_clients_whose_count_changed_and_asks_only_them() {
        let mut s = Sampler::default();
        for index in 1..=5 {
            s.start(index, counts(10, 0), 0);
        }
        let (changed, asked) = sample_all_with(&mut s, |i| if i % 2 == 0 { 11 } else { 10 }, 10);
        assert_eq!((changed, asked), (2, vec![2, 4]));
        for index in 1..=5 {
            let expected = if index % 2 == 0 { 10 } else { 0 };
            assert_eq!(s.activity(index).request, expected, "client {index}");
        }
        // The same counts again: nobody sent anything.
        let (changed, asked) = sample_all_with(&mut s, |i| if i % 2 == 0 { 11 } else { 10 }, 20);
        assert_eq!((changed, asked), (0, vec![]));
        assert_eq!(s.requests(), &[10, 11, 10, 11, 10]);
    }

    #[test]
    fn stopping_a_client_keeps_the_others_counts_with_their_indices() {
        let mut s = Sampler::default();
        for (index, requests) in [(1, 100), (2, 200), (3, 300), (4, 400)] {
            s.start(index, counts(requests, 0), 0);
        }
        s.stop(2);
        s.stop(9); // never watched
        let pairs = |s: &Sampler| {
            let mut p: Vec<(u32, u32)> = s
                .watched()
                .iter()
                .copied()
                .zip(s.requests().iter().copied())
                .collect();
            p.sort();
            p
        };
        assert_eq!(pairs(&s), vec![(1, 100), (3, 300), (4, 400)]);
        // The client moved into the freed place is still sampled as itself.
        let (changed, asked) = sample_all_with(&mut s, |i| i * 100 + u32::from(i == 4), 10);
        assert_eq!((changed, asked), (1, vec![4]));
        assert_eq!(s.activity(4).request, 10);
        s.stop(4);
        s.stop(1);
        s.stop(3);
        assert!(s.watched().is_empty() && s.requests().is_empty());
    }

    #[test]
    fn starting_a_watched_client_again_keeps_one_place() {
        let mut s = Sampler::default();
        s.start(1, counts(5, 0), 0);
        s.start(1, counts(8, 0), 10);
        assert_eq!((s.watched(), s.requests()), (&[1u32][..], &[8u32][..]));
        assert!(!s.sample(1, counts(8, 0), 20));
        assert!(s.sample(1, counts(9, 0), 30));
    }

    #[test]
    fn cheap_sweeps_come_every_tick_and_dear_ones_stretch_to_the_longest_interval() {
        let mut c = Cadence::default();
        assert_eq!(c.interval(), TICK);
        let settled = |us: u64| {
            let mut c = Cadence::default();
            for _ in 0..200 {
                c.record(us);
            }
            c.interval()
        };
        // 0.25% of 10 ms is 25 µs: below it, every 10 ms.
        assert_eq!(settled(5), TICK);
        assert_eq!(settled(25), TICK);
        assert_eq!(settled(30), 12);
        assert_eq!(settled(38), MAX_TICK);
        assert_eq!(settled(5_000), MAX_TICK);
        // One sweep held up by the kernel stretches a cheap cadence for a few sweeps only.
        for _ in 0..200 {
            c.record(5);
        }
        c.record(300);
        assert!(c.interval() > TICK);
        for _ in 0..16 {
            c.record(5);
        }
        assert_eq!(c.interval(), TICK);
        assert_eq!(settled(u64::MAX), MAX_TICK);
    }
}
