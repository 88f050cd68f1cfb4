//! The wrap of core KillClient, so that a client's end can be told apart as `killed`.
//!
//! `ProcVector` is not reset between generations, so the wrap is installed only if the slot
//! does not hold it already, and taken off again at close-down.

use lifesign_sys as sys;
use std::cell::Cell;
use std::ffi::c_int;

type ProcFn = unsafe extern "C" fn(sys::ClientPtr) -> c_int;

thread_local! {
    static WRAPPED: Cell<Option<ProcFn>> = const { Cell::new(None) };
    static KILLING: Cell<bool> = const { Cell::new(false) };
}

fn slot() -> *mut Option<ProcFn> {
    let index = sys::LIFESIGN_X_KILL_CLIENT as usize;
    // SAFETY: X_KillClient (113) is inside the 256-entry ProcVector.
    unsafe {
        (&raw mut sys::ProcVector)
            .cast::<Option<ProcFn>>()
            .add(index)
    }
}

fn is_ours(handler: Option<ProcFn>) -> bool {
    handler.is_some_and(|f| f as usize == proc_kill_client as ProcFn as usize)
}

/// Installs the wrap unless it is in place already.
pub fn wrap() {
    // SAFETY: ProcVector is read and written only on the server thread, between requests.
    let current = unsafe { *slot() };
    if is_ours(current) {
        return;
    }
    WRAPPED.set(current);
    // SAFETY: as above.
    unsafe { *slot() = Some(proc_kill_client) };
}

/// Puts the wrapped handler back, if the slot still holds the wrap.
pub fn restore() {
    // SAFETY: ProcVector is read and written only on the server thread, between requests.
    unsafe {
        if is_ours(*slot()) {
            *slot() = WRAPPED.take();
        }
    }
}

/// True while a KillClient request is being handled: a client that goes now was killed.
pub fn killing() -> bool {
    KILLING.get()
}

unsafe extern "C" fn proc_kill_client(client: sys::ClientPtr) -> c_int {
    let Some(handler) = WRAPPED.get().filter(|h| !is_ours(Some(*h))) else {
        return sys::LIFESIGN_BAD_REQUEST;
    };
    KILLING.set(true);
    // SAFETY: the server's own handler, called as the dispatcher would have.
    let result = unsafe { handler(client) };
    KILLING.set(false);
    result
}
