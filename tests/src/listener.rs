//! A launcher end of the test's own on the module's `Launcher` socket, to see every line the
//! module sends: it takes the module's connections one after the other (the module has one
//! at a time), reads every line, answers each (by default it acknowledges each kept event at
//! once, as lifesign-launcher does after acting) and records what arrived on which connection.

use lifesign_proto::event::{Body, Event};
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// One line as it arrived.
#[derive(Clone, Debug)]
pub struct Received {
    /// Which connection, counted from 0.
    pub conn: usize,
    pub event: Event,
    pub at: Instant,
    /// The same moment in Unix ms, to set beside the event's own `at_ms`.
    pub at_ms: u64,
}

/// What the launcher end does with an event that came on connection `conn`.
pub enum Answer {
    /// Acknowledge it.
    Ack,
    /// Nothing.
    Silence,
    /// Send these bytes (whatever a broken launcher might say).
    Send(Vec<u8>),
    /// Record it, then close the connection without acknowledging it.
    HangUp,
}

/// The answer of lifesign-launcher: an ack for every event the module keeps.
pub fn ack_kept(_conn: usize, event: &Event) -> Answer {
    if is_kept(event) {
        Answer::Ack
    } else {
        Answer::Silence
    }
}

type Answering = dyn Fn(usize, &Event) -> Answer + Send;

pub struct Listener {
    received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

/// Whether the module keeps `event` until acknowledged (all but `hello` and the replay).
pub fn is_kept(event: &Event) -> bool {
    !matches!(
        event.body,
        Body::Hello { .. } | Body::Watched { replay: true, .. } | Body::Replayed { .. }
    )
}

impl Listener {
    /// Binds `path` now and serves it from a thread until dropped, answering as
    /// lifesign-launcher does ([`ack_kept`]).
    pub fn bind(path: &Path) -> Self {
        Self::bind_answering(path, ack_kept)
    }

    /// Binds `path` now and serves it from a thread until dropped, answering each event as
    /// `answer` says.
    pub fn bind_answering(
        path: &Path,
        answer: impl Fn(usize, &Event) -> Answer + Send + 'static,
    ) -> Self {
        let listener = UnixListener::bind(path).expect("bind the launcher's socket");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = thread::spawn({
            let (received, stop) = (received.clone(), stop.clone());
            move || serve(&listener, &received, &stop, &answer)
        });
        Self {
            received,
            stop,
            thread: Some(thread),
        }
    }

    /// Everything received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("the received lines").clone()
    }

    /// Waits until `done` holds for what was received; false on timeout.
    pub fn wait_for(&self, timeout: Duration, done: impl Fn(&[Received]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(&self.received.lock().expect("the received lines")) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    listener: &UnixListener,
    received: &Mutex<Vec<Received>>,
    stop: &AtomicBool,
    answer: &Answering,
) {
    let mut conn = 0;
    while !stop.load(Ordering::Relaxed) {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(e) => panic!("accept: {e}"),
        };
        stream.set_nonblocking(false).expect("a blocking stream");
        // Short, so the thread sees `stop` while the module is quiet.
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("a read timeout");
        let mut writer = stream.try_clone().expect("a second handle");
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) if line.last() == Some(&b'\n') => {
                    let event: Event = serde_json::from_slice(&line).unwrap_or_else(|e| {
                        panic!("not an event: {:?}: {e}", String::from_utf8_lossy(&line))
                    });
                    line.clear();
                    let (at, at_ms) = (Instant::now(), crate::unix_ms());
                    let answer = answer(conn, &event);
                    // The module may have dropped the connection meanwhile.
                    match &answer {
                        Answer::Ack => {
                            let ack = lifesign_proto::event::ack_line(event.seq);
                            let _ = writer.write_all(ack.as_bytes());
                        }
                        Answer::Send(bytes) => {
                            let _ = writer.write_all(bytes);
                        }
                        Answer::Silence | Answer::HangUp => {}
                    }
                    received.lock().expect("the received lines").push(Received {
                        conn,
                        event,
                        at,
                        at_ms,
                    });
                    if matches!(answer, Answer::HangUp) {
                        break;
                    }
                }
                Ok(_) => break, // the connection ended in the middle of a line
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
        }
        conn += 1;
    }
}
