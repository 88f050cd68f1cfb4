//! The `LIFESIGN` X extension: requests as the server receives them, replies as it sends them.
//!
//! The layout of every message is in `docs/protocol.md`. Parsing checks the length before it
//! reads a single field, so a short, long or zero-length request is refused as a whole.

use crate::ByteOrder;
use std::ffi::CStr;
use thiserror::Error;

/// The name clients pass to QueryExtension.
pub const EXTENSION_NAME: &str = "LIFESIGN";
/// The same name as the server's C API takes it.
pub const EXTENSION_NAME_C: &CStr = c"LIFESIGN";
/// The protocol version this crate speaks.
pub const MAJOR_VERSION: u32 = 1;
pub const MINOR_VERSION: u32 = 2;

/// Minor opcodes.
pub mod opcode {
    pub const QUERY_VERSION: u8 = 0;
    pub const WATCH: u8 = 1;
    pub const UNWATCH: u8 = 2;
    pub const LIST_CLIENTS: u8 = 3;
    /// Version 1.2.
    pub const SELECT_EVENTS: u8 = 4;
}

/// In a Watch request: "the server's option for this deadline".
pub const DEFAULT: u32 = u32::MAX;

/// The longest service name a client may declare.
pub const MAX_SERVICE_LEN: usize = 255;

/// Watch flags.
pub mod flags {
    /// The client's NoOperation pulse stands for its whole host.
    pub const HOST_SCOPE: u32 = 1;
}

/// The deadlines a client asks for itself: milliseconds, `0` off, [`DEFAULT`] the server's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchRequest {
    pub idle_timeout_ms: u32,
    pub expect_noop_ms: u32,
    pub wm_ping_ms: u32,
    pub transport_timeout_ms: u32,
    pub flags: u32,
    /// The service name, UTF-8, at most [`MAX_SERVICE_LEN`] bytes; empty for none.
    pub service: String,
    /// Version 1.1: the repaint probe's interval and timeout. A 1.0 Watch has neither: both
    /// are then [`DEFAULT`], and its encoding is the 1.0 one as long as both are.
    pub repaint_probe_ms: u32,
    pub repaint_probe_timeout_ms: u32,
}

impl WatchRequest {
    /// Everything as the server's options say, no service name.
    pub fn defaults() -> Self {
        Self {
            idle_timeout_ms: DEFAULT,
            expect_noop_ms: DEFAULT,
            wm_ping_ms: DEFAULT,
            transport_timeout_ms: DEFAULT,
            flags: 0,
            service: String::new(),
            repaint_probe_ms: DEFAULT,
            repaint_probe_timeout_ms: DEFAULT,
        }
    }

    /// Whether it needs the 1.1 layout (a repaint probe value of its own).
    fn has_repaint(&self) -> bool {
        self.repaint_probe_ms != DEFAULT || self.repaint_probe_timeout_ms != DEFAULT
    }
}

/// A request of the extension, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// The client announces the version it speaks; the server answers with its own.
    QueryVersion {
        client_major: u32,
        client_minor: u32,
    },
    /// The requesting client asks to be watched, with its own deadlines and service name.
    Watch(WatchRequest),
    /// The requesting client asks not to be watched any more.
    Unwatch,
    /// The watched clients, with their state, ages and policy.
    ListClients,
    /// Version 1.2: the requesting client gets a `LifesignNotify` for each event of a kind in
    /// `mask` (bits `1 << kind`, [`crate::notify::Kind`]) of every watched client it may
    /// see; 0 stops them.
    SelectEvents { mask: u32 },
}

/// Why a request was refused. The module answers `Length` with BadLength, `UnknownOpcode`
/// with BadRequest, `Value` with BadValue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum RequestError {
    #[error("unknown minor opcode {0}")]
    UnknownOpcode(u8),
    #[error("request {minor} is {actual} bytes long; it must be {expected}")]
    Length {
        minor: u8,
        expected: usize,
        actual: usize,
    },
    /// A field out of its range (BadValue with this value).
    #[error("bad value {0}")]
    Value(u32),
}

const QUERY_VERSION_LEN: usize = 12;
const WATCH_FIXED_LEN: usize = 28;
/// A 1.1 Watch: the 1.0 fixed part, then the repaint probe's interval and timeout.
const WATCH_1_1_FIXED_LEN: usize = 36;
const EMPTY_LEN: usize = 4;
const SELECT_EVENTS_LEN: usize = 8;

