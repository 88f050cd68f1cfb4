//! The client-state callback: the server tells the module when a client connects, runs and
//! goes away.

use super::client::ClientView;
use super::guard;
use lifesign_sys as sys;
use std::ffi::c_void;

/// Registers the callback for this generation (the server drops callback lists at reset).
pub fn watch_client_states() -> bool {
    // SAFETY: on the server thread, during extension init, when callbacks may be added; the
    // callback is a function of the library and needs no data.
    unsafe {
        sys::AddCallback(
            &raw mut sys::ClientStateCallback,
            Some(client_state),
            std::ptr::null_mut(),
        ) != 0
    }
}

unsafe extern "C" fn client_state(
    _list: *mut sys::CallbackListPtr,
    _data: *mut c_void,
    call_data: *mut c_void,
) {
    guard::entry(
        "the client-state callback",
        || (),
        || {
            // SAFETY: ClientStateCallback is called with a NewClientInfoRec (dix/dispatch.c,
            // os/connection.c) whose client is valid for the duration of the call.
            let info = unsafe { &*call_data.cast::<sys::NewClientInfoRec>() };
            if info.client.is_null() {
                return;
            }
            // SAFETY: non-null and valid for this call; the server holds no other Rust reference.
            let mut client = unsafe { ClientView::from_raw(info.client) };
            crate::module::on_client_state(&mut client);
        },
    );
}
