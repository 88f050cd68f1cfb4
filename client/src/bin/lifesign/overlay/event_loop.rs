//! The overlay's loop: the events the connection has (for at most [`DRAIN`]), then what is
//! due, then poll(2) on the connection's fd until the next event or the next tick. No busy
//! loop, no thread.
//!
//! x11rb reads ahead: a round trip made while handling an event (a window's attributes,
//! ListClients) queues the events that came before its reply inside the connection, where
//! poll(2) cannot see them. So the connection's queue is drained again after everything
//! that may have made a round trip, before sleeping.
//!
//! A client can make events as fast as the overlay handles them (windows moved in a loop):
//! the drain stops after [`DRAIN`], so the ticks, and with them the overlay's own
//! heartbeat, still come.

use super::Overlay;
use super::selection::{Seen, Selection};
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use std::ops::ControlFlow;
use std::time::{Duration, Instant};
use x11rb::connection::Connection;
use x11rb::errors::ConnectionError;
use x11rb::protocol::Event;
use x11rb::rust_connection::RustConnection;

/// The longest the loop handles events before it looks at its ticks.
const DRAIN: Duration = Duration::from_millis(50);

/// Runs until the connection breaks (the error) or another overlay takes the screen (`Ok`).
pub fn run(
    conn: &RustConnection,
    overlay: &mut Overlay<'_, RustConnection>,
    selection: &Selection,
) -> Result<(), ConnectionError> {
    loop {
        let handle = |event| step(conn, overlay, selection, &event);
        if drain(|| conn.poll_for_event(), handle, Instant::now, DRAIN)?.is_break() {
            return Ok(());
        }
        let now = Instant::now();
        overlay.settle(now)?;
        overlay.tick(now)?;
        conn.flush()?;
        // A round trip of settle's may have queued events: they come first.
        if let Some(event) = conn.poll_for_event()? {
            if step(conn, overlay, selection, &event)?.is_break() {
                return Ok(());
            }
            continue;
        }
        wait(conn, overlay.next_wake())?;
    }
}

/// One event: the selection's, or the overlay's.
fn step(
    conn: &RustConnection,
    overlay: &mut Overlay<'_, RustConnection>,
    selection: &Selection,
    event: &Event,
) -> Result<ControlFlow<()>, ConnectionError> {
    match selection.seen(conn, event)? {
        Seen::Replaced => return Ok(ControlFlow::Break(())),
        Seen::Answered => {}
        Seen::Other => overlay.handle(event)?,
    }
    Ok(ControlFlow::Continue(()))
}

/// Hands `handle` the events `next` has, until it has none, `handle` says to stop, or
/// `budget` has passed by `clock`.
fn drain<E, X>(
    mut next: impl FnMut() -> Result<Option<E>, X>,
    mut handle: impl FnMut(E) -> Result<ControlFlow<()>, X>,
    mut clock: impl FnMut() -> Instant,
    budget: Duration,
) -> Result<ControlFlow<()>, X> {
    let until = clock() + budget;
    while let Some(event) = next()? {
        if handle(event)?.is_break() {
            return Ok(ControlFlow::Break(()));
        }
        if clock() >= until {
            break;
        }
    }
    Ok(ControlFlow::Continue(()))
}

/// Blocks in poll(2) until the connection's fd is readable or `until`.
fn wait(conn: &RustConnection, until: Instant) -> Result<(), ConnectionError> {
    let left = until.saturating_duration_since(Instant::now());
    let timeout = Timespec {
        tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(left.subsec_nanos()),
    };
    let mut fds = [PollFd::new(conn.stream(), PollFlags::IN)];
    match poll(&mut fds, Some(&timeout)) {
        Ok(_) | Err(rustix::io::Errno::INTR) => Ok(()),
        Err(e) => Err(ConnectionError::IoError(e.into())),
    }
}

/// The next event, waiting for it until `until`; `None` at `until`.
pub fn next_event(conn: &RustConnection, until: Instant) -> Result<Option<Event>, ConnectionError> {
    loop {
        if let Some(event) = conn.poll_for_event()? {
            return Ok(Some(event));
        }
        if Instant::now() >= until {
            return Ok(None);
        }
        wait(conn, until)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn an_endless_stream_of_events_is_cut_at_the_budget() {
        let start = Instant::now();
        // A millisecond passes per look at the clock; events never run out.
        let ticks = Cell::new(0_u64);
        let clock = || {
            ticks.set(ticks.get() + 1);
            start + Duration::from_millis(ticks.get())
        };
        let (mut made, mut handled) = (0_u32, 0_u32);
        let next = || -> Result<Option<u32>, ()> {
            made += 1;
            assert!(made < 10_000, "the drain never stopped");
            Ok(Some(made))
        };
        let flow = drain(
            next,
            |_| {
                handled += 1;
                Ok(ControlFlow::Continue(()))
            },
            clock,
            Duration::from_millis(50),
        );
        assert_eq!(flow, Ok(ControlFlow::Continue(())));
        assert!((45..=55).contains(&handled), "{handled}");
    }

    #[test]
    fn the_drain_ends_with_the_events_or_when_told() {
        let mut queue = vec![1, 2, 3];
        let mut seen = Vec::new();
        let flow = drain(
            || Ok::<_, ()>(queue.pop()),
            |e| {
                seen.push(e);
                Ok(ControlFlow::Continue(()))
            },
            Instant::now,
            Duration::from_secs(60),
        );
        assert_eq!((flow, seen), (Ok(ControlFlow::Continue(())), vec![3, 2, 1]));
        let flow = drain(
            || Ok::<_, ()>(Some(7)),
            |_| Ok(ControlFlow::Break(())),
            Instant::now,
            Duration::from_secs(60),
        );
        assert_eq!(flow, Ok(ControlFlow::Break(())));
    }
}
