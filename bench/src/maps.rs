//! When top-level windows are mapped, as a client of the bench's own sees it: MapNotify from
//! the root window (SubstructureNotify), stamped as it arrives. Polling the tree would add its
//! interval to every figure; an event is as early as any client can know.

use lifesign_tests::{Server, unix_ms};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread;
use std::time::{Duration, Instant};
use x11rb::connection::Connection;
use x11rb::protocol::Event;
use x11rb::protocol::xproto::{ChangeWindowAttributesAux, ConnectionExt as _, EventMask, Window};

pub struct Maps {
    mapped: Receiver<(Window, u64)>,
}

impl Maps {
    /// Starts watching the root window of `server` on a connection of its own, which a thread
    /// reads until the server goes away.
    pub fn watch(server: &Server) -> Self {
        let conn = server.connect();
        let root = conn.setup().roots[0].root;
        let aux = ChangeWindowAttributesAux::new().event_mask(EventMask::SUBSTRUCTURE_NOTIFY);
        conn.change_window_attributes(root, &aux)
            .expect("select SubstructureNotify on the root")
            .check()
            .expect("SubstructureNotify on the root (no other client may hold it)");
        let (tx, mapped) = channel();
        thread::spawn(move || {
            while let Ok(event) = conn.wait_for_event() {
                if let Event::MapNotify(e) = event
                    && tx.send((e.window, unix_ms())).is_err()
                {
                    return;
                }
            }
        });
        Self { mapped }
    }

    /// Forgets the windows mapped so far.
    pub fn clear(&self) {
        while self.mapped.try_recv().is_ok() {}
    }

    /// The first window mapped from now on (or since [`Maps::clear`]) that `wanted` takes,
    /// with the Unix ms it was seen at; `None` after `timeout`.
    pub fn next(&self, timeout: Duration, wanted: impl Fn(Window) -> bool) -> Option<u64> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.mapped.recv_timeout(left) {
                Ok((window, at)) if wanted(window) => return Some(at),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            }
        }
    }
}
