//! A launcher of the test's own on the module's `Launcher` socket, unkind on purpose, so that
//! memcheck sees every path of the module's link: on its first connection it acknowledges
//! events until the first `lost`, then hangs up without acknowledging it (the module must
//! send it again after reconnecting); on its second it answers with what a broken launcher
//! might send (not JSON, another version, an unknown seq, not UTF-8, then a line growing past
//! the module's 4096-byte limit, which makes the module drop the connection); from the third
//! on it acknowledges everything, as lifesign-launcher does.

use lifesign_proto::event::{Body, Event};
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

pub struct StandIn {
    /// Each line the module sent, with the connection (from 0) it came on.
    received: Arc<Mutex<Vec<(usize, Event)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl StandIn {
    pub fn bind(path: &Path) -> Self {
        let listener = UnixListener::bind(path).expect("bind the launcher socket");
        listener.set_nonblocking(true).expect("non-blocking accept");
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = thread::spawn({
            let (received, stop) = (received.clone(), stop.clone());
            move || serve(&listener, &received, &stop)
        });
        Self {
            received,
            stop,
            thread: Some(thread),
        }
    }

    pub fn received(&self) -> Vec<(usize, Event)> {
        self.received.lock().expect("received").clone()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the module keeps until acknowledged: all but `hello` and the replay.
fn is_kept(event: &Event) -> bool {
    !matches!(
        event.body,
        Body::Hello { .. } | Body::Watched { replay: true, .. }
    )
}

fn serve(listener: &UnixListener, received: &Mutex<Vec<(usize, Event)>>, stop: &AtomicBool) {
    let mut conn = 0;
    while !stop.load(Ordering::Relaxed) {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(10));
                continue;
            }
            Err(e) => panic!("accept: {e}"),
        };
        converse(conn, stream, received, stop);
        conn += 1;
    }
}

fn converse(
    conn: usize,
    stream: UnixStream,
    received: &Mutex<Vec<(usize, Event)>>,
    stop: &AtomicBool,
) {
    stream.set_nonblocking(false).expect("a blocking stream");
    // Short, so that `stop` is seen while the module is quiet.
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("a read timeout");
    let mut writer = stream.try_clone().expect("a second handle");
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => return,
            Ok(_) if line.last() == Some(&b'\n') => {}
            Ok(_) => return, // the module hung up in the middle of a line
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => return,
        }
        let event: Event = serde_json::from_slice(&line)
            .unwrap_or_else(|e| panic!("not an event: {:?}: {e}", String::from_utf8_lossy(&line)));
        line.clear();
        received
            .lock()
            .expect("received")
            .push((conn, event.clone()));
        if conn == 0 && matches!(event.body, Body::Lost { .. }) {
            return; // hang up, not acknowledged
        }
        // The module may have hung up meanwhile: writes may fail.
        if conn == 1 {
            if matches!(event.body, Body::Hello { .. }) {
                let _ = writer.write_all(&garbage());
            }
        } else if is_kept(&event) {
            let ack = lifesign_proto::event::ack_line(event.seq);
            let _ = writer.write_all(ack.as_bytes());
        }
    }
}

/// Lines the module must ignore, then the start of one it must drop the connection for:
/// more than 4096 bytes and no end in sight. (A complete line of that length, newline and
/// all in one read, the module ignores like any other line that is not an ack.)
fn garbage() -> Vec<u8> {
    let mut out = b"not json\n{\"v\":2,\"type\":\"ack\",\"seq\":1}\n".to_vec();
    out.extend_from_slice(b"{\"v\":1,\"type\":\"ack\",\"seq\":18446744073709551615}\n");
    out.extend_from_slice(b"{\"v\":1,\"type\":\"nack\",\"seq\":1}\n\xff\xfe\xfd\n\n");
    out.extend(std::iter::repeat_n(b'x', 5000));
    out
}
