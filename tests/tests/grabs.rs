//! A client that grabs the server now and then, next to a hung client (issue 17): the time a
//! grab holds the others is a pause of their deadlines, never a restart, so a client that
//! grabs often (some window managers and tools do) does not keep a hung one alive.

use lifesign_proto::ByteOrder;
use lifesign_proto::event::{Body, ClientInfo, LostReason};
use lifesign_tests::raw::RawClient;
use lifesign_tests::server::Xvfb;
use lifesign_tests::{LOAD_MARGIN, unix_ms};
use std::thread;
use std::time::Duration;
use x11rb::protocol::xproto::ConnectionExt as _;

const IDLE_MS: u64 = 3000;

#[test]
fn a_hung_client_is_lost_within_its_deadline_and_the_time_the_grabs_held_it() {
    let server = Xvfb::with_options("Watch=all;IdleTimeout=3s;Grace=0;Launcher=none").start();
    // The hung client: set up, then silent, as a stopped xclock.
    let mut hung = RawClient::connect(server.display_number(), ByteOrder::native()).unwrap();
    // Read before its last request: the server saw it no earlier.
    let silent_since = unix_ms();
    hung.round_trip().unwrap();
    let id = ClientInfo::format_id(hung.resource_id_base());
    let lost_at = || {
        server.events().iter().find_map(|e| match &e.body {
            Body::Lost { client, reason, .. } if client.id == id => Some((e.at_ms, *reason)),
            _ => None,
        })
    };
    let grabber = server.connect();
    // 50 ms of grab every second: (start, end) of each, in the events' clock.
    let mut grabs: Vec<(u64, u64)> = Vec::new();
    while lost_at().is_none() && unix_ms() < silent_since + 15_000 {
        thread::sleep(Duration::from_millis(950));
        let start = unix_ms();
        grabber.grab_server().unwrap();
        grabber.get_input_focus().unwrap().reply().unwrap();
        thread::sleep(Duration::from_millis(50));
        grabber.ungrab_server().unwrap();
        grabber.get_input_focus().unwrap().reply().unwrap();
        grabs.push((start, unix_ms()));
    }
    let (at_ms, reason) = lost_at().expect("the hung client was kept alive by the grabs");
    assert_eq!(reason, LostReason::IdleTimeout);
    // What the grabs before its loss held it, at most (measured around them from outside).
    let held: u64 = grabs
        .iter()
        .filter(|&&(_, end)| end <= at_ms)
        .map(|&(start, end)| end - start)
        .sum();
    let deadline = silent_since + IDLE_MS;
    eprintln!(
        "lost {} ms after IdleTimeout; the grabs held it up to {held} ms",
        at_ms as i64 - deadline as i64
    );
    assert!(at_ms >= deadline, "lost {} ms early", deadline - at_ms);
    // The bound is 100 ms past deadline + held; a loaded machine gets the margin.
    let bound = deadline + held + 100 + LOAD_MARGIN.as_millis() as u64;
    assert!(
        at_ms <= bound,
        "lost {} ms past IdleTimeout + {held} ms held",
        at_ms - deadline - held
    );
    drop(hung);
}
