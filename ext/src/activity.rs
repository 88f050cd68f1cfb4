//! Activity stamps: the hot path of every request of a watched client.
//!
//! A request costs two relaxed stores here and nothing else: no thread-local (a cdylib's
//! TLS goes through `__tls_get_addr`), no borrow, no map. The tracker reads the stamps only
//! when one of its deadlines comes up. Times are the watchdog's own, as of the last wakeup.

use crate::server::clients::SLOTS;
use lifesign_proto::core::opcode;
use lifesign_watchdog::tracker::Activity;
use std::sync::atomic::{AtomicU64, Ordering};

static NOW: AtomicU64 = AtomicU64::new(0);
static REQUEST: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];
static NO_OPERATION: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];

/// The time the requests of the coming dispatch are stamped with.
pub fn set_now(now: u64) {
    NOW.store(now, Ordering::Relaxed);
}

/// A request of client `index` with major opcode `major`. Indices wrap into the table
/// instead of being bounds-checked: the server's client indices are below MAXCLIENTS, and a
/// mask is one instruction on a path that runs for every request.
#[inline(always)]
pub fn record(index: usize, major: u8) {
    let slot = index & (SLOTS - 1);
    let now = NOW.load(Ordering::Relaxed);
    REQUEST[slot].store(now, Ordering::Relaxed);
    if major == opcode::NO_OPERATION {
        NO_OPERATION[slot].store(now, Ordering::Relaxed);
    }
}

const _: () = assert!(
    SLOTS.is_power_of_two(),
    "the mask in `record` needs a power of two"
);

/// Client `index` was active in the cycle that ends at `now`: its last request (and, since it
/// was disarmed only after one if it must show them, its last NoOperation) came no later.
pub fn touch(index: usize, now: u64) {
    if let (Some(request), Some(noop)) = (REQUEST.get(index), NO_OPERATION.get(index)) {
        request.fetch_max(now, Ordering::Relaxed);
        noop.fetch_max(now, Ordering::Relaxed);
    }
}

pub fn read(index: usize) -> Activity {
    match (REQUEST.get(index), NO_OPERATION.get(index)) {
        (Some(request), Some(noop)) => Activity {
            request: request.load(Ordering::Relaxed),
            no_operation: noop.load(Ordering::Relaxed),
        },
        _ => Activity::default(),
    }
}

/// A new client in slot `index` starts with no activity of its own.
pub fn reset(index: usize) {
    if let (Some(request), Some(noop)) = (REQUEST.get(index), NO_OPERATION.get(index)) {
        request.store(0, Ordering::Relaxed);
        noop.store(0, Ordering::Relaxed);
    }
}
