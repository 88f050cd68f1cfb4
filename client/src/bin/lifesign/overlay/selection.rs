//! One overlay per screen: the screen's manager selection, `_LIFESIGN_OVERLAY_S0` (ICCCM
//! 2.8, as window managers and compositors hold `WM_S0` and `_NET_WM_CM_S0`).
//!
//! Two overlays on one display would mark every stale window twice, and each, keeping its
//! marks directly above the marked window, would see the other's land there. The newest
//! wins: whoever starts one (a launcher restarted while its old overlay still runs, an
//! operator) means it. So the newcomer takes the selection with a server timestamp, waits a
//! bounded while for the old owner's window to go (so that the two never draw at once), and
//! announces itself (`MANAGER` on the root). The old overlay, told by SelectionClear, says so
//! in one line and exits 0: it was replaced, not broken.

use super::event_loop;
use std::time::{Duration, Instant};
use x11rb::connection::Connection;
use x11rb::errors::{ConnectionError, ReplyError};
use x11rb::protocol::Event;
use x11rb::protocol::xproto::{
    Atom, AtomEnum, ChangeWindowAttributesAux, ClientMessageEvent, ConnectionExt as _,
    CreateWindowAux, EventMask, PropMode, SELECTION_NOTIFY_EVENT, SelectionNotifyEvent, Timestamp,
    Window, WindowClass,
};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;
use x11rb::{COPY_FROM_PARENT, NONE};

/// How long a newcomer waits for the overlay it replaces to go. One that does not answer
/// (stopped, hung) has missed its own heartbeat by then (3 s) and is being closed by the
/// server; the newcomer starts anyway.
const OLD_OWNER_WAIT: Duration = Duration::from_secs(4);

/// The screen's selection, held.
pub struct Selection {
    pub name: String,
    atom: Atom,
    window: Window,
}

/// What an event was to the selection.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// Not the selection's: the overlay's.
    Other,
    /// A conversion asked of the selection, refused (there is nothing to convert to).
    Answered,
    /// Another overlay took the screen.
    Replaced,
}

impl Selection {
    /// Takes screen `screen`'s selection (from an older overlay if one holds it). `None`
    /// when a yet newer overlay took it meanwhile.
    pub fn acquire(
        conn: &RustConnection,
        screen: usize,
        root: Window,
    ) -> Result<Option<Self>, String> {
        let broken = |e: ConnectionError| format!("lost the X server: {e}");
        let refused = |e: ReplyError| match e {
            ReplyError::ConnectionError(e) => broken(e),
            ReplyError::X11Error(e) => format!("cannot take the screen's selection: {e:?}"),
        };
        let name = format!("_LIFESIGN_OVERLAY_S{screen}");
        let atom = |name: &str| -> Result<Atom, String> {
            Ok(conn
                .intern_atom(false, name.as_bytes())
                .map_err(broken)?
                .reply()
                .map_err(refused)?
                .atom)
        };
        let (atom, manager) = (atom(&name)?, atom("MANAGER")?);
        // The owner: an unmapped InputOnly window of the overlay's, which goes with its
        // connection; PropertyNotify on it gives a server timestamp.
        let window = conn.generate_id().map_err(|e| e.to_string())?;
        conn.create_window(
            COPY_FROM_PARENT as u8,
            window,
            root,
            -1,
            -1,
            1,
            1,
            0,
            WindowClass::INPUT_ONLY,
            COPY_FROM_PARENT,
            &CreateWindowAux::new()
                .override_redirect(1)
                .event_mask(EventMask::PROPERTY_CHANGE),
        )
        .map_err(broken)?;
        conn.change_property8(
            PropMode::REPLACE,
            window,
            AtomEnum::WM_CLASS,
            AtomEnum::STRING,
            b"lifesign-overlay\0LifesignOverlay\0",
        )
        .map_err(broken)?;
        let time = timestamp(conn, window, atom)?;
        // The old owner, followed before the selection is taken so that its going is seen.
        let old = conn
            .get_selection_owner(atom)
            .map_err(broken)?
            .reply()
            .map_err(refused)?
            .owner;
        let old = if old == NONE {
            None
        } else {
            let follow = ChangeWindowAttributesAux::new().event_mask(EventMask::STRUCTURE_NOTIFY);
            match conn
                .change_window_attributes(old, &follow)
                .map_err(broken)?
                .check()
            {
                Ok(()) => Some(old),
                // Gone already.
                Err(ReplyError::X11Error(_)) => None,
                Err(ReplyError::ConnectionError(e)) => return Err(broken(e)),
            }
        };
        conn.set_selection_owner(window, atom, time)
            .map_err(broken)?;
        let owner = conn
            .get_selection_owner(atom)
            .map_err(broken)?
            .reply()
            .map_err(refused)?
            .owner;
        if owner != window {
            return Ok(None);
        }
        let selection = Self { name, atom, window };
        if let Some(old) = old
            && !selection.await_gone(conn, old)?
        {
            return Ok(None);
        }
        // ICCCM 2.8: tell the root's StructureNotify listeners who manages the screen now.
        let announce = ClientMessageEvent::new(32, root, manager, [time, atom, window, 0, 0]);
        conn.send_event(false, root, EventMask::STRUCTURE_NOTIFY, announce)
            .map_err(broken)?;
        conn.flush().map_err(broken)?;
        Ok(Some(selection))
    }

