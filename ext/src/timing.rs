//! Benchmark builds only (feature `handler-timing`, never in a package): the time each pass of
//! the module's deadline timer takes (the module runs no code on the server's other turns), so
//! the benchmark can show its distribution at scale.
//!
//! `LIFESIGN_HANDLER_TIMES=<file>` names where the samples go: per pass, two little-endian
//! `u32`s, its wall time and the thread's CPU time in nanoseconds (the wall time includes
//! whatever the kernel gave other processes meanwhile, the CPU time only the pass's own
//! work), appended about once a second from the timer, after its timed part. Without the
//! variable nothing is recorded.
//!
//! `LIFESIGN_ENTRY_TIMES=<file>`: the longest time and a histogram of every entry point of
//! the module (each call from the server into it, through `guard::entry`), in wall time and
//! in the thread's CPU time, so the fault benchmark can show how long the module ever held
//! the server's thread and how much of that was its own work. Written as text, one line per
//! entry point (see [`Entries::write`]), whenever an entry sets a new longest time or takes
//! over 1 ms, and once a second otherwise. The write happens after the entry's timed part,
//! but inside an entry point that called it (a callback within the deadline timer): such
//! outer times include it, which only overstates them.

use lifesign_proto::timing::BUCKETS_NS;
pub use lifesign_proto::timing::SERVER_CLOSE;
use std::cell::RefCell;
use std::fs::File;
use std::io::Write as _;
use std::time::{Duration, Instant};

const FLUSH_EVERY: Duration = Duration::from_secs(1);

struct Samples {
    file: File,
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

/// When a pass of the deadline timer began, in both clocks.
pub struct PassStart {
    wall: Instant,
    cpu_ns: u64,
}

/// A pass of the deadline timer begins.
pub fn pass_begin() -> PassStart {
    PassStart {
        wall: Instant::now(),
        cpu_ns: crate::server::time::thread_cpu_ns(),
    }
}

/// The deadline timer's pass that began at `started` has returned.
pub fn pass(started: PassStart) {
    let wall = nanos_since(started.wall);
    let cpu = crate::server::time::thread_cpu_ns().saturating_sub(started.cpu_ns);
    let cpu = u32::try_from(cpu).unwrap_or(u32::MAX);
    with(|s| {
        s.pending.extend_from_slice(&wall.to_le_bytes());
        s.pending.extend_from_slice(&cpu.to_le_bytes());
        if s.flushed.elapsed() >= FLUSH_EVERY {
            // A benchmark build: a failed write loses samples, nothing else.
            let _ = s.file.write_all(&s.pending);
            s.pending.clear();
            s.flushed = Instant::now();
        }
    });
}

/// The longest time and the histogram of one entry point, in one clock.
#[derive(Default)]
struct Spread {
    longest_ns: u64,
    buckets: [u64; BUCKETS_NS.len() + 1],
}

impl Spread {
    /// Adds a call of `ns`; true if it is the longest yet.
    fn add(&mut self, ns: u64) -> bool {
        self.buckets[BUCKETS_NS.iter().take_while(|&&b| ns > b).count()] += 1;
        let longest = ns > self.longest_ns;
        self.longest_ns = self.longest_ns.max(ns);
        longest
    }

    fn columns(&self) -> String {
        let buckets: Vec<String> = self.buckets.iter().map(u64::to_string).collect();
        format!("{}\t{}", self.longest_ns, buckets.join("\t"))
    }
}

#[derive(Default)]
struct EntryStats {
    calls: u64,
    /// Wall time: how long the server's thread was in the entry point.
    wall: Spread,
    /// The thread's CPU time: the part of it the thread ran (the rest it was preempted).
    cpu: Spread,
}

struct Entries {
    path: std::path::PathBuf,
    stats: Vec<(&'static str, EntryStats)>,
    written: Instant,
}

thread_local! {
    static ENTRIES: RefCell<Option<Option<Entries>>> = const { RefCell::new(None) };
}

/// The entry point of this module's own bookkeeping (the pass samples), not timed.
pub const OWN_ENTRY: &str = "the handler timing";

/// When an entry point began, on both clocks.
pub struct Began {
    wall: Instant,
    cpu_ns: u64,
}

/// An entry point begins: its clocks, if entry times are asked for (`LIFESIGN_ENTRY_TIMES`);
/// otherwise nothing is read, so the pass samples of the scale benchmark are not skewed.
pub fn begin() -> Option<Began> {
    let enabled = ENTRIES.with_borrow_mut(|entries| {
        entries
            .get_or_insert_with(|| {
                let path = std::env::var_os("LIFESIGN_ENTRY_TIMES")?;
                Some(Entries {
                    path: path.into(),
                    stats: Vec::new(),
                    written: Instant::now(),
                })
            })
            .is_some()
    });
    enabled.then(|| Began {
        wall: Instant::now(),
        cpu_ns: crate::server::time::thread_cpu_ns(),
    })
}

/// The entry point `name`, which began as `began` says, has returned.
pub fn entry(name: &'static str, began: Option<Began>) {
    let Some(began) = began else {
        return;
    };
    if name == OWN_ENTRY {
        return;
    }
    let cpu_ns = crate::server::time::thread_cpu_ns().saturating_sub(began.cpu_ns);
    let wall_ns = u64::try_from(began.wall.elapsed().as_nanos()).unwrap_or(u64::MAX);
    ENTRIES.with_borrow_mut(|entries| {
        let Some(Some(entries)) = entries else {
            return;
        };
        let at = match entries.stats.iter().position(|(n, _)| *n == name) {
            Some(at) => at,
            None => {
                entries.stats.push((name, EntryStats::default()));
                entries.stats.len() - 1
            }
        };
        let stats = &mut entries.stats[at].1;
        stats.calls += 1;
        let longest = stats.wall.add(wall_ns) | stats.cpu.add(cpu_ns);
        if longest || wall_ns > 1_000_000 || entries.written.elapsed() >= FLUSH_EVERY {
            entries.write();
        }
    });
}

impl Entries {
    /// One line per entry point: name, calls, then the wall time's longest and buckets, then
    /// the CPU time's.
    fn write(&mut self) {
        let mut text = String::new();
        for (name, s) in &self.stats {
            text += &format!(
                "{name}\t{}\t{}\t{}\n",
                s.calls,
                s.wall.columns(),
                s.cpu.columns()
            );
        }
        // A benchmark build: a failed write loses figures, nothing else.
        let _ = std::fs::write(&self.path, text);
        self.written = Instant::now();
    }
}
