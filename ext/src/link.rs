//! The link to lifesign-launcher: one Unix stream socket, one JSON line per event, acks back.
//!
//! Everything runs on the server thread and nothing blocks it: the socket is non-blocking and
//! in the server's poll loop (SetNotifyFd); a connect that cannot complete at once is tried
//! again later, with backoff, on the server's own timer; output that the launcher does not read
//! waits in a bounded buffer, and past the bound the connection is dropped (its events stay
//! in the outbox and are sent again on the next connection). No thread touches the server.
//! docs/architecture.md says why this rather than a worker thread.
//!
//! This file is the I/O alone: the socket, the poll loop, the timer, the log. The rules (the
//! backoff, the output bound and the opening burst, the lines and their bound, the acks, what
//! a dropped connection forgets) are `lifesign_watchdog::link`, unit-tested there: it is told
//! what the socket did, in order, and says what to do.

use crate::server::{notify, socket, timer};
use lifesign_watchdog::link::{self as rules, Disconnect, Retry, Written};
use std::cell::RefCell;
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

/// The socket and its path; the rules (backoff, bounds, lines, acks) are
/// `lifesign_watchdog::link`'s, told what the socket did.
struct Link {
    path: PathBuf,
    stream: Option<UnixStream>,
    rules: rules::Link,
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
    let rules = rules::Link::default();
    let first = rules.first_attempt_ms();
    LINK.set(Some(Link {
        path,
        stream: None,
        rules,
    }));
    if let Some(ms) = first {
        schedule(ms);
    }
}

/// A new generation began: the last one's CloseDown freed the timer, so a disconnected link
/// sets a new one.
pub fn new_generation() {
    if let Some(ms) = with(|l| l.rules.first_attempt_ms()).flatten() {
        schedule(ms);
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
        if l.rules.queue(line) {
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
    let Some(path) = with(|l| (!l.rules.is_connected()).then(|| l.path.clone())).flatten() else {
        return;
    };
    match socket::connect_unix(&path).and_then(launcher_of_ours) {
        Ok(stream) => {
            let fd = stream.as_raw_fd();
            with(|l| {
                l.stream = Some(stream);
                l.rules.connected();
            });
            notify::watch(fd, false);
            tracing::info!("connected to the launcher at {}", path.display());
            // hello, the replay of what is watched, then every unacknowledged event.
            crate::watch::opening_lines(send);
            with(|l| {
                l.rules.opening_queued();
                l.flush();
            });
        }
        Err(e) => {
            let retry_in = with(|l| {
                let failed = l.rules.connect_failed();
                // Once per run of failed attempts; a refusal is the operator's to fix.
                if failed.first {
                    if e.kind() == ErrorKind::PermissionDenied {
                        tracing::error!("launcher at {}: {e}; no events go to it", path.display());
                    } else {
                        tracing::debug!("launcher at {} not reachable: {e}", path.display());
                    }
                }
                failed.retry_in_ms
            });
            schedule(retry_in.unwrap_or(rules::backoff::MAX_MS));
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
        while !self.rules.unwritten().is_empty() {
            match stream.write(self.rules.unwritten()) {
                Ok(0) => return self.lost("the launcher closed"),
                Ok(n) => self.rules.wrote(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return self.lost(&format!("write: {e}")),
            }
        }
        match self.rules.writes_done() {
            Written::Same => {}
            Written::PollWrite(want_write) => {
                notify::watch(stream.as_raw_fd(), want_write);
            }
            Written::Disconnect(end) => self.disconnect(end),
        }
    }

    fn read(&mut self, acks: &mut Vec<u64>) {
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        // All there is, then the lines, also those that came before the launcher closed or
        // failed: it writes the acks due before it closes, often read with the end.
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => return self.ended("the launcher closed", acks),
                Ok(n) => self.rules.received(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return self.ended(&format!("read: {e}"), acks),
            }
        }
        let read = self.rules.reads_done();
        if let Some(end) = take(read, acks) {
            self.disconnect(end);
        }
    }

    /// The launcher closed, or its socket failed, while reading: the acks read before count,
    /// then connect again soon.
    fn ended(&mut self, why: &str, acks: &mut Vec<u64>) {
        let ended = self.rules.ended();
        match take(ended.read, acks) {
            Some(end) => self.disconnect(end),
            None => self.close(why, ended.reconnect_in_ms),
        }
    }

    /// The launcher closed, or its socket failed, while writing: connect again soon.
    fn lost(&mut self, why: &str) {
        let reconnect_in_ms = self.rules.dropped(Retry::Soon);
        self.close(why, reconnect_in_ms);
    }

    /// The rules ended the connection for the launcher's own doing.
    fn disconnect(&mut self, end: Disconnect) {
        self.close(&end.why.to_string(), end.reconnect_in_ms);
    }

    fn close(&mut self, why: &str, reconnect_in_ms: u64) {
        if let Some(stream) = self.stream.take() {
            notify::unwatch(stream.as_raw_fd());
            tracing::warn!("lost the launcher link: {why}; events are kept and sent again");
        }
        schedule(reconnect_in_ms);
    }
}

/// The acks of a turn's lines go to `acks`; a line over the bound ends the connection.
fn take(read: rules::Read, acks: &mut Vec<u64>) -> Option<Disconnect> {
    for _ in 0..read.ignored {
        tracing::debug!("ignored a line from the launcher");
    }
    acks.extend(read.acks);
    read.disconnect
}
