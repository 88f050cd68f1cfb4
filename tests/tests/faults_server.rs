//! Faults on the X server's side: the server itself stopped, a client that stops reading, a
//! thousand clients lost at once. What must hold, as in `faults`: the server is never held
//! up by the module (a healthy client's round trips, timed from a thread, stay under
//! `HELD_UP`), nobody is convicted for the server's own doing, no event is lost, and the
//! launcher link survives.
//!
//! A stopped server convicting nobody with IdleTimeout while it was in the middle of a
//! dispatch is `no_false_positives`; here every deadline runs at once, and the link too.

use lifesign_proto::ByteOrder;
use lifesign_proto::event::{Body, ClientInfo, LostReason};
use lifesign_proto::ext::{EXTENSION_NAME, Request, WatchRequest};
use lifesign_tests::listener::{Listener, is_kept};
use lifesign_tests::prober::Prober;
use lifesign_tests::raw::{self, RawClient};
use lifesign_tests::windows::{mapped_windows, parse_id, wait_until};
use lifesign_tests::{LOAD_MARGIN, Server, Xorg};
use rustix::process::Signal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use x11rb::connection::Connection as _;
use x11rb::protocol::xproto::ConnectionExt as _;

/// The slowest round trip allowed while a fault is under way (outside a stop of the server
/// by the test itself).
const HELD_UP: Duration = Duration::from_millis(250);

/// A Watch request for `client`'s own deadlines (the rest as the server's options say).
fn watch_request(client: &mut RawClient, request: WatchRequest) -> Vec<u8> {
    let major = client
        .query_extension(EXTENSION_NAME)
        .expect("QueryExtension")
        .expect("the server has LIFESIGN");
    Request::Watch(request).encode(major, client.order())
}

