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
fn monotonic() -> libc::timespec {
    read(libc::CLOCK_MONOTONIC)
}

fn read(clock: libc::clockid_t) -> libc::timespec {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to fill; the clocks asked for here
    // (CLOCK_MONOTONIC, CLOCK_THREAD_CPUTIME_ID) always exist on Linux, so the call cannot
    // fail and `t` is always written.
    unsafe { libc::clock_gettime(clock, &raw mut t) };
    t
}

/// CPU time of the calling thread, ns: what the module's own work took, without the time
/// the thread was not running (the entry-point timing of benchmark builds).
#[cfg(feature = "handler-timing")]
pub fn thread_cpu_ns() -> u64 {
    let t = read(libc::CLOCK_THREAD_CPUTIME_ID);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

fn monotonic_ms() -> u64 {
    let t = monotonic();
    // CLOCK_MONOTONIC never goes below zero; the casts only widen.
    t.tv_sec as u64 * 1000 + t.tv_nsec as u64 / 1_000_000
}

/// Microseconds on the monotonic clock: what a pass that lost clients took, to fit the next
/// one's batch to it (read only in such passes).
pub fn monotonic_us() -> u64 {
    let t = monotonic();
    t.tv_sec as u64 * 1_000_000 + t.tv_nsec as u64 / 1_000
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
