//! Memory-safety evidence: the module's scenarios under valgrind memcheck, in one run of Xvfb
//! in preload mode (how valgrind preloads into Xvfb alone: `lifesign_tests::valgrind`):
//! loading and options; a local client watched by `Watch all`; one that opts in with its
//! own ExpectNoOperation, is listed, and is lost and closed at its deadline; Unwatch;
//! hostile requests in both byte orders (`memcheck/hostile.rs`); a `_NET_WM_PING` round
//! (`memcheck/ping.rs`); the launcher link through reconnects and a launcher that talks
//! nonsense (`memcheck/stand_in.rs`); a server reset (the last client leaves); a clean end
//! (SIGTERM). Then valgrind's report: no error with a frame in liblifesign.so, nothing
//! definitely lost that liblifesign allocated. The server's own errors and leaks (wholly in
//! Xvfb and its libraries) are printed as the server's; the known ones are suppressed in
//! `tests/valgrind.supp`, which says why each is not ours.
//!
//! Everything under memcheck is 20-50 times slower than natively: each wait allows a minute.

// A test target's root looks for its modules beside it, where every file is a test target.
#[path = "memcheck/hostile.rs"]
mod hostile;
#[path = "memcheck/ping.rs"]
mod ping;
#[path = "memcheck/stand_in.rs"]
mod stand_in;

use lifesign_proto::event::{Body, ClientInfo, LostReason};
use lifesign_proto::ext::WatchRequest;
use lifesign_tests::listener::Listener;
use lifesign_tests::valgrind::{self, Memcheck};
use lifesign_tests::windows::wait_until;
use lifesign_tests::{Server, Xvfb, lifesign};
use std::thread;
use std::time::{Duration, Instant};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::ConnectionExt as _;
use x11rb::rust_connection::RustConnection;

/// Any one wait under valgrind.
const TIMEOUT: Duration = Duration::from_secs(60);
/// From SIGTERM to valgrind's report written (the leak check runs at exit).
const EXIT_TIMEOUT: Duration = Duration::from_secs(240);

/// The server closed this connection (a request fails or gets no reply).
fn is_closed(conn: &RustConnection) -> bool {
    conn.get_input_focus().map_or(true, |c| c.reply().is_err())
}

fn id(conn: &RustConnection) -> String {
    ClientInfo::format_id(conn.setup().resource_id_base)
}

/// The seq of the module's latest event: client ids are reused once a client is gone, so
/// a scenario looks only at events after the seq it started at.
fn last_seq(server: &Server) -> u64 {
    server.events().last().map_or(0, |e| e.seq)
}

/// Why client `id` was lost and after how long a silence, in an event after `since` (a
/// [`last_seq`]).
fn lost(server: &Server, id: &str, since: u64) -> Option<(LostReason, u64)> {
    server.events().into_iter().find_map(|e| match e.body {
        Body::Lost {
            client,
            reason,
            silent_ms,
        } if client.id == id && e.seq > since => Some((reason, silent_ms)),
        _ => None,
    })
}

