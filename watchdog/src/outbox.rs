//! The events on their way to the launcher: numbered, kept until acknowledged, sent again
//! after a reconnect, bounded.
//!
//! An event is kept as the line it was sent as, made once: a new connection is sent every
//! kept event again, and serializing 4096 of them anew held the server for 75-150 ms (a
//! debug build) on every reconnect; copying their lines is a fraction of that.

use lifesign_proto::event::{Body, Event};
use std::collections::VecDeque;

/// How many unacknowledged events are kept; past it the oldest is dropped (and logged).
pub const BOUND: usize = 4096;

pub struct Outbox {
    bound: usize,
    seq: u64,
    /// Unacknowledged events, oldest first.
    pending: VecDeque<Kept>,
}

/// An unacknowledged event: its seq, its line as sent (no newline), and whether it ends a
/// client (`lost`, `gone`: what a launcher acts on).
struct Kept {
    seq: u64,
    line: Box<str>,
    ends: bool,
}

impl Default for Outbox {
    fn default() -> Self {
        Self::with_bound(BOUND)
    }
}

impl Outbox {
    pub fn with_bound(bound: usize) -> Self {
        Self {
            bound: bound.max(1),
            seq: 0,
            pending: VecDeque::new(),
        }
    }

    fn stamp(&mut self, at_ms: u64, body: Body) -> Event {
        self.seq += 1;
        Event::new(self.seq, at_ms, body)
    }

    /// Numbers an event and keeps its line until acknowledged. Returns the event, its line,
    /// and the seq of the event dropped to make room, if any: the oldest that does not end a
    /// client, else the oldest. A client can make events as fast as it sends requests
    /// (Watch and Unwatch in a loop, a service name changed at every pass); what it makes
    /// must not push another client's loss out before the launcher has it.
    pub fn push(&mut self, at_ms: u64, body: Body) -> (Event, &str, Option<u64>) {
        let ends = matches!(body, Body::Lost { .. } | Body::Gone { .. });
        let event = self.stamp(at_ms, body);
        let dropped = (self.pending.len() >= self.bound)
            .then(|| {
                let at = self.pending.iter().position(|k| !k.ends).unwrap_or(0);
                self.pending.remove(at).map(|k| k.seq)
            })
            .flatten();
        self.pending.push_back(Kept {
            seq: event.seq,
            line: event.to_line().into(),
            ends,
        });
        let line = self.pending.back().map_or("", |k| &k.line);
        (event, line, dropped)
    }

    /// An event that is sent but not kept: `hello` and the `watched` replay, which a
    /// reconnecting launcher gets anew each time.
    pub fn transient(&mut self, at_ms: u64, body: Body) -> Event {
        self.stamp(at_ms, body)
    }

    /// The launcher acknowledged `seq`. `pending` is in seq order (numbered as pushed), and
    /// acks come oldest first: a search and a removal at the front, not a pass over all of
    /// it, so a launcher catching up on thousands of events acks them in linear time.
    pub fn ack(&mut self, seq: u64) -> bool {
        match self.pending.binary_search_by_key(&seq, |k| k.seq) {
            Ok(i) => self.pending.remove(i).is_some(),
            Err(_) => false,
        }
    }

    /// The lines of everything not yet acknowledged, oldest first: what a new connection is
    /// sent after its `hello` and replay.
    pub fn unacknowledged(&self) -> impl Iterator<Item = &str> {
        self.pending.iter().map(|k| &*k.line)
    }

