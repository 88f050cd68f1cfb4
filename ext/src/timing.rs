//! Benchmark builds only (feature `handler-timing`, never in a package): the time each pass of
//! the server's main loop spends in the module's wakeup and block handlers, so the benchmark
//! can show its distribution at scale.
//!
//! `LIFESIGN_HANDLER_TIMES=<file>` names where the samples go: one little-endian `u32` of
//! nanoseconds per pass (the wakeup handler plus the block handler that follows it), appended
//! about once a second from the block handler, after its timed part. Without the variable
//! nothing is recorded.

use std::cell::RefCell;
use std::fs::File;
use std::io::Write as _;
use std::time::{Duration, Instant};

const FLUSH_EVERY: Duration = Duration::from_secs(1);

struct Samples {
    file: File,
    /// The wakeup handler's time in this pass, waiting for the block handler's.
    wakeup_ns: u32,
    pending: Vec<u8>,
    flushed: Instant,
}

thread_local! {
    static SAMPLES: RefCell<Option<Option<Samples>>> = const { RefCell::new(None) };
}

fn with(f: impl FnOnce(&mut Samples)) {
    SAMPLES.with_borrow_mut(|samples| {
        let samples = samples.get_or_insert_with(|| {
            let path = std::env::var_os("LIFESIGN_HANDLER_TIMES")?;
            let file = File::options().create(true).append(true).open(path).ok()?;
            Some(Samples {
                file,
                wakeup_ns: 0,
                pending: Vec::with_capacity(64 * 1024),
                flushed: Instant::now(),
            })
        });
        if let Some(samples) = samples {
            f(samples);
        }
    });
}

fn nanos_since(started: Instant) -> u32 {
    u32::try_from(started.elapsed().as_nanos()).unwrap_or(u32::MAX)
}

/// The wakeup handler that began at `started` has returned.
pub fn wakeup(started: Instant) {
    let ns = nanos_since(started);
    with(|s| s.wakeup_ns = s.wakeup_ns.saturating_add(ns));
}

/// The block handler that began at `started` has returned: the pass is complete.
pub fn block(started: Instant) {
    let ns = nanos_since(started);
    with(|s| {
        let pass = std::mem::take(&mut s.wakeup_ns).saturating_add(ns);
        s.pending.extend_from_slice(&pass.to_le_bytes());
        if s.flushed.elapsed() >= FLUSH_EVERY {
            // A benchmark build: a failed write loses samples, nothing else.
            let _ = s.file.write_all(&s.pending);
            s.pending.clear();
            s.flushed = Instant::now();
        }
    });
}
