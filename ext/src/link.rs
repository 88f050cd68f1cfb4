//! The link to lifesign-launcher: one Unix stream socket, one JSON line per event, acks back.
//!
//! Everything runs on the server thread and nothing blocks it: the socket is non-blocking and
//! in the server's poll loop (SetNotifyFd); a connect that cannot complete at once is tried
//! again later, with backoff, on the server's own timer; output that the launcher does not read
//! waits in a bounded buffer, and past the bound the connection is dropped (its events stay
//! in the outbox and are sent again on the next connection). No thread touches the server.
//! docs/architecture.md says why this rather than a worker thread.

use crate::server::{notify, socket, timer};
use std::cell::RefCell;
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

/// Output waiting for a launcher that does not read, at most.
const OUTPUT_BOUND: usize = 1 << 20;
/// The longest line a launcher may send.
const LINE_BOUND: usize = 4096;
const FIRST_BACKOFF_MS: u64 = 100;
const MAX_BACKOFF_MS: u64 = 5_000;
const LONG_LINE: &str = "the launcher sent a line longer than 4096 bytes";

/// When to connect again after a connection ends.
enum Retry {
    /// It closed, or its socket failed: a restarted launcher is back at once.
    Soon,
    /// It did not read, or sent what it must not: after the backoff, which doubles each time
    /// until it acknowledges an event.
    Later,
}

struct Link {
    path: PathBuf,
    stream: Option<UnixStream>,
    output: Vec<u8>,
    input: Vec<u8>,
    backoff: u64,
    /// The attempts to connect fail, and the first failure was logged.
    failing: bool,
    polling_write: bool,
    /// Bytes of the opening burst (hello, replay, kept events) not yet written: they do not
    /// count against the output bound, or 4096 long kept events would drop every connection
    /// before the launcher could catch up.
    opening: usize,
}

thread_local! {
    static LINK: RefCell<Option<Link>> = const { RefCell::new(None) };
}

/// Lines are queued for the launcher: the timer's pass has something to write. An atomic,
/// so that a pass with nothing queued (nearly every pass) does not even look at the link.
static QUEUED: AtomicBool = AtomicBool::new(false);

fn with<R>(f: impl FnOnce(&mut Link) -> R) -> Option<R> {
    LINK.with_borrow_mut(|l| l.as_mut().map(f))
}

/// Starts linking to the launcher at `path` (the `Launcher` option).
pub fn start(path: PathBuf) {
    LINK.set(Some(Link {
        path,
        stream: None,
        output: Vec::new(),
        input: Vec::new(),
        backoff: FIRST_BACKOFF_MS,
        failing: false,
        polling_write: false,
        opening: 0,
    }));
    schedule(FIRST_BACKOFF_MS);
}

/// A new generation began: the last one's CloseDown freed the timer, so a disconnected link
/// sets a new one.
pub fn new_generation() {
    if with(|l| l.stream.is_none()) == Some(true) {
        schedule(FIRST_BACKOFF_MS);
    }
}

fn schedule(ms: u64) {
    if !timer::reconnect_in(ms) {
        tracing::error!("the server could not set a timer: no new connection to the launcher");
    }
}

/// Queues one event line, if connected (the outbox keeps it for the next connection
/// otherwise). The timer's pass writes what is queued, once per pass, before the server
/// sleeps: a burst of events costs one write and one wakeup of the launcher, not one each.
pub fn send(line: &str) {
    with(|l| {
        if l.stream.is_some() {
            l.output.extend_from_slice(line.as_bytes());
            l.output.push(b'\n');
            QUEUED.store(true, Ordering::Relaxed);
        }
    });
}

/// Lines wait to be written.
pub fn queued() -> bool {
    QUEUED.load(Ordering::Relaxed)
}

/// The timer's pass: writes what is queued, once per pass.
pub fn flush() {
    if QUEUED.load(Ordering::Relaxed) {
        with(Link::flush);
    }
}

