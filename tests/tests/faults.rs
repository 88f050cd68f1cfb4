//! Faults on the launcher's side of the link: absent, killed, stopped, slow, out of disk. For
//! each, what must hold: the X server is never held up (a healthy client's round trips, timed
//! from a thread, stay under `HELD_UP`: far above what they measure, so that a loaded 2-core
//! machine passes, far below what a blocked server would show), no event the bounds let the
//! module keep is lost, and the fault is said in a log line.
//!
//! Partly covered elsewhere, not repeated here: a launcher that accepts and never reads
//! (`launcher_link`), a launcher killed during an outage and one stopped while clients come
//! and go, each failing over once (`failover`). The X server's own faults are in
//! `faults_server`.

use lifesign_proto::ByteOrder;
use lifesign_proto::event::{Body, ClientInfo, Event};
use lifesign_tests::listener::{Answer, Listener, Received, ack_kept, is_kept};
use lifesign_tests::prober::Prober;
use lifesign_tests::raw::RawClient;
use lifesign_tests::windows::wait_until;
use lifesign_tests::{LOAD_MARGIN, Launcher, Server, Xorg, Xvfb};
use rustix::process::Signal;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The slowest round trip allowed while a fault is under way.
const HELD_UP: Duration = Duration::from_millis(250);
/// The module's bound on unacknowledged events (`lifesign_watchdog::outbox::BOUND`).
const OUTBOX_BOUND: usize = 4096;
/// The module's first and longest waits between attempts to connect (ext/src/link.rs).
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The events the module keeps until acknowledged, from its log.
fn kept_events(server: &Server) -> Vec<Event> {
    server.events().into_iter().filter(is_kept).collect()
}

/// `count` clients that connect, make a round trip and go, one every `pace`: two kept
/// events each (`watched`, `gone`).
fn churn(server: &Server, count: usize, pace: Duration) -> thread::JoinHandle<()> {
    let display = server.display_number();
    thread::spawn(move || {
        for _ in 0..count {
            let mut c = RawClient::connect(display, ByteOrder::native()).expect("connect");
            c.round_trip().expect("a round trip");
            drop(c);
            thread::sleep(pace);
        }
    })
}

/// The distinct seqs of kept events that `received` holds.
/// What the module keeps of `made` (every kept event, in order) with room for `OUTBOX_BOUND`:
/// when full, the oldest that ends no client goes first (`watchdog/src/outbox.rs`).
fn outbox_keeps(made: &[Event]) -> Vec<&Event> {
    let ends = |e: &Event| matches!(e.body, Body::Lost { .. } | Body::Gone { .. });
    let mut kept: std::collections::VecDeque<&Event> = std::collections::VecDeque::new();
    for event in made {
        if kept.len() == OUTBOX_BOUND {
            let at = kept.iter().position(|k| !ends(k)).unwrap_or(0);
            kept.remove(at);
        }
        kept.push_back(event);
    }
    kept.into()
}

fn kept_seqs(received: &[Received]) -> BTreeSet<u64> {
    received
        .iter()
        .filter(|r| is_kept(&r.event))
        .map(|r| r.event.seq)
        .collect()
}