impl Request {
    /// Decodes a request as the server holds it: `minor` is the minor opcode the dispatcher
    /// read from the header, `bytes` the whole request (header included) of the length the
    /// server computed from its length field, `order` the client's byte order.
    pub fn parse(minor: u8, bytes: &[u8], order: ByteOrder) -> Result<Self, RequestError> {
        match minor {
            opcode::QUERY_VERSION => {
                let body = exact(minor, bytes, QUERY_VERSION_LEN)?;
                Ok(Self::QueryVersion {
                    client_major: order.read_u32(word(body, 4)),
                    client_minor: order.read_u32(word(body, 8)),
                })
            }
            opcode::WATCH => {
                if bytes.len() < WATCH_FIXED_LEN {
                    return Err(RequestError::Length {
                        minor,
                        expected: WATCH_FIXED_LEN,
                        actual: bytes.len(),
                    });
                }
                let name_len = usize::from(order.read_u16([bytes[24], bytes[25]]));
                // The length tells the layout: 1.0's, or 1.1's with two words more before
                // the name (the two differ by 8 bytes for the same name, never equal).
                let fixed = if bytes.len() == WATCH_1_1_FIXED_LEN + padded(name_len) {
                    WATCH_1_1_FIXED_LEN
                } else {
                    exact(minor, bytes, WATCH_FIXED_LEN + padded(name_len))?;
                    WATCH_FIXED_LEN
                };
                if name_len > MAX_SERVICE_LEN {
                    return Err(RequestError::Value(name_len as u32));
                }
                let name = &bytes[fixed..fixed + name_len];
                let service = std::str::from_utf8(name)
                    .map_err(|_| RequestError::Value(name_len as u32))?
                    .to_owned();
                Ok(Self::Watch(WatchRequest {
                    idle_timeout_ms: order.read_u32(word(bytes, 4)),
                    expect_noop_ms: order.read_u32(word(bytes, 8)),
                    wm_ping_ms: order.read_u32(word(bytes, 12)),
                    transport_timeout_ms: order.read_u32(word(bytes, 16)),
                    flags: order.read_u32(word(bytes, 20)),
                    service,
                    repaint_probe_ms: if fixed == WATCH_1_1_FIXED_LEN {
                        order.read_u32(word(bytes, 28))
                    } else {
                        DEFAULT
                    },
                    repaint_probe_timeout_ms: if fixed == WATCH_1_1_FIXED_LEN {
                        order.read_u32(word(bytes, 32))
                    } else {
                        DEFAULT
                    },
                }))
            }
            opcode::UNWATCH => exact(minor, bytes, EMPTY_LEN).map(|_| Self::Unwatch),
            opcode::LIST_CLIENTS => exact(minor, bytes, EMPTY_LEN).map(|_| Self::ListClients),
            opcode::SELECT_EVENTS => {
                let body = exact(minor, bytes, SELECT_EVENTS_LEN)?;
                let mask = order.read_u32(word(body, 4));
                if mask & !crate::notify::ALL_KINDS != 0 {
                    return Err(RequestError::Value(mask));
                }
                Ok(Self::SelectEvents { mask })
            }
            other => Err(RequestError::UnknownOpcode(other)),
        }
    }

