//! The daemon's time.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Unix milliseconds that run steadily: the wall clock read once at start, advanced by the
/// monotonic clock. A clock step (NTP after boot) neither kills starting candidates nor
/// stalls the opening burst; it shows only across a restart.
pub struct Clock {
    wall_ms: u64,
    start: Instant,
}

impl Clock {
    pub fn new() -> Self {
        Self {
            wall_ms: unix_ms(),
            start: Instant::now(),
        }
    }

    pub fn now_ms(&self) -> u64 {
        let elapsed = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.wall_ms.saturating_add(elapsed)
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_starts_at_the_wall_clock_and_never_goes_back() {
        let clock = Clock::new();
        let first = clock.now_ms();
        assert!(first.abs_diff(unix_ms()) < 1000);
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(clock.now_ms() >= first + 5);
    }
}