#[test]
fn an_absent_launcher_holds_nothing_up_and_gets_every_kept_event_when_it_appears() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("launcher.sock");
    let server = Xorg::new()
        .option("Launcher", path.to_str().unwrap())
        .option("Watch", "all")
        .option("IdleTimeout", "1s")
        .option("Grace", "0")
        .start();
    let prober = Prober::start(&server);

    // Watched and lost as usual: a client that falls silent is lost, and closed.
    let mut silent = RawClient::connect(server.display_number(), ByteOrder::native()).unwrap();
    silent.round_trip().unwrap();
    let silent_id = ClientInfo::format_id(silent.resource_id_base());
    churn(&server, 50, Duration::from_millis(10))
        .join()
        .unwrap();
    server
        .wait_for_event(
            Duration::from_secs(1) + LOAD_MARGIN * 3,
            |e| matches!(&e.body, Body::Lost { client, .. } if client.id == silent_id),
        )
        .expect("the silent client is lost with no launcher there");
    assert!(
        silent.read_packet().is_err(),
        "and its connection is closed"
    );

    // Said once per run of failed attempts (debug level, as it is no error: a launcher may
    // start after the server), not once per attempt.
    let unreachable = server.log_lines("lifesign: launcher at");
    assert_eq!(unreachable.len(), 1, "{unreachable:#?}");
    assert!(
        unreachable[0].contains("not reachable") && unreachable[0].contains("No such file"),
        "{}",
        unreachable[0]
    );
    // Numbered without a gap, and kept.
    let made = kept_events(&server);
    let seqs: Vec<u64> = made.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=made.len() as u64).collect::<Vec<_>>());
    assert_eq!(
        made.len(),
        1 + 3 + 100,
        "prober; silent: watched, suspect, lost; churn"
    );

    // The launcher appears: it is tried again within the longest backoff, and gets hello,
    // the replay of who is watched now (the prober), then every kept event, in order, with
    // its seq.
    let appeared = Instant::now();
    let listener = Listener::bind(&path);
    assert!(
        listener.wait_for(MAX_BACKOFF + LOAD_MARGIN * 3, |r| kept_seqs(r).len()
            >= made.len()
            && r.iter()
                .any(|r| matches!(r.event.body, Body::Replayed { .. }))),
        "the kept events reach the launcher: {} of {}",
        kept_seqs(&listener.received()).len(),
        made.len()
    );
    eprintln!(
        "{} kept events delivered {:?} after the launcher appeared",
        made.len(),
        appeared.elapsed()
    );
    let got = listener.received();
    assert!(got.iter().all(|r| r.conn == 0), "one connection");
    assert!(matches!(got[0].event.body, Body::Hello { .. }));
    let replay: Vec<&Received> = got[1..]
        .iter()
        .take_while(|r| matches!(r.event.body, Body::Watched { replay: true, .. }))
        .collect();
    assert_eq!(replay.len(), 1, "the prober is watched now: {replay:?}");
    assert_eq!(replay[0].event.client(), made[0].client());
    assert_eq!(
        got.last().unwrap().event.body,
        Body::Replayed { count: 1 },
        "the burst's end"
    );
    let resent: Vec<String> = got[1 + replay.len()..got.len() - 1]
        .iter()
        .map(|r| r.event.to_line())
        .collect();
    let expected: Vec<String> = made.iter().map(Event::to_line).collect();
    assert_eq!(resent, expected, "the kept events, as they were made");

    prober
        .finish()
        .assert_max_under(HELD_UP, "with no launcher");
    assert!(server.log_lines("queue full").is_empty());
}

/// `count` clients that opt in with a service name of `name_len` bytes and go: two kept
/// events each (`watched`, `gone`), each line as long as the name makes it.
fn churn_with_service(server: &Server, count: usize, name_len: usize) {
    let order = ByteOrder::native();
    let mut probe = RawClient::connect(server.display_number(), order).unwrap();
    let major = probe
        .query_extension(lifesign_proto::ext::EXTENSION_NAME)
        .unwrap()
        .expect("LIFESIGN");
    let watch = lifesign_proto::ext::Request::Watch(lifesign_proto::ext::WatchRequest {
        service: "s".repeat(name_len),
        ..lifesign_proto::ext::WatchRequest::defaults()
    })
    .encode(major, order);
    drop(probe);
    for _ in 0..count {
        let mut c = RawClient::connect(server.display_number(), order).unwrap();
        c.send(&watch).unwrap();
        c.round_trip().unwrap();
    }
}

/// The opening burst (hello, replay, every kept event) once counted against the 1 MiB output
/// bound, so 4096 kept events of more than 256 bytes each were never delivered: the link was
/// dropped at every reconnect.
#[test]
fn a_launcher_that_appears_after_4096_long_events_gets_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("launcher.sock");
    let server = Xorg::new()
        .option("Launcher", path.to_str().unwrap())
        .start();
    // 2100 clients with a 200-byte service name: more than 4096 events of ~450 bytes.
    churn_with_service(&server, 2100, 200);
    thread::sleep(Duration::from_millis(200));
    let made = kept_events(&server);
    let kept = outbox_keeps(&made);
    let bytes: usize = kept.iter().map(|e| e.to_line().len() + 1).sum();
    eprintln!("{} events kept for the launcher: {bytes} bytes", kept.len());
    assert!(bytes > 1 << 20, "more than the output bound");

    let listener = Listener::bind(&path);
    let delivered = listener.wait_for(MAX_BACKOFF + Duration::from_secs(15), |r| {
        kept_seqs(r).len() >= OUTBOX_BOUND
    });
    let got = listener.received();
    let connections = got.last().map_or(0, |r| r.conn + 1);
    eprintln!(
        "{} of {OUTBOX_BOUND} kept events delivered over {connections} connections; the link \
         dropped {} times at the output bound",
        kept_seqs(&got).len(),
        server.log_lines("output bound reached").len()
    );
    assert!(delivered, "every kept event reaches a launcher that reads");
    assert_eq!(connections, 1, "on its first connection");
    let resent: Vec<String> = got
        .iter()
        .filter(|r| is_kept(&r.event))
        .map(|r| r.event.to_line())
        .collect();
    let expected: Vec<String> = kept.iter().map(|e| e.to_line()).collect();
    assert!(resent == expected, "the kept events, in order");
}

