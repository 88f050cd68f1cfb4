//! A healthy client's round trips, timed from a thread of its own while a test does harm
//! elsewhere: how "the server was never held up" is measured. A raw connection (with a read
//! timeout) rather than x11rb, so a server that stops answering fails the probe instead of
//! hanging the test.

use crate::Server;
use crate::raw::RawClient;
use lifesign_proto::ByteOrder;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Round trips (NoOperation, then GetInputFocus and its reply) every few ms until finished.
/// The NoOperation keeps the prober alive under `ExpectNoOperation` too.
pub struct Prober {
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<Result<Vec<(Instant, Duration)>, String>>,
    anchor: (Instant, u64),
}

/// What a prober measured: each round trip's start and duration.
pub struct Probed {
    pub trips: Vec<(Instant, Duration)>,
    /// A moment on both clocks, to set a round trip's start beside Unix ms (events' `at_ms`).
    anchor: (Instant, u64),
}

/// The pause between two round trips, by default.
const INTERVAL: Duration = Duration::from_millis(5);

impl Prober {
    pub fn start(server: &Server) -> Self {
        Self::every(server, INTERVAL)
    }

    /// A prober that pauses `interval` between round trips.
    pub fn every(server: &Server, interval: Duration) -> Self {
        let mut conn = RawClient::connect(server.display_number(), ByteOrder::native())
            .expect("the prober connects");
        conn.round_trip().expect("the prober's first round trip");
        let stop = Arc::new(AtomicBool::new(false));
        let thread = thread::spawn({
            let stop = stop.clone();
            move || {
                let noop = crate::raw::no_operation(ByteOrder::native());
                let mut trips = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    conn.send(&noop)
                        .and_then(|()| conn.round_trip())
                        .map_err(|e| format!("round trip {} failed: {e}", trips.len()))?;
                    trips.push((t, t.elapsed()));
                    thread::sleep(interval);
                }
                Ok(trips)
            }
        });
        Self {
            stop,
            thread,
            anchor: (Instant::now(), crate::unix_ms()),
        }
    }

    /// Stops it; panics if a round trip failed (the server closed it, or did not answer
    /// within the raw client's read timeout).
    pub fn finish(self) -> Probed {
        self.stop.store(true, Ordering::Relaxed);
        let trips = self
            .thread
            .join()
            .expect("the prober thread")
            .unwrap_or_else(|e| panic!("the healthy client was not served: {e}"));
        assert!(
            trips.len() > 10,
            "the prober ran: {} round trips",
            trips.len()
        );
        let probed = Probed {
            trips,
            anchor: self.anchor,
        };
        probed.keep_for_benchmark();
        probed
    }
}

impl Probed {
    /// With `LIFESIGN_ENTRY_TIMES_DIR` set (the fault benchmark), writes each round trip's
    /// duration, µs, a line each, to `<test>.probe.<n>.txt` there.
    fn keep_for_benchmark(&self) {
        let Some(path) = crate::server::benchmark_file("probe.", "txt") else {
            return;
        };
        let text: String = self
            .trips
            .iter()
            .map(|(_, d)| format!("{}\n", d.as_micros()))
            .collect();
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    pub fn max(&self) -> Duration {
        self.trips.iter().map(|t| t.1).max().unwrap_or_default()
    }

    /// When round trip `at` began, in Unix ms.
    pub fn unix_ms(&self, at: Instant) -> u64 {
        let (instant, unix) = self.anchor;
        match at.checked_duration_since(instant) {
            Some(after) => unix + after.as_millis() as u64,
            None => unix.saturating_sub(instant.duration_since(at).as_millis() as u64),
        }
    }

    pub fn p99(&self) -> Duration {
        let mut d: Vec<Duration> = self.trips.iter().map(|t| t.1).collect();
        d.sort();
        d[d.len() * 99 / 100]
    }

    /// The slowest round trip that began outside `[from, to)` (a window the test held the
    /// server up itself, as when it stopped it).
    pub fn max_outside(&self, from: Instant, to: Instant) -> Duration {
        self.trips
            .iter()
            .filter(|(at, d)| *at + *d < from || *at >= to)
            .map(|t| t.1)
            .max()
            .unwrap_or_default()
    }

    /// Prints what was measured `while` (a phrase: "while the launcher was stopped") and
    /// asserts that no round trip took `bound` or more.
    pub fn assert_max_under(&self, bound: Duration, while_: &str) {
        eprintln!("round trips {while_}: {}", self.summary());
        assert!(
            self.max() < bound,
            "the server was held up {while_}: {}",
            self.summary()
        );
    }

    /// `p99 …, max … over N round trips`, for the test's output.
    pub fn summary(&self) -> String {
        format!(
            "p99 {:?}, max {:?} over {} round trips",
            self.p99(),
            self.max(),
            self.trips.len()
        )
    }
}
