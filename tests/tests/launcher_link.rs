//! The module's link to the launcher: `hello` first, the events as JSON lines, kept until
//! acknowledged and sent again after a reconnect; a launcher that does not read never holds
//! the server up. The launcher here is the test's own socket (lifesign-launcher is issue 4).

use lifesign_proto::event::{Body, Event};
use lifesign_tests::Xorg;
use rustix::process::Signal;
use std::io::{BufRead, BufReader, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};
use x11rb::protocol::xproto::ConnectionExt as _;

/// A launcher socket of the test's own, and an Xorg watching every client that reports to it.
fn with_launcher(
    options: &[(&str, &str)],
) -> (tempfile::TempDir, UnixListener, lifesign_tests::Server) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("launcher.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let mut xorg = Xorg::new()
        .option("Launcher", path.to_str().unwrap())
        .option("Watch", "all");
    for (name, value) in options {
        xorg = xorg.option(name, value);
    }
    (dir, listener, xorg.start())
}

fn accept(listener: &UnixListener) -> UnixStream {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(15)))
                    .unwrap();
                return stream;
            }
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("the module did not connect: {e}"),
        }
    }
}

fn next(reader: &mut BufReader<UnixStream>) -> Event {
    let mut line = String::new();
    reader.read_line(&mut line).expect("a line from the module");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not an event: {line:?}: {e}"))
}

fn ack(stream: &mut UnixStream, seq: u64) {
    stream
        .write_all(lifesign_proto::event::ack_line(seq).as_bytes())
        .unwrap();
}

#[test]
fn events_reach_the_launcher_and_unacknowledged_ones_are_sent_again() {
    let (_dir, listener, server) = with_launcher(&[("IdleTimeout", "1s"), ("Grace", "0")]);

    let mut stream = accept(&listener);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let hello = next(&mut reader);
    let Body::Hello { server: info } = &hello.body else {
        panic!("first comes hello: {hello:?}")
    };
    assert_eq!(info.display, server.display());
    assert_eq!(info.pid, server.pid());

    let app = server.connect();
    app.get_input_focus().unwrap().reply().unwrap();
    // watched, then (idle) suspect, then lost: acknowledge all but the loss.
    let mut lost = None;
    while lost.is_none() {
        let event = next(&mut reader);
        match event.body {
            Body::Lost { .. } => lost = Some(event),
            _ => ack(&mut stream, event.seq),
        }
    }
    let lost = lost.unwrap();
    drop(reader);
    drop(stream);

    // The module comes back, says hello again, replays no one (nobody else is watched),
    // sends the loss again, same seq, and says its view is whole.
    let mut stream = accept(&listener);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    assert!(matches!(next(&mut reader).body, Body::Hello { .. }));
    let again = next(&mut reader);
    assert_eq!(
        (again.seq, again.to_line()),
        (lost.seq, lost.to_line()),
        "the same event"
    );
    ack(&mut stream, again.seq);
    assert_eq!(next(&mut reader).body, Body::Replayed { count: 0 });

    // A watched client that is up is replayed to a new connection, and nothing else comes.
    let quiet = server.connect();
    quiet.get_input_focus().unwrap().reply().unwrap();
    let watched = next(&mut reader);
    assert!(matches!(watched.body, Body::Watched { replay: false, .. }));
    ack(&mut stream, watched.seq);
    // It gets a window: the replay carries its class (the live `watched` could not).
    lifesign_tests::windows::map_with_class(&quiet, b"quiet\0Quiet\0");
    drop(reader);
    drop(stream);
    let stream = accept(&listener);
    let mut reader = BufReader::new(stream);
    assert!(matches!(next(&mut reader).body, Body::Hello { .. }));
    let replay = next(&mut reader);
    assert!(
        matches!(replay.body, Body::Watched { replay: true, .. }),
        "{replay:?}"
    );
    assert_eq!(replay.client().unwrap().id, watched.client().unwrap().id);
    assert_eq!(
        replay.client().unwrap().wm_class,
        Some(["quiet".to_owned(), "Quiet".to_owned()])
    );
    // The class was told live too, by `updated`, which was not acknowledged: sent again,
    // before the view is said to be whole.
    let updated = next(&mut reader);
    assert!(
        matches!(&updated.body, Body::Updated { client } if client.wm_class == replay.client().unwrap().wm_class),
        "{updated:?}"
    );
    assert_eq!(next(&mut reader).body, Body::Replayed { count: 1 });
}

#[test]
fn a_launcher_that_does_not_read_never_holds_the_server_up() {
    let (_dir, listener, server) = with_launcher(&[]);
    let _stalled = accept(&listener); // connected, never read
    let probe = server.connect();
    let mut slowest = Duration::ZERO;
    // Every client is two events (watched, gone): far more than a socket buffer holds.
    for _ in 0..600 {
        drop(server.connect());
        let start = Instant::now();
        probe.get_input_focus().unwrap().reply().unwrap();
        slowest = slowest.max(start.elapsed());
    }
    eprintln!("slowest round trip while the launcher did not read: {slowest:?}");
    assert!(slowest < Duration::from_millis(500), "{slowest:?}");
    assert!(!server.log_lines("lifesign:").is_empty());
}

#[test]
fn acks_the_launcher_wrote_right_before_it_closed_are_taken() {
    // The launcher writes the acks due, then closes (it does so when a stray `hello` broke
    // its view, docs/decisions.md 73). The server is stopped meanwhile, so that its module
    // reads the ack and the end in one turn, as a busy server does.
    let (_dir, listener, server) = with_launcher(&[]);
    let mut stream = accept(&listener);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    assert!(matches!(next(&mut reader).body, Body::Hello { .. }));
    assert_eq!(next(&mut reader).body, Body::Replayed { count: 0 });
    let app = server.connect();
    app.get_input_focus().unwrap().reply().unwrap();
    let watched = next(&mut reader);
    assert!(
        matches!(watched.body, Body::Watched { replay: false, .. }),
        "{watched:?}"
    );
    server.signal(Signal::STOP);
    // SIGSTOP takes effect when the server next leaves the kernel: let it.
    std::thread::sleep(Duration::from_millis(200));
    ack(&mut stream, watched.seq);
    stream.shutdown(Shutdown::Both).unwrap();
    drop(reader);
    drop(stream);
    server.signal(Signal::CONT);

    // The next connection replays the client, and does not send the acknowledged event again.
    let stream = accept(&listener);
    let mut reader = BufReader::new(stream);
    assert!(matches!(next(&mut reader).body, Body::Hello { .. }));
    let replay = next(&mut reader);
    assert!(
        matches!(replay.body, Body::Watched { replay: true, .. }),
        "{replay:?}"
    );
    let last = next(&mut reader);
    assert_eq!(
        last.body,
        Body::Replayed { count: 1 },
        "the acknowledged `watched` is not sent again: {last:?}"
    );
}
