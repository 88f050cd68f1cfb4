//! A stretch of requests sent on one connection in one write: the bytes, and for each request
//! the sequence number and answer the server owes it. It ends with a round trip of ours (so
//! that every answer has come when its reply does), or with a request that closes the
//! connection.

use super::frame::{Frame, Framer};
use super::generator::Generator;
use super::oracle::{self, Expect};
use lifesign_proto::ByteOrder;

pub struct Pending {
    pub seq: u64,
    pub expect: Expect,
    /// Whether the connection is watched when the server handles it (a ListClients reply
    /// lists the connection itself then, and only then).
    pub watched: bool,
    /// Where the request's bytes are in `Segment::wire`.
    pub at: usize,
    pub len: usize,
}

pub struct Segment {
    pub wire: Vec<u8>,
    pub pending: Vec<Pending>,
    /// LIFESIGN requests, as the server counts them (the closing one included).
    pub requests: u64,
    /// Where the last request, which makes the server close the connection, starts in
    /// `wire`. The server drops what it could not write to a connection it closes, so that
    /// request is sent only once every answer before it has been read.
    pub close_at: Option<usize>,
}

impl Segment {
    pub fn closes(&self) -> bool {
        self.close_at.is_some()
    }
}

/// GetInputFocus: a core request with a reply, to end a segment.
fn sync_request(order: ByteOrder) -> Vec<u8> {
    let [a, b] = order.u16_bytes(1);
    vec![43, 0, a, b]
}

/// Up to `requests` requests (fewer if the prelude's part runs out or one closes the
/// connection), after the `seq` requests the server has counted on this connection.
/// `watched` is whether the connection is watched, before and after.
pub fn build(
    framer: &mut Framer,
    requests_from: &mut Generator<'_>,
    order: ByteOrder,
    mut seq: u64,
    requests: u64,
    watched: &mut bool,
) -> Segment {
    let mut segment = Segment {
        wire: Vec::new(),
        pending: Vec::new(),
        requests: 0,
        close_at: None,
    };
    // After the count: what the last request left in the framer, then an Unwatch if a
    // Watch succeeded, so the segment ends at a request boundary and unwatched.
    while (segment.requests < requests && !requests_from.exhausted())
        || !framer.at_boundary()
        || requests_from.unwatch_due
    {
        let frame = framer.next(requests_from);
        segment.requests += 1;
        let at = segment.wire.len();
        segment.wire.extend_from_slice(frame.wire());
        let len = segment.wire.len() - at;
        let expect = match &frame {
            Frame::Close { .. } => {
                segment.close_at = Some(at);
                return segment;
            }
            Frame::TooBig { .. } => Expect::Error {
                code: oracle::BAD_LENGTH,
                minor: None,
                value: None,
            },
            Frame::Request { minor, request, .. } => oracle::expect(*minor, request, order),
        };
        seq += 1;
        segment.pending.push(Pending {
            seq,
            expect,
            watched: *watched,
            at,
            len,
        });
        if let Expect::Nothing { watch: Some(now) } = expect {
            *watched = now;
            requests_from.unwatch_due = now;
        }
    }
    segment.wire.extend_from_slice(&sync_request(order));
    segment.pending.push(Pending {
        seq: seq + 1,
        expect: Expect::Sync,
        watched: *watched,
        at: segment.wire.len() - 4,
        len: 4,
    });
    segment
}
