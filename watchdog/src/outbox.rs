//! The events on their way to the launcher: numbered, kept until acknowledged, sent again
//! after a reconnect, bounded.

use lifesign_proto::event::{Body, Event};
use std::collections::VecDeque;

/// How many unacknowledged events are kept; past it the oldest is dropped (and logged).
pub const BOUND: usize = 4096;

pub struct Outbox {
    bound: usize,
    seq: u64,
    /// Unacknowledged events, oldest first.
    pending: VecDeque<Event>,
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

    /// Numbers an event and keeps it until acknowledged. Returns it, and the event dropped
    /// to make room, if any.
    pub fn push(&mut self, at_ms: u64, body: Body) -> (Event, Option<Event>) {
        let event = self.stamp(at_ms, body);
        let dropped = (self.pending.len() >= self.bound)
            .then(|| self.pending.pop_front())
            .flatten();
        self.pending.push_back(event.clone());
        (event, dropped)
    }

    /// An event that is sent but not kept: `hello` and the `watched` replay, which a
    /// reconnecting launcher gets anew each time.
    pub fn transient(&mut self, at_ms: u64, body: Body) -> Event {
        self.stamp(at_ms, body)
    }

    /// The launcher acknowledged `seq`.
    pub fn ack(&mut self, seq: u64) -> bool {
        let before = self.pending.len();
        self.pending.retain(|e| e.seq != seq);
        self.pending.len() != before
    }

    /// Everything not yet acknowledged, oldest first: what a new connection is sent after its
    /// `hello` and replay.
    pub fn unacknowledged(&self) -> impl Iterator<Item = &Event> {
        self.pending.iter()
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
        let (a, _) = o.push(10, gone(1));
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
        let (b, _) = o.push(12, gone(2));
        assert_eq!((a.seq, hello.seq, b.seq), (1, 2, 3));
        assert_eq!(
            o.unacknowledged().map(|e| e.seq).collect::<Vec<_>>(),
            [1, 3]
        );
        assert!(o.ack(1));
        assert!(!o.ack(1), "a duplicate ack changes nothing");
        assert!(!o.ack(2), "transient events are not kept");
        assert_eq!(o.unacknowledged().map(|e| e.seq).collect::<Vec<_>>(), [3]);
    }

    #[test]
    fn the_bound_drops_the_oldest() {
        let mut o = Outbox::with_bound(2);
        o.push(0, gone(1));
        o.push(0, gone(2));
        let (_, dropped) = o.push(0, gone(3));
        assert_eq!(dropped.map(|e| e.seq), Some(1));
        assert_eq!(
            o.unacknowledged().map(|e| e.seq).collect::<Vec<_>>(),
            [2, 3]
        );
        assert_eq!(o.len(), 2);
    }
}
