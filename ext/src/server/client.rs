//! Safe views of a `ClientRec`, valid for the one call the server made into the module.

use lifesign_proto::ByteOrder;
use lifesign_proto::event::Transport;
use lifesign_sys as sys;
use std::ffi::{CStr, c_int};
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;

/// An X error a request handler answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XError {
    Request,
    Length,
    /// BadValue, naming the value.
    Value(u32),
    /// BadAccess: the client may not do what it asked.
    Access,
    Implementation,
}

impl XError {
    pub fn code(self) -> c_int {
        match self {
            Self::Request => sys::LIFESIGN_BAD_REQUEST,
            Self::Length => sys::LIFESIGN_BAD_LENGTH,
            Self::Value(_) => sys::LIFESIGN_BAD_VALUE,
            Self::Access => sys::LIFESIGN_BAD_ACCESS,
            Self::Implementation => sys::LIFESIGN_BAD_IMPLEMENTATION,
        }
    }
}

/// Where a client is in its life (`ClientState` in dixstruct.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientState {
    /// Connected, setup not yet done: the fd is valid, the credentials cached.
    Initial,
    /// Connection setup accepted.
    Running,
    /// Closed with a close-down mode that keeps its resources.
    Retained,
    /// The connection is closed: the fd is gone, resources and privates not yet.
    Gone,
    Other,
}

/// What the module may read of any client the server hands it.
pub struct ClientView<'a> {
    client: &'a mut sys::ClientRec,
}

impl<'a> ClientView<'a> {
    /// # Safety
    /// `client` must be a valid, non-null client the server passed to the current call, not
    /// otherwise referenced for the lifetime `'a`.
    pub unsafe fn from_raw(client: sys::ClientPtr) -> Self {
        // SAFETY: the caller guarantees `client` is valid and unaliased for `'a`.
        let client = unsafe { &mut *client };
        Self { client }
    }

    /// The client's slot in the server's `clients[]` table.
    pub fn index(&self) -> usize {
        usize::try_from(self.client.index).unwrap_or(0)
    }

    /// The client, for the server calls of this layer that take one.
    pub(super) fn as_ptr(&mut self) -> sys::ClientPtr {
        std::ptr::from_mut(self.client)
    }

    /// The base of the client's resource IDs, as `xrestop` and the contract's `id` show it.
    pub fn id_base(&self) -> u32 {
        self.client.clientAsMask
    }

    pub fn state(&self) -> ClientState {
        match self.client.clientState() {
            sys::ClientStateInitial => ClientState::Initial,
            sys::ClientStateRunning => ClientState::Running,
            sys::ClientStateRetained => ClientState::Retained,
            sys::ClientStateGone => ClientState::Gone,
            _ => ClientState::Other,
        }
    }

    /// The low 16 bits of the client's request count, as events to it carry them.
    pub fn sequence(&self) -> u16 {
        self.client.sequence as u16
    }

    /// The server's socket of the client, while it is connected.
    pub fn socket(&mut self) -> Option<BorrowedFd<'_>> {
        if self.client.clientGone() != 0 || self.state() == ClientState::Gone {
            return None;
        }
        // SAFETY: the client is valid and not gone, so GetClientFd returns its open fd.
        let fd = unsafe { sys::GetClientFd(self.client) };
        // SAFETY: the fd stays open while the client is connected, which outlives the borrow
        // of `self`.
        unsafe { super::socket::borrow(fd) }
    }

    /// How the client is connected, and from where: a Unix socket (or none any more) is
    /// local, with no peer.
    pub fn transport(&mut self) -> (Transport, Option<SocketAddr>) {
        self.socket()
            .map_or((Transport::Local, None), super::socket::transport)
    }

    /// Sends one 32-byte event (in the server's byte order) to the client.
    pub fn write_event(&mut self, event: &mut [u8; 32]) {
        // SAFETY: the client is valid; an xEvent is 32 bytes; WriteEventsToClient copies it.
        unsafe { sys::WriteEventsToClient(self.client, 1, event.as_mut_ptr().cast()) };
    }

    /// The process id the server found through SO_PEERCRED; `None` for TCP clients.
    pub fn pid(&mut self) -> Option<u32> {
        // SAFETY: the client is valid; GetClientPid only reads the cached credentials.
        let pid = unsafe { sys::GetClientPid(self.client) };
        u32::try_from(pid).ok().filter(|&p| p > 0)
    }

    /// The command name the server cached for a local client, cut to `MAX_TEXT` bytes
    /// (`ClientInfo::text`): the process chose its command line.
    pub fn command(&mut self) -> Option<String> {
        // SAFETY: the client is valid; the returned string, if any, is owned by the server and
        // lives as long as the client.
        let name = unsafe { sys::GetClientCmdName(self.client) };
        if name.is_null() {
            return None;
        }
        // SAFETY: non-null and NUL-terminated, owned by the server for the client's life.
        let name = unsafe { CStr::from_ptr(name) };
        Some(lifesign_proto::event::ClientInfo::text(name.to_bytes()))
    }
}

/// A request of the extension being dispatched: the client and the request's bytes.
pub struct Request<'a> {
    client: &'a mut sys::ClientRec,
}

impl<'a> Request<'a> {
    /// # Safety
    /// `client` must be the client whose request the server is dispatching right now.
    pub unsafe fn from_raw(client: sys::ClientPtr) -> Self {
        // SAFETY: the caller guarantees `client` is being dispatched, hence valid, and the
        // dispatcher holds no other reference into it while the handler runs.
        let client = unsafe { &mut *client };
        Self { client }
    }

    /// The minor opcode the dispatcher read from the header.
    pub fn minor(&self) -> u8 {
        self.client.minorOp
    }

    pub fn byte_order(&self) -> ByteOrder {
        ByteOrder::for_client(self.client.swapped() != 0)
    }

    /// The whole request, header included: `req_len` units of 4 bytes, as the server read them.
    /// Empty for a zero-length request.
    pub fn bytes(&self) -> &[u8] {
        let len = (self.client.req_len as usize).saturating_mul(4);
        if len == 0 || self.client.requestBuffer.is_null() {
            return &[];
        }
        // SAFETY: ReadRequestFromClient (os/io.c) has made `req_len * 4` bytes of this request
        // available at requestBuffer before dispatching it; they stay put until the handler
        // returns.
        unsafe { std::slice::from_raw_parts(self.client.requestBuffer.cast::<u8>(), len) }
    }

    /// The sequence number replies to this request carry.
    pub fn sequence(&self) -> u16 {
        // The wire carries the low 16 bits.
        self.client.sequence as u16
    }

    /// The requesting client.
    pub fn client(&mut self) -> ClientView<'_> {
        ClientView {
            client: &mut *self.client,
        }
    }

    /// Answers with `error`: the value a BadValue names goes where the dispatcher reads it.
    pub fn fail(&mut self, error: XError) -> c_int {
        if let XError::Value(value) = error {
            self.client.errorValue = value;
        }
        error.code()
    }

    /// Sends a reply (already in the client's byte order) to the client.
    pub fn reply(&mut self, bytes: &[u8]) {
        let len = c_int::try_from(bytes.len()).expect("replies are small");
        // SAFETY: the client is valid; WriteToClient copies `len` bytes from `bytes` into the
        // client's output buffer before returning.
        unsafe { sys::WriteToClient(self.client, len, bytes.as_ptr().cast()) };
    }
}
