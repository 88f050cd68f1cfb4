//! Every request of a watched client passes through one hook before its handler: the
//! client's `requestVector` is pointed at a table whose entries all lead to [`any_request`],
//! which calls the module, then the handler of the vector the client had before.
//!
//! This is how the RECORD extension sees requests (record/record.c); since 1.19 XACE has no
//! per-request hook for core requests. Unwatched clients keep the server's vector and pay
//! nothing.

use super::client::Request;
use super::clients::SLOTS;
use super::guard;
use lifesign_proto::core::opcode;
use lifesign_sys as sys;
use std::cell::UnsafeCell;
use std::ffi::c_int;
use std::sync::atomic::{AtomicPtr, Ordering};

type ProcFn = unsafe extern "C" fn(sys::ClientPtr) -> c_int;
type Vector = *mut Option<ProcFn>;

/// What the module decided about a request.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Hand it to the server's handler.
    Pass,
    /// The module answered it itself (a pong to our own ping): the handler is skipped.
    Consumed,
}

/// The table watched clients point at. Writable, as the server's own vectors are: code that
/// patches `client->requestVector[op]` (the modesetting driver does) must not fault.
struct Table(UnsafeCell<[Option<ProcFn>; 256]>);

// SAFETY: only the server thread reads or writes the table.
unsafe impl Sync for Table {}

static TABLE: Table = Table(UnsafeCell::new([Some(any_request as ProcFn); 256]));

/// Per client index: the vector it had before the hook, while hooked. A static, not a
/// thread-local: this is read on every request, and a cdylib's TLS costs a call.
static ORIGINAL: [AtomicPtr<Option<ProcFn>>; SLOTS] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; SLOTS];

fn table() -> Vector {
    TABLE.0.get().cast()
}

/// Hooks client `client` (Running: its vector is the server's by now). Idempotent.
///
/// # Safety
/// `client` is a valid client in the Running state.
pub unsafe fn hook(client: sys::ClientPtr) {
    // SAFETY: valid per the caller.
    let c = unsafe { &mut *client };
    let index = c.index as usize;
    if index >= SLOTS || c.requestVector == table() || c.requestVector.is_null() {
        return;
    }
    ORIGINAL[index].store(c.requestVector, Ordering::Relaxed);
    c.requestVector = table();
}

/// Takes the hook off, if nobody has stacked another vector on top of it since (then the
/// hook stays, passing everything through).
///
/// # Safety
/// `client` is a valid client.
pub unsafe fn unhook(client: sys::ClientPtr) {
    // SAFETY: valid per the caller.
    let c = unsafe { &mut *client };
    let index = c.index as usize;
    if index >= SLOTS || c.requestVector != table() {
        return;
    }
    let original = ORIGINAL[index].swap(std::ptr::null_mut(), Ordering::Relaxed);
    if !original.is_null() {
        c.requestVector = original;
    }
}

/// The slot of client `index` is free again (the client is gone).
pub fn forget(index: usize) {
    if let Some(slot) = ORIGINAL.get(index) {
        slot.store(std::ptr::null_mut(), Ordering::Relaxed);
    }
}

unsafe extern "C" fn any_request(client: sys::ClientPtr) -> c_int {
    // SAFETY: the dispatcher passes the client whose request it is dispatching.
    let (index, major) = unsafe { ((*client).index as usize, (*client).majorOp) };
    // The hot path, for every request: two stores, one load, a tail call. It cannot panic.
    crate::activity::record(index, major);
    if major == opcode::SEND_EVENT {
        // SAFETY: as above.
        return unsafe { send_event(client, major) };
    }
    let vector = ORIGINAL[index & (SLOTS - 1)].load(Ordering::Relaxed);
    // SAFETY: a hooked client's original vector has 256 entries; majorOp is a byte.
    match (!vector.is_null()).then(|| unsafe { *vector.add(usize::from(major)) }) {
        // SAFETY: the handler the dispatcher would have called, with the same client.
        Some(Some(handler)) => unsafe { handler(client) },
        // SAFETY: as above.
        _ => unsafe { fallback(client, major) },
    }
}

/// SendEvent: our own `_NET_WM_PING` answered is consumed here; anything else goes on.
///
/// # Safety
/// `client` is the client being dispatched.
#[cold]
#[inline(never)]
unsafe fn send_event(client: sys::ClientPtr, major: u8) -> c_int {
    let verdict = guard::entry(
        "the request hook",
        || Verdict::Pass,
        || {
            // SAFETY: the client being dispatched; no other reference into it is live.
            let request = unsafe { Request::from_raw(client) };
            crate::watch::on_send_event(&request)
        },
    );
    if verdict == Verdict::Consumed {
        return sys::LIFESIGN_SUCCESS;
    }
    // SAFETY: as the caller's.
    let index = unsafe { (*client).index } as usize;
    let vector = ORIGINAL[index & (SLOTS - 1)].load(Ordering::Relaxed);
    // SAFETY: as in `any_request`.
    match (!vector.is_null()).then(|| unsafe { *vector.add(usize::from(major)) }) {
        // SAFETY: the handler the dispatcher would have called.
        Some(Some(handler)) => unsafe { handler(client) },
        // SAFETY: as above.
        _ => unsafe { fallback(client, major) },
    }
}

/// A client with no saved vector (cannot happen once hooked): the server's own vectors.
///
/// # Safety
/// `client` is the client being dispatched.
#[cold]
#[inline(never)]
unsafe fn fallback(client: sys::ClientPtr, major: u8) -> c_int {
    // SAFETY: as the caller's.
    let swapped = unsafe { (*client).swapped() } != 0;
    let vector: Vector = if swapped {
        (&raw mut sys::SwappedProcVector).cast()
    } else {
        (&raw mut sys::ProcVector).cast()
    };
    // SAFETY: the server's vectors have 256 entries.
    match unsafe { *vector.add(usize::from(major)) } {
        // SAFETY: the server's own handler.
        Some(handler) if handler as usize != any_request as ProcFn as usize => unsafe {
            handler(client)
        },
        _ => sys::LIFESIGN_BAD_REQUEST,
    }
}
