//! How many clients one pass of the block handler may lose, fitted to what losing them costs
//! on this server.
//!
//! Losing a client is the module's event (made, logged, queued) and the server's own
//! CloseDownClient, whose cost depends on the client's resources and on the server: 60 to
//! 190 µs each were measured with a thousand lost at once (the fault benchmark). A fixed
//! number per pass cannot keep a pass short on every server, so the pass measures what its
//! losses took and the next pass takes as many as fit in [`PASS_BUDGET_US`]: fewer at once
//! when a pass ran long, and twice as many at most when it ran short, from [`FIRST_LIMIT`] up
//! to [`MAX_LOSSES_PER_PASS`]. The rest stay due; the server serves its other clients between
//! passes.

use crate::tracker::MAX_LOSSES_PER_PASS;

/// What the losses of one pass should take, at most, µs.
pub const PASS_BUDGET_US: u64 = 2_000;
/// The first pass's batch, before anything was measured: what fits in the budget at 250 µs
/// each.
pub const FIRST_LIMIT: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pace {
    limit: usize,
}

impl Default for Pace {
    fn default() -> Self {
        Self { limit: FIRST_LIMIT }
    }
}

impl Pace {
    /// Losses (and suspect reports) the next pass may make.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// A pass made `acted` losses and reports in `elapsed_us`.
    pub fn record(&mut self, acted: usize, elapsed_us: u64) {
        let Some(acted) = u64::try_from(acted).ok().filter(|&n| n > 0) else {
            return;
        };
        let each = (elapsed_us / acted).max(1);
        let fit = usize::try_from(PASS_BUDGET_US / each).unwrap_or(usize::MAX);
        self.limit = fit
            .min(self.limit.saturating_mul(2))
            .clamp(1, MAX_LOSSES_PER_PASS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_pass_makes_the_next_take_what_fits_in_the_budget() {
        let mut pace = Pace::default();
        assert_eq!(pace.limit(), FIRST_LIMIT);
        // 8 losses in 4 ms: 500 µs each, 4 fit in 2 ms.
        pace.record(8, 4_000);
        assert_eq!(pace.limit(), 4);
        pace.record(32, 6_400);
        assert_eq!(pace.limit(), 8, "twice as many at most");
        // 32 losses in 6.4 ms: 200 µs each, 10 fit in 2 ms.
        pace.record(32, 6_400);
        assert_eq!(pace.limit(), 10);
        // One that takes longer than the whole budget: one a pass, never none.
        pace.record(10, 50_000);
        assert_eq!(pace.limit(), 1);
    }

    #[test]
    fn a_fast_pass_lets_the_next_take_twice_as_many_up_to_the_cap() {
        let mut pace = Pace::default();
        pace.record(1, 5_000);
        assert_eq!(pace.limit(), 1);
        for expected in [2, 4, 8, 16, 32, 32] {
            pace.record(pace.limit(), 10 * pace.limit() as u64);
            assert_eq!(pace.limit(), expected);
        }
    }

    #[test]
    fn a_pass_that_lost_nobody_changes_nothing() {
        let mut pace = Pace::default();
        pace.record(8, 1_600);
        pace.record(32, 6_400);
        pace.record(0, 0);
        pace.record(0, 9_000);
        assert_eq!(pace.limit(), 10);
        // A pass too quick for the clock is taken as 1 µs each.
        pace.record(10, 0);
        assert_eq!(pace.limit(), 20);
    }
}