    /// The seqs of everything not yet acknowledged, oldest first.
    pub fn unacknowledged_seqs(&self) -> impl Iterator<Item = u64> {
        self.pending.iter().map(|k| k.seq)
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifesign_proto::event::{ClientInfo, GoneReason, ServerInfo, Transport};

    fn gone(index: u32) -> Body {
        Body::Gone {
            client: ClientInfo {
                id: ClientInfo::format_id(index << 21),
                index,
                transport: Transport::Local,
                peer: None,
                pid: None,
                command: None,
                service: None,
                wm_class: None,
            },
            reason: GoneReason::Closed,
        }
    }

    #[test]
    fn events_are_numbered_and_kept_until_acknowledged() {
        let mut o = Outbox::default();
        let (a, _, _) = o.push(10, gone(1));
        let hello = o.transient(
            11,
            Body::Hello {
                server: ServerInfo {
                    display: ":0".into(),
                    pid: 1,
                    started_ms: 2,
                },
            },
        );
        let (b, _, _) = o.push(12, gone(2));
        assert_eq!((a.seq, hello.seq, b.seq), (1, 2, 3));
        assert_eq!(o.unacknowledged_seqs().collect::<Vec<_>>(), [1, 3]);
        assert!(o.ack(1));
        assert!(!o.ack(1), "a duplicate ack changes nothing");
        assert!(!o.ack(2), "transient events are not kept");
        assert_eq!(o.unacknowledged_seqs().collect::<Vec<_>>(), [3]);
    }

    #[test]
    fn acks_in_any_order_remove_exactly_their_event() {
        let mut o = Outbox::default();
        for i in 0..5 {
            o.push(0, gone(i));
        }
        let _ = o.transient(0, gone(9)); // seq 6: numbered, not kept
        o.push(0, gone(5)); // seq 7
        assert!(o.ack(3) && o.ack(1) && o.ack(7));
        assert!(!o.ack(6), "a transient event is not kept");
        assert!(!o.ack(8) && !o.ack(0), "unknown seqs");
        assert_eq!(o.unacknowledged_seqs().collect::<Vec<_>>(), [2, 4, 5]);
    }

    #[test]
    fn a_full_outbox_acked_oldest_first_empties() {
        // What a launcher catching up does: 4096 acks in order (a pass over all that is kept
        // per ack held the server up for hundreds of ms in a debug build).
        let mut o = Outbox::default();
        for i in 0..BOUND as u32 {
            o.push(0, gone(i));
        }
        for seq in 1..=BOUND as u64 {
            assert!(o.ack(seq));
        }
        assert!(o.is_empty());
    }

    #[test]
    fn the_bound_drops_the_oldest() {
        let mut o = Outbox::with_bound(2);
        o.push(0, gone(1));
        o.push(0, gone(2));
        let (_, _, dropped) = o.push(0, gone(3));
        assert_eq!(dropped, Some(1));
        assert_eq!(o.unacknowledged_seqs().collect::<Vec<_>>(), [2, 3]);
        assert_eq!(o.len(), 2);
    }

    #[test]
    fn a_kept_event_is_sent_again_as_the_line_it_was_sent_as() {
        let mut o = Outbox::default();
        let (first, line, _) = o.push(5, gone(1));
        let line = line.to_owned();
        assert_eq!(line, first.to_line());
        o.push(6, gone(2));
        assert!(o.ack(2));
        assert_eq!(o.unacknowledged().collect::<Vec<_>>(), [line.as_str()]);
    }

    #[test]
    fn a_full_outbox_drops_what_ends_no_client_first() {
        let mut o = Outbox::with_bound(3);
        let updated = |index: u32| {
            let Body::Gone { client, .. } = gone(index) else {
                unreachable!()
            };
            Body::Updated { client }
        };
        o.push(0, gone(1)); // seq 1, a loss a launcher must get
        o.push(0, updated(2)); // seq 2
        o.push(0, updated(3)); // seq 3
        // A client flooding updates pushes out the other updates, never the end.
        for (seq, dropped) in [(4, 2), (5, 3), (6, 4)] {
            let (event, _, out) = o.push(0, updated(4));
            assert_eq!((event.seq, out), (seq, Some(dropped)));
        }
        assert_eq!(o.unacknowledged_seqs().collect::<Vec<_>>(), [1, 5, 6]);
        // Only ends left: the oldest end goes.
        let mut o = Outbox::with_bound(2);
        o.push(0, gone(1));
        o.push(0, gone(2));
        assert_eq!(o.push(0, gone(3)).2, Some(1));
    }
}