/// A raw client that opted in with `request` and then, until `stop`, sends NoOperation every
/// 100 ms, with a round trip when `round_trips` (a client that waits for replies, as a
/// toolkit does); returns it when stopped, or the error that ended it.
fn pulsing(
    server: &Server,
    request: WatchRequest,
    round_trips: bool,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<Result<(), String>> {
    let mut c = RawClient::connect(server.display_number(), ByteOrder::native()).unwrap();
    let watch = watch_request(&mut c, request);
    c.send(&watch).unwrap();
    c.round_trip().unwrap();
    thread::spawn(move || {
        let noop = raw::no_operation(c.order());
        let mut sent = 0;
        while !stop.load(Ordering::Relaxed) {
            c.send(&noop).map_err(|e| format!("send {sent}: {e}"))?;
            if round_trips {
                c.round_trip()
                    .map_err(|e| format!("round trip {sent}: {e}"))?;
            }
            sent += 1;
            thread::sleep(Duration::from_millis(100));
        }
        // Its last NoOperations were served: the connection is alive.
        c.round_trip().map_err(|e| format!("last round trip: {e}"))
    })
}

#[test]
fn a_server_stopped_past_every_deadline_convicts_nobody_and_keeps_its_launcher_link() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("launcher.sock");
    let listener = Listener::bind(&path);
    let server = Xorg::new()
        .option("Launcher", path.to_str().unwrap())
        .option("Watch", "all")
        .option("WmPing", "500ms")
        .option("WmPingTimeout", "1s")
        .option("Grace", "0")
        .start();
    // Every deadline at once: idle (a client making round trips), NoOperation (a pulse),
    // WM ping (zenity, GTK, answers the server's pings), each 1 s.
    let stop = Arc::new(AtomicBool::new(false));
    let idle = WatchRequest {
        idle_timeout_ms: 1000,
        ..WatchRequest::defaults()
    };
    let noop = WatchRequest {
        expect_noop_ms: 1000,
        ..WatchRequest::defaults()
    };
    let workers = [
        pulsing(&server, idle, true, stop.clone()),
        pulsing(&server, noop, false, stop.clone()),
    ];
    let mut zenity = server.spawn("zenity", &["--info", "--text", "stopped server"]);
    let observer = server.connect();
    lifesign_tests::lifesign::unwatch(&observer);
    let zenity_base = server
        .wait_for_event(Duration::from_secs(20), |e| {
            matches!(&e.body, Body::Watched { client, .. } if client.command.as_deref() == Some("zenity"))
        })
        .map(|e| parse_id(&e.client().unwrap().id))
        .expect("zenity connects");
    wait_until(Duration::from_secs(20), || {
        !mapped_windows(&observer, zenity_base).is_empty()
    })
    .expect("zenity maps its window");
    thread::sleep(Duration::from_secs(2)); // pings answered meanwhile
    assert!(
        server.lost_events().is_empty(),
        "all healthy before the stop"
    );
    let connections_before = listener.received().last().map(|r| r.conn);

    let stop_for = Duration::from_secs(3);
    server.signal(Signal::STOP);
    thread::sleep(stop_for);
    server.signal(Signal::CONT);
    thread::sleep(Duration::from_secs(3)); // three times every deadline, running again

    assert!(
        server.lost_events().is_empty(),
        "convicted for the server's own stop: {:#?}",
        server.lost_events()
    );
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap().expect("the client was served all along");
    }
    assert!(zenity.try_wait().unwrap().is_none(), "zenity runs");
    assert!(!mapped_windows(&observer, zenity_base).is_empty());
    let held = server.log_lines("lifesign: the server was held up");
    eprintln!("{}", held.join("\n"));
    assert!(!held.is_empty(), "the stall is noticed: {}", server.log());

    // The link survived: same connection, nothing dropped, and it still carries events.
    let probe = server.connect();
    probe.get_input_focus().unwrap().reply().unwrap();
    let probe_id = ClientInfo::format_id(probe.setup().resource_id_base);
    assert!(
        listener.wait_for(Duration::from_secs(5), |r| r.iter().any(|r| matches!(
            &r.event.body,
            Body::Watched { client, .. } if client.id == probe_id
        ))),
        "an event made after the stop reaches the launcher"
    );
    let made: Vec<u64> = server
        .events()
        .iter()
        .filter(|e| is_kept(e))
        .map(|e| e.seq)
        .collect();
    let arrived = |r: &[lifesign_tests::listener::Received]| -> Vec<u64> {
        r.iter()
            .map(|r| r.event.seq)
            .filter(|s| made.contains(s))
            .collect()
    };
    listener.wait_for(Duration::from_secs(5), |r| arrived(r).len() >= made.len());
    let got = listener.received();
    assert_eq!(arrived(&got), made, "every event, once, in order");
    assert!(
        got.iter().all(|r| Some(r.conn) == connections_before),
        "one connection all along"
    );
    assert!(server.log_lines("lost the launcher link").is_empty());
    let _ = zenity.kill();
}

/// GetImage (ZPixmap) of a `w`x`h` corner of `drawable`: a reply of w*h*4 bytes.
fn get_image(order: ByteOrder, drawable: u32, w: u16, h: u16) -> Vec<u8> {
    let mut r = vec![73, 2];
    r.extend_from_slice(&order.u16_bytes(5));
    r.extend_from_slice(&order.u32_bytes(drawable));
    r.extend_from_slice(&[0; 4]); // x, y
    r.extend_from_slice(&order.u16_bytes(w));
    r.extend_from_slice(&order.u16_bytes(h));
    r.extend_from_slice(&order.u32_bytes(u32::MAX)); // plane mask
    r
}