    /// Encodes the request for a client whose extension major opcode is `major_opcode`.
    pub fn encode(&self, major_opcode: u8, order: ByteOrder) -> Vec<u8> {
        match *self {
            Self::QueryVersion {
                client_major,
                client_minor,
            } => {
                let mut out = header(
                    major_opcode,
                    opcode::QUERY_VERSION,
                    QUERY_VERSION_LEN,
                    order,
                );
                out.extend_from_slice(&order.u32_bytes(client_major));
                out.extend_from_slice(&order.u32_bytes(client_minor));
                out
            }
            Self::Watch(ref w) => {
                let name = w.service.as_bytes();
                let fixed = if w.has_repaint() {
                    WATCH_1_1_FIXED_LEN
                } else {
                    WATCH_FIXED_LEN
                };
                let len = fixed + padded(name.len());
                let mut out = header(major_opcode, opcode::WATCH, len, order);
                for value in [
                    w.idle_timeout_ms,
                    w.expect_noop_ms,
                    w.wm_ping_ms,
                    w.transport_timeout_ms,
                    w.flags,
                ] {
                    out.extend_from_slice(&order.u32_bytes(value));
                }
                out.extend_from_slice(&order.u16_bytes(name.len() as u16));
                out.extend_from_slice(&[0, 0]);
                if w.has_repaint() {
                    out.extend_from_slice(&order.u32_bytes(w.repaint_probe_ms));
                    out.extend_from_slice(&order.u32_bytes(w.repaint_probe_timeout_ms));
                }
                out.extend_from_slice(name);
                out.resize(len, 0);
                out
            }
            Self::Unwatch => header(major_opcode, opcode::UNWATCH, EMPTY_LEN, order),
            Self::ListClients => header(major_opcode, opcode::LIST_CLIENTS, EMPTY_LEN, order),
            Self::SelectEvents { mask } => {
                let mut out = header(
                    major_opcode,
                    opcode::SELECT_EVENTS,
                    SELECT_EVENTS_LEN,
                    order,
                );
                out.extend_from_slice(&order.u32_bytes(mask));
                out
            }
        }
    }
}

/// The reply to ListClients: the watched clients as the JSON array of `lifesign status
/// --json` ([`crate::event::StatusEntry`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListClientsReply {
    pub json: String,
}

impl ListClientsReply {
    pub fn encode(&self, sequence: u16, order: ByteOrder) -> Vec<u8> {
        let body = self.json.as_bytes();
        let extra = padded(body.len());
        let mut out = vec![0u8; REPLY_LEN + extra];
        out[0] = 1;
        out[2..4].copy_from_slice(&order.u16_bytes(sequence));
        out[4..8].copy_from_slice(&order.u32_bytes((extra / 4) as u32));
        out[8..12].copy_from_slice(&order.u32_bytes(body.len() as u32));
        out[REPLY_LEN..REPLY_LEN + body.len()].copy_from_slice(body);
        out
    }

    pub fn parse(bytes: &[u8], order: ByteOrder) -> Result<Self, ReplyError> {
        reply_header(bytes)?;
        let len = order.read_u32(word(bytes, 8)) as usize;
        let end = REPLY_LEN.saturating_add(len);
        let body = bytes.get(REPLY_LEN..end).ok_or(ReplyError::Length {
            expected: end,
            actual: bytes.len(),
        })?;
        Ok(Self {
            json: String::from_utf8_lossy(body).into_owned(),
        })
    }
}

/// A reply's fixed 32 bytes are there and it is a reply, not an error or event.
fn reply_header(bytes: &[u8]) -> Result<(), ReplyError> {
    if bytes.len() < REPLY_LEN {
        return Err(ReplyError::Length {
            expected: REPLY_LEN,
            actual: bytes.len(),
        });
    }
    if bytes[0] != 1 {
        return Err(ReplyError::NotAReply(bytes[0]));
    }
    Ok(())
}

/// `len` rounded up to whole 4-byte units.
fn padded(len: usize) -> usize {
    len.div_ceil(4) * 4
}

/// The reply to QueryVersion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryVersionReply {
    pub major: u32,
    pub minor: u32,
}

/// Why a reply could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum ReplyError {
    #[error("reply is {actual} bytes long; it must be at least {expected}")]
    Length { expected: usize, actual: usize },
    #[error("not a reply (first byte {0})")]
    NotAReply(u8),
}

const REPLY_LEN: usize = 32;

impl QueryVersionReply {
    /// The 32-byte reply for the request with the given sequence number.
    pub fn encode(&self, sequence: u16, order: ByteOrder) -> [u8; REPLY_LEN] {
        let mut out = [0u8; REPLY_LEN];
        out[0] = 1; // X_Reply
        out[2..4].copy_from_slice(&order.u16_bytes(sequence));
        // out[4..8]: additional length 0.
        out[8..12].copy_from_slice(&order.u32_bytes(self.major));
        out[12..16].copy_from_slice(&order.u32_bytes(self.minor));
        out
    }

