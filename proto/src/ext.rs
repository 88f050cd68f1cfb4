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
pub const MINOR_VERSION: u32 = 0;

/// Minor opcodes.
pub mod opcode {
    pub const QUERY_VERSION: u8 = 0;
}

/// A request of the extension, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// The client announces the version it speaks; the server answers with its own.
    QueryVersion {
        client_major: u32,
        client_minor: u32,
    },
}

/// Why a request was refused. The module answers `Length` with BadLength and `UnknownOpcode`
/// with BadRequest.
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
}

const QUERY_VERSION_LEN: usize = 12;

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
        }
    }
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
        if bytes.len() < REPLY_LEN {
            return Err(ReplyError::Length {
                expected: REPLY_LEN,
                actual: bytes.len(),
            });
        }
        if bytes[0] != 1 {
            return Err(ReplyError::NotAReply(bytes[0]));
        }
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
}