/// How long a started candidate has to connect (shorter than the default 10 s: a test waits
/// for it when a kill came between a start's save and its spawn).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(8);

/// A local xclock named `name` (its WM_CLASS instance), redrawing every second, so it is never
/// idle while it runs.
fn xclock(name: &str) -> String {
    format!("[\"xclock\", \"-update\", \"1\", \"-name\", {name:?}]")
}

/// `[[service]]` sections for services `names`, each an xclock with a backup of the same.
fn services(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| {
            format!(
                "[[service]]\nname = {n:?}\nmatch = {{ wm_class = {n:?} }}\n\
                 start = [{}, {}]\nstart_primary = true\nstartup_timeout = \"{}ms\"\n",
                xclock(n),
                xclock(n),
                STARTUP_TIMEOUT.as_millis()
            )
        })
        .collect()
}

/// Xorg watching everyone (IdleTimeout 2s, after a Grace that covers an xclock's start on
/// a loaded machine: its font setup can keep it silent for seconds) and reporting to a real
/// launcher with `names`' services, each started and showing its window; and a connection
/// of the test's to look at the display with, not watched (it is idle), made before the
/// launcher starts anything (a windowless client that connects while a candidate starts
/// may be taken for it).
type Observer = x11rb::rust_connection::RustConnection;

fn with_launcher(names: &[&str], launcher: Launcher) -> (Server, Launcher, Observer) {
    let server = Xorg::new()
        .option("Launcher", launcher.socket().to_str().unwrap())
        .option("Watch", "all")
        .option("IdleTimeout", "2s")
        .option("Grace", "5s")
        .start();
    let observer = server.connect();
    lifesign_tests::lifesign::unwatch(&observer);
    let launcher = launcher
        .configure(&format!(
            "display = \"{}\"\n{}",
            server.display(),
            services(names)
        ))
        .start();
    // A client stopped before its window shows would be lost with no class to tell its
    // service by.
    assert!(
        wait_until(Duration::from_secs(30), || clients_of(&observer, names)
            .iter()
            .all(|n| *n == 1))
        .is_some(),
        "the primaries show their windows: {:?}\n{}",
        clients_of(&observer, names),
        launcher.log()
    );
    (server, launcher, observer)
}

/// The seqs of the events the launcher logged (`event watched`, `event lost`, ...), each
/// with how many times it was logged; the replay (not kept) is left out.
/// Waits until every event of `made` is in the launcher's log, and says when; the seqs of
/// those that are not, on timeout.
fn wait_all_logged(
    launcher: &Launcher,
    made: &[Event],
    timeout: Duration,
) -> Result<Instant, Vec<u64>> {
    let all = wait_until(timeout, || {
        let seen = launcher_seqs(launcher);
        made.iter().all(|e| seen.contains_key(&e.seq))
    });
    let seen = launcher_seqs(launcher);
    match all {
        Some(at) => Ok(at),
        None => Err(made
            .iter()
            .map(|e| e.seq)
            .filter(|s| !seen.contains_key(s))
            .collect()),
    }
}

fn launcher_seqs(launcher: &Launcher) -> BTreeMap<u64, usize> {
    let mut seen = BTreeMap::new();
    for line in launcher.log_lines(" event ") {
        if line.contains("replay=true") {
            continue;
        }
        if let Some(seq) = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("seq="))
            .and_then(|s| s.parse::<u64>().ok())
        {
            *seen.entry(seq).or_insert(0) += 1;
        }
    }
    seen
}

