//! The module's clocks: monotonic milliseconds for deadlines, Unix milliseconds for events.
//!
//! `now_ms` runs on every pass of the server's main loop, so it is one vDSO clock read and
//! integer arithmetic in u64: `Instant::elapsed().as_millis()` costs several times as much
//! (checked timespec subtraction, a 128-bit division).

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

static START: OnceLock<u64> = OnceLock::new();

/// libc's clock_gettime, not rustix's: rustix finds the vDSO by parsing its ELF image itself,
/// which faults under valgrind (no vDSO there); libc falls back to the system call.
fn monotonic_ms() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to fill; CLOCK_MONOTONIC always exists on
    // Linux, so the call cannot fail and `t` is always written.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut t) };
    // CLOCK_MONOTONIC never goes below zero; the casts only widen.
    t.tv_sec as u64 * 1000 + t.tv_nsec as u64 / 1_000_000
}

/// Milliseconds on a monotonic clock (since the module first asked).
pub fn now_ms() -> u64 {
    let now = monotonic_ms();
    now.saturating_sub(*START.get_or_init(|| now))
}

/// Milliseconds since the Unix epoch, for the `at_ms` of events.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
