//! Clients that are merely quiet, or held back by the server itself, are never convicted.

use lifesign_proto::event::{Body, LostReason};
use lifesign_tests::net::Lab;
use lifesign_tests::windows::{mapped_windows, parse_id, wait_until};
use lifesign_tests::{LOAD_MARGIN, Server, Xorg};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;
use x11rb::protocol::xproto::ConnectionExt as _;

fn no_losses(server: &Server) {
    let lost: Vec<String> = server
        .events()
        .into_iter()
        .filter(|e| matches!(e.body, Body::Lost { .. }))
        .map(|e| e.to_line())
        .collect();
    assert!(lost.is_empty(), "healthy clients were convicted: {lost:#?}");
}

#[test]
fn idle_healthy_tcp_clients_stay_for_a_minute() {
    let lab = Lab::new(1);
    let server = Xorg::new()
        .in_lab(&lab)
        .option("TransportTimeout", "3s")
        .option("WmPing", "1s")
        .option("WmPingTimeout", "2s")
        .option("Grace", "2s")
        .start();
    let n = server.display_number();
    let host = lab.host(0);
    let mut clients = vec![
        host.spawn(n, "xlogo", &[]),
        host.spawn(n, "xterm", &[]),
        host.spawn(n, "zenity", &["--info", "--text", "quiet"]),
    ];
    let observer = server.connect();
    let from_host = format!("{}:", host.addr);
    let mapped_clients = || -> Vec<u32> {
        server
            .events()
            .into_iter()
            .filter_map(|e| match e.body {
                Body::Watched { client, .. }
                    if client
                        .peer
                        .as_deref()
                        .is_some_and(|p| p.starts_with(&from_host)) =>
                {
                    Some(parse_id(&client.id))
                }
                _ => None,
            })
            .filter(|&base| !mapped_windows(&observer, base).is_empty())
            .collect()
    };
    wait_until(Duration::from_secs(30), || mapped_clients().len() >= 3).unwrap_or_else(|| {
        panic!(
            "xlogo, xterm and zenity map windows: {:?}",
            mapped_clients()
        )
    });
    let mapped = mapped_clients();

    thread::sleep(Duration::from_secs(60));
    no_losses(&server);
    for base in &mapped {
        assert!(
            !mapped_windows(&observer, *base).is_empty(),
            "client {base:#x} lost its window"
        );
    }
    for c in &mut clients {
        assert!(c.running(), "a client exited");
    }
}

/// A client that sends a request and waits for its reply, forever, until `stop`.
fn chatty(
    server: &Server,
    stop: Arc<AtomicBool>,
    replies: Arc<AtomicU64>,
) -> thread::JoinHandle<()> {
    let conn = server.connect();
    thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            conn.get_input_focus().unwrap().reply().unwrap();
            replies.fetch_add(1, Ordering::Relaxed);
            thread::sleep(Duration::from_millis(100));
        }
    })
}

/// Xorg watching every client with IdleTimeout 1s, a chatty client making round trips
/// (counted in `replies`), and a second client that grabbed the server.
struct Grab {
    server: Server,
    stop: Arc<AtomicBool>,
    replies: Arc<AtomicU64>,
    worker: thread::JoinHandle<()>,
    grabber: x11rb::rust_connection::RustConnection,
}

fn grab() -> Grab {
    let server = Xorg::new()
        .option("Watch", "all")
        .option("IdleTimeout", "1s")
        .option("Grace", "0")
        .start();
    let stop = Arc::new(AtomicBool::new(false));
    let replies = Arc::new(AtomicU64::new(0));
    let worker = chatty(&server, stop.clone(), replies.clone());
    thread::sleep(Duration::from_millis(500));
    let grabber = server.connect();
    grabber.grab_server().unwrap();
    Grab {
        server,
        stop,
        replies,
        worker,
        grabber,
    }
}

