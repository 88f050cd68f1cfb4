//! The module's two timers on the server's own timer list (os/WaitFor.c): the deadline timer,
//! which brings every decision of the module (deadlines, pings, the launcher's events), and
//! the launcher link's reconnect timer. The server checks its timer list on every turn of its
//! main loop whatever the module does, so the module costs a turn nothing: it runs only when
//! one of its timers is due.
//!
//! The server calls a timer with its input lock held, and from nowhere but its main loop's
//! `check_timers` as long as no timer is set already due (TimerSet runs such a timer inside the
//! call): every setting here is at least 1 ms ahead. The server itself closes clients from a
//! timer (SECURITY's authorization expiry, Xext/security.c).
//!
//! TimerInit, when a generation begins, frees only the timers still set; one that has fired
//! is off its list and is ours to free. So both are freed at the end of every generation
//! ([`free`], from the extension's CloseDown), set or not, and made anew in the next.

use super::hooks::module;
use super::{guard, time};
use lifesign_sys as sys;
use std::cell::Cell;
use std::ffi::c_void;
use std::ptr;

thread_local! {
    static RECONNECT: Cell<sys::OsTimerPtr> = const { Cell::new(ptr::null_mut()) };
    static DEADLINE: Cell<sys::OsTimerPtr> = const { Cell::new(ptr::null_mut()) };
    /// When the deadline timer is due (the module's monotonic ms), if it is set.
    static DUE: Cell<Option<u64>> = const { Cell::new(None) };
    /// The deadline timer is running: settings wait for it to return.
    static FIRING: Cell<bool> = const { Cell::new(false) };
    /// The earliest setting asked for while it ran (ms from then).
    static ASKED: Cell<Option<u64>> = const { Cell::new(None) };
}

type Callback = unsafe extern "C" fn(sys::OsTimerPtr, sys::CARD32, *mut c_void) -> sys::CARD32;

fn set(timer: &'static std::thread::LocalKey<Cell<sys::OsTimerPtr>>, ms: u64, f: Callback) -> bool {
    let ms = u32::try_from(ms.max(1)).unwrap_or(u32::MAX);
    // SAFETY: on the server thread; the pointer is null or this generation's live timer, which
    // TimerSet re-arms (null: it allocates one); a relative delay of 1 ms or more is not run
    // within the call.
    let t = unsafe { sys::TimerSet(timer.get(), 0, ms, Some(f), ptr::null_mut()) };
    timer.set(t);
    !t.is_null()
}

/// Runs the module's `reconnect` in `ms` milliseconds, replacing any earlier setting. False if
/// the server could not allocate the timer.
pub fn reconnect_in(ms: u64) -> bool {
    set(&RECONNECT, ms, fire_reconnect)
}

/// Makes the deadline timer due within `ms` milliseconds (at least 1): earlier than it is set
/// for, never later.
pub fn deadline_within(ms: u64) {
    let ms = ms.max(1);
    if FIRING.get() {
        ASKED.set(Some(ASKED.get().map_or(ms, |a| a.min(ms))));
        return;
    }
    let now = time::now_ms();
    if DUE.get().is_some_and(|due| due <= now + ms) {
        return;
    }
    if set(&DEADLINE, ms, fire_deadline) {
        DUE.set(Some(now + ms));
    } else {
        tracing::error!("the server could not set a timer: deadlines are not kept");
    }
}

/// The generation ends (extension CloseDown, before the next generation's TimerInit): both
/// timers are freed whether still set or fired. A fired one-shot timer is off the server's
/// list, so TimerInit would not free it (valgrind memcheck, tests/tests/memcheck.rs).
pub fn free() {
    for timer in [&RECONNECT, &DEADLINE] {
        let t = timer.replace(ptr::null_mut());
        // SAFETY: on the server thread; null (TimerFree does nothing) or this generation's
        // live timer, which TimerFree takes off the list if it is on it and frees.
        unsafe { sys::TimerFree(t) };
    }
    DUE.set(None);
}

unsafe extern "C" fn fire_reconnect(
    _timer: sys::OsTimerPtr,
    _now: sys::CARD32,
    _arg: *mut c_void,
) -> sys::CARD32 {
    guard::entry("the reconnect timer", || (), || module().reconnect());
    0 // one-shot: the link sets it again if it must
}

unsafe extern "C" fn fire_deadline(
    _timer: sys::OsTimerPtr,
    _now: sys::CARD32,
    _arg: *mut c_void,
) -> sys::CARD32 {
    // DoTimer took it off the list; what it returns sets it again.
    DUE.set(None);
    FIRING.set(true);
    #[cfg(feature = "handler-timing")]
    let started = crate::timing::pass_begin();
    let next = guard::entry("the deadline timer", || None, || module().timer());
    #[cfg(feature = "handler-timing")]
    guard::entry(
        crate::timing::OWN_ENTRY,
        || (),
        || crate::timing::pass(started),
    );
    FIRING.set(false);
    let next = match (next, ASKED.take()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    match next {
        Some(ms) => {
            let ms = ms.clamp(1, u64::from(u32::MAX));
            DUE.set(Some(time::now_ms() + ms));
            ms as sys::CARD32
        }
        None => 0,
    }
}