/// How many watched clients each of `names` has on the display (by their WM_CLASS instance).
fn clients_of(conn: &impl x11rb::connection::RequestConnection, names: &[&str]) -> Vec<usize> {
    let listed = lifesign_tests::lifesign::list_clients(conn);
    names
        .iter()
        .map(|n| {
            listed
                .iter()
                .filter(|e| e.client.wm_class.as_ref().is_some_and(|c| c[0] == *n))
                .count()
        })
        .collect()
}

fn stop_candidates(launcher: &Launcher) {
    for pid in launcher.started_pids() {
        let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
        rustix::process::kill_process(pid, Signal::STOP).unwrap();
    }
}

#[test]
fn a_launcher_killed_while_events_flow_misses_none_and_acts_on_each_loss_once() {
    let names = ["kill-1", "kill-2", "kill-3"];
    let (server, mut launcher, observer) = with_launcher(&names, Launcher::new(""));
    let prober = Prober::start(&server);
    // Events flow: clients come and go, 100 a second.
    let flow = churn(&server, 600, Duration::from_millis(10));
    thread::sleep(Duration::from_secs(1));
    // The primaries hang; the launcher is killed as their losses come in, so that some are
    // on their way, read but not acknowledged, or acted on and not acknowledged.
    stop_candidates(&launcher);
    server
        .wait_for_event(Duration::from_secs(10), |e| {
            matches!(e.body, Body::Lost { .. })
        })
        .expect("a primary is lost");
    launcher.kill();
    thread::sleep(Duration::from_secs(1));
    launcher.restart();
    flow.join().unwrap();

    // Every kept event reaches the launcher, some twice (those it had not acknowledged).
    let made = kept_events(&server);
    if let Err(missing) = wait_all_logged(&launcher, &made, Duration::from_secs(15)) {
        panic!(
            "kept events that never reached the launcher: {missing:?}\n{}",
            launcher.log()
        );
    }
    let seen = launcher_seqs(&launcher);
    let twice: Vec<u64> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(s, _)| *s)
        .collect();
    eprintln!(
        "{} kept events made; {} reached the launcher twice (sent again after the kill): {twice:?}",
        made.len(),
        twice.len()
    );
    // Each loss acted on once: one replacement per service, whatever came twice. Where the
    // kill came decides only which and when: a failover decided and not saved is decided
    // again after the restart (its "failing over" shows twice); one saved and not started is
    // a start the restarted launcher waits `startup_timeout` for, then gives up for the next
    // candidate. (Counted on the display, not in the launcher's log: a kill right after a
    // spawn loses its "started candidate" line.)
    let running = || clients_of(&observer, &names);
    assert!(
        wait_until(STARTUP_TIMEOUT + Duration::from_secs(10), || running()
            .iter()
            .all(|n| *n == 1))
        .is_some(),
        "one client per service: {:?}\n{}",
        running(),
        launcher.log()
    );
    thread::sleep(Duration::from_secs(2)); // time for a second replacement to show, if any
    assert_eq!(running(), vec![1; names.len()], "{}", launcher.log());
    let xclocks = server
        .events()
        .iter()
        .filter(|e| matches!(&e.body, Body::Watched { client, .. } if client.command.as_deref() == Some("xclock")))
        .count();
    assert_eq!(
        xclocks,
        2 * names.len(),
        "the primaries and one replacement each"
    );
    eprintln!(
        "losses sent again that the launcher ignored as already acted on: {}",
        launcher.log_lines("already acted on").len()
    );
    prober
        .finish()
        .assert_max_under(HELD_UP, "while the launcher was killed and restarted");
}

