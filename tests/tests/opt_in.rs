//! Clients that declare their own policy and service name through the extension, the list
//! of watched clients, a host-scope pulse, and how each end is reported.

use lifesign_proto::event::{Body, GoneReason, LostReason, Transport};
use lifesign_proto::ext::{self, WatchRequest};
use lifesign_tests::net::Lab;
use lifesign_tests::windows::wait_until;
use lifesign_tests::{LOAD_MARGIN, Server, Xorg, lifesign};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::ConnectionExt as _;
use x11rb::rust_connection::RustConnection;

fn pulse_request(expect_noop_ms: u32, service: &str, flags: u32) -> WatchRequest {
    WatchRequest {
        expect_noop_ms,
        flags,
        service: service.into(),
        ..WatchRequest::defaults()
    }
}

/// Sends NoOperation every 200 ms until `stop`.
fn pulse(conn: Arc<RustConnection>, stop: Arc<AtomicBool>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            if conn.no_operation().is_err() || conn.flush().is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(200));
        }
    })
}

/// Waits for client `id` to be lost and checks it was for `reason`, within the expectation
/// (1 s here) of `since`.
fn assert_lost_within_a_second(server: &Server, id: &str, reason: LostReason, since: Instant) {
    let lost = wait_until(Duration::from_secs(5), || lost_reason(server, id).is_some())
        .unwrap_or_else(|| panic!("{id} is not lost"));
    assert_eq!(lost_reason(server, id), Some(reason));
    let after = lost - since;
    assert!(
        after <= Duration::from_millis(1100) + LOAD_MARGIN,
        "{after:?}"
    );
}

fn lost_reason(server: &Server, id: &str) -> Option<LostReason> {
    server.events().into_iter().find_map(|e| match e.body {
        Body::Lost { client, reason, .. } if client.id == id => Some(reason),
        _ => None,
    })
}

#[test]
fn a_client_opts_in_with_its_own_policy_and_service() {
    let server = Xorg::new()
        .option("Watch", "none")
        .option("Grace", "0")
        .start();
    let viewer = server.connect();
    assert!(
        lifesign::list_clients(&viewer).is_empty(),
        "Watch none: nobody by default"
    );

    let app = Arc::new(server.connect());
    lifesign::watch(&*app, pulse_request(1000, "plant-view", 0))
        .check()
        .expect("Watch succeeds");
    let listed = lifesign::list_clients(&viewer);
    assert_eq!(listed.len(), 1, "{listed:?}");
    let entry = &listed[0];
    assert_eq!(entry.client.service.as_deref(), Some("plant-view"));
    assert_eq!(entry.client.transport, Transport::Local);
    assert_eq!(entry.client.pid, Some(std::process::id()));
    assert_eq!(entry.policy.expect_noop_ms, 1000);
    assert_eq!(entry.policy.idle_timeout_ms, 0);
    let id = entry.client.id.clone();

    // Pulsing keeps it; the pulse stopping loses it, within the expectation.
    let stop = Arc::new(AtomicBool::new(false));
    let pulser = pulse(app.clone(), stop.clone());
    thread::sleep(Duration::from_secs(3));
    assert_eq!(lost_reason(&server, &id), None);
    stop.store(true, Ordering::Relaxed);
    pulser.join().unwrap();
    let stopped = Instant::now();
    assert_lost_within_a_second(&server, &id, LostReason::NoopMissed, stopped);
    let event = server
        .events()
        .into_iter()
        .find(|e| matches!(e.body, Body::Lost { .. }))
        .unwrap();
    assert_eq!(
        event.client().unwrap().service.as_deref(),
        Some("plant-view")
    );
    assert!(lifesign::list_clients(&viewer).is_empty());
}

