//! TransportTimeout's quality of service on real links: Xorg with the module in a lab of
//! network namespaces, real idle clients (xlogo) on its hosts, packets dropped by nftables in
//! a host's namespace (the display's kernel sees only silence, as when a switch reboots).
//!
//! - A link outage shorter than the tolerance (`min(0.8 T, T - 2 s)`), at any phase of the
//!   keepalive cycle, convicts nobody; a cut that lasts is found within T.
//! - A client that reads slowly while the server streams events to it is kept; one that
//!   stops reading is `lost`/`transport-timeout`.

use lifesign_proto::ByteOrder;
use lifesign_proto::event::{Body, Event, LostReason};
use lifesign_tests::net::{Host, Lab};
use lifesign_tests::{Server, Xorg};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{AtomEnum, ConnectionExt as _, PropMode};
use x11rb::wrapper::ConnectionExt as _;

fn server(lab: &Lab, transport: Duration) -> Server {
    Xorg::new()
        .in_lab(lab)
        .option("Launcher", "none")
        .option("WatchPeers", "10.211.0.0/16")
        .option("TransportTimeout", &format!("{}ms", transport.as_millis()))
        .option("Grace", "0")
        .start()
}

/// The module's event for a client of `host`, if any, matching `f`.
fn event_of(server: &Server, host: &Host, f: impl Fn(&Body) -> bool) -> Option<Event> {
    let peer = format!("{}:", host.addr);
    server.events().into_iter().find(|e| {
        e.body
            .client()
            .and_then(|c| c.peer.as_deref())
            .is_some_and(|p| p.starts_with(&peer))
            && f(&e.body)
    })
}

fn ended(body: &Body) -> bool {
    matches!(body, Body::Lost { .. } | Body::Gone { .. })
}