#[test]
fn a_stopped_launcher_holds_nothing_up_and_gets_every_event_after_sigcont() {
    let names = ["stop-1"];
    let (server, launcher, _observer) = with_launcher(&names, Launcher::new(""));
    let prober = Prober::start(&server);
    let connections = launcher.log_lines("server connected").len();
    launcher.signal(Signal::STOP);
    let stopped = Instant::now();
    // More than the socket holds (the rest waits in the module's output buffer), less than
    // its bound: the connection must survive.
    let flow = churn(&server, 1000, Duration::from_millis(2));
    stop_candidates(&launcher);
    flow.join().unwrap();
    server
        .wait_for_event(Duration::from_secs(10), |e| {
            matches!(e.body, Body::Lost { .. })
        })
        .expect("the primary is lost meanwhile");
    let made = kept_events(&server);
    let bytes: usize = made.iter().map(|e| e.to_line().len() + 1).sum();
    eprintln!(
        "{} kept events ({bytes} bytes) made in {:?} while the launcher was stopped",
        made.len(),
        stopped.elapsed()
    );
    thread::sleep(Duration::from_secs(1));
    let probed = prober.finish();
    let prober = Prober::start(&server);

    let seen_before = launcher_seqs(&launcher);
    launcher.signal(Signal::CONT);
    let continued = Instant::now();
    let delivered = wait_all_logged(&launcher, &made, Duration::from_secs(15))
        .unwrap_or_else(|missing| panic!("events that did not reach the launcher: {missing:?}"));
    eprintln!(
        "all {} delivered {:?} after SIGCONT ({} of them had reached the launcher before its stop)",
        made.len(),
        delivered - continued,
        seen_before.len()
    );
    assert!(
        launcher.wait_for_log("started candidate", 2, Duration::from_secs(15)),
        "the backup starts after SIGCONT:\n{}",
        launcher.log()
    );
    assert_eq!(
        launcher.log_lines("server connected").len(),
        connections,
        "the module's connection outlived the stop"
    );
    assert!(server.log_lines("lost the launcher link").is_empty());
    thread::sleep(Duration::from_secs(1));
    probed.assert_max_under(HELD_UP, "while the launcher was stopped");
    prober
        .finish()
        .assert_max_under(HELD_UP, "while it caught up");
}

/// A launcher that takes every connection and reads one byte a second of each, and never
/// acknowledges anything.
struct Sluggish {
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    thread: Option<thread::JoinHandle<()>>,
    path: PathBuf,
}

impl Sluggish {
    fn bind(path: &Path) -> Self {
        let listener = UnixListener::bind(path).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let thread = thread::spawn({
            let (stop, accepted) = (stop.clone(), accepted.clone());
            move || {
                let mut streams: Vec<UnixStream> = Vec::new();
                let mut last_read = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    while let Ok((s, _)) = listener.accept() {
                        s.set_nonblocking(true).unwrap();
                        streams.push(s);
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    if last_read.elapsed() >= Duration::from_secs(1) {
                        for s in &mut streams {
                            let _ = s.read(&mut [0u8; 1]);
                        }
                        last_read = Instant::now();
                    }
                    thread::sleep(Duration::from_millis(10));
                }
            }
        });
        Self {
            stop,
            accepted,
            thread: Some(thread),
            path: path.to_owned(),
        }
    }
}

impl Drop for Sluggish {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

#[test]
fn a_launcher_reading_a_byte_a_second_meets_both_bounds_and_the_server_is_not_held_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("launcher.sock");
    let sluggish = Sluggish::bind(&path);
    let server = Xorg::new()
        .option("Launcher", path.to_str().unwrap())
        .option("Watch", "all")
        .start();
    assert!(
        wait_until(Duration::from_secs(10), || sluggish
            .accepted
            .load(Ordering::Relaxed)
            > 0)
        .is_some()
    );
    let prober = Prober::start(&server);
    // Far more than 1 MiB of lines, and more than 4096 events.
    churn(&server, 3000, Duration::from_millis(1))
        .join()
        .unwrap();
    let probed = prober.finish(); // its connection closes: one more event
    thread::sleep(Duration::from_millis(500));
    let made = kept_events(&server);
    let bytes: usize = made.iter().map(|e| e.to_line().len() + 1).sum();

