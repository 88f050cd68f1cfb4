//! One timer on the server's own timer list (os/WaitFor.c), for the launcher link's next
//! connection attempt. The server's main loop runs it on its thread when it is due, so no pass
//! of the block handler has to read the clock to find out whether it is time.
//!
//! The server's TimerInit, when a generation begins, frees only the timers still set; one
//! that has fired is off its list and is ours to free. So the timer is freed at the end of
//! every generation ([`free`], from the extension's CloseDown, before TimerInit), set or
//! not, and a new one made in the next.

use super::guard;
use lifesign_sys as sys;
use std::cell::Cell;
use std::ffi::c_void;
use std::ptr;

thread_local! {
    static TIMER: Cell<sys::OsTimerPtr> = const { Cell::new(ptr::null_mut()) };
}

/// Runs `crate::link::attempt` in `ms` milliseconds, replacing any earlier setting. Returns
/// false if the server could not allocate the timer.
pub fn reconnect_in(ms: u64) -> bool {
    // At least 1 ms: TimerSet runs a timer that is already due inside the call, and the
    // callers hold the link's state.
    let ms = u32::try_from(ms.max(1)).unwrap_or(u32::MAX);
    let timer = TIMER.get();
    // SAFETY: on the server thread; `timer` is null or this generation's live timer, which
    // TimerSet re-arms (null: it allocates one); a relative delay of 1 ms or more is not run
    // within the call.
    let timer = unsafe { sys::TimerSet(timer, 0, ms, Some(fire), ptr::null_mut()) };
    TIMER.set(timer);
    !timer.is_null()
}

/// The generation ends (extension CloseDown, before the next generation's TimerInit): the
/// timer is freed whether it is still set or has fired. A fired one-shot timer is off the
/// server's list, so TimerInit would not free it: forgetting it leaked 40 bytes per
/// generation (valgrind memcheck, tests/tests/memcheck.rs).
pub fn free() {
    let timer = TIMER.replace(ptr::null_mut());
    // SAFETY: on the server thread; `timer` is null (TimerFree does nothing) or this
    // generation's live timer, which TimerFree takes off the list if it is on it and frees.
    unsafe { sys::TimerFree(timer) };
}

unsafe extern "C" fn fire(
    _timer: sys::OsTimerPtr,
    _now: sys::CARD32,
    _arg: *mut c_void,
) -> sys::CARD32 {
    guard::entry(
        "the reconnect timer",
        || 0,
        || {
            crate::link::attempt();
            0 // one-shot: the link sets it again if it must
        },
    )
}