/// A client's own top-level window `id` (10x10, mapped) whose WM_PROTOCOLS lists
/// _NET_WM_PING: the server pings it.
fn pingable_window(order: ByteOrder, id: u32, root: u32, atoms: (u32, u32)) -> Vec<u8> {
    let mut r = vec![1, 0]; // CreateWindow, depth from the parent
    r.extend_from_slice(&order.u16_bytes(8));
    r.extend_from_slice(&order.u32_bytes(id));
    r.extend_from_slice(&order.u32_bytes(root));
    r.extend_from_slice(&[0; 4]); // x, y
    r.extend_from_slice(&order.u16_bytes(10));
    r.extend_from_slice(&order.u16_bytes(10));
    r.extend_from_slice(&order.u16_bytes(0)); // border
    r.extend_from_slice(&order.u16_bytes(1)); // InputOutput
    r.extend_from_slice(&[0; 8]); // visual from the parent, no values
    let (wm_protocols, net_wm_ping) = atoms;
    r.extend_from_slice(&[18, 0]); // ChangeProperty, replace
    r.extend_from_slice(&order.u16_bytes(7));
    r.extend_from_slice(&order.u32_bytes(id));
    r.extend_from_slice(&order.u32_bytes(wm_protocols));
    r.extend_from_slice(&order.u32_bytes(4)); // ATOM
    r.extend_from_slice(&[32, 0, 0, 0]);
    r.extend_from_slice(&order.u32_bytes(1));
    r.extend_from_slice(&order.u32_bytes(net_wm_ping));
    r.extend_from_slice(&[8, 0]); // MapWindow
    r.extend_from_slice(&order.u16_bytes(2));
    r.extend_from_slice(&order.u32_bytes(id));
    r
}

