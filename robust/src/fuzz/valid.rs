//! Well-formed LIFESIGN requests, random or fixed: what the fuzzer sends as it is, mutates,
//! or gives a lying length.

use crate::rng::Rng;
use lifesign_proto::ByteOrder;
use lifesign_proto::ext::{self, Request, WatchRequest};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    QueryVersion,
    Watch,
    Unwatch,
    ListClients,
    SelectEvents,
}

pub const KINDS: [Kind; 5] = [
    Kind::QueryVersion,
    Kind::Watch,
    Kind::Unwatch,
    Kind::ListClients,
    Kind::SelectEvents,
];

/// A fixed request of each kind, for the walk of single bit flips.
pub fn fixed(kind: Kind, major: u8, order: ByteOrder) -> Vec<u8> {
    let request = match kind {
        Kind::QueryVersion => Request::QueryVersion {
            client_major: 1,
            client_minor: 0,
        },
        Kind::Watch => Request::Watch(WatchRequest {
            idle_timeout_ms: 3_000,
            expect_noop_ms: ext::DEFAULT,
            wm_ping_ms: 0,
            transport_timeout_ms: 10_000,
            flags: 0,
            service: "robust-ü".into(),
            repaint_probe_ms: 1_000,
            repaint_probe_timeout_ms: ext::DEFAULT,
        }),
        Kind::Unwatch => Request::Unwatch,
        Kind::ListClients => Request::ListClients,
        Kind::SelectEvents => Request::SelectEvents {
            mask: lifesign_proto::notify::ALL_KINDS,
        },
    };
    request.encode(major, order)
}

/// A random well-formed request of `kind`.
pub fn random(rng: &mut Rng, kind: Kind, major: u8, order: ByteOrder) -> Vec<u8> {
    let request = match kind {
        Kind::QueryVersion => Request::QueryVersion {
            client_major: small_or_any(rng),
            client_minor: small_or_any(rng),
        },
        Kind::Watch => Request::Watch(WatchRequest {
            idle_timeout_ms: deadline(rng, 100),
            expect_noop_ms: deadline(rng, 100),
            wm_ping_ms: deadline(rng, 100),
            transport_timeout_ms: deadline(rng, 2_000),
            flags: rng.pick(&[0, ext::flags::HOST_SCOPE]),
            service: service(rng),
            repaint_probe_ms: deadline(rng, 100),
            repaint_probe_timeout_ms: deadline(rng, 100),
        }),
        Kind::Unwatch => Request::Unwatch,
        Kind::ListClients => Request::ListClients,
        Kind::SelectEvents => Request::SelectEvents {
            mask: rng.below(u64::from(lifesign_proto::notify::ALL_KINDS) + 1) as u32,
        },
    };
    request.encode(major, order)
}

/// `request` (4-byte header, then its body) in the BIG-REQUESTS form: length field 0, then
/// a 32-bit length that counts the extra word.
pub fn big_form(request: &[u8], units: u32, order: ByteOrder) -> Vec<u8> {
    let mut out = vec![request[0], request[1], 0, 0];
    out.extend_from_slice(&order.u32_bytes(units));
    out.extend_from_slice(&request[4..]);
    out
}

/// Version numbers: mostly small, as clients send them; sometimes anything.
fn small_or_any(rng: &mut Rng) -> u32 {
    if rng.chance(3, 4) {
        rng.below(4) as u32
    } else {
        rng.next_u32()
    }
}

/// A deadline the server accepts: off, the server's, an edge of the range, or within it.
fn deadline(rng: &mut Rng, min: u32) -> u32 {
    const MAX: u32 = 86_400_000;
    match rng.below(6) {
        0 => 0,
        1 => ext::DEFAULT,
        2 => min,
        3 => MAX,
        _ => rng.range(u64::from(min), u64::from(MAX)) as u32,
    }
}

/// A service name of up to 255 bytes of UTF-8, with characters of one to four bytes.
fn service(rng: &mut Rng) -> String {
    const CHARS: [char; 8] = ['a', 'z', '-', '0', 'ü', '€', '𝄞', ' '];
    let budget = match rng.below(4) {
        0 => 0,
        1 => 255,
        _ => rng.below(256) as usize,
    };
    let mut name = String::new();
    loop {
        let c = rng.pick(&CHARS);
        if name.len() + c.len_utf8() > budget {
            return name;
        }
        name.push(c);
    }
}
