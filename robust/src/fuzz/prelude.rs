//! The requests every run sends first, whatever its seed: each minor opcode 0..=255, each
//! length field 0..=300 and the edges up to 65535, the BIG-REQUESTS lengths that are cases
//! of their own, and every single bit of each valid request flipped, in both byte orders.
//! The random part follows.

use super::valid::{self, Kind};
use lifesign_proto::ByteOrder;
use std::collections::VecDeque;

/// One request of the prelude.
#[derive(Clone, Copy, Debug)]
pub enum Spec {
    /// Minor opcode `minor`, length field `units`, random content.
    Sized { minor: u8, units: u16 },
    /// The BIG-REQUESTS form with 32-bit length `units`, random content; `Max` and `AboveMax`
    /// are the server's maximum and one more.
    Big { minor: u8, units: BigUnits },
    /// A valid request in the BIG-REQUESTS form.
    BigValid(Kind),
    /// A fixed valid request with bit `bit` flipped.
    Flip { kind: Kind, bit: usize },
}

#[derive(Clone, Copy, Debug)]
pub enum BigUnits {
    Exactly(u32),
    Max,
    AboveMax,
}

/// Requests sent on one kind of connection.
pub struct Phase {
    pub order: ByteOrder,
    pub big: bool,
    pub specs: VecDeque<Spec>,
}

const EDGES: [u16; 14] = [
    511, 512, 513, 1023, 1024, 1025, 4095, 4096, 16383, 16384, 32767, 32768, 65534, 65535,
];
/// The known minor opcodes and the first unknown one.
const MINORS: std::ops::RangeInclusive<u8> = 0..=4;

pub fn phases() -> Vec<Phase> {
    let mut phases = Vec::new();
    for order in [ByteOrder::LsbFirst, ByteOrder::MsbFirst] {
        phases.push(Phase {
            order,
            big: false,
            specs: plain().into(),
        });
    }
    for order in [ByteOrder::LsbFirst, ByteOrder::MsbFirst] {
        phases.push(Phase {
            order,
            big: true,
            specs: big().into(),
        });
    }
    phases
}

fn plain() -> Vec<Spec> {
    let mut specs = Vec::new();
    for minor in 0..=255 {
        for units in [0, 1, 2, 3, 7, 8] {
            specs.push(Spec::Sized { minor, units });
        }
    }
    for minor in MINORS {
        for units in (0..=300).chain(EDGES) {
            specs.push(Spec::Sized { minor, units });
        }
    }
    for kind in valid::KINDS {
        let bits = valid::fixed(kind, 0, ByteOrder::native()).len() * 8;
        // The first byte is the major opcode, which the framer keeps ours.
        for bit in 8..bits {
            specs.push(Spec::Flip { kind, bit });
        }
    }
    specs
}

fn big() -> Vec<Spec> {
    let mut specs: Vec<Spec> = valid::KINDS.into_iter().map(Spec::BigValid).collect();
    for minor in MINORS {
        for units in [
            1, 2, 3, 4, 5, 7, 8, 9, 16, 64, 256, 65535, 65536, 65537,
            // The server closes the connection on this: it costs a reconnect.
            0,
        ] {
            specs.push(Spec::Big {
                minor,
                units: BigUnits::Exactly(units),
            });
        }
    }
    // Once per byte order, on the connection the last `0` made anew. Above the maximum first:
    // the server refuses it without reading it, and names the request its client read last
    // (`client->requestBuffer`), which it does not update; after a huge request whose buffer
    // it then shrank (os/io.c, "free up some space after huge requests"), that pointer is
    // into freed memory and the server crashed (xserver-xorg-core 21.1.7, once in a suite run:
    // docs/robustness.md). On a new connection it still points into its live buffer.
    specs.push(Spec::Big {
        minor: 1,
        units: BigUnits::AboveMax,
    });
    // 16 MiB.
    specs.push(Spec::Big {
        minor: 0,
        units: BigUnits::Max,
    });
    specs
}
