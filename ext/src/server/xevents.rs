//! The extension's one event, `LifesignNotify`: its code in this generation, and the swap
//! procedure the server calls when it writes the event to a client of the other byte order.

use lifesign_proto::notify::{EVENT_LEN, Notify};
use lifesign_sys as sys;
use std::cell::Cell;

thread_local! {
    /// The event's code in this generation (AddExtension's `eventBase`).
    static FIRST_EVENT: Cell<Option<u8>> = const { Cell::new(None) };
}

/// The extension was added with its event at `first_event` (or without one): the server's
/// table of swap procedures gets ours for it. Each generation numbers extension events anew,
/// and `WriteEventsToClient` calls the entry of an event's code for every byte-swapped
/// client, with no check that there is one (dix/events.c); only the extension that owns the
/// code writes its entry (as SHAPE, SYNC and the others do in their init functions).
pub fn new_generation(first_event: Option<u8>) {
    FIRST_EVENT.set(first_event);
    let Some(code) = first_event else { return };
    let slot = usize::from(code & 0x7f);
    // SAFETY: on the server thread during the extension's init, where extensions set their
    // events' entries; `slot` is below the table's 128 entries; the procedure lives as long
    // as the library, which the server never unloads.
    unsafe {
        sys::EventSwapVector[slot] = Some(swap_notify);
    }
}

/// The end of a generation: no event until the extension is added again.
pub fn close_generation() {
    FIRST_EVENT.set(None);
}

/// The event's code, while the extension is there.
pub fn first_event() -> Option<u8> {
    FIRST_EVENT.get()
}

/// `EventSwapPtr` for `LifesignNotify`: `from` in the server's order, `to` in the client's.
/// It cannot panic (fixed offsets in a fixed-size array), so it runs without the guard, like
/// the NoOperation wrap: a swap procedure must write `to` whatever happens.
unsafe extern "C" fn swap_notify(from: *mut sys::xEvent, to: *mut sys::xEvent) {
    // SAFETY: WriteEventsToClient passes two distinct xEvents of 32 bytes (an event and its
    // own buffer for the swapped copy), valid for the call.
    let (from, to) = unsafe {
        (
            &*from.cast::<[u8; EVENT_LEN]>(),
            &mut *to.cast::<[u8; EVENT_LEN]>(),
        )
    };
    *to = Notify::swap(from);
}
