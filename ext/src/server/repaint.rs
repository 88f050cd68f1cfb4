//! The repaint probe's side in the server: which window of a client gets it, and sending it.
//!
//! The window: the smallest viewable one, among the client's top-level windows and their
//! descendants that the client made itself, on which the client selected exposures
//! (`ExposureMask` in the window's own event mask, which is its creator's). Toolkits draw in
//! the window that selected exposures: Motif and Xt in a child, not in the shell, which
//! ignores an Expose. The smallest costs the least to repaint. An InputOnly window has no
//! contents and never gets Expose. A client with no such window (iconified, unmapped, or one
//! that never asked for exposures) is not probed (decision 64).

use super::client::ClientView;
use super::windows::{MOST_WINDOWS, owner, top_levels};
use lifesign_proto::ByteOrder;
use lifesign_proto::core::RepaintProbe;
use lifesign_sys as sys;

/// ExposureMask (X.h).
const EXPOSURE_MASK: sys::Mask = 1 << 15;
/// The class of a window without contents (X.h).
const INPUT_ONLY: u8 = 2;

/// The window of client `index` the repaint probe goes to, if it has one. Looks at no more
/// than `MOST_WINDOWS` windows, so a client with half a million costs no more than that.
pub fn repaint_window(index: usize) -> Option<u32> {
    let mut best: Option<(u64, u32)> = None;
    let mut looked_at = 0;
    let mut stack = top_levels(index);
    while let Some(window) = stack.pop() {
        looked_at += 1;
        if looked_at > MOST_WINDOWS {
            break;
        }
        // SAFETY: on the server thread between requests: `window` is a live window of the
        // tree (a top-level of the client, or a child reached from one), only read.
        let w = unsafe { &*window };
        // An unviewable window's children are unviewable too.
        if w.viewable() == 0 {
            continue;
        }
        let id = w.drawable.id;
        if owner(id) == index && w.drawable.class != INPUT_ONLY && w.eventMask & EXPOSURE_MASK != 0
        {
            let area = u64::from(w.drawable.width) * u64::from(w.drawable.height);
            if best.is_none_or(|(smallest, _)| area < smallest) {
                best = Some((area, id));
            }
        }
        let mut child = w.firstChild;
        while !child.is_null() && stack.len() < MOST_WINDOWS {
            stack.push(child);
            // SAFETY: as above: a live child of a live window.
            child = unsafe { (*child).nextSib };
        }
    }
    best.map(|(_, id)| id)
}

/// Sends the probe to `window` of the client, as the server sends an Expose.
pub fn send(client: &mut ClientView<'_>, window: u32) {
    // The server keeps events in its own order and swaps them for swapped clients.
    let mut event = RepaintProbe { window }.event(client.sequence(), ByteOrder::native());
    client.write_event(&mut event);
}
