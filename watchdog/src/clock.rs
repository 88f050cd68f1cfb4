//! The watchdog's own time: real milliseconds less the time the server itself held everyone
//! up. Deadlines count in this time, so a server that was stopped or suspended convicts nobody
//! for that time.
//!
//! The hold-up seen here is a stall: the server did not run its main loop for longer than
//! `StallGuard` (SIGSTOP, a VT switch, a long request, a clock jump); seen as a wakeup much
//! later than planned, or a long gap from a wakeup to the next block. A server grab is not a
//! stall: the grabbing client is served, and its deadlines run; the tracker holds the others.

/// Milliseconds on the server's monotonic clock.
pub type Millis = u64;

#[derive(Debug, Clone)]
pub struct Clock {
    stall_guard: Option<Millis>,
    /// Real time taken out of the watchdog's time so far.
    paused: Millis,
    last_wakeup: Option<Millis>,
    planned_wake: Option<Millis>,
}

/// What a block handler learns from the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    None,
    /// The server was held up for this long; requests that arrived meanwhile have not been
    /// read yet, so nobody may be convicted before the next dispatch.
    Detected(Millis),
}

impl Clock {
    pub fn new(stall_guard: Option<Millis>) -> Self {
        Self {
            stall_guard,
            paused: 0,
            last_wakeup: None,
            planned_wake: None,
        }
    }

    /// The watchdog's time at real time `now`.
    pub fn virtual_at(&self, now: Millis) -> Millis {
        now.saturating_sub(self.paused)
    }

    /// The real time at which watchdog time `due` comes, if nothing holds the server up.
    pub fn real_at(&self, due: Millis) -> Option<Millis> {
        Some(due.saturating_add(self.paused))
    }

    /// The server reached its block handler: was it away too long since it woke?
    pub fn before_sleep(&mut self, now: Millis) -> Stall {
        let stall = match (self.stall_guard, self.last_wakeup) {
            (Some(guard), Some(woke)) if now.saturating_sub(woke) > guard => {
                let gap = now - woke;
                self.paused += gap;
                Stall::Detected(gap)
            }
            _ => Stall::None,
        };
        self.last_wakeup = None;
        stall
    }

    /// The server will sleep until `planned` (real time), or indefinitely.
    pub fn plan(&mut self, planned: Option<Millis>) {
        self.planned_wake = planned;
    }

    /// The server will be woken at `planned` at the latest (an earlier setting than the one
    /// planned): a later plan stays.
    pub fn plan_earlier(&mut self, planned: Millis) {
        self.planned_wake = Some(self.planned_wake.map_or(planned, |p| p.min(planned)));
    }

    /// The server woke from its sleep.
    pub fn after_sleep(&mut self, now: Millis) -> Stall {
        let stall = match (self.stall_guard, self.planned_wake) {
            (Some(guard), Some(planned)) if now.saturating_sub(planned) > guard => {
                let late = now - planned;
                self.paused += late;
                Stall::Detected(late)
            }
            _ => Stall::None,
        };
        self.last_wakeup = Some(now);
        self.planned_wake = None;
        stall
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_runs_with_real_time_when_nothing_holds_it() {
        let mut c = Clock::new(Some(1000));
        c.after_sleep(100);
        assert_eq!(c.before_sleep(105), Stall::None);
        c.plan(Some(3100));
        assert_eq!(c.after_sleep(3100), Stall::None);
        assert_eq!(c.virtual_at(5000), 5000);
        assert_eq!(c.real_at(6000), Some(6000));
    }

    #[test]
    fn a_late_wakeup_is_a_stall_and_is_taken_out() {
        let mut c = Clock::new(Some(1000));
        c.before_sleep(1000);
        c.plan(Some(4000));
        // Stopped: woke 5 s after the plan.
        assert_eq!(c.after_sleep(9000), Stall::Detected(5000));
        assert_eq!(c.virtual_at(9000), 4000);
        assert_eq!(c.real_at(4500), Some(9500));
    }

    #[test]
    fn a_wakeup_within_the_guard_is_not_a_stall() {
        let mut c = Clock::new(Some(1000));
        c.before_sleep(0);
        c.plan(Some(100));
        assert_eq!(c.after_sleep(1100), Stall::None);
        assert_eq!(c.virtual_at(1100), 1100);
    }

    #[test]
    fn a_long_gap_from_wakeup_to_block_is_a_stall() {
        let mut c = Clock::new(Some(1000));
        c.after_sleep(0);
        assert_eq!(c.before_sleep(2500), Stall::Detected(2500));
        assert_eq!(c.virtual_at(2500), 0);
    }

    #[test]
    fn an_indefinite_sleep_is_never_a_stall() {
        let mut c = Clock::new(Some(1000));
        c.before_sleep(0);
        c.plan(None);
        assert_eq!(c.after_sleep(1_000_000), Stall::None);
    }

    #[test]
    fn a_timer_moved_earlier_is_what_lateness_counts_from() {
        let mut c = Clock::new(Some(1000));
        c.before_sleep(0);
        c.plan(Some(10_000));
        c.plan_earlier(100);
        assert_eq!(c.after_sleep(3100), Stall::Detected(3000));
        c.plan(None);
        c.plan_earlier(5000);
        c.plan_earlier(9000);
        assert_eq!(c.after_sleep(5500), Stall::None);
    }

    #[test]
    fn without_a_guard_nothing_is_taken_out() {
        let mut c = Clock::new(None);
        c.before_sleep(0);
        c.plan(Some(10));
        assert_eq!(c.after_sleep(100_000), Stall::None);
        assert_eq!(c.virtual_at(100_000), 100_000);
    }
}
