//! The fuzzer's figures: printed at the end of a run, and as JSON for `--summary`.

use super::tally::Tally;
use lifesign_tests::usage::Usage;
use serde_json::{Value, json};
use std::time::Duration;

pub fn summary(
    seed: u64,
    tally: &Tally,
    seconds: f64,
    worst_round_trip: Duration,
    before: Usage,
    after: Usage,
) -> Value {
    json!({
        "seed": seed,
        "requests": tally.requests,
        "bytes": tally.bytes,
        "seconds": seconds,
        "errors": tally.errors_json(),
        "version_replies": tally.versions,
        "list_replies": tally.lists,
        "silent": tally.silent,
        "reconnects": tally.reconnects,
        "lost_while_watched": tally.lost_while_watched,
        "mismatches": tally.mismatches,
        "worst_round_trip_ms": worst_round_trip.as_secs_f64() * 1e3,
        "rss_before_kib": before.rss_kib,
        "rss_after_kib": after.rss_kib,
        "fds_before": before.fds,
        "fds_after": after.fds,
    })
}

pub fn print(tally: &Tally, seconds: f64, worst: Duration, before: Usage, after: Usage) {
    println!();
    println!(
        "{} requests ({:.1} MiB) in {seconds:.1} s ({:.0}/s)",
        tally.requests,
        tally.bytes as f64 / f64::from(1 << 20),
        tally.requests as f64 / seconds
    );
    println!("errors: {}", tally.errors_line());
    println!(
        "replies: {} QueryVersion, {} ListClients; {} Watch/Unwatch answered with nothing, as they should",
        tally.versions, tally.lists, tally.silent
    );
    println!(
        "connections closed by the server (lengths it must close on): {}; lost while watched: {}",
        tally.reconnects, tally.lost_while_watched
    );
    println!("answers not as the protocol says: {}", tally.mismatches);
    println!(
        "worst round trip of the healthy connection at a check: {:.2} ms",
        worst.as_secs_f64() * 1e3
    );
    println!(
        "server RSS {} KiB before, {} KiB after; fds {} before, {} after",
        before.rss_kib, after.rss_kib, before.fds, after.fds
    );
}