/// Waits until the server's idle connection to `host` is `phase` (0 to 1) of the way
/// through its keepalive interval of `interval`, as its keepalive timer says.
fn wait_for_phase(lab: &Lab, host: &Host, interval: Duration, phase: f64) {
    let due = interval.mul_f64(1.0 - phase);
    let slack = Duration::from_millis(60);
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(left) = lab.keepalive_due(host.addr)
            && left <= due
            && left + slack >= due
        {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    panic!("the keepalive timer of {} never came to {due:?}", host.addr);
}

/// For TransportTimeout `transport`: an idle xlogo on each of six hosts goes through an
/// outage of each of `outages` at three phases of its keepalive cycle, all at once; a
/// seventh host is cut for good. Returns when the cut host's client was lost after the cut.
fn outages_at_three_phases(transport: Duration, outages: [Duration; 2]) {
    const PHASES: [f64; 3] = [0.25, 0.5, 0.75];
    let keepalive =
        lifesign_watchdog::policy::Keepalive::for_timeout(transport.as_millis() as u64, 15);
    let interval = Duration::from_secs(u64::from(keepalive.idle_s));
    let lab = Lab::new(7);
    let server = server(&lab, transport);
    let hosts: Vec<&Host> = (0..7).map(|i| lab.host(i)).collect();
    let _clients: Vec<_> = hosts.iter().map(|h| h.spawn(0, "xlogo", &[])).collect();
    for host in &hosts {
        assert!(
            lifesign_tests::windows::wait_until(Duration::from_secs(20), || {
                event_of(&server, host, |b| matches!(b, Body::Watched { .. })).is_some()
            })
            .is_some(),
            "xlogo of {} is watched",
            host.addr
        );
    }
    // Idle long enough that the keepalive cycle runs (the first probe comes after idle_s).
    thread::sleep(interval + Duration::from_millis(500));

    let cut_host = hosts[6];
    let cut_at = Instant::now();
    cut_host.drop_packets(100);
    let trials: Vec<(Duration, f64)> = outages
        .iter()
        .flat_map(|&d| PHASES.iter().map(move |&p| (d, p)))
        .collect();
    thread::scope(|scope| {
        for (host, &(outage, phase)) in hosts.iter().zip(&trials) {
            let lab = &lab;
            scope.spawn(move || {
                wait_for_phase(lab, host, interval, phase);
                host.drop_packets(100);
                thread::sleep(outage);
                host.pass_packets();
            });
        }
    });
    // Every outage is over: wait out a whole timeout after the last of them.
    thread::sleep(transport + Duration::from_secs(1));

    for (host, (outage, phase)) in hosts.iter().zip(&trials) {
        let end = event_of(&server, host, ended);
        assert!(
            end.is_none(),
            "TransportTimeout {transport:?}: an outage of {outage:?} at phase {phase} \
             ended the client of {}: {end:?}",
            host.addr
        );
    }
    let lost = event_of(&server, cut_host, ended).expect("the cut host's client is lost");
    assert!(
        matches!(
            lost.body,
            Body::Lost {
                reason: LostReason::TransportTimeout,
                ..
            }
        ),
        "{lost:?}"
    );
    // The event's time is the server's wall clock; the cut was made `elapsed` ago.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let cut_ms = now_ms - cut_at.elapsed().as_millis() as u64;
    let took = Duration::from_millis(lost.at_ms.saturating_sub(cut_ms));
    eprintln!(
        "TransportTimeout {transport:?}: the cut host's client was lost {took:?} after the cut"
    );
    // Within the timeout of its last answer, which came before the cut; the margin is for
    // the module's look and a loaded machine.
    assert!(
        took <= transport + Duration::from_millis(500),
        "lost {took:?} after the cut"
    );
}

#[test]
fn outages_of_half_a_second_and_a_second_convict_nobody_at_a_transport_timeout_of_3s() {
    outages_at_three_phases(
        Duration::from_secs(3),
        [Duration::from_millis(500), Duration::from_secs(1)],
    );
}

#[test]
fn outages_of_5s_and_7_5s_convict_nobody_at_the_default_transport_timeout() {
    outages_at_three_phases(
        Duration::from_secs(10),
        [Duration::from_secs(5), Duration::from_millis(7500)],
    );
}

/// ChangeWindowAttributes(root, event-mask = PropertyChange): the connection gets a
/// PropertyNotify for every property change on the root window.
fn select_root_property_changes(s: &mut TcpStream, order: ByteOrder, root: u32) {
    let mut r = vec![2, 0];
    r.extend_from_slice(&order.u16_bytes(4));
    r.extend_from_slice(&order.u32_bytes(root));
    r.extend_from_slice(&order.u32_bytes(0x800)); // CWEventMask
    r.extend_from_slice(&order.u32_bytes(0x40_0000)); // PropertyChangeMask
    s.write_all(&r).unwrap();
}

/// The server streams events to every client that selected root property changes: a
/// thousand PropertyNotify (32 KB) a second, from a connection of the test's own, until
/// `stop`.
fn stream_events(server: &Server, stop: Arc<AtomicBool>) -> thread::JoinHandle<()> {
    let conn = server.connect();
    let root = conn.setup().roots[0].root;
    thread::spawn(move || {
        let mut n = 0u32;
        while !stop.load(Ordering::Relaxed) {
            for _ in 0..10 {
                n = n.wrapping_add(1);
                conn.change_property32(
                    PropMode::REPLACE,
                    root,
                    AtomEnum::CUT_BUFFER0,
                    AtomEnum::INTEGER,
                    &[n],
                )
                .unwrap();
            }
            conn.flush().unwrap();
            thread::sleep(Duration::from_millis(10));
        }
        conn.get_input_focus().unwrap().reply().unwrap();
    })
}

/// A raw TCP client of `host` that selected root property changes: the server streams to it.
fn streamed_to(server: &Server, host: &Host) -> TcpStream {
    let root = server.connect().setup().roots[0].root;
    let order = ByteOrder::native();
    let mut s = host.connect_raw_x(0, order);
    select_root_property_changes(&mut s, order, root);
    s
}

fn is_transport_timeout(e: &Event) -> bool {
    matches!(
        e.body,
        Body::Lost {
            reason: LostReason::TransportTimeout,
            ..
        }
    )
}

/// The `lost`/`transport-timeout` of the client of `host`, waited for up to `within`.
fn transport_loss_of(server: &Server, host: &Host, within: Duration) -> Option<Event> {
    let peer = format!("{}:", host.addr);
    server.wait_for_event(within, |e| {
        is_transport_timeout(e)
            && e.body
                .client()
                .and_then(|c| c.peer.as_deref())
                .is_some_and(|p| p.starts_with(&peer))
    })
}

/// When `e` happened, as long ago as now.
fn ago(e: &Event) -> Duration {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    Duration::from_millis(now_ms.saturating_sub(e.at_ms))
}

#[test]
fn a_client_that_reads_slowly_is_kept_and_one_that_stops_reading_is_lost() {
    const TRANSPORT: Duration = Duration::from_secs(3);
    const SEGMENT: usize = 1448;
    const EVERY: Duration = Duration::from_millis(300);
    let lab = Lab::new(2);
    let server = server(&lab, TRANSPORT);
    let (slow_host, stopped_host) = (lab.host(0), lab.host(1));
    let mut slow = streamed_to(&server, slow_host);
    let mut stopped = streamed_to(&server, stopped_host);
    let stop = Arc::new(AtomicBool::new(false));
    let streamer = stream_events(&server, stop.clone());
    let start = Instant::now();
    let limit = Duration::from_millis(lifesign_watchdog::transfer::not_taken_limit(
        TRANSPORT.as_millis() as u64,
    ));
    let run = limit + Duration::from_secs(15);
    // One segment every 300 ms, for longer than the stopped one is kept.
    let mut buf = [0u8; SEGMENT];
    let mut read = 0;
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    while start.elapsed() < run {
        match slow.read(&mut buf) {
            Ok(0) => panic!(
                "the slow reader's connection ended after {:?}",
                start.elapsed()
            ),
            Ok(n) => read += n,
            Err(e) => panic!(
                "the slow reader's connection failed after {:?}: {e}",
                start.elapsed()
            ),
        }
        thread::sleep(EVERY);
    }
    stop.store(true, Ordering::Relaxed);
    streamer.join().unwrap();
    eprintln!("the slow reader read {read} bytes in {run:?}");

    assert_eq!(
        event_of(&server, slow_host, ended),
        None,
        "the slow reader is kept"
    );
    let lost = event_of(&server, stopped_host, ended).expect("the stopped reader's end");
    assert!(is_transport_timeout(&lost), "{lost:?}");
    // Kept while it answered, for its limit after its window closed (within seconds of the
    // start).
    let kept = start.elapsed().saturating_sub(ago(&lost));
    assert!(
        kept >= limit && kept <= limit + Duration::from_secs(10),
        "the stopped reader was lost {kept:?} after the stream began"
    );
    // Its connection is closed: reading gives what was buffered, then the end.
    stopped
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut rest = Vec::new();
    let end = stopped.read_to_end(&mut rest);
    assert!(
        end.is_ok() || end.is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "the stopped reader's connection is closed"
    );
}

#[test]
fn a_dead_host_behind_a_closed_window_is_lost_within_the_timeout_not_after_a_minute() {
    // A client that reads nothing: its window closes, its kernel answers every probe. Then
    // its host goes: two probes in a row unanswered, and nothing acknowledged for T.
    const TRANSPORT: Duration = Duration::from_secs(3);
    let lab = Lab::new(1);
    let server = server(&lab, TRANSPORT);
    let host = lab.host(0);
    let _stopped = streamed_to(&server, host);
    let stop = Arc::new(AtomicBool::new(false));
    let streamer = stream_events(&server, stop.clone());
    // Its window closes within seconds; it is kept meanwhile.
    thread::sleep(Duration::from_secs(10));
    assert_eq!(event_of(&server, host, ended), None);
    host.drop_packets(100);
    let cut = Instant::now();
    let lost = transport_loss_of(&server, host, Duration::from_secs(30));
    let took = cut
        .elapsed()
        .saturating_sub(lost.as_ref().map_or(Duration::ZERO, ago));
    stop.store(true, Ordering::Relaxed);
    streamer.join().unwrap();
    let lost = lost.expect("the dead host's client is lost");
    eprintln!("a dead host behind a closed window: lost {took:?} after the cut");
    // Two probes (a second apart) and the timeout since the last answer.
    assert!(
        took <= TRANSPORT + Duration::from_secs(2),
        "lost {took:?} after the cut: {lost:?}"
    );
}

/// Reads everything `s` gets until `stop`; returns how many bytes, and the error that ended
/// it early, if any.
fn drain(mut s: TcpStream, stop: Arc<AtomicBool>) -> thread::JoinHandle<(usize, Option<String>)> {
    thread::spawn(move || {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 65536];
        let mut read = 0;
        while !stop.load(Ordering::Relaxed) {
            match s.read(&mut buf) {
                Ok(0) => return (read, Some("end of stream".into())),
                Ok(n) => read += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return (read, Some(e.to_string())),
            }
        }
        (read, None)
    })
}