    // The output bound: the connection is dropped (and made again: the events are kept).
    let dropped_links = server.log_lines(
        "(WW) lifesign: lost the launcher link: the launcher does not read (output bound reached)",
    );
    // The outbox bound: the oldest go, one (EE) line each.
    let full =
        server.log_lines("(EE) lifesign: launcher queue full (4096 events): dropped event seq");
    eprintln!(
        "{} kept events ({bytes} bytes) for a launcher reading a byte a second: the link \
         dropped {} times at the output bound, {} accepted connections, {} events dropped \
         at the outbox bound",
        made.len(),
        dropped_links.len(),
        sluggish.accepted.load(Ordering::Relaxed),
        full.len()
    );
    assert!(!dropped_links.is_empty(), "the output bound is reached");
    assert_eq!(full.len(), made.len() - OUTBOX_BOUND, "{:?}", full.first());
    assert!(
        full[0].ends_with(&format!("seq {}", made[0].seq)),
        "{}",
        full[0]
    );
    // Each reconnect to it copies the 4096 kept lines (~1 MB) into the link's output in one
    // pass; serializing them anew, as the module once did, held the server for 75-150 ms.
    probed.assert_max_under(HELD_UP, "while the launcher read a byte a second");
    // A launcher that reads takes its place: it gets the newest 4096, as they were made.
    drop(sluggish);
    let listener = Listener::bind(&path);
    assert!(
        listener.wait_for(MAX_BACKOFF + Duration::from_secs(10), |r| kept_seqs(r)
            .len()
            >= OUTBOX_BOUND),
        "the kept events reach a launcher that reads: {} of {OUTBOX_BOUND}",
        kept_seqs(&listener.received()).len()
    );
    let got = listener.received();
    let first_conn = got[0].conn;
    let resent: Vec<String> = got
        .iter()
        .filter(|r| r.conn == first_conn && is_kept(&r.event))
        .map(|r| r.event.to_line())
        .collect();
    let expected: Vec<String> = outbox_keeps(&made).iter().map(|e| e.to_line()).collect();
    assert_eq!(resent.len(), expected.len());
    assert!(
        resent == expected,
        "the 4096 kept events (every end, the newest of the rest), in order"
    );
}

/// A tmpfs of 64 KiB mounted on a directory of the test's; unmounted on drop.
struct TinyDisk {
    dir: tempfile::TempDir,
}