/// LIFESIGN 1.1: a client asks for its own repaint probe in its Watch; a 1.0 Watch (without the
/// two words) still means what it meant.
#[test]
fn a_client_asks_for_its_own_repaint_probe() {
    let server = Xorg::new()
        .option("Watch", "none")
        .option("RepaintProbe", "5s")
        .start();
    let viewer = server.connect();
    assert!(
        lifesign::query_version(&viewer).minor >= 1,
        "1.1 has the repaint probe"
    );
    let app = server.connect();
    let asked = WatchRequest {
        repaint_probe_ms: 1500,
        repaint_probe_timeout_ms: 3000,
        ..WatchRequest::defaults()
    };
    lifesign::watch(&app, asked).check().expect("a 1.1 Watch");
    let listed = lifesign::list_clients(&viewer);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].policy.repaint_probe_ms, 1500);
    // The 1.0 layout: the option's probe.
    lifesign::watch(&app, WatchRequest::defaults())
        .check()
        .expect("a 1.0 Watch");
    assert_eq!(
        lifesign::list_clients(&viewer)[0].policy.repaint_probe_ms,
        5000
    );
}

#[test]
fn unwatch_ends_watching() {
    let server = Xorg::new()
        .option("Watch", "none")
        .option("Grace", "0")
        .start();
    let app = server.connect();
    let asked = WatchRequest {
        idle_timeout_ms: 500,
        ..WatchRequest::defaults()
    };
    lifesign::watch(&app, asked).check().unwrap();
    lifesign::unwatch(&app);
    assert!(lifesign::list_clients(&app).is_empty());
    thread::sleep(Duration::from_secs(2));
    app.get_input_focus().unwrap().reply().expect("not closed");
    assert!(
        !server
            .events()
            .iter()
            .any(|e| matches!(e.body, Body::Lost { .. }))
    );
}

#[test]
fn watch_values_out_of_range_are_bad_values() {
    let server = Xorg::new().start();
    let app = server.connect();
    for asked in [
        WatchRequest {
            expect_noop_ms: 5,
            ..WatchRequest::defaults()
        },
        WatchRequest {
            idle_timeout_ms: 90_000_000,
            ..WatchRequest::defaults()
        },
        WatchRequest {
            transport_timeout_ms: 1000,
            ..WatchRequest::defaults()
        },
        WatchRequest {
            flags: 0x80,
            ..WatchRequest::defaults()
        },
        WatchRequest {
            repaint_probe_ms: 50,
            ..WatchRequest::defaults()
        },
        WatchRequest {
            repaint_probe_timeout_ms: 24 * 3600 * 1000 + 1,
            ..WatchRequest::defaults()
        },
    ] {
        let error = lifesign::watch(&app, asked.clone())
            .check()
            .expect_err("BadValue");
        let x11rb::errors::ReplyError::X11Error(error) = error else {
            panic!("{error:?}");
        };
        assert_eq!(
            error.error_kind,
            x11rb::protocol::ErrorKind::Value,
            "{asked:?}"
        );
    }
    assert!(
        lifesign::list_clients(&app).is_empty(),
        "nothing was watched"
    );
}