#[test]
fn a_client_behind_another_clients_grab_is_not_convicted() {
    let Grab {
        server,
        stop,
        replies,
        worker,
        grabber,
    } = grab();
    grabber.get_input_focus().unwrap().reply().unwrap(); // the grab is in force
    let before = replies.load(Ordering::Relaxed);
    // Four times IdleTimeout; the grabber itself keeps working (its own deadline runs).
    let grab_start = std::time::Instant::now();
    while grab_start.elapsed() < Duration::from_secs(4) {
        grabber.get_input_focus().unwrap().reply().unwrap();
        thread::sleep(Duration::from_millis(200));
    }
    assert!(
        replies.load(Ordering::Relaxed) <= before + 1,
        "the grab did not hold the client back"
    );
    grabber.ungrab_server().unwrap();
    grabber.get_input_focus().unwrap().reply().unwrap();
    drop(grabber); // it would go idle itself now, and be convicted for that

    thread::sleep(Duration::from_millis(1500));
    assert!(
        replies.load(Ordering::Relaxed) > before + 3,
        "the client was not served after the grab"
    );
    stop.store(true, Ordering::Relaxed);
    worker.join().expect("the held-back client still works");
    no_losses(&server);
}

#[test]
fn a_grabber_that_hangs_is_lost_and_the_display_comes_back() {
    let Grab {
        server,
        stop,
        replies,
        worker,
        grabber,
    } = grab();
    grabber.get_input_focus().unwrap().reply().unwrap(); // the grab is in force, and then nothing
    let grabbed = std::time::Instant::now();
    let lost = server
        .wait_for_event(Duration::from_secs(10), |e| {
            matches!(
                &e.body,
                Body::Lost {
                    reason: LostReason::IdleTimeout,
                    ..
                }
            )
        })
        .expect("the hung grabber is lost");
    assert!(
        grabbed.elapsed() <= Duration::from_secs(1) + LOAD_MARGIN * 2,
        "{:?}",
        grabbed.elapsed()
    );
    let before = replies.load(Ordering::Relaxed);
    thread::sleep(Duration::from_millis(500));
    assert!(
        replies.load(Ordering::Relaxed) > before + 3,
        "the display serves the others again"
    );
    stop.store(true, Ordering::Relaxed);
    worker.join().expect("the held-back client still works");
    let losses: Vec<_> = server
        .events()
        .into_iter()
        .filter(|e| matches!(e.body, Body::Lost { .. }))
        .collect();
    assert_eq!(losses.len(), 1, "only the grabber: {losses:?}");
    assert_eq!(losses[0].seq, lost.seq);
    drop(grabber);
}

#[test]
fn a_stopped_server_convicts_nobody() {
    let server = Xorg::new()
        .option("Watch", "all")
        .option("IdleTimeout", "2s")
        .option("Grace", "0")
        .option("StallGuard", "1s")
        .start();
    let stop = Arc::new(AtomicBool::new(false));
    let replies = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..3)
        .map(|_| chatty(&server, stop.clone(), replies.clone()))
        .collect();
    // One client keeps the server dispatching, so the stop comes in the middle of it: then
    // the block handler runs before the others' queued requests are read.
    let flood = {
        let conn = server.connect();
        let stop = stop.clone();
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..1000 {
                    conn.no_operation().unwrap();
                }
                conn.get_input_focus().unwrap().reply().unwrap();
            }
        })
    };
    thread::sleep(Duration::from_secs(1));

    server.signal(rustix::process::Signal::STOP);
    thread::sleep(Duration::from_secs(5));
    server.signal(rustix::process::Signal::CONT);
    thread::sleep(Duration::from_secs(3));

    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("a client survived the stop");
    }
    flood.join().expect("the flooding client survived the stop");
    no_losses(&server);
    assert!(
        !server.log_lines("server was held up").is_empty(),
        "the stall was not noticed: {}",
        server.log()
    );
}