/// Three clients the server streams events to, reading all of them: one goes through an
/// outage of `outage` and must be kept; one is cut for good and must be lost within T; one
/// loses what the server sends it, for good, while its own packets still arrive (a cut one
/// way), and must be lost within T too (its own retransmissions look like answers, so this is
/// the module's rule for data in flight with nothing of it acknowledged).
fn busy_outage(transport: Duration, outage: Duration) {
    let lab = Lab::new(3);
    let server = server(&lab, transport);
    let (outage_host, cut_host, one_way_host) = (lab.host(0), lab.host(1), lab.host(2));
    let stop = Arc::new(AtomicBool::new(false));
    let streams: Vec<TcpStream> = [outage_host, cut_host, one_way_host]
        .iter()
        .map(|h| streamed_to(&server, h))
        .collect();
    // The one cut one way keeps sending (a NoOperation every 100 ms): what it sends still
    // arrives, and its retransmissions refresh the time of the last acknowledgment.
    let sender = {
        let mut s = streams[2].try_clone().unwrap();
        s.set_write_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let stop = stop.clone();
        thread::spawn(move || {
            let noop = lifesign_tests::raw::no_operation(ByteOrder::native());
            while !stop.load(Ordering::Relaxed) {
                let _ = s.write_all(&noop);
                thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let readers: Vec<_> = streams
        .into_iter()
        .map(|s| drain(s, stop.clone()))
        .collect();
    let streamer = stream_events(&server, stop.clone());
    thread::sleep(Duration::from_secs(2));
    outage_host.drop_packets(100);
    cut_host.drop_packets(100);
    one_way_host.drop_incoming();
    let cut = Instant::now();
    thread::sleep(outage);
    outage_host.pass_packets();
    let lost_of = |host| transport_loss_of(&server, host, transport + Duration::from_secs(5));
    let (lost_cut, lost_one_way) = (lost_of(cut_host), lost_of(one_way_host));
    let after_cut = |e: &Option<Event>| e.as_ref().map(|e| cut.elapsed().saturating_sub(ago(e)));
    let (took_cut, took_one_way) = (after_cut(&lost_cut), after_cut(&lost_one_way));
    thread::sleep(Duration::from_secs(3));
    // Judged before the readers stop: their connections then close.
    let outage_end = event_of(&server, outage_host, ended);
    stop.store(true, Ordering::Relaxed);
    streamer.join().unwrap();
    sender.join().unwrap();
    let results: Vec<_> = readers.into_iter().map(|r| r.join().unwrap()).collect();
    eprintln!(
        "TransportTimeout {transport:?}, outage {outage:?}: readers {results:?}; \
         cut lost after {took_cut:?}, one way after {took_one_way:?}"
    );
    assert_eq!(outage_end, None, "the client through the outage is kept");
    assert_eq!(results[0].1, None, "its connection still works");
    for (what, took) in [("cut", took_cut), ("cut one way", took_one_way)] {
        let took = took.unwrap_or_else(|| panic!("the client {what} is lost"));
        // The timeout from its last answer (or from the first look that saw nothing of what
        // is in flight taken, up to a tenth of T later), and a margin for a loaded machine.
        assert!(
            took <= transport + transport / 10 + Duration::from_secs(1),
            "the client {what} was lost {took:?} after the cut"
        );
    }
}

#[test]
fn a_busy_client_survives_an_outage_of_7s_at_the_default_transport_timeout() {
    // Without a cap on the wait between retries, the kernel's retry after a 7 s outage comes
    // 12.6 s after the first loss, past the timeout.
    busy_outage(Duration::from_secs(10), Duration::from_secs(7));
}

#[test]
fn a_busy_client_survives_an_outage_of_20s_at_a_transport_timeout_of_30s() {
    // With the wait capped at a second whatever the timeout, the kernel gave up on its own
    // after 14.4 s: the cap grows with the timeout.
    busy_outage(Duration::from_secs(30), Duration::from_secs(20));
}
