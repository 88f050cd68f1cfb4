//! The server's main-loop hooks: the block handler (before the server sleeps: decide what is
//! due, and shorten the sleep to the next deadline), the wakeup handler (after it woke), and
//! the server-grab callback. All are registered anew each generation.

use super::{guard, time};
use lifesign_sys as sys;
use std::ffi::{c_int, c_void};

/// Registers the block and wakeup handlers and the grab callback for this generation.
pub fn register() -> bool {
    // SAFETY: during extension init on the server thread; the handlers are functions of the
    // library and take no data.
    unsafe {
        sys::RegisterBlockAndWakeupHandlers(Some(block), Some(wakeup), std::ptr::null_mut()) != 0
            && sys::AddCallback(
                &raw mut sys::ServerGrabCallback,
                Some(grab),
                std::ptr::null_mut(),
            ) != 0
    }
}

unsafe extern "C" fn block(_data: *mut c_void, timeout: *mut c_void) {
    #[cfg(feature = "handler-timing")]
    let started = std::time::Instant::now();
    let delay = guard::entry("the block handler", || None, crate::watch::block);
    if let Some(delay) = delay {
        let delay = c_int::try_from(delay).unwrap_or(c_int::MAX);
        // SAFETY: `timeout` is the server's wait time, handed to block handlers for exactly
        // this call; AdjustWaitForDelay only shortens it.
        unsafe { sys::AdjustWaitForDelay(timeout, delay) };
    }
    #[cfg(feature = "handler-timing")]
    guard::entry(
        crate::timing::OWN_ENTRY,
        || (),
        || crate::timing::block(started),
    );
}

unsafe extern "C" fn wakeup(_data: *mut c_void, _result: c_int) {
    #[cfg(feature = "handler-timing")]
    let started = std::time::Instant::now();
    guard::entry("the wakeup handler", || (), crate::watch::wakeup);
    #[cfg(feature = "handler-timing")]
    guard::entry(
        crate::timing::OWN_ENTRY,
        || (),
        || crate::timing::wakeup(started),
    );
}

unsafe extern "C" fn grab(
    _list: *mut sys::CallbackListPtr,
    _data: *mut c_void,
    call_data: *mut c_void,
) {
    guard::entry(
        "the server-grab callback",
        || (),
        || {
            // SAFETY: ServerGrabCallback is called with a ServerGrabInfoRec (dix/grabs.c,
            // dix/dispatch.c) valid for the call.
            let info = unsafe { &*call_data.cast::<sys::ServerGrabInfoRec>() };
            let by = (!info.client.is_null()).then(|| {
                // SAFETY: the grabbing client, valid for the call.
                let index = unsafe { (*info.client).index };
                usize::try_from(index).ok()
            });
            match info.grabstate {
                sys::SERVER_GRABBED => crate::watch::on_grab(Some(by.flatten()), time::now_ms()),
                sys::SERVER_UNGRABBED => crate::watch::on_grab(None, time::now_ms()),
                _ => {}
            }
        },
    );
}
