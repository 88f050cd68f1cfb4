//! The kernel side of a client's connection: who is at the other end, keepalive and
//! TCP_USER_TIMEOUT, an abortive close, and what the socket says when it ends.
//!
//! The server keeps the fd; this module borrows it while the client is alive. For TCP
//! clients it also keeps a duplicate ([`Watch`]), because the server closes its fd before it
//! calls the client-state callback with Gone: the duplicate is what the end is read from, and
//! it is closed right after, so no socket outlives the client.

use lifesign_formats::net::unmapped_socket;
use lifesign_proto::event::Transport;
use lifesign_watchdog::end::{SocketEnd, SocketError, TcpState};
use lifesign_watchdog::policy::Keepalive;
use lifesign_watchdog::transfer::Transfer;
use std::ffi::c_int;
use std::io;
use std::mem::{MaybeUninit, size_of};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// How a client is connected, from its socket.
pub fn transport(fd: BorrowedFd<'_>) -> (Transport, Option<SocketAddr>) {
    // A v4 client of a dual-stack listener is a tcp client at its v4 address.
    match peer_address(fd).map(unmapped_socket) {
        Some(a @ SocketAddr::V4(_)) => (Transport::Tcp, Some(a)),
        Some(a @ SocketAddr::V6(_)) => (Transport::Tcp6, Some(a)),
        None => (Transport::Local, None),
    }
}