    /// Waits (at most [`OLD_OWNER_WAIT`]) for the old owner's window to be destroyed; false
    /// when the selection was taken from this overlay meanwhile.
    fn await_gone(&self, conn: &RustConnection, old: Window) -> Result<bool, String> {
        let broken = |e: ConnectionError| format!("lost the X server: {e}");
        let until = Instant::now() + OLD_OWNER_WAIT;
        while let Some(event) = event_loop::next_event(conn, until).map_err(broken)? {
            match self.seen(conn, &event).map_err(broken)? {
                Seen::Replaced => return Ok(false),
                Seen::Answered => {}
                Seen::Other => {
                    if let Event::DestroyNotify(e) = event
                        && e.window == old
                    {
                        return Ok(true);
                    }
                }
            }
        }
        eprintln!(
            "lifesign overlay: the overlay that held {} did not go within {OLD_OWNER_WAIT:?}; starting anyway",
            self.name
        );
        Ok(true)
    }

    /// What `event` is to the selection; a conversion asked of it is refused.
    pub fn seen(&self, conn: &impl Connection, event: &Event) -> Result<Seen, ConnectionError> {
        match event {
            Event::SelectionClear(e) if e.selection == self.atom && e.owner == self.window => {
                Ok(Seen::Replaced)
            }
            Event::SelectionRequest(e) if e.selection == self.atom && e.owner == self.window => {
                let refusal = SelectionNotifyEvent {
                    response_type: SELECTION_NOTIFY_EVENT,
                    sequence: 0,
                    time: e.time,
                    requestor: e.requestor,
                    selection: e.selection,
                    target: e.target,
                    property: NONE,
                };
                conn.send_event(false, e.requestor, EventMask::NO_EVENT, refusal)?;
                Ok(Seen::Answered)
            }
            _ => Ok(Seen::Other),
        }
    }
}

/// A server timestamp, as ICCCM asks of a selection's owner (not CurrentTime): the time of
/// the PropertyNotify that appending nothing to property `property` of `window` makes (not
/// of an earlier change of the window's, such as its `WM_CLASS`).
fn timestamp(conn: &RustConnection, window: Window, property: Atom) -> Result<Timestamp, String> {
    let broken = |e: ConnectionError| format!("lost the X server: {e}");
    conn.change_property8(PropMode::APPEND, window, property, AtomEnum::STRING, &[])
        .map_err(broken)?;
    conn.flush().map_err(broken)?;
    let until = Instant::now() + Duration::from_secs(10);
    while let Some(event) = event_loop::next_event(conn, until).map_err(broken)? {
        if let Some(time) = changed_at(&event, window, property) {
            return Ok(time);
        }
    }
    Err("the X server did not answer a property change within 10 s".into())
}

/// The time of `event` if it is the PropertyNotify of `property` on `window`.
fn changed_at(event: &Event, window: Window, property: Atom) -> Option<Timestamp> {
    match event {
        Event::PropertyNotify(e) if e.window == window && e.atom == property => Some(e.time),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use x11rb::protocol::xproto::{PROPERTY_NOTIFY_EVENT, Property, PropertyNotifyEvent};

    fn notify(window: Window, atom: Atom, time: Timestamp) -> Event {
        Event::PropertyNotify(PropertyNotifyEvent {
            response_type: PROPERTY_NOTIFY_EVENT,
            sequence: 0,
            window,
            atom,
            time,
            state: Property::NEW_VALUE,
        })
    }

    #[test]
    fn the_timestamp_is_the_appends_not_the_windows_class_change() {
        let (window, selection) = (0x0060_0001, 300);
        let class = u32::from(AtomEnum::WM_CLASS);
        assert_eq!(
            changed_at(&notify(window, class, 10), window, selection),
            None
        );
        assert_eq!(
            changed_at(&notify(7, selection, 11), window, selection),
            None
        );
        assert_eq!(
            changed_at(&notify(window, selection, 12), window, selection),
            Some(12)
        );
    }
}
