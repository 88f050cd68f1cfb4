//! One life of a watched client, as the soak and the regenerations run it: a real x11rb
//! client connects over the server's Unix socket or TCP, opts in with Watch and a
//! NoOperation deadline, and ends one of three ways: it goes silent and the module declares
//! it lost at its deadline of 100 ms and closes it, it closes its connection itself, or
//! another client kills it with KillClient.

use lifesign::{Lifesign, Policy};
use lifesign_proto::event::ClientInfo;
use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::ConnectionExt as _;
use x11rb::rust_connection::{DefaultStream, RustConnection};

/// The shortest NoOperation deadline the module accepts: the lost clients'.
pub const DEADLINE: Duration = Duration::from_millis(100);
/// The deadline of clients that close or are killed, which they must not reach first.
const SURVIVOR_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Silent past its deadline: lost (`noop-missed`) and closed by the module.
    Lost,
    /// Closes its own connection: `gone`, `closed`.
    Clean,
    /// KillClient from another client: `gone`, `killed`.
    Killed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Unix,
    Tcp,
}

/// How a life went.
pub struct Life {
    /// The client's id, as the module's events name it.
    pub id: String,
    /// From the Watch request to the server closing the connection (lost and killed).
    pub closed_after: Option<Duration>,
}

/// Our own handle on the client's socket, to see the server close it while x11rb sits idle.
enum Socket {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Socket {
    fn stream(&mut self) -> &mut dyn Read {
        match self {
            Self::Unix(s) => s,
            Self::Tcp(s) => s,
        }
    }

    fn prepare(&self, timeout: Duration) -> io::Result<()> {
        // x11rb made the socket non-blocking; the flag is the shared file's, and x11rb
        // does not read any more.
        match self {
            Self::Unix(s) => {
                s.set_nonblocking(false)?;
                s.set_read_timeout(Some(timeout))
            }
            Self::Tcp(s) => {
                s.set_nonblocking(false)?;
                s.set_read_timeout(Some(timeout))
            }
        }
    }

    fn shutdown(&self) -> io::Result<()> {
        match self {
            Self::Unix(s) => s.shutdown(Shutdown::Both),
            Self::Tcp(s) => s.shutdown(Shutdown::Both),
        }
    }

    /// Waits until the server closes the connection: end of file, or a reset (a lost TCP
    /// client's close is abortive).
    fn wait_closed(&mut self, bound: Duration) -> Result<(), String> {
        let deadline = Instant::now() + bound;
        let mut buf = [0u8; 64];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "the server did not close the connection within {bound:?}"
                ));
            }
            self.prepare(left).map_err(|e| e.to_string())?;
            match self.stream().read(&mut buf) {
                Ok(0) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(()),
                Ok(_) => {} // nothing is expected, but bytes are no end
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(format!("reading the client's socket: {e}")),
            }
        }
    }
}

fn connect(display: u32, transport: Transport) -> Result<(RustConnection, Socket), String> {
    let failed = |e: &dyn std::fmt::Display| format!("connect over {transport:?}: {e}");
    let (stream, socket) = match transport {
        Transport::Unix => {
            let s = UnixStream::connect(format!("/tmp/.X11-unix/X{display}"))
                .map_err(|e| failed(&e))?;
            let mine = s.try_clone().map_err(|e| failed(&e))?;
            let (stream, _) = DefaultStream::from_unix_stream(s).map_err(|e| failed(&e))?;
            (stream, Socket::Unix(mine))
        }
        Transport::Tcp => {
            let port = 6000 + u16::try_from(display).map_err(|e| failed(&e))?;
            let s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| failed(&e))?;
            let mine = s.try_clone().map_err(|e| failed(&e))?;
            let (stream, _) = DefaultStream::from_tcp_stream(s).map_err(|e| failed(&e))?;
            (stream, Socket::Tcp(mine))
        }
    };
    let conn = RustConnection::connect_to_stream(stream, 0).map_err(|e| failed(&e))?;
    Ok((conn, socket))
}

/// One life; `killer` is a connection of the caller's, for KillClient. The server must close
/// a lost client within `bound` after its deadline, a killed one within `bound` of the kill.
pub fn live(
    display: u32,
    transport: Transport,
    ending: Ending,
    killer: &RustConnection,
    bound: Duration,
) -> Result<Life, String> {
    let (conn, mut socket) = connect(display, transport)?;
    let lifesign = Lifesign::new(&conn).map_err(|e| e.to_string())?;
    let id = ClientInfo::format_id(conn.setup().resource_id_base);
    let watched_at = Instant::now();
    if ending == Ending::Lost {
        // Not checked: a round trip is a request, and on a loaded machine the check could
        // come back after the deadline, the client rightly lost meanwhile. The module's
        // events say whether the Watch took.
        lifesign
            .send_watch(&conn, &Policy::pulse(DEADLINE))
            .map_err(|e| format!("{id}: Watch: {e}"))?;
        conn.flush().map_err(|e| format!("{id}: Watch: {e}"))?;
    } else {
        // A deadline these clients cannot miss before they end as they should.
        lifesign
            .watch(&conn, &Policy::pulse(SURVIVOR_DEADLINE))
            .map_err(|e| format!("{id}: Watch: {e}"))?;
    }
    let closed_after = match ending {
        Ending::Lost => {
            socket
                .wait_closed(DEADLINE + bound)
                .map_err(|e| format!("{id} ({transport:?}, silent): {e}"))?;
            let after = watched_at.elapsed();
            // The server's clock counts whole milliseconds: the Watch may be stamped up to
            // one before we took the time.
            if after + Duration::from_millis(1) < DEADLINE {
                return Err(format!(
                    "{id} was closed {after:?} after its Watch, before its deadline"
                ));
            }
            Some(after)
        }
        Ending::Clean => {
            // The server sees the end of the connection only when every handle is closed:
            // shut it down, whatever x11rb still holds.
            socket.shutdown().map_err(|e| e.to_string())?;
            None
        }
        Ending::Killed => {
            // KillClient names a resource of the client's: a graphics context on the root.
            let gc = conn.generate_id().map_err(|e| e.to_string())?;
            let root = conn.setup().roots[0].root;
            conn.create_gc(gc, root, &Default::default())
                .map_err(|e| e.to_string())?
                .check()
                .map_err(|e| format!("{id}: CreateGC: {e}"))?;
            killer
                .kill_client(gc)
                .map_err(|e| format!("KillClient {id}: {e}"))?
                .check()
                .map_err(|e| format!("KillClient {id}: {e}"))?;
            socket
                .wait_closed(bound)
                .map_err(|e| format!("{id} ({transport:?}, killed): {e}"))?;
            Some(watched_at.elapsed())
        }
    };
    // Nothing of the client's may be left to hold the socket open.
    drop(conn);
    Ok(Life { id, closed_after })
}
