//! Event delivery: 1000 watched clients lost at once. Measured: how fast the module hands the
//! `lost` events to the launcher's socket, and the X server's round-trip time for a healthy
//! client while it closes them and sends the events.
//!
//! The launcher's end is the harness's listener (`lifesign_tests::listener`): it timestamps
//! each line as it arrives and acknowledges it at once, as `lifesign-launcher` does, so the
//! figure is the module's rate, not the launcher's.

use crate::fleet;
use lifesign_proto::event::Body;
use lifesign_proto::ext::WatchRequest;
use lifesign_tests::Xorg;
use lifesign_tests::listener::{self, Listener};
use lifesign_tests::prober::Prober;
use std::thread;
use std::time::Duration;

pub const LOST: usize = 1000;
const DEADLINE_MS: u32 = 2000;

/// A `lost` event as it reached the launcher's end.
pub struct Received {
    /// The module's `at_ms`: when it declared the client lost.
    pub at_ms: u64,
    /// When the line arrived (Unix ms).
    pub received_ms: u64,
}

/// One round trip of the healthy client: when it began (Unix ms) and how long it took (µs).
pub struct RoundTrip {
    pub at_ms: u64,
    pub micros: f64,
}

pub struct Delivery {
    pub lost: Vec<Received>,
    pub round_trips: Vec<RoundTrip>,
}

impl Delivery {
    /// First `at_ms` to last arrival, ms.
    pub fn span_ms(&self) -> f64 {
        let first = self.lost.iter().map(|r| r.at_ms).min().unwrap_or(0);
        let last = self.lost.iter().map(|r| r.received_ms).max().unwrap_or(0);
        last.saturating_sub(first) as f64
    }

    /// Round trips that began in `[from, to)` (Unix ms), µs.
    pub fn round_trips_in(&self, from: u64, to: u64) -> Vec<f64> {
        self.round_trips
            .iter()
            .filter(|r| r.at_ms >= from && r.at_ms < to)
            .map(|r| r.micros)
            .collect()
    }

    /// The burst: from the first loss to the last event's arrival.
    pub fn burst(&self) -> (u64, u64) {
        let first = self.lost.iter().map(|r| r.at_ms).min().unwrap_or(0);
        let last = self.lost.iter().map(|r| r.received_ms).max().unwrap_or(0);
        (first, last + 1)
    }
}

pub fn run() -> Delivery {
    fleet::raise_fd_limit(16_384);
    let dir = std::env::temp_dir().join(format!("lifesign-bench-link-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let socket = dir.join("launcher.sock");
    let _ = std::fs::remove_file(&socket);
    let end = Listener::bind(&socket);
    let server = Xorg::new()
        .args(&["-maxclients", "2048"])
        .option("Watch", "none")
        .option("Grace", "0")
        .option("Launcher", socket.to_str().expect("a UTF-8 path"))
        .start();
    // The healthy client (not watched: Watch none) times its round trips from now on, every
    // half millisecond.
    let prober = Prober::every(&server, Duration::from_micros(500));
    // Each opts in; one NoOperation each, sent in a tight loop, is their last sign of life, so
    // all fall due within a few ms.
    let request = WatchRequest {
        expect_noop_ms: DEADLINE_MS,
        ..WatchRequest::defaults()
    };
    let mut clients = fleet::connect(&server, LOST, Some(request));
    let noop = lifesign_tests::raw::no_operation(lifesign_proto::ByteOrder::native());
    for c in &mut clients {
        c.send(&noop).expect("a last NoOperation");
    }
    let is_lost = |r: &&listener::Received| matches!(r.event.body, Body::Lost { .. });
    assert!(
        end.wait_for(Duration::from_secs(60), |r| r
            .iter()
            .filter(is_lost)
            .count()
            >= LOST),
        "every loss reaches the launcher's end"
    );
    let lost: Vec<Received> = end
        .received()
        .iter()
        .filter(is_lost)
        .map(|r| Received {
            at_ms: r.event.at_ms,
            received_ms: r.at_ms,
        })
        .collect();
    thread::sleep(Duration::from_millis(500));
    let probed = prober.finish();
    let round_trips = probed
        .trips
        .iter()
        .map(|&(at, took)| RoundTrip {
            at_ms: probed.unix_ms(at),
            micros: took.as_secs_f64() * 1e6,
        })
        .collect();
    drop(clients);
    eprintln!(
        "delivery: {} lost events, first loss to last arrival {} ms",
        lost.len(),
        lost.iter().map(|r| r.received_ms).max().unwrap_or(0)
            - lost.iter().map(|r| r.at_ms).min().unwrap_or(0)
    );
    Delivery { lost, round_trips }
}
