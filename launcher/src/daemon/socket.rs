//! The launcher's socket: created with its mode, peers checked by SO_PEERCRED, each
//! connection read by a thread of its own that hands each whole event to the main loop.

use super::Msg;
use crate::engine::ConnId;
use crate::wire::{self, MAX_LINE};
use crossbeam_channel::Sender;
use lifesign_proto::event::Body;
use rustix::fs::Mode;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The most connections served at once (a server has one; reconnects overlap briefly).
pub const MAX_CONNECTIONS: usize = 16;

/// How long an ack may wait for room in the socket before the connection is given up (the
/// module reconnects and sends again what was not acknowledged).
const WRITE_TIMEOUT: Duration = Duration::from_millis(200);

/// Binds `path` with permission bits `mode`. A stale socket of a launcher that is gone is
/// replaced; a live one, or anything that is not a socket, is an error.
pub fn listen(path: &Path, mode: u32) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{}: another launcher is listening there", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{}: exists and is not a socket", path.display()),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    // No moment with wider permissions than asked: bind under a umask that leaves only the
    // owner's bits, then set the exact mode. (Still one thread: the umask is the process's.)
    let old = rustix::process::umask(Mode::from_bits_truncate(0o177));
    let bound = UnixListener::bind(path);
    rustix::process::umask(old);
    let listener =
        bound.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(listener)
}

/// Accepts connections for ever: peers whose uid is not allowed are refused, the others
/// are announced to the main loop and read by a thread each.
pub fn accept_loop(listener: UnixListener, allow_uids: Vec<u32>, tx: Sender<Msg>) {
    let mut next: ConnId = 0;
    let open = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("accept: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        // nix, not rustix: a peer in another pid namespace has pid 0, which rustix's
        // non-zero Pid cannot hold.
        let cred =
            match nix::sys::socket::getsockopt(&stream, nix::sys::socket::sockopt::PeerCredentials)
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("refused a peer: SO_PEERCRED: {e}");
                    continue;
                }
            };
        let (uid, pid) = (cred.uid(), cred.pid());
        if !allow_uids.contains(&uid) {
            tracing::warn!(uid, pid, "refused a peer: uid not in allow_uids");
            continue;
        }
        if open.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
            tracing::warn!(
                uid,
                pid,
                "refused a peer: {MAX_CONNECTIONS} connections are open"
            );
            continue;
        }
        next += 1;
        let conn = next;
        let writer = match stream
            .try_clone()
            .and_then(|w| w.set_write_timeout(Some(WRITE_TIMEOUT)).map(|()| w))
        {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(conn, "cannot set up the connection: {e}");
                continue;
            }
        };
        tracing::info!(conn, uid, pid, "server connected");
        if tx.send(Msg::Connected { conn, writer }).is_err() {
            return;
        }
        let reader_tx = tx.clone();
        open.fetch_add(1, Ordering::Relaxed);
        let still_open = open.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("conn-{conn}"))
            .spawn(move || read_loop(conn, stream, &reader_tx, &still_open));
        if let Err(e) = spawned {
            open.fetch_sub(1, Ordering::Relaxed);
            tracing::error!(conn, "cannot start a reader thread: {e}");
            let _ = tx.send(Msg::Closed { conn });
        }
    }
}

/// Reads events from one connection until it ends or breaks the protocol; then its place
/// among the `open` ones is free (before anything is said of it).
fn read_loop(conn: ConnId, stream: UnixStream, tx: &Sender<Msg>, open: &AtomicUsize) {
    let reason = read_events(conn, &stream, tx);
    let _ = stream.shutdown(std::net::Shutdown::Both);
    open.fetch_sub(1, Ordering::Relaxed);
    match &reason {
        Ok(()) => tracing::info!(conn, "server disconnected"),
        Err(reason) => tracing::warn!(conn, reason = %reason, "closing the connection"),
    }
    let _ = tx.send(Msg::Closed { conn });
}

/// Reads the connection's events and hands each over as it is read. No batching is needed
/// for the opening burst: the module sends the events it kept before `replayed`, and the
/// engine decides nothing on the view before `replayed`, so whatever the scheduling, the
/// kept events are in when it does. What came before a line that breaks the protocol is
/// handed over; nothing of that line is.
fn read_events(conn: ConnId, stream: &UnixStream, tx: &Sender<Msg>) -> Result<(), String> {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    let mut said_hello = false;
    loop {
        line.clear();
        let limit = u64::try_from(MAX_LINE + 1).expect("a small bound");
        let n = reader
            .by_ref()
            .take(limit)
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Ok(());
        }
        if line.last() != Some(&b'\n') {
            return Err(if line.len() > MAX_LINE {
                wire::WireError::TooLong.to_string()
            } else {
                "the connection ended in the middle of a line".to_owned()
            });
        }
        line.pop();
        let event = wire::parse_line(&line).map_err(|e| e.to_string())?;
        let hello = matches!(event.body, Body::Hello { .. });
        if !said_hello && !hello {
            return Err(format!(
                "the first message is {:?}, not hello",
                event.body.event_type().as_str()
            ));
        }
        said_hello |= hello;
        if tx.send(Msg::Event { conn, event }).is_err() {
            return Ok(());
        }
    }
}

/// Writes an ack; false when the connection is to be given up.
pub fn write_ack(writer: &mut UnixStream, seq: u64) -> bool {
    use std::io::Write;
    writer.write_all(wire::ack_line(seq).as_bytes()).is_ok()
}