fn peer_address(fd: BorrowedFd<'_>) -> Option<SocketAddr> {
    let mut storage = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: the fd is open; storage is large enough for any address and len says so.
    let rc = unsafe { libc::getpeername(fd.as_raw_fd(), storage.as_mut_ptr().cast(), &mut len) };
    if rc != 0 {
        return None;
    }
    // SAFETY: zero-initialised, and getpeername filled `len` bytes of it.
    let storage = unsafe { storage.assume_init() };
    match c_int::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { *(&raw const storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 = unsafe { *(&raw const storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            let port = u16::from_be(sin6.sin6_port);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                port,
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

fn set<T>(fd: BorrowedFd<'_>, level: c_int, name: c_int, value: T) -> io::Result<()> {
    // SAFETY: the fd is open; `value` is a plain value of the option's type, passed with its
    // size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn get<T: Copy>(fd: BorrowedFd<'_>, level: c_int, name: c_int) -> Option<T> {
    get_sized(fd, level, name).map(|(value, _)| value)
}

/// An option's value, and how many bytes of it the kernel filled (the rest is zero).
fn get_sized<T: Copy>(fd: BorrowedFd<'_>, level: c_int, name: c_int) -> Option<(T, usize)> {
    let mut value = MaybeUninit::<T>::zeroed();
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: the fd is open; `value` has room for the option and len says how much.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            value.as_mut_ptr().cast(),
            &mut len,
        )
    };
    // SAFETY: zero-initialised and (partly) filled by the kernel; T is plain data.
    (rc == 0).then(|| (unsafe { value.assume_init() }, len as usize))
}

/// TCP_RTO_MAX_MS (Linux 6.15): the libc crate does not name it yet.
const TCP_RTO_MAX_MS: c_int = 44;

/// The kernel's TCP settings in the server's network namespace that the module's own fit.
/// Read once, when the module starts.
#[derive(Clone, Copy, Debug)]
pub struct KernelTcp {
    /// `tcp_retries2`: how many retries it makes before it gives up on unacknowledged data
    /// (15 where it cannot be read, Linux's default).
    pub retries2: u32,
    /// `tcp_rto_max_ms` (Linux 6.15+): the longest wait between retries a socket has unless
    /// set, which an opted-out client gets back (TCP_RTO_MAX, 120 s, where there is none).
    pub rto_max_ms: u32,
}

impl KernelTcp {
    pub fn read() -> Self {
        let sysctl = |name: &str| {
            std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
        };
        Self {
            retries2: sysctl("tcp_retries2").unwrap_or(15),
            rto_max_ms: sysctl("tcp_rto_max_ms")
                .unwrap_or(lifesign_watchdog::policy::KERNEL_RTO_MAX_MS),
        }
    }
}

/// Keepalive and (where the kernel has it) the longest RTO on the server's socket of a TCP
/// client, and no user timeout: with one, Linux ends a connection whose peer's receive window
/// stays closed for that long, a client that reads slowly as well as one that stopped, so the
/// module judges waiting output itself (`lifesign_watchdog::transfer`). A kernel without
/// TCP_RTO_MAX_MS is not an error: its busy connections back off as TCP does
/// (docs/operator-guide.md says what that tolerates).
pub fn set_keepalive(fd: BorrowedFd<'_>, k: Keepalive) -> io::Result<()> {
    set(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1 as c_int)?;
    set(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, k.idle_s as c_int)?;
    set(
        fd,
        libc::IPPROTO_TCP,
        libc::TCP_KEEPINTVL,
        k.interval_s as c_int,
    )?;
    set(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, k.count as c_int)?;
    set(fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, 0 as c_int)?;
    set_rto_max(fd, k.rto_max_ms);
    Ok(())
}

/// Keepalive off again (the client opted out, or asked for no transport timeout), and the
/// socket's wait between retries back to the kernel's (`rto_max_ms`).
pub fn clear_keepalive(fd: BorrowedFd<'_>, rto_max_ms: u32) -> io::Result<()> {
    set(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 0 as c_int)?;
    set(fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, 0 as c_int)?;
    set_rto_max(fd, rto_max_ms);
    Ok(())
}

/// The longest RTO, where the kernel knows the option (an older one says ENOPROTOOPT).
fn set_rto_max(fd: BorrowedFd<'_>, ms: u32) {
    let _ = set(fd, libc::IPPROTO_TCP, TCP_RTO_MAX_MS, ms as c_int);
}

/// Makes the server's close abortive (RST, no FIN_WAIT to a dead peer with unsent data
/// queued): the socket is gone the moment the server closes it.
pub fn set_abortive_close(fd: BorrowedFd<'_>) -> io::Result<()> {
    set(
        fd,
        libc::SOL_SOCKET,
        libc::SO_LINGER,
        libc::linger {
            l_onoff: 1,
            l_linger: 0,
        },
    )
}

/// A duplicate of a TCP client's socket, read when the client ends and then closed.
pub struct Watch(OwnedFd);

impl Watch {
    pub fn new(fd: BorrowedFd<'_>) -> io::Result<Self> {
        Ok(Self(fd.try_clone_to_owned()?))
    }

    /// What the socket says of the output waiting for the peer; `None` where the kernel's
    /// TCP_INFO is older than Linux 4.6 (no count of unsent bytes).
    pub fn transfer(&self) -> Option<Transfer> {
        let (info, len) =
            get_sized::<libc::tcp_info>(self.0.as_fd(), libc::IPPROTO_TCP, libc::TCP_INFO)?;
        let said = std::mem::offset_of!(libc::tcp_info, tcpi_notsent_bytes) + size_of::<u32>();
        (len >= said).then(|| Transfer {
            waiting: info.tcpi_unacked > 0 || info.tcpi_notsent_bytes > 0,
            in_flight: info.tcpi_unacked > 0,
            probes: u32::from(info.tcpi_probes),
            acked: info.tcpi_bytes_acked,
            since_ack_ms: u64::from(info.tcpi_last_ack_recv),
        })
    }

    /// What the socket says now that the server has closed its own fd.
    pub fn end(&self) -> SocketEnd {
        let fd = self.0.as_fd();
        let error = get::<c_int>(fd, libc::SOL_SOCKET, libc::SO_ERROR)
            .filter(|&e| e != 0)
            .map(|e| match e {
                libc::ETIMEDOUT | libc::EHOSTUNREACH | libc::ENETUNREACH => SocketError::TimedOut,
                libc::ECONNRESET | libc::EPIPE | libc::ECONNABORTED => SocketError::Reset,
                _ => SocketError::Other,
            });
        let (info, info_len) =
            match get_sized::<libc::tcp_info>(fd, libc::IPPROTO_TCP, libc::TCP_INFO) {
                Some((info, len)) => (Some(info), len),
                None => (None, 0),
            };
        let since_ack_ms = info.map_or(0, |i| u64::from(i.tcpi_last_ack_recv));
        let since_data_ms = info.map_or(0, |i| u64::from(i.tcpi_last_data_sent));
        // tcpi_snd_wnd came with Linux 5.4: an older kernel's shorter answer leaves it out.
        let window_said = info_len >= std::mem::offset_of!(libc::tcp_info, tcpi_rcv_wnd);
        let window_closed =
            info.is_some_and(|i| window_said && i.tcpi_snd_wnd == 0 && i.tcpi_notsent_bytes > 0);
        let (state, retrying) = info.map_or((TcpState::Other, false), |i| {
            let state = match i.tcpi_state {
                8 => TcpState::CloseWait, // TCP_CLOSE_WAIT
                7 => TcpState::Closed,    // TCP_CLOSE
                _ => TcpState::Other,
            };
            let retrying = i.tcpi_retransmits > 0
                || i.tcpi_probes > 0
                || i.tcpi_backoff > 0
                || i.tcpi_unacked > 0;
            (state, retrying)
        });
        SocketEnd {
            error,
            state,
            retrying,
            since_ack_ms,
            window_closed,
            since_data_ms,
        }
    }
}

/// The fd the server holds for a client, borrowed for one call.
///
/// # Safety
/// `fd` must be the open fd of a client that is not Gone, and stay open for `'a`.
pub unsafe fn borrow<'a>(fd: c_int) -> Option<BorrowedFd<'a>> {
    // SAFETY: per the caller, the fd is open for 'a.
    (fd >= 0).then(|| unsafe { BorrowedFd::borrow_raw(fd) })
}

/// The uid of the process at the other end of a Unix stream socket (SO_PEERCRED: the
/// process that bound the listener, for a connected client's socket).
pub fn peer_uid(stream: &std::os::unix::net::UnixStream) -> io::Result<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: the fd is open for the call; `cred` and `len` are valid for writing and `len`
    // holds the size of `cred`.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &raw mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cred.uid)
}

/// The server's own effective uid.
pub fn own_uid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory of ours.
    unsafe { libc::geteuid() }
}

/// Connects to a Unix stream socket without blocking: a listener with a full backlog is an
/// error (`WouldBlock`) here, to be tried again later, never a wait.
pub fn connect_unix(path: &std::path::Path) -> io::Result<std::os::unix::net::UnixStream> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: a plain socket call; the result is checked.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd we own.
    let owned = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // SAFETY: sockaddr_un is plain data; all zeroes is a valid start.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    if bytes.len() >= addr.sun_path.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "socket path too long",
        ));
    }
    for (dst, src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    let len = (std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1) as libc::socklen_t;
    // SAFETY: the fd is open; addr is a sockaddr_un of `len` meaningful bytes.
    let rc = unsafe { libc::connect(owned.as_raw_fd(), (&raw const addr).cast(), len) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(std::os::unix::net::UnixStream::from(owned))
}