#[test]
fn a_host_pulse_that_stops_takes_its_host_down() {
    let lab = Lab::new(2);
    let server = Xorg::new()
        .in_lab(&lab)
        .option("TransportTimeout", "0")
        .option("HostScope", &lab.host(0).addr.to_string())
        .option("Grace", "0")
        .start();
    let n = server.display_number();
    let _xlogo_a = lab.host(0).spawn(n, "xlogo", &[]);
    let _xlogo_b = lab.host(1).spawn(n, "xlogo", &[]);
    let pulse_conn = Arc::new(lab.host(0).connect_x(server.display_number()));
    lifesign::watch(
        &*pulse_conn,
        pulse_request(1000, "host-a", ext::flags::HOST_SCOPE),
    )
    .check()
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let pulser = pulse(pulse_conn.clone(), stop.clone());

    let viewer = server.connect();
    let from = |i: usize| format!("{}:", lab.host(i).addr);
    wait_until(Duration::from_secs(20), || {
        let list = lifesign::list_clients(&viewer);
        let count = |i| {
            list.iter()
                .filter(|e| {
                    e.client
                        .peer
                        .as_deref()
                        .is_some_and(|p| p.starts_with(&from(i)))
                })
                .count()
        };
        count(0) == 2 && count(1) == 1
    })
    .expect("the pulse and both xlogos are watched");
    thread::sleep(Duration::from_secs(2));
    assert!(
        !server
            .events()
            .iter()
            .any(|e| matches!(e.body, Body::Lost { .. }))
    );

    stop.store(true, Ordering::Relaxed);
    pulser.join().unwrap();
    let stopped = Instant::now();
    let lost_of = |i: usize| {
        server
            .events()
            .into_iter()
            .filter_map(|e| match e.body {
                Body::Lost { client, reason, .. }
                    if client
                        .peer
                        .as_deref()
                        .is_some_and(|p| p.starts_with(&from(i))) =>
                {
                    Some((client.service, reason))
                }
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let done = wait_until(Duration::from_secs(5), || lost_of(0).len() == 2)
        .expect("host A's clients are lost");
    assert!(
        done - stopped <= Duration::from_millis(1100) + LOAD_MARGIN,
        "{:?}",
        done - stopped
    );
    let mut lost = lost_of(0);
    lost.sort_by_key(|(service, _)| service.is_none());
    assert_eq!(
        lost,
        [
            (Some("host-a".to_owned()), LostReason::NoopMissed),
            (None, LostReason::HostPulseLost)
        ]
    );
    thread::sleep(Duration::from_secs(1));
    assert!(lost_of(1).is_empty(), "host B is not affected");
}

#[test]
fn a_clean_exit_is_closed_and_a_kill_is_killed() {
    let server = Xorg::new().option("Watch", "all").start();
    let viewer = server.connect();
    let leaver = server.connect();
    let victim = server.connect();
    let window = victim.generate_id().unwrap();
    let root = victim.setup().roots[0].root;
    victim
        .create_window(
            0,
            window,
            root,
            0,
            0,
            10,
            10,
            0,
            x11rb::protocol::xproto::WindowClass::INPUT_OUTPUT,
            0,
            &Default::default(),
        )
        .unwrap();
    victim.get_input_focus().unwrap().reply().unwrap();
    let id_of = |conn: &RustConnection| {
        lifesign_proto::event::ClientInfo::format_id(conn.setup().resource_id_base)
    };
    let (leaver_id, victim_id) = (id_of(&leaver), id_of(&victim));

    drop(leaver);
    viewer.kill_client(window).unwrap();
    viewer.get_input_focus().unwrap().reply().unwrap();
    let gone = |id: &str| {
        server.events().into_iter().find_map(|e| match e.body {
            Body::Gone { client, reason } if client.id == id => Some(reason),
            _ => None,
        })
    };
    wait_until(Duration::from_secs(5), || {
        gone(&leaver_id).is_some() && gone(&victim_id).is_some()
    })
    .expect("both ends are reported");
    assert_eq!(gone(&leaver_id), Some(GoneReason::Closed));
    assert_eq!(gone(&victim_id), Some(GoneReason::Killed));
}

#[test]
fn notify_mode_reports_and_keeps_the_client() {
    let server = Xorg::new()
        .option("Watch", "all")
        .option("IdleTimeout", "500ms")
        .option("Grace", "0")
        .option("OnLost", "notify")
        .start();
    let quiet = server.connect();
    quiet.get_input_focus().unwrap().reply().unwrap();
    let id = lifesign_proto::event::ClientInfo::format_id(quiet.setup().resource_id_base);
    wait_until(Duration::from_secs(5), || {
        lost_reason(&server, &id).is_some()
    })
    .expect("reported lost");
    assert_eq!(lost_reason(&server, &id), Some(LostReason::IdleTimeout));
    quiet
        .get_input_focus()
        .unwrap()
        .reply()
        .expect("notify mode leaves the client connected");
}

#[test]
fn other_requests_do_not_meet_a_no_operation_expectation() {
    let server = Xorg::new()
        .option("Watch", "none")
        .option("Grace", "0")
        .start();
    let app = server.connect();
    lifesign::watch(&app, pulse_request(1000, "busy-but-no-pulse", 0))
        .check()
        .unwrap();
    let id = lifesign_proto::event::ClientInfo::format_id(app.setup().resource_id_base);
    let start = Instant::now();
    // Busy, with round trips of every kind but NoOperation, until the module closes it.
    while start.elapsed() < Duration::from_secs(5) {
        let answered = app.get_input_focus().ok().and_then(|c| c.reply().ok());
        if answered.is_none() {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    assert_lost_within_a_second(&server, &id, LostReason::NoopMissed, start);
}