/// The reconnect timer fired: try to connect; on failure, set it again with backoff.
pub fn attempt() {
    let Some(path) = with(|l| l.stream.is_none().then(|| l.path.clone())).flatten() else {
        return;
    };
    match socket::connect_unix(&path).and_then(launcher_of_ours) {
        Ok(stream) => {
            let fd = stream.as_raw_fd();
            with(|l| {
                // The backoff stays as it is until the launcher shows it reads (an ack), so
                // that one that never does is not connected to again and again at once.
                l.stream = Some(stream);
                l.failing = false;
                l.input.clear();
                l.output.clear();
            });
            notify::watch(fd, false);
            tracing::info!("connected to the launcher at {}", path.display());
            // hello, the replay of what is watched, then every unacknowledged event.
            crate::watch::opening_lines(send);
            with(|l| {
                l.opening = l.output.len();
                l.flush();
            });
        }
        Err(e) => {
            let backoff = with(|l| {
                // Once per run of failed attempts; a refusal is the operator's to fix.
                if !l.failing {
                    l.failing = true;
                    if e.kind() == ErrorKind::PermissionDenied {
                        tracing::error!("launcher at {}: {e}; no events go to it", path.display());
                    } else {
                        tracing::debug!("launcher at {} not reachable: {e}", path.display());
                    }
                }
                let backoff = l.backoff;
                l.backoff = (l.backoff * 2).min(MAX_BACKOFF_MS);
                backoff
            });
            schedule(backoff.unwrap_or(MAX_BACKOFF_MS));
        }
    }
}

/// The launcher's socket is ready.
pub fn on_ready(fd: RawFd, ready: notify::Ready) {
    let mut acks = Vec::new();
    with(|l| {
        if l.stream.as_ref().map(AsRawFd::as_raw_fd) != Some(fd) {
            return;
        }
        if ready.write {
            l.flush();
        }
        if ready.read || ready.error {
            l.read(&mut acks);
        }
    });
    for seq in acks {
        crate::watch::on_ack(seq);
    }
}

/// Events name clients, their hosts and commands: they go only to a launcher run by root or
/// by the server's own user, not to whoever managed to bind the socket's path.
fn launcher_of_ours(stream: UnixStream) -> io::Result<UnixStream> {
    let uid = socket::peer_uid(&stream)?;
    let own = socket::own_uid();
    if uid == 0 || uid == own {
        return Ok(stream);
    }
    Err(io::Error::new(
        ErrorKind::PermissionDenied,
        format!("its socket is served by uid {uid}, neither root nor the server's uid {own}"),
    ))
}

/// The guard's fallback when the link's callback panicked: take the fd out of the loop, so a
/// level-triggered fd cannot spin the server.
pub fn fail_closed(fd: RawFd) {
    notify::unwatch(fd);
}

impl Link {
    fn flush(&mut self) {
        // What a write leaves is written when the socket is writable (on_ready).
        QUEUED.store(false, Ordering::Relaxed);
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        while !self.output.is_empty() {
            match stream.write(&self.output) {
                Ok(0) => return self.drop_connection("the launcher closed", Retry::Soon),
                Ok(n) => {
                    self.output.drain(..n);
                    self.opening = self.opening.saturating_sub(n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return self.drop_connection(&format!("write: {e}"), Retry::Soon),
            }
        }
        if self.output.len() > OUTPUT_BOUND + self.opening {
            return self.drop_connection(
                "the launcher does not read (output bound reached)",
                Retry::Later,
            );
        }
        let want_write = !self.output.is_empty();
        if want_write != self.polling_write
            && let Some(stream) = self.stream.as_ref()
        {
            notify::watch(stream.as_raw_fd(), want_write);
            self.polling_write = want_write;
        }
    }

    fn read(&mut self, acks: &mut Vec<u64>) {
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => return self.drop_connection("the launcher closed", Retry::Soon),
                Ok(n) => self.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return self.drop_connection(&format!("read: {e}"), Retry::Soon),
            }
        }
        while let Some(end) = self.input.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.input.drain(..=end).collect();
            if line.len() - 1 > LINE_BOUND {
                // As docs/protocol.md says: a complete line over the bound ends the link too.
                return self.drop_connection(LONG_LINE, Retry::Later);
            }
            match lifesign_proto::event::parse_reply(&line[..line.len() - 1]) {
                Some(seq) => {
                    self.backoff = FIRST_BACKOFF_MS;
                    acks.push(seq);
                }
                None => tracing::debug!("ignored a line from the launcher"),
            }
        }
        if self.input.len() > LINE_BOUND {
            self.drop_connection(LONG_LINE, Retry::Later);
        }
    }

    fn drop_connection(&mut self, why: &str, retry: Retry) {
        if let Some(stream) = self.stream.take() {
            notify::unwatch(stream.as_raw_fd());
            tracing::warn!("lost the launcher link: {why}; events are kept and sent again");
        }
        self.output.clear();
        self.input.clear();
        self.polling_write = false;
        self.opening = 0;
        let wait = match retry {
            Retry::Soon => FIRST_BACKOFF_MS,
            Retry::Later => self.backoff,
        };
        self.backoff = match retry {
            Retry::Soon => FIRST_BACKOFF_MS,
            Retry::Later => (wait * 2).min(MAX_BACKOFF_MS),
        };
        schedule(wait);
    }
}
