//! The `LIFESIGN` extension entry: registration each server generation, request dispatch,
//! close-down.

use super::client::{Request, XError};
use super::hooks::module;
use super::{guard, timer, wraps};
use lifesign_proto::ext::EXTENSION_NAME_C;
use lifesign_sys as sys;
use std::ffi::c_int;

/// The extension as this generation's server numbered it.
#[derive(Clone, Copy, Debug)]
pub struct Added {
    pub major_opcode: u8,
    /// The code of `LifesignNotify`, the extension's one event; `None` when the server had
    /// no event code left (then SelectEvents is refused, and everything else works).
    pub first_event: Option<u8>,
}

/// Adds the extension for this generation, with its one event and that event's swap
/// procedure; `None` if the server refused (name taken, no opcode left). A server whose 64
/// extension event codes are taken refuses an extension with an event (dix/extension.c,
/// before it allocates anything): the extension is added again without one, since losing the
/// events must not cost the watching.
pub fn add() -> Option<Added> {
    let (entry, with_event) = match register(1) {
        Some(entry) => (entry, true),
        None => {
            tracing::warn!(
                "no X event code left for LifesignNotify; SelectEvents is refused (BadImplementation), watching goes on"
            );
            (register(0)?, false)
        }
    };
    // SAFETY: non-null entries returned by AddExtension are valid for the generation.
    let (base, event_base) = unsafe { ((*entry).base, (*entry).eventBase) };
    let added = Added {
        major_opcode: u8::try_from(base).ok()?,
        first_event: with_event.then(|| u8::try_from(event_base).ok()).flatten(),
    };
    super::xevents::new_generation(added.first_event);
    Some(added)
}

/// AddExtension with `events` events.
fn register(events: c_int) -> Option<*mut sys::ExtensionEntry> {
    // SAFETY: called from the extension's init function, on the server thread, where
    // AddExtension is meant to be called; the name is a static C string and the procedures
    // live as long as the library.
    let entry = unsafe {
        sys::AddExtension(
            EXTENSION_NAME_C.as_ptr(),
            events,
            0,
            Some(proc_lifesign),
            Some(sproc_lifesign),
            Some(close_down),
            Some(sys::StandardMinorOpcode),
        )
    };
    (!entry.is_null()).then_some(entry)
}

/// The server generation: 1 at start, one more after each reset.
#[allow(clippy::useless_conversion)] // c_ulong is u32 on 32-bit targets
pub fn generation() -> u64 {
    // SAFETY: a plain integer the server writes only between generations, on this thread.
    u64::from(unsafe { sys::serverGeneration })
}

/// Requests of clients with the server's byte order.
unsafe extern "C" fn proc_lifesign(client: sys::ClientPtr) -> c_int {
    dispatch(client)
}

/// Requests of byte-swapped clients. They are handled in full: the parser takes the client's
/// byte order, and checks lengths before it decodes any field.
unsafe extern "C" fn sproc_lifesign(client: sys::ClientPtr) -> c_int {
    dispatch(client)
}

fn dispatch(client: sys::ClientPtr) -> c_int {
    guard::entry(
        "a LIFESIGN request",
        || XError::Implementation.code(),
        || {
            // SAFETY: the dispatcher passes the client whose request it is dispatching.
            let mut request = unsafe { Request::from_raw(client) };
            match module().request(&mut request) {
                Ok(()) => sys::LIFESIGN_SUCCESS,
                Err(error) => request.fail(error),
            }
        },
    )
}

/// Called by `CloseDownExtensions` at the end of every generation.
unsafe extern "C" fn close_down(_entry: *mut sys::ExtensionEntry) {
    // The wraps come off even when the module is disabled, so the next generation starts from
    // the server's own handler.
    wraps::close_generation();
    timer::free();
    super::xevents::close_generation();
    guard::entry(
        "extension close-down",
        || (),
        || module().close_generation(),
    );
}
