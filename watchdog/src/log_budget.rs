//! How many lines the module may write to the server's log: clients cause most of them
//! (an event line for each connection and each end, a warning for a socket that refuses an
//! option), and a client that connects and leaves in a loop must not fill the operator's disk
//! or drown the lines that matter. A token bucket: `BURST` lines at once, then `PER_SECOND`;
//! what it drops is counted, and the next line it lets through says how many.

use crate::clock::Millis;

/// Lines the log may take at once: the start of a server of two thousand clients (a
/// `watched` line each), a thousand of them lost together, a few thousand clients coming and
/// going in a minute; refilled in five minutes at `PER_SECOND`.
pub const BURST: u64 = 16_000;
/// Lines a second after that: a client connecting and leaving in a loop (two lines each time,
/// a thousand times a second) writes 50 lines a second, some 12 KB, not 2000.
pub const PER_SECOND: u64 = 50;

#[derive(Debug)]
pub struct LogBudget {
    /// Lines that may be written now, in thousandths.
    tokens: u64,
    /// When the tokens were counted last.
    at: Option<Millis>,
    /// Lines dropped since the last one written.
    dropped: u64,
}

impl Default for LogBudget {
    fn default() -> Self {
        Self::new()
    }
}

impl LogBudget {
    pub const fn new() -> Self {
        Self {
            tokens: BURST * 1000,
            at: None,
            dropped: 0,
        }
    }

    /// A line is to be written at `now`: `None` if it is dropped, else how many were dropped
    /// before it (to be said first).
    pub fn admit(&mut self, now: Millis) -> Option<u64> {
        let elapsed = self.at.map_or(0, |at| now.saturating_sub(at));
        // A clock that went back gives nothing, and the time it gave is not given twice.
        self.at = Some(self.at.map_or(now, |at| at.max(now)));
        self.tokens = self
            .tokens
            .saturating_add(elapsed.saturating_mul(PER_SECOND))
            .min(BURST * 1000);
        if self.tokens < 1000 {
            self.dropped += 1;
            return None;
        }
        self.tokens -= 1000;
        Some(std::mem::take(&mut self.dropped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_and_the_dropped_are_counted() {
        let mut b = LogBudget::new();
        for _ in 0..BURST {
            assert_eq!(b.admit(0), Some(0));
        }
        assert_eq!(b.admit(0), None);
        assert_eq!(b.admit(10), None);
        // 1000 / PER_SECOND ms later, one more, which says how many were dropped.
        assert_eq!(b.admit(1000 / PER_SECOND), Some(2));
        assert_eq!(b.admit(1000 / PER_SECOND), None);
        // A client flooding for a minute gets PER_SECOND lines a second through.
        let mut through = 0;
        for ms in 1..=60_000u64 {
            if b.admit(1000 / PER_SECOND + ms).is_some() {
                through += 1;
            }
        }
        assert_eq!(through, 60 * PER_SECOND);
        // Quiet for a while: the burst is back, not more.
        let later = 1_000_000;
        let mut burst = 0;
        while b.admit(later).is_some() {
            burst += 1;
        }
        assert_eq!(burst, BURST);
    }

    #[test]
    fn a_clock_that_goes_back_gives_nothing() {
        let mut b = LogBudget::new();
        for _ in 0..BURST {
            b.admit(5000);
        }
        assert_eq!(b.admit(1000), None);
        // Nor does coming back: the time from 1000 to 5000 was had already.
        assert_eq!(b.admit(5000), None);
        assert_eq!(b.admit(5000 + 1000 / PER_SECOND), Some(2));
    }
}
