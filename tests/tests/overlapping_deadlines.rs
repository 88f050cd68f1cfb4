//! Two deadlines of one client past their half-way points at once (IdleTimeout and
//! ExpectNoOperation; IdleTimeout and a WM ping): the block handler once looped for ever
//! on them, hanging the server. The server must keep serving, and convict the client once.

use lifesign_proto::event::Body;
use lifesign_tests::Xvfb;
use std::time::{Duration, Instant};

#[test]
fn a_client_past_two_half_way_points_does_not_hold_the_server() {
    let server =
        Xvfb::with_options("Watch=all;IdleTimeout=2s;ExpectNoOperation=2s;Grace=0;Launcher=none")
            .start();
    let silent = server.connect(); // says nothing after its setup
    let busy = server.connect();
    lifesign_tests::lifesign::unwatch(&busy);
    // Round trips from a thread of their own, so that a hung server fails the test.
    let mut prober = lifesign::Prober::start(std::sync::Arc::new(busy));
    let start = Instant::now();
    let mut slowest = Duration::ZERO;
    while start.elapsed() < Duration::from_secs(3) {
        let took = prober
            .round_trip(Duration::from_secs(2))
            .expect("the server answers");
        slowest = slowest.max(took);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        slowest < Duration::from_millis(500),
        "the server was held: {slowest:?}"
    );
    let events = server.events();
    let count = |f: fn(&Body) -> bool| events.iter().filter(|e| f(&e.body)).count();
    assert_eq!(count(|b| matches!(b, Body::Lost { .. })), 1, "{events:?}");
    assert!(
        count(|b| matches!(b, Body::Suspect { .. })) <= 2,
        "{events:?}"
    );
    drop(silent);
}
