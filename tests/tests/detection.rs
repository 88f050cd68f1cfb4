//! Cable cuts: a watched client's host loses its network; its windows are gone within the
//! deadline, for the right reason, and no socket of it is left on the server.

use lifesign_proto::event::{Body, Event, LostReason};
use lifesign_tests::net::Lab;
use lifesign_tests::windows::{mapped_windows, peer_is, wait_until, watched_and_mapped};
use lifesign_tests::{LOAD_MARGIN, Server, Xorg};
use std::time::{Duration, Instant};

/// Cuts the host's cable and returns when that happened and when the client's windows were
/// gone, with the lost event.
fn cut_and_wait(
    server: &Server,
    lab: &Lab,
    base: u32,
    bound: Duration,
) -> (Instant, Instant, Event) {
    let host = lab.host(0);
    let observer = server.connect();
    let cut = Instant::now();
    host.cut();
    let gone = wait_until(bound + LOAD_MARGIN + Duration::from_secs(5), || {
        mapped_windows(&observer, base).is_empty()
    })
    .expect("the windows of the lost client disappear");
    let lost = server
        .wait_for_event(Duration::from_secs(5), |e| {
            matches!(e.body, Body::Lost { .. }) && peer_is(e, host.addr)
        })
        .expect("a lost event");
    (cut, gone, lost)
}

fn reason_and_silence(event: &Event) -> (LostReason, u64) {
    match event.body {
        Body::Lost {
            reason, silent_ms, ..
        } => (reason, silent_ms),
        _ => unreachable!(),
    }
}

fn assert_no_socket_left(lab: &Lab) {
    let addr = lab.host(0).addr;
    let left = wait_until(Duration::from_secs(2), || {
        lab.server_sockets_to(addr).is_empty()
    });
    assert!(
        left.is_some(),
        "sockets left on the server: {:?}",
        lab.server_sockets_to(addr)
    );
}

#[test]
fn a_chatty_client_is_lost_at_idle_timeout() {
    let lab = Lab::new(1);
    let server = Xorg::new()
        .in_lab(&lab)
        .option("IdleTimeout", "2s")
        .option("TransportTimeout", "0")
        .option("Grace", "1s")
        .start();
    let _xclock = lab
        .host(0)
        .spawn(server.display_number(), "xclock", &["-update", "1"]);
    let base = watched_and_mapped(&server, lab.host(0).addr);
    std::thread::sleep(Duration::from_millis(1500)); // past Grace

    let timeout = Duration::from_secs(2);
    let (cut, gone, lost) = cut_and_wait(&server, &lab, base, timeout);
    let (reason, silent_ms) = reason_and_silence(&lost);
    eprintln!(
        "idle-timeout: gone {:?} after the cut; {}",
        gone - cut,
        lost.to_line()
    );
    assert_eq!(reason, LostReason::IdleTimeout);
    // xclock's last request came at most a second before the cut.
    let after_cut = gone - cut;
    assert!(
        after_cut >= timeout - Duration::from_millis(1100),
        "too early: {after_cut:?}"
    );
    assert!(
        after_cut <= timeout + Duration::from_millis(100) + LOAD_MARGIN,
        "too late: {after_cut:?}"
    );
    assert!(
        silent_ms <= 2000 + 100 + LOAD_MARGIN.as_millis() as u64,
        "silent_ms {silent_ms}"
    );
    assert!(silent_ms >= 2000, "silent_ms {silent_ms}");
    assert_no_socket_left(&lab);
}

#[test]
fn an_idle_client_is_lost_at_transport_timeout() {
    let lab = Lab::new(1);
    let server = Xorg::new()
        .in_lab(&lab)
        .option("TransportTimeout", "3s")
        .start();
    let _xlogo = lab.host(0).spawn(server.display_number(), "xlogo", &[]);
    let base = watched_and_mapped(&server, lab.host(0).addr);
    std::thread::sleep(Duration::from_secs(4)); // idle: keepalive probes are under way

    let timeout = Duration::from_secs(3);
    let (cut, gone, lost) = cut_and_wait(&server, &lab, base, timeout);
    eprintln!(
        "transport-timeout: gone {:?} after the cut; {}",
        gone - cut,
        lost.to_line()
    );
    assert_eq!(reason_and_silence(&lost).0, LostReason::TransportTimeout);
    let after_cut = gone - cut;
    assert!(
        after_cut <= timeout + Duration::from_secs(1) + LOAD_MARGIN,
        "too late: {after_cut:?}"
    );
    assert_no_socket_left(&lab);
}
