//! The overlay's loop: every event the connection has, then what is due, then poll(2) on
//! the connection's fd until the next event or the next tick. No busy loop, no thread.
//!
//! x11rb reads ahead: a round trip made while handling an event (a window's attributes,
//! ListClients) queues the events that came before its reply inside the connection, where
//! poll(2) cannot see them. So the connection's queue is drained again after everything
//! that may have made a round trip, before sleeping.

use super::Overlay;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use std::time::Instant;
use x11rb::connection::Connection;
use x11rb::errors::ConnectionError;
use x11rb::rust_connection::RustConnection;

pub fn run(
    conn: &RustConnection,
    overlay: &mut Overlay<'_, RustConnection>,
) -> Result<(), ConnectionError> {
    loop {
        while let Some(event) = conn.poll_for_event()? {
            overlay.handle(&event)?;
        }
        let now = Instant::now();
        overlay.settle(now)?;
        overlay.tick(now)?;
        conn.flush()?;
        // A round trip of settle's may have queued events: they come first.
        if let Some(event) = conn.poll_for_event()? {
            overlay.handle(&event)?;
            continue;
        }
        let wait = overlay
            .next_wake()
            .saturating_duration_since(Instant::now());
        let timeout = Timespec {
            tv_sec: i64::try_from(wait.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(wait.subsec_nanos()),
        };
        let mut fds = [PollFd::new(conn.stream(), PollFlags::IN)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(ConnectionError::IoError(e.into())),
        }
    }
}
