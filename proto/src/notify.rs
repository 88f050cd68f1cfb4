//! `LifesignNotify`, the X event a client subscribed with SelectEvents (LIFESIGN 1.2) gets
//! for every event of a watched client it may see. 32 bytes, in the subscriber's byte order;
//! the layout is in `docs/protocol.md`. The event says who (the client's XID base and index),
//! what (the kind, the reason), how long the client was silent, and when; the rest of a
//! client's identity (peer, command, service, class) is in ListClients.

use crate::ByteOrder;
use crate::event::{Body, EventType, GoneReason, LostReason, Transport};

/// The size of every core and extension event.
pub const EVENT_LEN: usize = 32;

/// The events a subscriber can ask for; their numbers are the event's `kind` byte, and
/// `1 << kind` is their bit in SelectEvents' mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Watched = 0,
    Suspect = 1,
    Lost = 2,
    Gone = 3,
    Recovered = 4,
    Unwatched = 5,
    Updated = 6,
}

impl Kind {
    pub const ALL: [Self; 7] = [
        Self::Watched,
        Self::Suspect,
        Self::Lost,
        Self::Gone,
        Self::Recovered,
        Self::Unwatched,
        Self::Updated,
    ];

    /// Its bit in SelectEvents' mask.
    pub const fn bit(self) -> u32 {
        1 << self as u32
    }

    /// The event's type in the launcher's stream.
    pub fn event_type(self) -> EventType {
        match self {
            Self::Watched => EventType::Watched,
            Self::Suspect => EventType::Suspect,
            Self::Lost => EventType::Lost,
            Self::Gone => EventType::Gone,
            Self::Recovered => EventType::Recovered,
            Self::Unwatched => EventType::Unwatched,
            Self::Updated => EventType::Updated,
        }
    }

    /// The contract's name of the event (`type` in the launcher's JSON).
    pub fn as_str(self) -> &'static str {
        self.event_type().as_str()
    }

    fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| *k as u8 == code)
    }
}

/// Every kind: the mask that subscribes to all of them.
pub const ALL_KINDS: u32 = (1 << Kind::ALL.len()) - 1;

/// The `reason` of an event, one byte: a loss's, a suspicion's (the deadline it is half-way
/// to) or an end's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Lost(LostReason),
    Gone(GoneReason),
}

impl Reason {
    const CODES: [(u8, Reason); 9] = [
        (1, Reason::Lost(LostReason::IdleTimeout)),
        (2, Reason::Lost(LostReason::NoopMissed)),
        (3, Reason::Lost(LostReason::WmPingTimeout)),
        (4, Reason::Lost(LostReason::RepaintTimeout)),
        (5, Reason::Lost(LostReason::TransportTimeout)),
        (6, Reason::Lost(LostReason::Reset)),
        (7, Reason::Lost(LostReason::HostPulseLost)),
        (8, Reason::Gone(GoneReason::Closed)),
        (9, Reason::Gone(GoneReason::Killed)),
    ];

    fn code(self) -> u8 {
        Self::CODES
            .iter()
            .find(|(_, r)| *r == self)
            .map(|(c, _)| *c)
            .expect("every reason has a code")
    }

    fn from_code(code: u8) -> Option<Self> {
        Self::CODES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, r)| *r)
    }

    /// The contract's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lost(r) => r.as_str(),
            Self::Gone(r) => r.as_str(),
        }
    }
}

/// One `LifesignNotify`, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notify {
    pub kind: Kind,
    /// The client's resource-ID base (the contract's `id`).
    pub client: u32,
    /// The client's index in the server (the contract's `index`).
    pub index: u16,
    pub reason: Option<Reason>,
    /// How long the client was silent (saturated at `u32::MAX`); 0 for kinds that have none.
    pub silent_ms: u32,
    /// The event's `seq`, its low 32 bits.
    pub seq: u32,
    /// When the server made the event (Unix ms), as `at_ms` in the launcher's JSON.
    pub at_ms: u64,
    /// How the client is connected (`None` from a server that does not say), so that a
    /// subscriber that cannot list the client any more (it is gone) still knows that much.
    pub transport: Option<Transport>,
}

const TRANSPORTS: [(u8, Transport); 3] = [
    (1, Transport::Local),
    (2, Transport::Tcp),
    (3, Transport::Tcp6),
];

impl Notify {
    /// The X event for an event of the launcher's stream; `None` for `hello` and `replayed`,
    /// which are the launcher link's own, and for a client id that is not a resource base.
    pub fn from_event(seq: u64, at_ms: u64, body: &Body) -> Option<Self> {
        let (kind, reason, silent_ms) = match body {
            Body::Hello { .. } | Body::Replayed { .. } => return None,
            Body::Watched { .. } => (Kind::Watched, None, 0),
            Body::Suspect {
                reason, silent_ms, ..
            } => (Kind::Suspect, Some(Reason::Lost(*reason)), *silent_ms),
            Body::Lost {
                reason, silent_ms, ..
            } => (Kind::Lost, Some(Reason::Lost(*reason)), *silent_ms),
            Body::Gone { reason, .. } => (Kind::Gone, Some(Reason::Gone(*reason)), 0),
            Body::Recovered { silent_ms, .. } => (Kind::Recovered, None, *silent_ms),
            Body::Unwatched { .. } => (Kind::Unwatched, None, 0),
            Body::Updated { .. } => (Kind::Updated, None, 0),
        };
        let client = body.client()?;
        Some(Self {
            kind,
            client: u32::from_str_radix(client.id.strip_prefix("0x")?, 16).ok()?,
            index: u16::try_from(client.index).ok()?,
            reason,
            silent_ms: u32::try_from(silent_ms).unwrap_or(u32::MAX),
            seq: seq as u32,
            at_ms,
            transport: Some(client.transport),
        })
    }

