//! When the overlay (`[overlay]`) is started: with the launcher, and again each time it
//! exits, after a pause that doubles while it keeps failing, so that an overlay that cannot
//! start (no display yet, a missing program) costs a try every half minute, not a busy loop;
//! one that ran a good while before it exited is started again soon. Pure: the daemon tells
//! it what happened and when (Unix ms), and asks when the next start is due.

/// The pause before the first start again.
pub const FIRST_PAUSE_MS: u64 = 1000;
/// The longest pause.
pub const MAX_PAUSE_MS: u64 = 30_000;
/// An overlay that ran this long before it ended is started again after the first pause.
pub const STEADY_MS: u64 = 60_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restarts {
    /// The pause after the next end.
    pause_ms: u64,
    /// When the running overlay was started; none while it does not run.
    started_ms: Option<u64>,
    /// When it is to be started; none while it runs.
    due_ms: Option<u64>,
}

impl Restarts {
    /// The overlay of a launcher that starts at `now`: due at once.
    pub fn new(now: u64) -> Self {
        Self {
            pause_ms: FIRST_PAUSE_MS,
            started_ms: None,
            due_ms: Some(now),
        }
    }

    /// When it is to be started next (maybe already); none while it runs.
    pub fn due(&self) -> Option<u64> {
        self.due_ms
    }

    /// It was started at `now`.
    pub fn started(&mut self, now: u64) {
        self.started_ms = Some(now);
        self.due_ms = None;
    }

    /// It exited at `now`, or could not be started: it is due again after the pause, which
    /// doubles for the next time unless it ran [`STEADY_MS`] first. Returns when it is due.
    pub fn ended(&mut self, now: u64) -> u64 {
        let ran = self.started_ms.take().map_or(0, |t| now.saturating_sub(t));
        if ran >= STEADY_MS {
            self.pause_ms = FIRST_PAUSE_MS;
        }
        let due = now.saturating_add(self.pause_ms);
        self.pause_ms = self.pause_ms.saturating_mul(2).min(MAX_PAUSE_MS);
        self.due_ms = Some(due);
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_starts_at_once_and_is_not_due_while_it_runs() {
        let mut r = Restarts::new(100);
        assert_eq!(r.due(), Some(100));
        r.started(100);
        assert_eq!(r.due(), None);
    }

    #[test]
    fn quick_exits_back_off_doubling_to_half_a_minute() {
        let mut r = Restarts::new(0);
        let mut now = 0;
        let mut pauses = Vec::new();
        for _ in 0..8 {
            r.started(now);
            now += 10; // dies at once
            let due = r.ended(now);
            pauses.push(due - now);
            now = due;
        }
        assert_eq!(
            pauses,
            [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]
        );
    }

    #[test]
    fn a_minute_of_running_resets_the_pause() {
        let mut r = Restarts::new(0);
        for now in [0, 2000, 6000] {
            r.started(now);
            r.ended(now + 1);
        }
        r.started(20_000);
        assert_eq!(
            r.ended(20_000 + STEADY_MS),
            20_000 + STEADY_MS + FIRST_PAUSE_MS
        );
        // And doubles again from there.
        r.started(90_000);
        assert_eq!(r.ended(90_001), 90_001 + 2 * FIRST_PAUSE_MS);
    }

    #[test]
    fn a_start_that_fails_counts_as_a_quick_exit() {
        let mut r = Restarts::new(0);
        assert_eq!(r.ended(0), 1000);
        assert_eq!(r.ended(1000), 3000);
    }
}