/// Until `stop`, sends `request` and a NoOperation every 50 ms and never reads; then falls
/// silent (still not reading) for as long as it is kept. Returns the client and when it
/// fell silent.
fn sending_not_reading(
    mut c: RawClient,
    request: Vec<u8>,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<(RawClient, Instant)> {
    thread::spawn(move || {
        let noop = raw::no_operation(c.order());
        while !stop.load(Ordering::Relaxed) {
            // Its socket fills with what the server cannot write to it; its own requests
            // still go out (the server keeps reading them).
            if c.send(&request).and_then(|()| c.send(&noop)).is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        (c, Instant::now())
    })
}

#[test]
fn a_client_that_stops_reading_is_judged_by_what_it_sends_and_holds_nobody_up() {
    const IDLE: Duration = Duration::from_secs(2);
    let server = Xorg::new()
        .option("Launcher", "none")
        .option("Watch", "all")
        .option("IdleTimeout", &format!("{}ms", IDLE.as_millis()))
        .option("WmPing", "500ms")
        .option("WmPingTimeout", "1s")
        .option("Grace", "0")
        .start();
    let observer = server.connect();
    lifesign_tests::lifesign::unwatch(&observer);
    let root = observer.setup().roots[0].root;
    let atom = |name: &[u8]| {
        observer
            .intern_atom(false, name)
            .unwrap()
            .reply()
            .unwrap()
            .atom
    };
    let atoms = (atom(b"WM_PROTOCOLS"), atom(b"_NET_WM_PING"));
    let prober = Prober::start(&server);
    let order = ByteOrder::native();
    let memory_before = resident_kib(&server);

    // One asks for big replies (256 KiB images) it never reads: the server cannot write
    // them, and must go on serving everyone else. Another has a window the server pings,
    // and never reads either: the pings are not answered.
    let mut images = RawClient::connect(server.display_number(), order).unwrap();
    images.round_trip().unwrap();
    let images_id = ClientInfo::format_id(images.resource_id_base());
    let mut pinged = RawClient::connect(server.display_number(), order).unwrap();
    let window = pinged.resource_id_base() | 1;
    pinged
        .send(&pingable_window(order, window, root, atoms))
        .unwrap();
    pinged.round_trip().unwrap();
    let pinged_id = ClientInfo::format_id(pinged.resource_id_base());
    let stop = Arc::new(AtomicBool::new(false));
    let images = sending_not_reading(images, get_image(order, root, 256, 256), stop.clone());
    let noop = raw::no_operation(order).to_vec();
    let pinged = sending_not_reading(pinged, noop, Arc::new(AtomicBool::new(false)));

    // Sending all along, the one that does not read its replies is not convicted: the
    // deadlines count requests. The one that does not read its pings cannot answer them:
    // that is what WmPing convicts (a hung event loop), whatever it sends.
    let start = Instant::now();
    let pinged_lost = server
        .wait_for_event(
            Duration::from_secs(10),
            |e| matches!(&e.body, Body::Lost { client, .. } if client.id == pinged_id),
        )
        .expect("the client that cannot answer its pings is lost");
    assert!(
        matches!(
            pinged_lost.body,
            Body::Lost {
                reason: LostReason::WmPingTimeout,
                ..
            }
        ),
        "{pinged_lost:?}"
    );
    eprintln!("the unread pinged client lost after {:?}", start.elapsed());
    thread::sleep((IDLE * 3).saturating_sub(start.elapsed()));
    let images_lost = |server: &Server| {
        server
            .lost_events()
            .into_iter()
            .find(|e| e.client().is_some_and(|c| c.id == images_id))
    };
    assert!(
        images_lost(&server).is_none(),
        "convicted while it sent: {:?}",
        images_lost(&server)
    );
    let memory_sending = resident_kib(&server);
    // Silent now, and still not reading: lost at IdleTimeout, closed with its unwritten
    // replies, and that close holds nobody up either.
    stop.store(true, Ordering::Relaxed);
    let (images, silent_since) = images.join().unwrap();
    let lost = server
        .wait_for_event(IDLE + LOAD_MARGIN * 3, |e| {
            e.client().is_some_and(|c| c.id == images_id) && matches!(e.body, Body::Lost { .. })
        })
        .expect("lost once silent");
    let Body::Lost { reason, .. } = lost.body else {
        unreachable!()
    };
    eprintln!(
        "the client sending and not reading: not convicted over {:?} of sending; lost \
         ({}) {:?} after it fell silent; the server's resident memory {memory_before} KiB \
         before, {memory_sending} KiB with the replies it could not write, {} KiB after",
        IDLE * 3,
        reason.as_str(),
        silent_since.elapsed(),
        resident_kib(&server)
    );
    drop(images);
    drop(pinged);
    prober
        .finish()
        .assert_max_under(HELD_UP, "while two clients did not read");
}

/// The server's resident memory (VmRSS), KiB.
fn resident_kib(server: &Server) -> u64 {
    lifesign_tests::usage::of(server.pid()).map_or(0, |u| u.rss_kib)
}

/// A server watching the TCP clients of a lab's one host with `transport` as their
/// TransportTimeout, and a client of that host that sends GetImage (16 KiB replies) and a
/// NoOperation every 50 ms and reads nothing: its receive window closes, and the server's
/// kernel has data waiting for it. It sends until its connection fails or `until` says
/// stop; returns how long it sent, and whether the connection failed.
fn tcp_client_not_reading(
    transport: Duration,
    until: impl Fn(Duration) -> bool,
) -> (lifesign_tests::net::Lab, Server, Duration, bool) {
    use std::io::Write;
    let lab = lifesign_tests::net::Lab::new(1);
    let server = Xorg::new()
        .in_lab(&lab)
        .option("Launcher", "none")
        .option("WatchPeers", "10.211.0.0/16")
        .option("TransportTimeout", &format!("{}ms", transport.as_millis()))
        .option("Grace", "0")
        .start();
    let root = server.connect().setup().roots[0].root;
    let order = ByteOrder::native();
    let mut client = lab.host(0).connect_raw_x(0, order);
    client
        .set_write_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let request = get_image(order, root, 64, 64);
    let noop = raw::no_operation(order);
    let start = Instant::now();
    loop {
        if client
            .write_all(&request)
            .and_then(|()| client.write_all(&noop))
            .is_err()
        {
            return (lab, server, start.elapsed(), true);
        }
        if until(start.elapsed()) {
            // Closed with unread data: its kernel resets the connection.
            return (lab, server, start.elapsed(), false);
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// The end the server reported of the lab's client.
fn tcp_end(server: &Server) -> Body {
    server
        .wait_for_event(Duration::from_secs(5), |e| {
            matches!(e.body, Body::Lost { .. } | Body::Gone { .. })
        })
        .expect("its end is reported")
        .body
}

#[test]
fn a_tcp_client_that_stops_reading_is_lost_after_a_minute_of_taking_nothing_not_before() {
    const TRANSPORT: Duration = Duration::from_secs(3);
    // Its window closes within a second and stays closed; its kernel answers every window
    // probe. A client that reads slowly looks the same between the moments its window opens,
    // which can be tens of seconds apart, so the module keeps one that takes nothing for a
    // minute (or TransportTimeout, if longer), then ends it (watchdog/src/transfer.rs).
    let limit = Duration::from_millis(lifesign_watchdog::transfer::not_taken_limit(
        TRANSPORT.as_millis() as u64,
    ));
    let (_lab, server, ended, failed) = tcp_client_not_reading(TRANSPORT, |sent| {
        assert!(
            sent < limit + Duration::from_secs(15),
            "still connected {sent:?} after it stopped reading"
        );
        false
    });
    assert!(failed);
    let end = tcp_end(&server);
    eprintln!(
        "a TCP client sending and not reading: its connection ended after {ended:?} \
         (TransportTimeout {TRANSPORT:?}); reported as {end:?}"
    );
    assert!(
        ended >= limit - Duration::from_secs(1),
        "ended before the limit of {limit:?}: {ended:?}"
    );
    // The module ended it: `lost`, so that a launcher fails over.
    assert!(
        matches!(
            end,
            Body::Lost {
                reason: LostReason::TransportTimeout,
                ..
            }
        ),
        "{end:?}"
    );
}

#[test]
fn a_tcp_client_that_stops_reading_and_exits_before_its_timeout_is_gone() {
    const TRANSPORT: Duration = Duration::from_secs(4);
    // Its window closes within a second (the test above); it exits at half the timeout, with
    // the server's data unread, so its kernel resets the connection: its own end, with the
    // window closed and nothing sent to it for two seconds.
    let (_lab, server, sent, failed) =
        tcp_client_not_reading(TRANSPORT, |sent| sent >= TRANSPORT / 2);
    assert!(!failed, "the connection failed after {sent:?}");
    let end = tcp_end(&server);
    eprintln!("a TCP client that stopped reading and exited after {sent:?}: {end:?}");
    assert!(
        matches!(
            end,
            Body::Gone {
                reason: lifesign_proto::event::GoneReason::Closed,
                ..
            }
        ),
        "{end:?}"
    );
}

#[test]
fn a_thousand_clients_lost_at_once_hold_nobody_up_and_every_loss_reaches_launcher_and_subscriber() {
    const CLIENTS: usize = 1000;
    const EXPECT_NOOP: Duration = Duration::from_secs(2);
    // The test process holds a thousand connections, and so does the server it starts.
    rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: Some(4096),
            maximum: Some(4096),
        },
    )
    .expect("raise RLIMIT_NOFILE (run as root)");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("launcher.sock");
    let listener = Listener::bind(&path);
    let server = Xorg::new()
        .args(&["-maxclients", "2048"])
        .option("Launcher", path.to_str().unwrap())
        .option("Watch", "none")
        .option("Grace", "0")
        .start();

    // Each opts in with its own NoOperation deadline, sends one NoOperation, then nothing:
    // all fall due within a few ms of each other.
    let order = ByteOrder::native();
    let mut first = RawClient::connect(server.display_number(), order).unwrap();
    let watch = watch_request(
        &mut first,
        WatchRequest {
            expect_noop_ms: u32::try_from(EXPECT_NOOP.as_millis()).unwrap(),
            ..WatchRequest::defaults()
        },
    );
    drop(first);
    let mut clients: Vec<RawClient> = (0..CLIENTS)
        .map(|i| {
            let mut c = RawClient::connect(server.display_number(), order)
                .unwrap_or_else(|e| panic!("client {i}: {e}"));
            c.send(&watch).unwrap();
            c
        })
        .collect();
    for c in &mut clients {
        c.round_trip().unwrap();
    }
    // A subscriber to every event (SelectEvents, LifesignNotify), reading them as they come:
    // a thousand X events more must not hold the server up either.
    let mut subscriber = RawClient::connect(server.display_number(), order).unwrap();
    let (major, first_event) = subscriber
        .extension(EXTENSION_NAME)
        .unwrap()
        .expect("the server has LIFESIGN");
    let select = Request::SelectEvents {
        mask: lifesign_proto::notify::ALL_KINDS,
    }
    .encode(major, order);
    subscriber.send(&select).unwrap();
    subscriber.round_trip().unwrap();
    let notified = thread::spawn(move || {
        let mut lost = std::collections::HashSet::new();
        while lost.len() < CLIENTS {
            match subscriber.read_packet() {
                Ok(raw::Packet::Event(bytes)) if bytes[0] == first_event => {
                    let n = lifesign_proto::notify::Notify::parse(&bytes, order).unwrap();
                    if n.kind == lifesign_proto::notify::Kind::Lost {
                        lost.insert(n.client);
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        lost
    });
    // Timed from here (not watched: Watch none): the losses, not the connections.
    let prober = Prober::start(&server);
    let noop = raw::no_operation(order);
    for c in &mut clients {
        c.send(&noop).unwrap();
    }
    let silent = Instant::now();
    let ids: std::collections::HashSet<String> = clients
        .iter()
        .map(|c| ClientInfo::format_id(c.resource_id_base()))
        .collect();

    let lost_at_launcher = |r: &[lifesign_tests::listener::Received]| {
        r.iter()
            .filter(|r| {
                matches!(&r.event.body, Body::Lost { client, reason: LostReason::NoopMissed, .. } if ids.contains(&client.id))
            })
            .count()
    };
    let all = listener.wait_for(EXPECT_NOOP + Duration::from_secs(20), |r| {
        lost_at_launcher(r) >= CLIENTS
    });
    let took = silent.elapsed();
    let got = listener.received();
    assert!(
        all,
        "{} of {CLIENTS} losses reached the launcher",
        lost_at_launcher(&got)
    );
    let lost: Vec<&lifesign_tests::listener::Received> = got
        .iter()
        .filter(|r| matches!(r.event.body, Body::Lost { .. }))
        .collect();
    let first_made = lost.iter().map(|r| r.event.at_ms).min().unwrap();
    let last_made = lost.iter().map(|r| r.event.at_ms).max().unwrap();
    let span = lost.last().unwrap().at - lost.first().unwrap().at;
    eprintln!(
        "{CLIENTS} clients silent at once: all lost and at the launcher {took:?} later; the \
         module declared them over {} ms, the launcher received them over {span:?}",
        last_made - first_made
    );
    assert_eq!(lost.len(), CLIENTS, "each loss once");
    assert!(got.iter().all(|r| r.conn == 0), "on one connection");
    // Every one closed: its socket reads the end.
    for c in &mut clients {
        assert!(c.round_trip().is_err(), "a lost client is closed");
    }
    prober
        .finish()
        .assert_max_under(HELD_UP, "while a thousand clients were lost");
    let notified = notified.join().unwrap();
    let bases: std::collections::HashSet<u32> =
        clients.iter().map(RawClient::resource_id_base).collect();
    assert_eq!(
        notified.intersection(&bases).count(),
        CLIENTS,
        "every loss reached the subscriber as an X event"
    );
}