    /// Decodes the reply as a client receives it.
    pub fn parse(bytes: &[u8], order: ByteOrder) -> Result<Self, ReplyError> {
        reply_header(bytes)?;
        Ok(Self {
            major: order.read_u32(word(bytes, 8)),
            minor: order.read_u32(word(bytes, 12)),
        })
    }
}

fn exact(minor: u8, bytes: &[u8], expected: usize) -> Result<&[u8], RequestError> {
    if bytes.len() == expected {
        Ok(bytes)
    } else {
        Err(RequestError::Length {
            minor,
            expected,
            actual: bytes.len(),
        })
    }
}

/// The 4 bytes at `at`; callers have checked the length.
fn word(bytes: &[u8], at: usize) -> [u8; 4] {
    [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]
}

fn header(major_opcode: u8, minor: u8, len: usize, order: ByteOrder) -> Vec<u8> {
    let units = u16::try_from(len / 4).expect("LIFESIGN requests are short");
    let mut out = Vec::with_capacity(len);
    out.push(major_opcode);
    out.push(minor);
    out.extend_from_slice(&order.u16_bytes(units));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDERS: [ByteOrder; 2] = [ByteOrder::LsbFirst, ByteOrder::MsbFirst];

    #[test]
    fn both_spellings_of_the_name_agree() {
        assert_eq!(EXTENSION_NAME_C.to_str(), Ok(EXTENSION_NAME));
    }

    #[test]
    fn query_version_round_trips_in_both_orders() {
        for order in ORDERS {
            let req = Request::QueryVersion {
                client_major: 1,
                client_minor: 7,
            };
            let bytes = req.encode(140, order);
            assert_eq!(bytes.len(), 12);
            assert_eq!(order.read_u16([bytes[2], bytes[3]]), 3);
            assert_eq!(Request::parse(bytes[1], &bytes, order), Ok(req));
        }
    }

    #[test]
    fn query_version_of_wrong_length_is_refused() {
        let good = Request::QueryVersion {
            client_major: 1,
            client_minor: 0,
        }
        .encode(140, ByteOrder::native());
        for len in [0, 4, 8, 16, 262_140] {
            let mut bytes = good.clone();
            bytes.resize(len, 0);
            assert_eq!(
                Request::parse(opcode::QUERY_VERSION, &bytes, ByteOrder::native()),
                Err(RequestError::Length {
                    minor: 0,
                    expected: 12,
                    actual: len
                })
            );
        }
    }

    #[test]
    fn unknown_minor_opcode_is_refused_whatever_its_length() {
        for len in [0, 4, 12, 64] {
            assert_eq!(
                Request::parse(200, &vec![0; len], ByteOrder::native()),
                Err(RequestError::UnknownOpcode(200))
            );
        }
    }

    #[test]
    fn watch_round_trips_in_both_orders() {
        for order in ORDERS {
            for service in ["", "plant-view", "a", "abcd", "ünïcode"] {
                for (repaint, timeout) in [(DEFAULT, DEFAULT), (1000, DEFAULT), (0, 2500)] {
                    let req = Request::Watch(WatchRequest {
                        idle_timeout_ms: 3000,
                        expect_noop_ms: 0,
                        wm_ping_ms: DEFAULT,
                        transport_timeout_ms: 10_000,
                        flags: flags::HOST_SCOPE,
                        service: service.into(),
                        repaint_probe_ms: repaint,
                        repaint_probe_timeout_ms: timeout,
                    });
                    let bytes = req.encode(140, order);
                    assert_eq!(bytes.len() % 4, 0);
                    let fixed = if repaint == DEFAULT && timeout == DEFAULT {
                        28
                    } else {
                        36
                    };
                    assert_eq!(bytes.len(), fixed + service.len().div_ceil(4) * 4);
                    assert_eq!(Request::parse(opcode::WATCH, &bytes, order), Ok(req));
                }
            }
        }
    }

    #[test]
    fn watch_lengths_are_checked_before_anything_else() {
        let order = ByteOrder::native();
        let good = Request::Watch(WatchRequest {
            service: "svc".into(),
            ..WatchRequest::defaults()
        })
        .encode(140, order);
        assert_eq!(good.len(), 32);
        for len in [0, 4, 24, 28, 36] {
            let mut bytes = good.clone();
            bytes.resize(len, 0);
            assert!(
                matches!(
                    Request::parse(opcode::WATCH, &bytes, order),
                    Err(RequestError::Length { .. })
                ),
                "length {len}"
            );
        }
        // A name length that does not fit the request.
        let mut bytes = good.clone();
        bytes[24..26].copy_from_slice(&order.u16_bytes(200));
        assert!(matches!(
            Request::parse(opcode::WATCH, &bytes, order),
            Err(RequestError::Length { .. })
        ));
        // Not UTF-8.
        let mut bytes = good;
        bytes[28] = 0xff;
        assert_eq!(
            Request::parse(opcode::WATCH, &bytes, order),
            Err(RequestError::Value(3))
        );
    }

    #[test]
    fn a_service_name_longer_than_the_limit_is_a_bad_value() {
        let order = ByteOrder::native();
        let bytes = Request::Watch(WatchRequest {
            service: "x".repeat(MAX_SERVICE_LEN + 1),
            ..WatchRequest::defaults()
        })
        .encode(140, order);
        assert_eq!(
            Request::parse(opcode::WATCH, &bytes, order),
            Err(RequestError::Value(256))
        );
    }

    #[test]
    fn unwatch_and_list_are_bare_headers() {
        for order in ORDERS {
            for (req, minor) in [
                (Request::Unwatch, opcode::UNWATCH),
                (Request::ListClients, opcode::LIST_CLIENTS),
            ] {
                let bytes = req.encode(140, order);
                assert_eq!(bytes.len(), 4);
                assert_eq!(Request::parse(minor, &bytes, order), Ok(req));
                assert!(
                    Request::parse(minor, &[bytes.clone(), vec![0; 4]].concat(), order).is_err()
                );
                assert!(Request::parse(minor, &[], order).is_err());
            }
        }
    }

    #[test]
    fn list_reply_round_trips() {
        for order in ORDERS {
            for json in ["[]", "[{\"a\":1}]", "[12345]"] {
                let reply = ListClientsReply { json: json.into() };
                let bytes = reply.encode(7, order);
                assert_eq!(bytes.len() % 4, 0);
                assert_eq!(ListClientsReply::parse(&bytes, order), Ok(reply));
            }
        }
        let mut truncated = ListClientsReply {
            json: "[1,2,3]".into(),
        }
        .encode(7, ORDERS[0]);
        truncated.truncate(34);
        assert!(ListClientsReply::parse(&truncated, ORDERS[0]).is_err());
    }

    #[test]
    fn reply_round_trips_and_carries_the_sequence() {
        for order in ORDERS {
            let reply = QueryVersionReply { major: 1, minor: 0 };
            let bytes = reply.encode(0x1234, order);
            assert_eq!(bytes[0], 1);
            assert_eq!(order.read_u16([bytes[2], bytes[3]]), 0x1234);
            assert_eq!(&bytes[4..8], &[0; 4]);
            assert_eq!(QueryVersionReply::parse(&bytes, order), Ok(reply));
        }
    }

    #[test]
    fn short_or_error_replies_are_refused() {
        assert!(matches!(
            QueryVersionReply::parse(&[1; 31], ByteOrder::native()),
            Err(ReplyError::Length { .. })
        ));
        assert_eq!(
            QueryVersionReply::parse(&[0; 32], ByteOrder::native()),
            Err(ReplyError::NotAReply(0))
        );
    }

    #[test]
    fn select_events_round_trips_and_refuses_unknown_kinds_and_lengths() {
        for order in ORDERS {
            let req = Request::SelectEvents {
                mask: crate::notify::ALL_KINDS,
            };
            let bytes = req.encode(140, order);
            assert_eq!(bytes.len(), 8);
            assert_eq!(Request::parse(bytes[1], &bytes, order), Ok(req));
            let unknown = Request::SelectEvents { mask: 1 << 7 }.encode(140, order);
            assert_eq!(
                Request::parse(opcode::SELECT_EVENTS, &unknown, order),
                Err(RequestError::Value(1 << 7))
            );
            for len in [0, 4, 12] {
                let mut short = bytes.clone();
                short.resize(len, 0);
                assert!(matches!(
                    Request::parse(opcode::SELECT_EVENTS, &short, order),
                    Err(RequestError::Length { expected: 8, .. })
                ));
            }
        }
    }
}
