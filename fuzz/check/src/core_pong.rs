//! A client's answer to `_NET_WM_PING` as the module reads it from a SendEvent request:
//! `core::parse_pong`.
//!
//! Input: the low bit of byte 0 is the client's byte order, bytes 1..9 the atoms
//! `WM_PROTOCOLS` and `_NET_WM_PING` (little-endian), the rest the request.

use crate::{order, swapped};
use lifesign_proto::core::{WmPing, opcode, parse_pong};

const SEND_EVENT_LEN: usize = 44;
/// Where the event starts in a SendEvent request.
const EVENT: usize = 12;

pub fn check(data: &[u8]) {
    if data.len() < 9 {
        return;
    }
    let order = order(data[0]);
    let atom = |at: usize| u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
    let (wm_protocols, net_wm_ping) = (atom(1), atom(5));
    let request = &data[9..];
    let pong = parse_pong(request, order, wm_protocols, net_wm_ping);
    let Some(pong) = pong else {
        return;
    };
    assert_eq!(request.len(), SEND_EVENT_LEN);
    assert_eq!(request[0], opcode::SEND_EVENT);
    // The answer carries the ping's own layout from its type on: what the server would send
    // for this timestamp and window, but for the window the event was sent to.
    let ping = WmPing {
        window: pong.window,
        timestamp: pong.timestamp,
        wm_protocols,
        net_wm_ping,
    }
    .event(0, order);
    assert_eq!(request[EVENT + 8..EVENT + 24], ping[8..24]);
    assert_eq!(request[EVENT] & 0x7f, ping[0]);
    assert_eq!(request[EVENT + 1], ping[1]);

    // A byte-swapped client's answer is the same answer: every CARD32 of the event swapped.
    let mut other = request.to_vec();
    for at in (EVENT + 4..SEND_EVENT_LEN).step_by(4) {
        other[at..at + 4].reverse();
    }
    assert_eq!(
        parse_pong(&other, swapped(order), wm_protocols, net_wm_ping),
        Some(pong)
    );
    // Sent by SendEvent or not (the event's top bit), it is the same answer.
    other[EVENT] ^= 0x80;
    assert_eq!(
        parse_pong(&other, swapped(order), wm_protocols, net_wm_ping),
        Some(pong)
    );
}