    /// The 32 bytes of the event whose code is `code` (the extension's first event), in
    /// `order`. The server writes the sequence number (bytes 2-3) itself.
    pub fn encode(&self, code: u8, order: ByteOrder) -> [u8; EVENT_LEN] {
        let mut out = [0u8; EVENT_LEN];
        out[0] = code;
        out[1] = self.kind as u8;
        out[4..8].copy_from_slice(&order.u32_bytes(self.client));
        out[8..12].copy_from_slice(&order.u32_bytes(self.silent_ms));
        out[12..16].copy_from_slice(&order.u32_bytes(self.seq));
        out[16..20].copy_from_slice(&order.u32_bytes((self.at_ms >> 32) as u32));
        out[20..24].copy_from_slice(&order.u32_bytes(self.at_ms as u32));
        out[24..26].copy_from_slice(&order.u16_bytes(self.index));
        out[26] = self.reason.map_or(0, Reason::code);
        out[27] = self.transport.map_or(0, |t| {
            TRANSPORTS
                .iter()
                .find(|(_, known)| *known == t)
                .map_or(0, |(code, _)| *code)
        });
        out
    }

    /// Decodes an event as a client receives it (its code checked by the caller); `None` for
    /// a kind or reason this version does not know, or fewer than 32 bytes.
    pub fn parse(bytes: &[u8], order: ByteOrder) -> Option<Self> {
        let bytes: &[u8; EVENT_LEN] = bytes.get(..EVENT_LEN)?.try_into().ok()?;
        let word =
            |at: usize| order.read_u32([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let reason = match bytes[26] {
            0 => None,
            code => Some(Reason::from_code(code)?),
        };
        Some(Self {
            kind: Kind::from_code(bytes[1])?,
            client: word(4),
            silent_ms: word(8),
            seq: word(12),
            at_ms: (u64::from(word(16)) << 32) | u64::from(word(20)),
            index: order.read_u16([bytes[24], bytes[25]]),
            reason,
            transport: TRANSPORTS
                .iter()
                .find(|(code, _)| *code == bytes[27])
                .map(|(_, t)| *t),
        })
    }

    /// The event in the other byte order, for a byte-swapped subscriber: what the server's
    /// swap procedure for the event does.
    pub fn swap(from: &[u8; EVENT_LEN]) -> [u8; EVENT_LEN] {
        let mut out = *from;
        out[2..4].reverse();
        for at in [4, 8, 12, 16, 20] {
            out[at..at + 4].reverse();
        }
        out[24..26].reverse();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ClientInfo, Transport};

    fn client() -> ClientInfo {
        ClientInfo {
            id: "0x00a00000".into(),
            index: 5,
            transport: Transport::Tcp,
            peer: Some("10.1.2.3:51234".into()),
            pid: None,
            command: None,
            service: None,
            wm_class: None,
        }
    }

    #[test]
    fn round_trips_in_both_orders_and_swaps_between_them() {
        let body = Body::Lost {
            client: client(),
            reason: LostReason::WmPingTimeout,
            silent_ms: 2345,
        };
        let notify = Notify::from_event(0x1_0000_0007, 1_796_124_660_002, &body).unwrap();
        assert_eq!(notify.client, 0x00a0_0000);
        assert_eq!(notify.transport, Some(Transport::Tcp));
        assert_eq!(notify.seq, 7, "the low 32 bits");
        for order in [ByteOrder::LsbFirst, ByteOrder::MsbFirst] {
            let bytes = notify.encode(90, order);
            assert_eq!(bytes[0], 90);
            assert_eq!(Notify::parse(&bytes, order), Some(notify));
        }
        let lsb = notify.encode(90, ByteOrder::LsbFirst);
        assert_eq!(Notify::swap(&lsb), notify.encode(90, ByteOrder::MsbFirst));
    }

    #[test]
    fn every_kind_and_reason_has_its_code() {
        for kind in Kind::ALL {
            assert_eq!(Kind::from_code(kind as u8), Some(kind));
            assert_eq!(ALL_KINDS & kind.bit(), kind.bit());
        }
        for (code, reason) in Reason::CODES {
            assert_eq!(reason.code(), code);
            assert_eq!(Reason::from_code(code), Some(reason));
        }
        let mut unknown = Notify::from_event(1, 2, &Body::Updated { client: client() })
            .unwrap()
            .encode(90, ByteOrder::native());
        unknown[1] = 7;
        assert_eq!(Notify::parse(&unknown, ByteOrder::native()), None);
        assert_eq!(Notify::parse(&unknown[..31], ByteOrder::native()), None);
    }

    #[test]
    fn the_launchers_own_lines_are_no_x_events() {
        assert_eq!(Notify::from_event(1, 2, &Body::Replayed { count: 0 }), None);
    }
}
