//! How long the module waits before it connects to the launcher again.
//!
//! 100 ms at first, doubling with each wait up to 5 s. It starts again at 100 ms only when
//! the launcher shows it reads (an ack) or when it closed or its socket failed (a restarted
//! launcher is served at once); a launcher that does not read, or sends what it must not, is
//! connected to less and less often, not again and again at once.

/// The first wait, ms.
pub const FIRST_MS: u64 = 100;
/// The longest wait, ms.
pub const MAX_MS: u64 = 5_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    next_ms: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next_ms: FIRST_MS }
    }
}

impl Backoff {
    /// The wait the next [`take`](Self::take) returns.
    pub fn next_ms(&self) -> u64 {
        self.next_ms
    }

    /// Waits once: returns the wait and doubles the next one, up to [`MAX_MS`].
    pub fn take(&mut self) -> u64 {
        let wait = self.next_ms;
        self.next_ms = wait.saturating_mul(2).min(MAX_MS);
        wait
    }

    /// Starts again from [`FIRST_MS`].
    pub fn reset(&mut self) {
        self.next_ms = FIRST_MS;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_from_100_ms_up_to_5_s() {
        let mut backoff = Backoff::default();
        let waits: Vec<u64> = (0..9).map(|_| backoff.take()).collect();
        assert_eq!(
            waits,
            [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000],
            "doubling, capped at 5 s and staying there"
        );
        assert_eq!(backoff.next_ms(), MAX_MS);
    }

    #[test]
    fn a_reset_starts_again_from_the_first_wait() {
        let mut backoff = Backoff::default();
        for _ in 0..10 {
            backoff.take();
        }
        backoff.reset();
        assert_eq!(backoff.next_ms(), FIRST_MS);
        assert_eq!([backoff.take(), backoff.take()], [100, 200]);
    }
}
