//! The core-protocol messages the module reads or writes itself: `_NET_WM_PING` (EWMH) as
//! the ClientMessage event the server sends, and the client's answer, a SendEvent request.

use crate::ByteOrder;

/// Core request opcodes the module looks at.
pub mod opcode {
    pub const SEND_EVENT: u8 = 25;
    pub const KILL_CLIENT: u8 = 113;
    pub const NO_OPERATION: u8 = 127;
}

const CLIENT_MESSAGE: u8 = 33;
/// The core Expose event code.
const EXPOSE: u8 = 12;
const SEND_EVENT_LEN: usize = 44;

/// A `_NET_WM_PING` sent to `window`, with `timestamp` for the client to echo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WmPing {
    pub window: u32,
    pub timestamp: u32,
    /// The atoms `WM_PROTOCOLS` and `_NET_WM_PING` of this server generation.
    pub wm_protocols: u32,
    pub net_wm_ping: u32,
}

impl WmPing {
    /// The ClientMessage event, as 32 bytes in `order` (the server's own order for
    /// WriteEventsToClient, which swaps for swapped clients itself).
    pub fn event(&self, sequence: u16, order: ByteOrder) -> [u8; 32] {
        let mut e = [0u8; 32];
        e[0] = CLIENT_MESSAGE;
        e[1] = 32;
        e[2..4].copy_from_slice(&order.u16_bytes(sequence));
        e[4..8].copy_from_slice(&order.u32_bytes(self.window));
        e[8..12].copy_from_slice(&order.u32_bytes(self.wm_protocols));
        e[12..16].copy_from_slice(&order.u32_bytes(self.net_wm_ping));
        e[16..20].copy_from_slice(&order.u32_bytes(self.timestamp));
        e[20..24].copy_from_slice(&order.u32_bytes(self.window));
        e
    }
}

/// The repaint probe: an Expose of one pixel at the window's top-left corner, the last of
/// its series (count 0), as the server itself sends when part of a window is exposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RepaintProbe {
    pub window: u32,
}

impl RepaintProbe {
    /// The Expose event, as 32 bytes in `order` (the server's own order for
    /// WriteEventsToClient, which swaps for swapped clients itself).
    pub fn event(&self, sequence: u16, order: ByteOrder) -> [u8; 32] {
        let mut e = [0u8; 32];
        e[0] = EXPOSE;
        e[2..4].copy_from_slice(&order.u16_bytes(sequence));
        e[4..8].copy_from_slice(&order.u32_bytes(self.window));
        // x, y: 0, 0; width, height: 1, 1; count: 0.
        e[12..14].copy_from_slice(&order.u16_bytes(1));
        e[14..16].copy_from_slice(&order.u16_bytes(1));
        e
    }
}

/// A client's answer to a `_NET_WM_PING`: the timestamp it echoes and the window it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pong {
    pub timestamp: u32,
    pub window: u32,
}

/// Reads a SendEvent request (raw, in the client's byte order): `Some` if it carries a
/// `_NET_WM_PING` answer. Anything else, including a request of the wrong length, is `None`
/// and left to the server.
pub fn parse_pong(
    request: &[u8],
    order: ByteOrder,
    wm_protocols: u32,
    net_wm_ping: u32,
) -> Option<Pong> {
    if request.len() != SEND_EVENT_LEN || request[0] != opcode::SEND_EVENT {
        return None;
    }
    let event: &[u8; 32] = request[12..].try_into().ok()?;
    parse_pong_event(event, order, wm_protocols, net_wm_ping)
}

/// Reads the 32-byte event of a SendEvent (in `order`; the server hands its own order to
/// XACE's send-access hook): `Some` if it is a `_NET_WM_PING` answer.
pub fn parse_pong_event(
    event: &[u8; 32],
    order: ByteOrder,
    wm_protocols: u32,
    net_wm_ping: u32,
) -> Option<Pong> {
    let word = |at: usize| order.read_u32([event[at], event[at + 1], event[at + 2], event[at + 3]]);
    let is_ping_answer = event[0] & 0x7f == CLIENT_MESSAGE
        && event[1] == 32
        && word(8) == wm_protocols
        && word(12) == net_wm_ping;
    is_ping_answer.then(|| Pong {
        timestamp: word(16),
        window: word(20),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDERS: [ByteOrder; 2] = [ByteOrder::LsbFirst, ByteOrder::MsbFirst];

    #[test]
    fn the_repaint_probe_is_an_expose_of_one_pixel_at_the_corner() {
        for order in ORDERS {
            let e = RepaintProbe { window: 0x40_0007 }.event(0x1234, order);
            assert_eq!(e[0], 12, "Expose, not marked as sent by a client");
            assert_eq!(order.read_u16([e[2], e[3]]), 0x1234);
            assert_eq!(order.read_u32([e[4], e[5], e[6], e[7]]), 0x40_0007);
            let field = |i: usize| order.read_u16([e[i], e[i + 1]]);
            assert_eq!((field(8), field(10), field(12), field(14)), (0, 0, 1, 1));
            assert_eq!(field(16), 0, "count 0: the last of its series");
        }
    }

    /// A SendEvent request as a client answering the ping writes it: the event sent back to
    /// the root window, everything else unchanged.
    fn answer(ping: &WmPing, order: ByteOrder, root: u32) -> Vec<u8> {
        let mut event = ping.event(0, order);
        event[4..8].copy_from_slice(&order.u32_bytes(root));
        let mut req = vec![opcode::SEND_EVENT, 0];
        req.extend_from_slice(&order.u16_bytes(11));
        req.extend_from_slice(&order.u32_bytes(root));
        req.extend_from_slice(&order.u32_bytes(0x18_0000)); // SubstructureNotify|Redirect
        req.extend_from_slice(&event);
        req
    }

    fn ping() -> WmPing {
        WmPing {
            window: 0x0040_0001,
            timestamp: 0x1234_5678,
            wm_protocols: 300,
            net_wm_ping: 301,
        }
    }

    #[test]
    fn the_echo_of_a_ping_is_recognised_in_both_orders() {
        for order in ORDERS {
            let req = answer(&ping(), order, 0x2a5);
            assert_eq!(
                parse_pong(&req, order, 300, 301),
                Some(Pong {
                    timestamp: 0x1234_5678,
                    window: 0x0040_0001
                })
            );
        }
    }

    #[test]
    fn the_event_is_a_client_message_with_the_ewmh_layout() {
        let e = ping().event(9, ByteOrder::LsbFirst);
        assert_eq!((e[0], e[1]), (33, 32));
        assert_eq!(u16::from_le_bytes([e[2], e[3]]), 9);
        assert_eq!(u32::from_le_bytes([e[12], e[13], e[14], e[15]]), 301);
    }

    #[test]
    fn other_send_events_are_not_answers() {
        let order = ByteOrder::native();
        let good = answer(&ping(), order, 1);
        let mut other_atom = good.clone();
        other_atom[24..28].copy_from_slice(&order.u32_bytes(999));
        assert_eq!(parse_pong(&other_atom, order, 300, 301), None);
        let mut other_type = good.clone();
        other_type[12] = 2;
        assert_eq!(parse_pong(&other_type, order, 300, 301), None);
        for len in [0, 4, 43, 45] {
            let mut bytes = good.clone();
            bytes.resize(len, 0);
            assert_eq!(parse_pong(&bytes, order, 300, 301), None, "length {len}");
        }
    }
}
