//! The wrap of the core NoOperation request: the heartbeat clients send.
//!
//! `ProcVector` is not reset between generations, so the wrap is installed only if the slot
//! does not hold it already, and taken off again at close-down. `SProcNoOperation` calls
//! `ProcVector[X_NoOperation]`, so this one wrap sees byte-swapped clients too.

use super::client::ClientView;
use super::guard;
use lifesign_sys as sys;
use std::cell::Cell;
use std::ffi::c_int;

type ProcFn = unsafe extern "C" fn(sys::ClientPtr) -> c_int;

thread_local! {
    /// The handler the wrap calls through to.
    static WRAPPED: Cell<Option<ProcFn>> = const { Cell::new(None) };
}

fn slot() -> *mut Option<ProcFn> {
    let index = sys::LIFESIGN_X_NO_OPERATION as usize;
    // SAFETY: X_NoOperation (127) is inside the 256-entry ProcVector.
    unsafe {
        (&raw mut sys::ProcVector)
            .cast::<Option<ProcFn>>()
            .add(index)
    }
}

fn is_ours(handler: Option<ProcFn>) -> bool {
    handler.is_some_and(|f| f as usize == proc_no_operation as ProcFn as usize)
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
    unsafe { *slot() = Some(proc_no_operation) };
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

unsafe extern "C" fn proc_no_operation(client: sys::ClientPtr) -> c_int {
    guard::entry(
        "the NoOperation wrap",
        || (),
        || {
            // SAFETY: the dispatcher passes the client whose request it is dispatching.
            let client = unsafe { ClientView::from_raw(client) };
            crate::module::on_no_operation(&client);
        },
    );
    match WRAPPED.get() {
        // SAFETY: the server's own handler, called as the dispatcher would have.
        Some(handler) if !is_ours(Some(handler)) => unsafe { handler(client) },
        _ => sys::LIFESIGN_SUCCESS,
    }
}