/// `LIFESIGN_MEMCHECK_ROUNDS` (scripts/memcheck.sh sets it): how many times the first
/// generation's scenarios run in the one server. With more than one, what the module holds
/// after the first round and after the last are compared while the server runs, since
/// whatever it keeps per client and never lets go would be freed at exit, unseen.
fn rounds() -> usize {
    std::env::var("LIFESIGN_MEMCHECK_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|&r| r > 0)
        .unwrap_or(1)
}

#[test]
fn the_module_is_clean_under_memcheck() {
    let started = Instant::now();
    let rounds = rounds();
    let name = match rounds {
        1 => "memcheck".to_owned(),
        n => format!("memcheck-{n}-rounds"),
    };
    let memcheck = Memcheck::new(&name);
    let dir = tempfile::tempdir().expect("a temp dir");
    let socket = dir.path().join("launcher.sock");
    let launcher = stand_in::bind(&socket);
    let options = format!(
        "Watch=all;Grace=0;WmPing=1s;WmPingTimeout=3s;Launcher={}",
        socket.display()
    );
    let mut server = memcheck.wrap(Xvfb::with_options(&options)).resets().start();
    eprintln!(
        "Xvfb under memcheck accepts clients after {:?}",
        started.elapsed()
    );

    // Held to the end of the first generation: the server resets when its last client leaves.
    let viewer = server.connect();
    loads_with_its_options(&server, &viewer);
    watches_a_local_client(&server, &viewer);
    let mut grown = Vec::new();
    for round in 1..=rounds {
        loses_and_closes_a_client_at_its_deadline(&server, &viewer);
        unwatch_ends_watching(&server, &viewer);
        hostile::run(server.display_number());
        ping::run(&server, TIMEOUT);
        if rounds > 1 {
            // After the first round, the baseline; after the last, what grew since. Events
            // not yet acknowledged are held on purpose: the launcher gets them all first.
            if round == 1 || round == rounds {
                wait_until(TIMEOUT, || delivered(&server, &launcher)).expect("events delivered");
                thread::sleep(Duration::from_secs(1)); // for the module to read the acks
                grown = valgrind::grown_since_last_check(server.pid())
                    .unwrap_or_else(|e| panic!("leak check of the running server: {e}"));
            }
            eprintln!(
                "round {round} of {rounds} done after {:?}",
                started.elapsed()
            );
        }
    }
    assert_eq!(lifesign::query_version(&viewer).major, 1, "still serving");
    drop(viewer);
    resets_and_serves_again(&server);
    link_went_through_every_path(&server, &launcher);
    assert!(
        server.log_lines("internal error").is_empty(),
        "{}",
        server.log()
    );

    let status = server.terminate(EXIT_TIMEOUT);
    eprintln!("Xvfb ended ({status:?}) after {:?}", started.elapsed());
    assert!(
        status.is_some(),
        "Xvfb did not exit within {EXIT_TIMEOUT:?} of SIGTERM"
    );
    let report = memcheck
        .report()
        .unwrap_or_else(|e| panic!("valgrind's report: {e}"));
    eprint!("{}", report.summary());
    eprintln!(
        "report: {} (valgrind's log: {})",
        memcheck.xml_path().display(),
        memcheck.log_path().display()
    );
    for error in report.errors(false) {
        eprintln!("the server's, not ours: {}", error.describe());
    }
    let ours: Vec<String> = report.errors(true).map(|e| e.describe()).collect();
    assert!(
        ours.is_empty(),
        "errors in liblifesign:\n{}",
        ours.join("\n")
    );
    if rounds > 1 {
        eprintln!(
            "liblifesign's loss records (reachable included) grown from round 1 to {rounds}: {}",
            grown.len()
        );
    }
    assert!(
        grown.is_empty(),
        "what liblifesign holds grew with the rounds:\n{}",
        grown.join("\n")
    );
    let lost: Vec<String> = report
        .leaks("Leak_DefinitelyLost", true)
        .map(|e| e.describe())
        .collect();
    assert!(
        lost.is_empty(),
        "definitely lost by liblifesign:\n{}",
        lost.join("\n")
    );
}

fn loads_with_its_options(server: &Server, viewer: &RustConnection) {
    let enabled = server.log_lines("lifesign: enabled, options from LIFESIGN_OPTIONS");
    assert_eq!(enabled.len(), 1, "{}", server.log());
    assert!(enabled[0].contains("WmPing=1s"), "{}", enabled[0]);
    assert_eq!(lifesign::query_version(viewer).major, 1);
}

fn watches_a_local_client(server: &Server, viewer: &RustConnection) {
    let me = id(viewer);
    server
        .wait_for_event(
            TIMEOUT,
            |e| matches!(&e.body, Body::Watched { client, .. } if client.id == me),
        )
        .expect("Watch all: a local client is watched");
    let listed = lifesign::list_clients(viewer);
    let entry = listed.iter().find(|e| e.client.id == me).expect("listed");
    assert_eq!(entry.client.pid, Some(std::process::id()));
}

fn loses_and_closes_a_client_at_its_deadline(server: &Server, viewer: &RustConnection) {
    let since = last_seq(server);
    let app = server.connect();
    let asked = WatchRequest {
        expect_noop_ms: 1000,
        service: "memcheck-app".into(),
        ..WatchRequest::defaults()
    };
    lifesign::watch(&app, asked)
        .check()
        .expect("Watch succeeds");
    let app_id = id(&app);
    let listed = lifesign::list_clients(viewer);
    let entry = listed
        .iter()
        .find(|e| e.client.id == app_id)
        .unwrap_or_else(|| panic!("{app_id} not in {listed:?}"));
    assert_eq!(entry.client.service.as_deref(), Some("memcheck-app"));
    assert_eq!(entry.policy.expect_noop_ms, 1000);
    // A pulse, then silence.
    for _ in 0..5 {
        app.no_operation().expect("NoOperation");
        app.flush().expect("flush");
        thread::sleep(Duration::from_millis(200));
    }
    wait_until(TIMEOUT, || lost(server, &app_id, since).is_some()).expect("lost");
    let (reason, silent_ms) = lost(server, &app_id, since).expect("lost");
    assert_eq!(reason, LostReason::NoopMissed);
    assert!(
        silent_ms >= 1000,
        "lost before its deadline: {silent_ms} ms"
    );
    wait_until(TIMEOUT, || is_closed(&app)).expect("the lost client is closed");
}

fn unwatch_ends_watching(server: &Server, viewer: &RustConnection) {
    let since = last_seq(server);
    let quitter = server.connect();
    // Long enough that the Unwatch right after the Watch comes in time on a loaded machine.
    let asked = WatchRequest {
        idle_timeout_ms: 2000,
        ..WatchRequest::defaults()
    };
    lifesign::watch(&quitter, asked)
        .check()
        .expect("Watch succeeds");
    lifesign::unwatch(&quitter);
    let quitter_id = id(&quitter);
    let listed = lifesign::list_clients(viewer);
    assert!(
        listed.iter().all(|e| e.client.id != quitter_id),
        "{listed:?}"
    );
    thread::sleep(Duration::from_secs(4)); // twice the deadline it no longer has
    assert!(!is_closed(&quitter));
    assert_eq!(lost(server, &quitter_id, since), None);
}

/// Every client leaves: the server resets; the module is there in the next generation.
fn resets_and_serves_again(server: &Server) {
    assert!(
        server.wait_for_log("lifesign: generation 2", 1, TIMEOUT),
        "no reset: {}",
        server.log()
    );
    let conn = server.connect();
    assert_eq!(lifesign::query_version(&conn).major, 1);
    let me = id(&conn);
    let listed = lifesign::list_clients(&conn);
    assert!(listed.iter().any(|e| e.client.id == me), "{listed:?}");
    drop(conn);
    assert!(
        server.wait_for_log("lifesign: generation 3", 1, TIMEOUT),
        "no second reset: {}",
        server.log()
    );
}

/// Every event the module logged has reached the stand-in launcher (which acknowledges it).
fn delivered(server: &Server, launcher: &Listener) -> bool {
    let received = launcher.received();
    server
        .events()
        .iter()
        .all(|e| received.iter().any(|r| r.event.seq == e.seq))
}

/// The stand-in launcher saw hello first, the loss it hung up on sent again with its seq,
/// a reconnection after its oversized line, and every loss of the run.
fn link_went_through_every_path(server: &Server, launcher: &Listener) {
    let losses: Vec<u64> = server
        .events()
        .into_iter()
        .filter(|e| matches!(e.body, Body::Lost { .. }))
        .map(|e| e.seq)
        .collect();
    assert!(losses.len() >= 2, "{losses:?}");
    let done = wait_until(TIMEOUT, || {
        let received = launcher.received();
        received.iter().any(|r| r.conn == 2)
            && losses
                .iter()
                .all(|s| received.iter().any(|r| r.event.seq == *s))
    });
    let received = launcher.received();
    assert!(done.is_some(), "{received:#?}");
    assert!(received[0].conn == 0 && matches!(received[0].event.body, Body::Hello { .. }));
    let first_loss = &received
        .iter()
        .find(|r| r.conn == 0 && matches!(r.event.body, Body::Lost { .. }))
        .expect("a loss on the first connection")
        .event;
    let again = received
        .iter()
        .find(|r| r.conn > 0 && r.event.seq == first_loss.seq)
        .expect("the unacknowledged loss sent again");
    assert_eq!(again.event.to_line(), first_loss.to_line());
}
