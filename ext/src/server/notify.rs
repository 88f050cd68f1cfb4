//! An fd of the module's own in the server's poll loop (SetNotifyFd): the launcher link.
//! The callback runs on the server thread, inside `ospoll_wait`.

use super::guard;
use super::hooks::module;
use lifesign_sys as sys;
use std::ffi::{c_int, c_void};
use std::os::fd::RawFd;

/// What the fd is ready for.
#[derive(Clone, Copy, Debug)]
pub struct Ready {
    pub read: bool,
    pub write: bool,
    pub error: bool,
}

/// Polls `fd` for reading, and for writing too if `write`.
pub fn watch(fd: RawFd, write: bool) -> bool {
    let mut mask = sys::X_NOTIFY_READ as c_int;
    if write {
        mask |= sys::X_NOTIFY_WRITE as c_int;
    }
    // SAFETY: on the server thread; the callback is a function of the library and takes no
    // data; the caller keeps the fd open until `unwatch`.
    unsafe { sys::SetNotifyFd(fd, Some(ready), mask, std::ptr::null_mut()) != 0 }
}

/// Takes `fd` out of the poll loop (before it is closed: the loop is level-triggered).
pub fn unwatch(fd: RawFd) {
    // SAFETY: on the server thread; a NULL callback removes the fd (RemoveNotifyFd).
    unsafe { sys::SetNotifyFd(fd, None, sys::X_NOTIFY_NONE as c_int, std::ptr::null_mut()) };
}

unsafe extern "C" fn ready(fd: c_int, ready: c_int, _data: *mut c_void) {
    let ready = Ready {
        read: ready & sys::X_NOTIFY_READ as c_int != 0,
        write: ready & sys::X_NOTIFY_WRITE as c_int != 0,
        error: ready & sys::X_NOTIFY_ERROR as c_int != 0,
    };
    guard::entry(
        "the launcher link",
        || module().link_failed(fd),
        || module().link_ready(fd, ready),
    );
}

/// The server's display name, `":N"`.
pub fn display_name() -> String {
    // SAFETY: `display` is set by the server before extensions are initialised and not
    // changed afterwards; NULL or a NUL-terminated string.
    let name = unsafe { sys::display };
    if name.is_null() {
        return ":0".to_owned();
    }
    // SAFETY: as above.
    let name = unsafe { std::ffi::CStr::from_ptr(name) }.to_string_lossy();
    format!(":{name}")
}
