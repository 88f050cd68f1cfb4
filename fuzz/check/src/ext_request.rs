//! LIFESIGN requests as the module decodes them: `Request::parse`, in both byte orders.
//!
//! Input: byte 0 is the minor opcode the dispatcher read, the low bit of byte 1 the client's
//! byte order, the rest the request as the server holds it (header included).

use crate::{order, swapped};
use lifesign_proto::ByteOrder;
use lifesign_proto::ext::{DEFAULT, MAX_SERVICE_LEN, Request, RequestError, opcode};

/// Any major opcode: the encoding must not depend on it.
const MAJOR: u8 = 140;

pub fn check(data: &[u8]) {
    let [minor, bit, bytes @ ..] = data else {
        return;
    };
    let (minor, order) = (*minor, order(*bit));
    let parsed = Request::parse(minor, bytes, order);
    match &parsed {
        Ok(request) => round_trip(request, minor, bytes, order),
        Err(RequestError::UnknownOpcode(m)) => {
            assert_eq!(*m, minor);
            assert!(minor > opcode::SELECT_EVENTS, "{minor} is a known opcode");
        }
        Err(RequestError::Length {
            minor: m,
            expected,
            actual,
        }) => {
            assert_eq!(*m, minor);
            assert_eq!(*actual, bytes.len(), "the length named is the request's");
            assert_ne!(expected, actual);
            assert_eq!(expected % 4, 0, "X requests are whole 4-byte units");
        }
        Err(RequestError::Value(v)) if minor == opcode::SELECT_EVENTS => {
            // A mask with a bit beyond the seven kinds, named whole.
            assert_eq!(*v, order.read_u32([bytes[4], bytes[5], bytes[6], bytes[7]]));
            assert_ne!(*v & !lifesign_proto::notify::ALL_KINDS, 0);
        }
        Err(RequestError::Value(v)) => {
            // Watch's values: it names the service name's length, which must be too long
            // or not UTF-8.
            assert_eq!(minor, opcode::WATCH);
            let name_len = order.read_u16([bytes[24], bytes[25]]);
            assert_eq!(*v, u32::from(name_len));
            // The name follows 1.0's 28 bytes, or 1.1's 36 (told by the length).
            let padded = usize::from(name_len).div_ceil(4) * 4;
            let fixed = if bytes.len() == 36 + padded { 36 } else { 28 };
            let name = &bytes[fixed..fixed + usize::from(name_len)];
            assert!(
                usize::from(name_len) > MAX_SERVICE_LEN || std::str::from_utf8(name).is_err(),
                "a good service name refused"
            );
        }
    }
    if minor != opcode::WATCH && minor != opcode::SELECT_EVENTS {
        // Without a length or value field of their own, these are refused or accepted
        // alike in either byte order.
        let other = Request::parse(minor, bytes, swapped(order));
        assert_eq!(other.is_ok(), parsed.is_ok());
    }
}

/// What parsed encodes to the same length, and parses back equal, in either byte order (a
/// byte-swapped client is served the same). A 1.1 Watch that asks for no repaint value of
/// its own means what a 1.0 Watch means, and encodes in 1.0's layout, 8 bytes shorter.
fn round_trip(request: &Request, minor: u8, bytes: &[u8], order: ByteOrder) {
    assert!(minor <= opcode::SELECT_EVENTS);
    let mut length = bytes.len();
    if let Request::Watch(w) = request {
        assert!(w.service.len() <= MAX_SERVICE_LEN);
        let padded = w.service.len().div_ceil(4) * 4;
        let no_repaint = w.repaint_probe_ms == DEFAULT && w.repaint_probe_timeout_ms == DEFAULT;
        if bytes.len() == 36 + padded && no_repaint {
            length = 28 + padded;
        }
    }
    for order in [order, swapped(order)] {
        let encoded = request.encode(MAJOR, order);
        assert_eq!(encoded.len(), length, "{request:?}");
        assert_eq!((encoded[0], encoded[1]), (MAJOR, minor));
        let units = order.read_u16([encoded[2], encoded[3]]);
        assert_eq!(usize::from(units) * 4, encoded.len(), "the length field");
        assert_eq!(
            Request::parse(minor, &encoded, order).as_ref(),
            Ok(request),
            "{encoded:?}"
        );
    }
}