impl TinyDisk {
    fn mount() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k,mode=0700", "lifesign-test"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "mount a tmpfs (run as root)");
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills it up; returns the filler's size. A file's last page may still have room
    /// after that: `pad` (a log) is filled up to it with empty lines.
    fn fill(&self, pad: Option<&Path>) -> usize {
        let mut filler = std::fs::File::create(self.path().join("filler")).unwrap();
        let block = [0xa5u8; 4096];
        let mut written = 0;
        loop {
            match filler.write(&block) {
                Ok(0) => break,
                Ok(n) => written += n,
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOSPC.raw_os_error()) => {
                    break;
                }
                Err(e) => panic!("fill the tmpfs: {e}"),
            }
        }
        if let Some(pad) = pad {
            let mut log = std::fs::OpenOptions::new().append(true).open(pad).unwrap();
            while log.write_all(b"\n").is_ok() {}
        }
        // Nothing more fits, not even a byte.
        let mut probe = std::fs::File::create(self.path().join("probe")).unwrap();
        assert!(
            probe
                .write_all(b"x")
                .and_then(|()| probe.sync_all())
                .is_err()
        );
        let _ = std::fs::remove_file(self.path().join("probe"));
        written
    }

    fn free(&self) {
        std::fs::remove_file(self.path().join("filler")).unwrap();
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// User and system CPU time of process `pid`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5); `after_name` starts at field 3.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

fn process_state(pid: u32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rfind(')')
        .and_then(|i| stat[i + 2..].chars().next())
        .unwrap_or('?')
}

/// The pid of the one watched client of service `name` on the display.
fn pid_of(conn: &impl x11rb::connection::RequestConnection, name: &str) -> Option<u32> {
    let listed = lifesign_tests::lifesign::list_clients(conn);
    let mut of = listed
        .iter()
        .filter(|e| e.client.wm_class.as_ref().is_some_and(|c| c[0] == name));
    match (of.next(), of.next()) {
        (Some(e), None) => e.client.pid,
        _ => None,
    }
}

/// Stops the client of `name` (it hangs, and is lost at IdleTimeout), and waits until
/// another client of it runs; returns the replacement's pid.
fn hang_and_replace(conn: &impl x11rb::connection::RequestConnection, name: &str) -> u32 {
    let old = pid_of(conn, name).expect("the service runs");
    let pid = rustix::process::Pid::from_raw(old as i32).unwrap();
    rustix::process::kill_process(pid, Signal::STOP).unwrap();
    let mut new = None;
    wait_until(STARTUP_TIMEOUT + Duration::from_secs(10), || {
        new = pid_of(conn, name).filter(|p| *p != old);
        new.is_some()
    })
    .unwrap_or_else(|| panic!("{name} is replaced"));
    new.unwrap()
}

#[test]
fn a_launcher_socket_the_server_may_not_open_is_said_once_and_used_once_it_may() {
    use std::os::unix::fs::PermissionsExt;
    // A server run as nobody (Xvfb, the module preloaded), and a launcher socket of root's
    // with mode 0600: connect(2) is refused with EACCES.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("launcher.sock");
    let listener = Listener::bind(&path);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let server = Xvfb::with_options(&format!("Watch=all;Launcher={}", path.display()))
        .user(65534, 65534)
        .start();
    let refused = format!(
        "(EE) lifesign: launcher at {}: Permission denied (os error 13); no events go to it",
        path.display()
    );
    assert!(
        server.wait_for_log(&refused, 1, Duration::from_secs(10)),
        "a clear error line:\n{}",
        server.log()
    );
    // It goes on serving, and keeps the events for later.
    let client = RawClient::connect(server.display_number(), ByteOrder::native());
    let mut client = client.expect("the server takes clients");
    client.round_trip().expect("and answers them");
    let made = kept_events(&server);
    assert!(!made.is_empty(), "a watched event is kept");
    // Attempts go on, with backoff, without a line each.
    thread::sleep(Duration::from_secs(2));
    assert_eq!(server.log_lines(&refused).len(), 1, "said once");
    assert!(listener.received().is_empty());

    // Once the socket lets it in, the next attempt (at most 5 s later) delivers them.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let delivered = |r: &[Received]| made.iter().all(|e| kept_seqs(r).contains(&e.seq));
    assert!(
        listener.wait_for(MAX_BACKOFF + LOAD_MARGIN, delivered),
        "the kept events are delivered once the socket may be opened: {:?}",
        listener.received()
    );
    eprintln!(
        "a launcher socket of mode 0600 for a server run as nobody: refused ({} line), \
         {} kept event(s) delivered after chmod 0666",
        server.log_lines(&refused).len(),
        made.len()
    );
}

#[test]
fn a_launcher_that_misbehaves_is_connected_to_less_and_less_often_until_it_acknowledges() {
    // Its first four connections answer `hello` with a line over 4096 bytes; the fifth
    // acknowledges the one event it is sent, then answers the next the same way.
    const ROGUE: usize = 4;
    let long_line = || Answer::Send(vec![b'x'; 5000]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("launcher.sock");
    let listener = Listener::bind_answering(&path, move |conn, event| match &event.body {
        Body::Hello { .. } if conn < ROGUE => long_line(),
        Body::Gone { .. } if conn == ROGUE => long_line(),
        _ => ack_kept(conn, event),
    });
    let server = Xorg::new()
        .option("Launcher", path.to_str().unwrap())
        .option("Watch", "all")
        .start();
    let hellos = |r: &[Received]| -> Vec<Instant> {
        r.iter()
            .filter(|r| matches!(r.event.body, Body::Hello { .. }))
            .map(|r| r.at)
            .collect()
    };
    assert!(
        listener.wait_for(Duration::from_secs(10), |r| hellos(r).len() > ROGUE),
        "connected {} times",
        hellos(&listener.received()).len()
    );
    // Each drop doubles the wait before the next connection: 100 ms, 200 ms, 400 ms, 800 ms.
    let at = hellos(&listener.received());
    let waits: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
    eprintln!("a launcher sending over-long lines: connected again after {waits:?}");
    for (k, wait) in waits.iter().enumerate() {
        let backoff = FIRST_BACKOFF * 2u32.pow(k as u32);
        // The listener sees a connection within a few ms of the module making it.
        assert!(
            *wait + Duration::from_millis(50) >= backoff,
            "connected again {wait:?} after drop {k}, before its backoff {backoff:?}"
        );
    }

    // Its fifth connection acknowledges a client's `watched`: the backoff starts again from
    // 100 ms, so when it then misbehaves it is connected to again at once, not after 1.6 s.
    let client = RawClient::connect(server.display_number(), ByteOrder::native()).unwrap();
    assert!(
        listener.wait_for(Duration::from_secs(5), |r| r
            .iter()
            .any(|r| r.conn == ROGUE && matches!(r.event.body, Body::Watched { .. })))
    );
    thread::sleep(Duration::from_millis(200)); // the module reads the ack
    drop(client);
    assert!(
        listener.wait_for(Duration::from_secs(10), |r| hellos(r).len() > ROGUE + 1),
        "connected again after it acknowledged"
    );
    let got = listener.received();
    let gone_at = got
        .iter()
        .find(|r| r.conn == ROGUE && matches!(r.event.body, Body::Gone { .. }))
        .expect("the gone came on the fifth connection")
        .at;
    let wait = hellos(&got)[ROGUE + 1] - gone_at;
    eprintln!(
        "after it acknowledged an event and misbehaved again: connected again after {wait:?}"
    );
    assert!(
        wait < FIRST_BACKOFF * 8,
        "{wait:?}: the ack did not start the backoff again"
    );
}

#[test]
fn a_launcher_out_of_disk_keeps_serving_says_so_and_catches_up() {
    // The state on one tiny disk, the log on another: each filled up in turn.
    let (state_disk, log_disk) = (TinyDisk::mount(), TinyDisk::mount());
    let state = state_disk.path().join("state.json");
    let names = ["disk-1", "disk-2"];
    let launcher = Launcher::new("")
        .state_at(&state)
        .log_at(&log_disk.path().join("launcher.log"));
    let (server, mut launcher, observer) = with_launcher(&names, launcher);
    let prober = Prober::start(&server);
    let saved = std::fs::read(&state).unwrap();
    let filled = state_disk.fill(None);

    // The state's disk full: the failover happens, acknowledged, and it is said once.
    hang_and_replace(&observer, "disk-1");
    assert!(
        launcher.wait_for_log("cannot save the state", 1, Duration::from_secs(5)),
        "{}",
        launcher.log()
    );
    let errors = launcher.log_lines("cannot save the state");
    assert!(
        errors[0].contains("No space left on device"),
        "{}",
        errors[0]
    );
    assert_eq!(
        std::fs::read(&state).unwrap(),
        saved,
        "the old state is intact"
    );
    // Its log's disk full too: it still fails over (before the fix it died at its first
    // line), and it does not spin on either error.
    let log_file = log_disk.path().join("launcher.log");
    let filled_log = log_disk.fill(Some(&log_file));
    let log_before = launcher.log();
    let cpu = cpu_time(launcher.pid());
    let replaced_at = Instant::now();
    hang_and_replace(&observer, "disk-2");
    let took = replaced_at.elapsed();
    thread::sleep(Duration::from_secs(1));
    let spent = cpu_time(launcher.pid()) - cpu;
    assert!(
        process_state(launcher.pid()) != 'Z',
        "the launcher is alive"
    );
    eprintln!(
        "disks filled ({filled} and {filled_log} bytes); with both full, disk-2 replaced in \
         {took:?}, the launcher using {spent:?} of CPU meanwhile"
    );
    assert!(spent < Duration::from_millis(500), "{spent:?}");
    assert_eq!(
        launcher.log().len(),
        log_before.len(),
        "nothing fit in the log"
    );

    // Room again: the state catches up with both failovers by itself, and says so.
    state_disk.free();
    log_disk.free();
    assert!(
        wait_until(Duration::from_secs(5), || std::fs::read(&state).unwrap()
            != saved)
        .is_some(),
        "the state is saved once there is room"
    );
    let now_saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    for name in names {
        assert_eq!(now_saved["services"][name]["active"], 1, "{now_saved}");
    }
    assert!(
        launcher.wait_for_log("the state is saved again", 1, Duration::from_secs(5)),
        "{}",
        launcher.log()
    );
    // Restarted, it adopts both backups and starts nothing; the module sends nothing
    // again (everything was acknowledged, disk full or not).
    let last_seq = server.events().last().map_or(0, |e| e.seq);
    launcher.kill();
    launcher.restart();
    assert!(launcher.wait_for_log("server said hello", 2, Duration::from_secs(15)));
    thread::sleep(Duration::from_secs(2));
    let log = launcher.log();
    let second_run = &log[log.rfind("listening").unwrap()..];
    assert!(!second_run.contains("started candidate"), "{second_run}");
    let resent: Vec<&str> = second_run
        .lines()
        .filter(|l| l.contains(" event ") && !l.contains("replay=true"))
        .filter(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("seq="))
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|s| s <= last_seq)
        })
        .collect();
    assert!(
        resent.is_empty(),
        "sent again, so not acknowledged: {resent:#?}"
    );
    prober
        .finish()
        .assert_max_under(HELD_UP, "while the launcher's disks were full");
}
