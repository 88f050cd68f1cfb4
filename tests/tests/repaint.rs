//! The repaint probe (decision 64) against real Xorg (dummy driver): real applications of every
//! toolkit that lists no `_NET_WM_PING` (Java Swing, Tk, Motif, Athena), and GTK 3 and Qt 5,
//! which do, are kept while idle and probed, and lost with `repaint-timeout` once stopped
//! (SIGSTOP, as a hang stops every thread), over TCP from a test host and as local clients;
//! with `WmPing` on as well, GTK and Qt are pinged instead and lost with `wm-ping-timeout`.
//! Then x11rb clients of the test's own: one that never selected exposures is neither probed
//! nor convicted while one that did and went silent is lost; the probe is a real Expose
//! (1x1 at (0, 0), count 0, no send-event bit) on the smallest window that selected
//! exposures, and a client busier than the interval gets none.
//!
//! The programs are started as the compatibility table starts them (`lifesign-compat`).

use lifesign_compat::app::{Connection, Instance};
use lifesign_compat::toolkits::{self, Context, Launch, Toolkit};
use lifesign_proto::event::{Body, Event, LostReason};
use lifesign_tests::net::Lab;
use lifesign_tests::windows::{mapped_windows, parse_id, wait_until};
use lifesign_tests::{LOAD_MARGIN, Server, Xorg, unix_ms};
use std::thread;
use std::time::{Duration, Instant};
use x11rb::connection::Connection as _;
use x11rb::protocol::Event as XEvent;
use x11rb::protocol::xproto::{
    ConnectionExt as _, CreateWindowAux, EventMask, ExposeEvent, Window, WindowClass,
};
use x11rb::rust_connection::RustConnection;

const INTERVAL: Duration = Duration::from_secs(1);
const TIMEOUT: Duration = Duration::from_secs(2);
/// How long the applications are left idle, probed every second, before they are stopped.
const IDLE: Duration = Duration::from_secs(120);
/// The contract's bound on a hung client's loss (interval, timeout, and the pass that sees
/// it), and what a loaded 2-core machine may add.
const CAUGHT_WITHIN: Duration = INTERVAL
    .saturating_add(TIMEOUT)
    .saturating_add(Duration::from_millis(100))
    .saturating_add(LOAD_MARGIN);
/// How much earlier than the timeout after its SIGSTOP an application may be lost: a probe
/// it had read but not yet answered when it was stopped was sent this much before the stop
/// (a JVM on a loaded machine answers slowly).
const ANSWER_LATENCY: Duration = Duration::from_millis(800);
/// A JVM starting on a loaded machine is slow.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// xclock as it comes, without `-update`: the analog face, redrawn once a minute, idle in
/// between (the table's xclock redraws every second, which is never quiet).
const XCLOCK: Toolkit = Toolkit {
    name: "Athena (Xt) xclock",
    packages: &["libxaw7", "x11-apps"],
    app: "xclock",
    launch: Launch::Program(&["xclock"]),
};

/// The toolkits of the fleets, the table's rows by name (xclock apart).
fn fleet() -> Vec<&'static Toolkit> {
    let named = [
        "Java AWT/Swing",
        "Tk",
        "Motif",
        "Athena (Xt)",
        "GTK 3",
        "Qt 5",
    ];
    let mut fleet: Vec<&'static Toolkit> = named
        .iter()
        .map(|n| toolkits::find(n).unwrap_or_else(|| panic!("{n} is a row of the table")))
        .collect();
    fleet.insert(4, &XCLOCK);
    fleet
}

/// The toolkits whose windows list `_NET_WM_PING` (docs/compatibility.md).
fn answers_ping(toolkit: &Toolkit) -> bool {
    matches!(toolkit.name, "GTK 3" | "Qt 5")
}

/// The programs' context: the table's scripts, Swing.java compiled into `classes`.
fn context(classes: &tempfile::TempDir, toolkits: &[&Toolkit]) -> Context {
    let context = Context {
        classes: classes.path().to_path_buf(),
        ..Context::in_tree()
    };
    context.prepare(toolkits).unwrap_or_else(|e| panic!("{e}"));
    context
}

fn probed(server: Xorg) -> Server {
    server
        .option("RepaintProbe", "1s")
        .option("RepaintProbeTimeout", "2s")
        .option("TransportTimeout", "0")
        .option("Grace", "1s")
        .start()
}

/// One toolkit's program on the server, and its connections that have a window.
struct Running {
    toolkit: &'static Toolkit,
    /// Where it runs, for the report: `tcp` or `local`.
    transport: &'static str,
    instance: Instance,
    clients: Vec<Connection>,
}

