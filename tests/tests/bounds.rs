//! What one client can make the module hold in the server (issue 17): memory bounded per
//! client whatever it sends, and given back when it leaves.

use lifesign_proto::ByteOrder;
use lifesign_proto::ext::{EXTENSION_NAME, Request, WatchRequest};
use lifesign_tests::raw::RawClient;
use lifesign_tests::server::Xvfb;
use std::time::{Duration, Instant};

/// Watch requests the client sends, as the test asks.
const WATCHES: usize = 10_000_000;
/// Sent in batches of this many, each one write.
const BATCH: usize = 10_000;
/// The bound on the server's growth, KiB.
const GROWTH_KIB: u64 = 1024;

fn resident_kib(pid: u32) -> u64 {
    lifesign_tests::usage::of(pid).map_or(0, |u| u.rss_kib)
}

/// `count` Watch requests, alternating between two idle deadlines a day away, so that each
/// one moves the client's next deadline (the same policy again would not); 24 h is the most
/// a Watch may ask.
fn watches(major: u8, order: ByteOrder, count: usize) -> Vec<u8> {
    let request = |idle_timeout_ms| {
        Request::Watch(WatchRequest {
            idle_timeout_ms,
            ..WatchRequest::defaults()
        })
        .encode(major, order)
    };
    let (a, b) = (request(86_399_999), request(86_400_000));
    let mut bytes = Vec::with_capacity((a.len() + b.len()) * count / 2 + a.len());
    for i in 0..count {
        bytes.extend_from_slice(if i % 2 == 0 { &a } else { &b });
    }
    bytes
}

#[test]
fn ten_million_watch_requests_grow_the_server_by_under_a_mebibyte_and_leave_nothing() {
    let server = Xvfb::with_options("Watch=all;IdleTimeout=24h;Launcher=none").start();
    let pid = server.pid();
    let order = ByteOrder::native();
    let mut client = RawClient::connect(server.display_number(), order).expect("connect");
    let major = client
        .query_extension(EXTENSION_NAME)
        .expect("QueryExtension")
        .expect("the server has LIFESIGN");
    let batch = watches(major, order, BATCH);
    // The first batches make whatever the module keeps for a client at its largest; the
    // bound is on what comes after.
    for _ in 0..10 {
        client.send(&batch).expect("send");
    }
    client.round_trip().expect("round trip");
    std::thread::sleep(Duration::from_millis(300));
    let before = resident_kib(pid);

    let started = Instant::now();
    for _ in 0..WATCHES / BATCH {
        client.send(&batch).expect("send");
    }
    client
        .round_trip()
        .expect("the server answers after the flood");
    let during = resident_kib(pid);
    eprintln!(
        "{WATCHES} Watch requests in {:?}: the server's RSS {before} KiB before, {during} KiB after",
        started.elapsed()
    );
    assert!(
        during <= before + GROWTH_KIB,
        "the server grew by {} KiB over {WATCHES} Watch requests (bound {GROWTH_KIB})",
        during.saturating_sub(before)
    );

    drop(client);
    // Its end is handled; a new client's watch makes the module look at its entries again.
    let mut other = RawClient::connect(server.display_number(), order).expect("connect");
    other.round_trip().expect("round trip");
    std::thread::sleep(Duration::from_millis(300));
    let after = resident_kib(pid);
    eprintln!("after the client left: {after} KiB");
    assert!(
        after <= before + GROWTH_KIB / 4,
        "the server kept {} KiB after the client left",
        after.saturating_sub(before)
    );
}
