//! What a program's top-level windows say about `_NET_WM_PING`, and whether the program
//! answers one sent as a window manager sends it.

use std::thread;
use std::time::{Duration, Instant};
use x11rb::connection::Connection;
use x11rb::protocol::Event;
use x11rb::protocol::xproto::{
    Atom, AtomEnum, ChangeWindowAttributesAux, ClientMessageEvent, ConnectionExt as _, EventMask,
    Window,
};

/// What a fresh instance of the program showed: what it lists, and what it did with a ping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowFacts {
    /// A top-level window's `WM_PROTOCOLS` lists `_NET_WM_PING`: the server's `WmPing` pings
    /// only such clients.
    pub lists_ping: bool,
    /// What it did with a `_NET_WM_PING` sent to its window as a window manager sends it,
    /// whether or not it lists the protocol.
    pub ping: PingAnswer,
}

/// What a program did with a `_NET_WM_PING`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PingAnswer {
    Answered,
    Unanswered,
    /// It closed its connection: it takes any `WM_PROTOCOLS` message for WM_DELETE_WINDOW
    /// (xterm's `<Message>WM_PROTOCOLS: DeleteWindow()`).
    Closed,
}

/// The timestamp of our pings: far from the server's time, so that no answer to anyone
/// else's ping is taken for ours.
const PING_TIMESTAMP: u32 = 0x6c73_0001;

/// A connection of the measurement's own that watches the root window for answers to pings.
pub struct Observer<C: Connection> {
    pub conn: C,
    wm_protocols: Atom,
    net_wm_ping: Atom,
}

impl<C: Connection> Observer<C> {
    /// Takes `conn` (already out of the module's watch: the caller unwatched it) and selects
    /// on the root window what answers to pings are sent with: the specification says
    /// SubstructureNotify|SubstructureRedirect (GTK), Qt sends StructureNotify|
    /// SubstructureRedirect. A window manager gets both through SubstructureRedirect, which
    /// this connection cannot hold without becoming one (windows would then wait for it to map
    /// them): it takes both notify masks instead.
    pub fn new(conn: C) -> Result<Self, String> {
        let root = conn.setup().roots[0].root;
        let mask = EventMask::SUBSTRUCTURE_NOTIFY | EventMask::STRUCTURE_NOTIFY;
        let aux = ChangeWindowAttributesAux::new().event_mask(mask);
        conn.change_window_attributes(root, &aux)
            .map_err(|e| e.to_string())?;
        let intern = |name: &str| -> Result<Atom, String> {
            Ok(conn
                .intern_atom(false, name.as_bytes())
                .map_err(|e| e.to_string())?
                .reply()
                .map_err(|e| e.to_string())?
                .atom)
        };
        let (wm_protocols, net_wm_ping) = (intern("WM_PROTOCOLS")?, intern("_NET_WM_PING")?);
        Ok(Self {
            conn,
            wm_protocols,
            net_wm_ping,
        })
    }

    /// The protocols `window`'s `WM_PROTOCOLS` lists (none if it has no such property).
    pub fn protocols(&self, window: Window) -> Vec<Atom> {
        self.conn
            .get_property(false, window, self.wm_protocols, AtomEnum::ATOM, 0, 64)
            .ok()
            .and_then(|c| c.reply().ok())
            .and_then(|r| r.value32().map(Iterator::collect))
            .unwrap_or_default()
    }

    /// True if one of `windows` lists `_NET_WM_PING`.
    pub fn lists_ping(&self, windows: &[Window]) -> bool {
        windows
            .iter()
            .any(|&w| self.protocols(w).contains(&self.net_wm_ping))
    }

    /// Pings each of `windows` that has `WM_PROTOCOLS` (all of them if none has), as a
    /// window manager pings the windows it manages: is one answered within `timeout`? Some
    /// programs map several top-levels (GNUstep: its menu, its icon, its window), and the
    /// order the server lists them in is not theirs.
    pub fn ping_windows(&self, windows: &[Window], timeout: Duration) -> bool {
        let managed: Vec<Window> = windows
            .iter()
            .copied()
            .filter(|&w| !self.protocols(w).is_empty())
            .collect();
        let targets = if managed.is_empty() {
            windows
        } else {
            &managed
        };
        self.ping(targets, timeout)
    }

    /// Sends `_NET_WM_PING` to each of `windows` as a window manager does (to the window
    /// itself, no event mask), and waits for the answer the specification asks for: the
    /// same message sent back to the root window.
    fn ping(&self, windows: &[Window], timeout: Duration) -> bool {
        for &window in windows {
            let message = ClientMessageEvent::new(
                32,
                window,
                self.wm_protocols,
                [self.net_wm_ping, PING_TIMESTAMP, window, 0, 0],
            );
            if self
                .conn
                .send_event(false, window, EventMask::NO_EVENT, message)
                .is_err()
            {
                return false;
            }
        }
        if self.conn.flush().is_err() {
            return false;
        }
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            match self.conn.poll_for_event() {
                Ok(Some(Event::ClientMessage(e))) => {
                    let data = e.data.as_data32();
                    if e.type_ == self.wm_protocols
                        && data[0] == self.net_wm_ping
                        && data[1] == PING_TIMESTAMP
                    {
                        return true;
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => thread::sleep(Duration::from_millis(10)),
                Err(_) => return false,
            }
        }
        false
    }
}