/// Starts every program at once, then waits for each to map its window.
fn start_all(
    server: &Server,
    observer: &RustConnection,
    toolkits: &[(&'static Toolkit, &'static str)],
    start: impl Fn(usize, &Toolkit) -> Result<Instance, String>,
) -> Vec<Running> {
    let instances: Vec<Instance> = toolkits
        .iter()
        .enumerate()
        .map(|(i, (t, _))| start(i, t).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    instances
        .into_iter()
        .zip(toolkits)
        .map(|(mut instance, &(toolkit, transport))| {
            let clients = instance
                .wait_mapped(server, observer, START_TIMEOUT)
                .unwrap_or_else(|e| panic!("{} ({transport}): {e}", toolkit.app))
                .clients;
            Running {
                toolkit,
                transport,
                instance,
                clients,
            }
        })
        .collect()
}

/// Leaves every program idle for `idle`, failing at the first loss; then each still has its
/// windows.
fn kept_while_idle(
    server: &Server,
    observer: &RustConnection,
    running: &[Running],
    idle: Duration,
) {
    let until = Instant::now() + idle;
    while Instant::now() < until {
        let lost = server.lost_events();
        assert!(
            lost.is_empty(),
            "a healthy idle application was convicted: {}",
            lost.iter()
                .map(Event::to_line)
                .collect::<Vec<_>>()
                .join("\n")
        );
        thread::sleep(Duration::from_millis(500));
    }
    let events = server.events();
    for r in running {
        for client in &r.clients {
            assert!(
                !mapped_windows(observer, parse_id(&client.id)).is_empty(),
                "{} ({}): client {} has no window left after {idle:?} idle",
                r.toolkit.app,
                r.transport,
                client.id
            );
        }
        let suspects = events
            .iter()
            .filter(|e| matches!(e.body, Body::Suspect { .. }))
            .filter(|e| r.clients.iter().any(|c| c.is_about(e)))
            .count();
        eprintln!(
            "{} ({}): kept {idle:?} idle ({suspects} suspect events)",
            r.toolkit.name, r.transport
        );
    }
    assert!(server.lost_events().is_empty());
}

/// Stops every program at once and checks that each connection with a window is lost for
/// `reason(toolkit)`, between the timeout (less a probe's answer time) and the contract's
/// bound after its stop, and that its windows are gone.
fn stop_and_catch(
    server: &Server,
    observer: &RustConnection,
    running: &[Running],
    reason: impl Fn(&Toolkit) -> LostReason,
) {
    let stopped: Vec<u64> = running
        .iter()
        .map(|r| {
            r.instance.stop();
            unix_ms()
        })
        .collect();
    let all_lost = |events: &[Event]| {
        running.iter().all(|r| {
            r.clients.iter().all(|c| {
                events.iter().any(|e| {
                    c.is_about(e) && matches!(e.body, Body::Lost { .. } | Body::Gone { .. })
                })
            })
        })
    };
    wait_until(CAUGHT_WITHIN + Duration::from_secs(5), || {
        all_lost(&server.events())
    });
    let events = server.events();
    let mut failures = Vec::new();
    for (r, stopped_at) in running.iter().zip(stopped) {
        for client in &r.clients {
            let end = events.iter().find(|e| {
                client.is_about(e) && matches!(e.body, Body::Lost { .. } | Body::Gone { .. })
            });
            let Some(Event {
                at_ms,
                body:
                    Body::Lost {
                        reason: got,
                        silent_ms,
                        ..
                    },
                ..
            }) = end
            else {
                failures.push(format!(
                    "{} ({}): client {} not lost {CAUGHT_WITHIN:?} after SIGSTOP: {:?}",
                    r.toolkit.app,
                    r.transport,
                    client.id,
                    end.map(Event::to_line)
                ));
                continue;
            };
            let took = Duration::from_millis(at_ms.saturating_sub(stopped_at));
            eprintln!(
                "{} ({}): client {} lost {got:?} {took:?} after SIGSTOP (silent_ms {silent_ms})",
                r.toolkit.name, r.transport, client.id
            );
            let expected = reason(r.toolkit);
            if *got != expected {
                failures.push(format!(
                    "{} ({}): lost for {got:?}, not {expected:?}",
                    r.toolkit.app, r.transport
                ));
            }
            if took > CAUGHT_WITHIN {
                failures.push(format!(
                    "{} ({}): lost {took:?} after SIGSTOP, later than {CAUGHT_WITHIN:?}",
                    r.toolkit.app, r.transport
                ));
            }
            if took + ANSWER_LATENCY < TIMEOUT {
                failures.push(format!(
                    "{} ({}): lost {took:?} after SIGSTOP, before its timeout",
                    r.toolkit.app, r.transport
                ));
            }
            if wait_until(Duration::from_secs(2), || {
                mapped_windows(observer, parse_id(&client.id)).is_empty()
            })
            .is_none()
            {
                failures.push(format!(
                    "{} ({}): windows of {} left after its loss",
                    r.toolkit.app, r.transport, client.id
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_toolkit_is_kept_idle_and_lost_hung_over_tcp() {
    let fleet = fleet();
    let classes = tempfile::tempdir().expect("temp dir");
    let context = context(&classes, &fleet);
    let lab = Lab::new(fleet.len());
    let server = probed(Xorg::new().in_lab(&lab));
    let observer = server.connect();
    lifesign_tests::lifesign::unwatch(&observer);

    // One program per host: a connection's peer address says whose it is.
    let toolkits: Vec<_> = fleet.iter().map(|&t| (t, "tcp")).collect();
    let running = start_all(&server, &observer, &toolkits, |i, t| {
        Instance::start_on(lab.host(i), server.display_number(), t, &context)
    });
    kept_while_idle(&server, &observer, &running, IDLE);
    stop_and_catch(&server, &observer, &running, |_| LostReason::RepaintTimeout);
}

#[test]
fn every_toolkit_is_kept_idle_and_lost_hung_locally() {
    let fleet = fleet();
    let classes = tempfile::tempdir().expect("temp dir");
    let context = context(&classes, &fleet);
    let server = probed(Xorg::new().option("Watch", "local"));
    let observer = server.connect();
    lifesign_tests::lifesign::unwatch(&observer);

    let toolkits: Vec<_> = fleet.iter().map(|&t| (t, "local")).collect();
    let running = start_all(&server, &observer, &toolkits, |_, t| {
        Instance::start(&server, t, &context)
    });
    kept_while_idle(&server, &observer, &running, IDLE);
    stop_and_catch(&server, &observer, &running, |_| LostReason::RepaintTimeout);
}

/// With `WmPing` on too, GTK and Qt are pinged and not probed, lost for the ping; Tk, which
/// lists no ping, is still probed. Over TCP and locally, in one server.
#[test]
fn with_wm_ping_on_gtk_and_qt_are_pinged_and_tk_probed() {
    let named: Vec<&'static Toolkit> = ["GTK 3", "Qt 5", "Tk"]
        .iter()
        .map(|n| toolkits::find(n).expect("a row of the table"))
        .collect();
    let classes = tempfile::tempdir().expect("temp dir");
    let context = context(&classes, &named);
    let lab = Lab::new(named.len());
    let server = probed(
        Xorg::new()
            .in_lab(&lab)
            .abstract_socket()
            .option("Watch", "all")
            .option("WmPing", "1s")
            .option("WmPingTimeout", "2s"),
    );
    let observer = server.connect();
    lifesign_tests::lifesign::unwatch(&observer);

    let toolkits: Vec<_> = named
        .iter()
        .map(|&t| (t, "tcp"))
        .chain(named.iter().map(|&t| (t, "local")))
        .collect();
    let n = named.len();
    let running = start_all(&server, &observer, &toolkits, |i, t| {
        if i < n {
            Instance::start_on(lab.host(i), server.display_number(), t, &context)
        } else {
            Instance::start_local_in(lab.display_ns(), server.display_number(), t, &context)
        }
    });
    // Every second a ping or a probe: a few dozen rounds.
    kept_while_idle(&server, &observer, &running, Duration::from_secs(20));
    stop_and_catch(&server, &observer, &running, |t| {
        if answers_ping(t) {
            LostReason::WmPingTimeout
        } else {
            LostReason::RepaintTimeout
        }
    });
}

// ----- x11rb clients of the test's own -----

fn window(
    conn: &RustConnection,
    parent: Window,
    (width, height): (u16, u16),
    class: WindowClass,
    mask: EventMask,
) -> Window {
    let window = conn.generate_id().unwrap();
    conn.create_window(
        0,
        window,
        parent,
        0,
        0,
        width,
        height,
        0,
        class,
        0,
        &CreateWindowAux::new().event_mask(mask),
    )
    .unwrap();
    window
}

fn root(conn: &RustConnection) -> Window {
    conn.setup().roots[0].root
}

/// A round trip: the client's request, and the server has seen everything before it.
fn sync(conn: &RustConnection) {
    conn.get_input_focus().unwrap().reply().unwrap();
}

fn base(conn: &RustConnection) -> u32 {
    conn.setup().resource_id_base
}

/// Reads (and sends nothing: x11rb's poll only reads) until an Expose of 1x1 arrives, up to
/// `timeout`; other events are dropped. The Expose and when it was read.
fn probe_within(conn: &RustConnection, timeout: Duration) -> Option<(ExposeEvent, bool, Instant)> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match conn.poll_for_event().expect("the connection") {
            Some(event) => {
                let sent = event.sent_event();
                if let XEvent::Expose(e) = event
                    && e.width == 1
                    && e.height == 1
                {
                    return Some((e, sent, Instant::now()));
                }
            }
            None => thread::sleep(Duration::from_millis(2)),
        }
    }
    None
}

/// An Expose the server wrote for the probe: on `window`, 1x1 at (0, 0), the last of its
/// series, without the send-event bit.
fn assert_probe(event: &ExposeEvent, sent: bool, window: Window) {
    assert!(!sent, "the probe has the send-event bit: {event:?}");
    assert_eq!(
        event.response_type & 0x7f,
        x11rb::protocol::xproto::EXPOSE_EVENT
    );
    assert_eq!(
        event.window, window,
        "the probe went to another window: {event:?}"
    );
    assert_eq!((event.x, event.y), (0, 0), "{event:?}");
    assert_eq!((event.width, event.height), (1, 1), "{event:?}");
    assert_eq!(event.count, 0, "{event:?}");
}

/// A lab with one host and a server probing every second.
fn probed_lab() -> (Lab, Server) {
    let lab = Lab::new(1);
    let server = probed(Xorg::new().in_lab(&lab));
    (lab, server)
}

#[test]
fn a_client_without_exposures_is_not_probed_and_a_silent_one_with_them_is_lost() {
    let (lab, server) = probed_lab();
    let host = lab.host(0);
    let n = server.display_number();
    let connect = || {
        let conn = host.connect_x(n);
        let r = root(&conn);
        (conn, r)
    };

    // Selects what a client may select but exposures, on an InputOutput window.
    let (blind, r) = connect();
    let w = window(
        &blind,
        r,
        (40, 40),
        WindowClass::INPUT_OUTPUT,
        EventMask::STRUCTURE_NOTIFY | EventMask::KEY_PRESS | EventMask::BUTTON_PRESS,
    );
    blind.map_window(w).unwrap();
    // Selects exposures, but on an InputOnly window, which never gets one.
    let (input_only, r) = connect();
    let w = window(
        &input_only,
        r,
        (40, 40),
        WindowClass::INPUT_ONLY,
        EventMask::EXPOSURE | EventMask::KEY_PRESS,
    );
    input_only.map_window(w).unwrap();
    // Selects exposures on a window it never maps.
    let (unmapped, r) = connect();
    window(
        &unmapped,
        r,
        (40, 40),
        WindowClass::INPUT_OUTPUT,
        EventMask::EXPOSURE,
    );
    // The control: exposures on a mapped window, so it is probed; it never reads or answers.
    let (silent, r) = connect();
    let w = window(
        &silent,
        r,
        (40, 40),
        WindowClass::INPUT_OUTPUT,
        EventMask::EXPOSURE,
    );
    silent.map_window(w).unwrap();

    // Past Grace, each makes its last request, and all fall silent.
    thread::sleep(Duration::from_millis(1200));
    let clients = [&blind, &input_only, &unmapped, &silent];
    for conn in clients {
        sync(conn);
    }
    let (last, last_ms) = (Instant::now(), unix_ms());

    let lost_silent = server
        .wait_for_event(CAUGHT_WITHIN + Duration::from_secs(3), |e| {
            matches!(e.body, Body::Lost { .. })
                && e.client().is_some_and(|c| parse_id(&c.id) == base(&silent))
        })
        .expect("the silent client with exposures is lost");
    let took = Duration::from_millis(lost_silent.at_ms.saturating_sub(last_ms));
    eprintln!(
        "silent x11rb client: lost {took:?} after its last request; {}",
        lost_silent.to_line()
    );
    assert!(matches!(
        lost_silent.body,
        Body::Lost {
            reason: LostReason::RepaintTimeout,
            ..
        }
    ));
    // Quiet for the interval, then the timeout.
    assert!(
        took + Duration::from_millis(100) >= INTERVAL + TIMEOUT,
        "too early: {took:?}"
    );
    assert!(took <= CAUGHT_WITHIN, "too late: {took:?}");

    // Several rounds of interval and timeout more, silent: the others are neither probed
    // (a probe they would not answer makes them suspect half-way) nor lost.
    let rounds = 4;
    let until = last + (INTERVAL + TIMEOUT) * rounds;
    thread::sleep(until.saturating_duration_since(Instant::now()));
    let events = server.events();
    for (name, conn) in [
        ("blind", &blind),
        ("input-only", &input_only),
        ("unmapped", &unmapped),
    ] {
        let about: Vec<String> = events
            .iter()
            .filter(|e| {
                matches!(
                    e.body,
                    Body::Lost { .. } | Body::Suspect { .. } | Body::Gone { .. }
                )
            })
            .filter(|e| e.client().is_some_and(|c| parse_id(&c.id) == base(conn)))
            .map(Event::to_line)
            .collect();
        assert!(
            about.is_empty(),
            "the {name} client was taken for hung: {about:?}"
        );
        // Its connection is still served.
        sync(conn);
    }
}

#[test]
fn the_probe_is_a_real_expose_on_the_smallest_exposed_window() {
    let (lab, server) = probed_lab();
    let conn = lab.host(0).connect_x(server.display_number());
    let top = window(
        &conn,
        root(&conn),
        (100, 80),
        WindowClass::INPUT_OUTPUT,
        EventMask::EXPOSURE,
    );
    // The smallest window with exposures gets the probe; a smaller one without them, and an
    // InputOnly one, do not.
    let child = window(
        &conn,
        top,
        (20, 10),
        WindowClass::INPUT_OUTPUT,
        EventMask::EXPOSURE,
    );
    window(
        &conn,
        top,
        (8, 8),
        WindowClass::INPUT_OUTPUT,
        EventMask::KEY_PRESS,
    );
    window(
        &conn,
        top,
        (4, 4),
        WindowClass::INPUT_ONLY,
        EventMask::EXPOSURE,
    );
    conn.map_subwindows(top).unwrap();
    conn.map_window(top).unwrap();
    thread::sleep(Duration::from_millis(1200)); // past Grace

    // Three rounds: quiet for the interval, a probe; a request answers it.
    for round in 0..3 {
        sync(&conn);
        let last = Instant::now();
        let (event, sent, at) = probe_within(&conn, CAUGHT_WITHIN + Duration::from_secs(2))
            .unwrap_or_else(|| panic!("round {round}: no probe: {}", server.log()));
        let after = at - last;
        eprintln!(
            "probe {round}: {after:?} after the last request: Expose window {:#x} ({}, {}) {}x{} \
             count {} sent {sent}",
            event.window, event.x, event.y, event.width, event.height, event.count
        );
        assert_probe(&event, sent, child);
        assert!(
            after + Duration::from_millis(50) >= INTERVAL,
            "too early: {after:?}"
        );
        assert!(
            after <= INTERVAL + Duration::from_millis(100) + LOAD_MARGIN,
            "too late: {after:?}"
        );
        // What a toolkit does: it repaints (requests), which answers the probe.
        conn.clear_area(false, child, 0, 0, 1, 1).unwrap();
    }
    sync(&conn);
    assert!(
        server.lost_events().is_empty(),
        "a client answering every probe was convicted"
    );
}

#[test]
fn a_client_busier_than_the_interval_gets_no_probe() {
    let (lab, server) = probed_lab();
    let conn = lab.host(0).connect_x(server.display_number());
    let w = window(
        &conn,
        root(&conn),
        (30, 30),
        WindowClass::INPUT_OUTPUT,
        EventMask::EXPOSURE,
    );
    conn.map_window(w).unwrap();
    thread::sleep(Duration::from_millis(1200)); // past Grace

    // A request every 300 ms for six intervals: no probe.
    let busy_until = Instant::now() + INTERVAL * 6;
    while Instant::now() < busy_until {
        sync(&conn);
        if let Some((event, _, _)) = probe_within(&conn, Duration::from_millis(300)) {
            panic!("a busy client was probed: {event:?}");
        }
    }
    // Quiet now: the probe comes.
    sync(&conn);
    let last = Instant::now();
    let (event, sent, at) =
        probe_within(&conn, CAUGHT_WITHIN + Duration::from_secs(2)).expect("a probe once quiet");
    eprintln!("probe {:?} after the busy client fell quiet", at - last);
    assert_probe(&event, sent, w);
}
