//! Every request of a watched client passes through one hook before its handler: the
//! client's `requestVector` is pointed at a table whose entries all lead to [`any_request`],
//! which calls the module, then the handler of the vector the client had before.
//!
//! This is how the RECORD extension sees requests (record/record.c); since 1.19 XACE has no
//! per-request hook for core requests. Unwatched clients keep the server's vector and pay
//! nothing.

use super::client::Request;
use super::guard;
use lifesign_sys as sys;
use std::cell::{Cell, UnsafeCell};
use std::ffi::c_int;

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

const SLOTS: usize = sys::LIFESIGN_MAXCLIENTS as usize;

thread_local! {
    /// Per client index: the vector it had before the hook, while hooked.
    static ORIGINAL: [Cell<Vector>; SLOTS] = const { [const { Cell::new(std::ptr::null_mut()) }; SLOTS] };
}

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
    if index >= SLOTS || c.requestVector == table() {
        return;
    }
    ORIGINAL.with(|o| o[index].set(c.requestVector));
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
    let original = ORIGINAL.with(|o| o[index].replace(std::ptr::null_mut()));
    if !original.is_null() {
        c.requestVector = original;
    }
}

/// The slot of client `index` is free again (the client is gone).
pub fn forget(index: usize) {
    if index < SLOTS {
        ORIGINAL.with(|o| o[index].set(std::ptr::null_mut()));
    }
}

unsafe extern "C" fn any_request(client: sys::ClientPtr) -> c_int {
    let verdict = guard::entry(
        "the request hook",
        || Verdict::Pass,
        || {
            // SAFETY: the dispatcher passes the client whose request it is dispatching.
            let request = unsafe { Request::from_raw(client) };
            crate::watch::on_request(&request)
        },
    );
    // SAFETY: the dispatcher passes a valid client.
    let c = unsafe { &*client };
    if verdict == Verdict::Consumed {
        return sys::LIFESIGN_SUCCESS;
    }
    let index = c.index as usize;
    let mut vector = ORIGINAL.with(|o| o.get(index).map_or(std::ptr::null_mut(), Cell::get));
    if vector.is_null() || vector == table() {
        // Never hooked through `hook` (cannot happen), or a loop: use the server's own.
        vector = if c.swapped() != 0 {
            (&raw mut sys::SwappedProcVector).cast()
        } else {
            (&raw mut sys::ProcVector).cast()
        };
    }
    // SAFETY: vectors have 256 entries and majorOp is a byte.
    let handler = unsafe { *vector.add(usize::from(c.majorOp)) };
    match handler {
        // SAFETY: the handler the dispatcher would have called, with the same client.
        Some(handler) => unsafe { handler(client) },
        None => sys::LIFESIGN_BAD_REQUEST,
    }
}
