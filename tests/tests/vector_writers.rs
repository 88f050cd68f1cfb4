//! Other code in the server that writes request vectors after lifesign is loaded keeps
//! working, and lifesign keeps seeing the requests: a test module (tests/wrapper/testwrap.c,
//! built here and preloaded into Xvfb after lifesign) wraps `ProcVector[X_GetGeometry]`, or
//! also writes the calling client's `requestVector` entry as the modesetting driver does. A
//! watched client that sends nothing but GetGeometry is served through the wrap every time,
//! is never taken for idle while it does, and is lost at its deadline once it stops.

use lifesign_proto::event::{Body, LostReason};
use lifesign_tests::server::module_path;
use lifesign_tests::{Server, Xvfb};
use std::path::Path;
use std::time::{Duration, Instant};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::ConnectionExt as _;

const IDLE: Duration = Duration::from_secs(2);

fn start(mode: &str, wrap: &Path) -> Server {
    let preload = format!("{} {}", module_path().display(), wrap.display());
    Xvfb::with_options(&format!(
        "Watch=all;IdleTimeout={}ms;Grace=0",
        IDLE.as_millis()
    ))
    .env("LD_PRELOAD", &preload)
    .env("TESTWRAP_MODE", mode)
    .start()
}

fn wrapped_calls(server: &Server) -> usize {
    server.log_lines("testwrap: GetGeometry ").len()
}

fn requests_pass_both(mode: &str) {
    let (_dir, wrap) = lifesign_tests::wrapper::build("testwrap.c", "testwrap");
    let server = start(mode, &wrap);
    let conn = server.connect();
    let root = conn.setup().roots[0].root;
    conn.get_input_focus().unwrap().reply().unwrap();
    assert!(
        server.wait_for_log("testwrap: wrapped GetGeometry", 1, Duration::from_secs(5)),
        "{}",
        server.log()
    );
    let before = wrapped_calls(&server);
    // GetGeometry only, for three idle deadlines: lifesign sees each one through the server's
    // request count, whoever handles it.
    let sent = 30;
    for _ in 0..sent {
        std::thread::sleep(IDLE * 3 / sent);
        conn.get_geometry(root).unwrap().reply().unwrap();
    }
    let quiet = Instant::now();
    assert!(
        server.wait_for_log(
            "testwrap: GetGeometry ",
            before + sent as usize,
            Duration::from_secs(5)
        ),
        "the wrap saw {} of {sent}",
        wrapped_calls(&server) - before
    );
    assert!(
        !server
            .events()
            .iter()
            .any(|e| matches!(e.body, Body::Lost { .. })),
        "a client busy with wrapped requests was taken for lost: {}",
        server.log()
    );
    // Silent now: lost at its deadline.
    let lost = server.wait_for_event(IDLE + Duration::from_secs(5), |e| {
        matches!(
            e.body,
            Body::Lost {
                reason: LostReason::IdleTimeout,
                ..
            }
        )
    });
    assert!(lost.is_some(), "not lost once silent: {}", server.log());
    assert!(quiet.elapsed() >= IDLE - Duration::from_millis(100));
}

#[test]
fn a_procvector_entry_wrapped_after_lifesign_sees_watched_requests_and_so_does_lifesign() {
    requests_pass_both("procvector");
}

#[test]
fn a_client_vector_entry_written_as_modesetting_does_sees_watched_requests_and_so_does_lifesign() {
    requests_pass_both("client");
}
