//! The requests of one fuzzing connection: the prelude's, then random ones of five kinds —
//! valid, valid with bits flipped, random minor opcode and length, valid with a length that
//! lies, and (with BIG-REQUESTS on) the 32-bit length form.

use super::frame::{Piece, Source};
use super::prelude::{BigUnits, Spec};
use super::valid::{self, KINDS, Kind};
use crate::rng::Rng;
use lifesign_proto::ByteOrder;
use lifesign_proto::ext::{self, Request};
use std::collections::VecDeque;

pub struct Generator<'a> {
    rng: &'a mut Rng,
    major: u8,
    order: ByteOrder,
    /// The server's maximum request length in units, when BIG-REQUESTS is on.
    big: Option<u32>,
    /// What the prelude still has for this kind of connection; `None`: random requests.
    specs: Option<&'a mut VecDeque<Spec>>,
    /// A Watch succeeded: the next request is an Unwatch, so that the connection does not
    /// stay watched with random deadlines (it would be lost for real while we check).
    pub unwatch_due: bool,
}

impl<'a> Generator<'a> {
    pub fn new(
        rng: &'a mut Rng,
        major: u8,
        order: ByteOrder,
        big: Option<u32>,
        specs: Option<&'a mut VecDeque<Spec>>,
    ) -> Self {
        Self {
            rng,
            major,
            order,
            big,
            specs,
            unwatch_due: false,
        }
    }

    /// The prelude's part for this connection is done.
    pub fn exhausted(&self) -> bool {
        self.specs.as_ref().is_some_and(|s| s.is_empty())
    }

    fn spec(&mut self, spec: Spec) -> Piece {
        let (major, order) = (self.major, self.order);
        let bytes = match spec {
            Spec::Sized { minor, units } => {
                let mut bytes = vec![major, minor];
                bytes.extend_from_slice(&order.u16_bytes(units));
                bytes
            }
            Spec::Big { minor, units } => {
                let max = self.big.expect("a big phase has BIG-REQUESTS");
                let units = match units {
                    BigUnits::Exactly(u) => u,
                    BigUnits::Max => max,
                    BigUnits::AboveMax => max + 1,
                };
                return big_piece(major, minor, units, order);
            }
            Spec::BigValid(kind) => {
                let request = valid::random(self.rng, kind, major, order);
                let units = (request.len() / 4 + 1) as u32;
                valid::big_form(&request, units, order)
            }
            Spec::Flip { kind, bit } => {
                let mut bytes = valid::fixed(kind, major, order);
                bytes[bit / 8] ^= 1 << (bit % 8);
                bytes
            }
        };
        Piece {
            bytes,
            deliberate: true,
        }
    }

    fn random_piece(&mut self) -> Piece {
        let kind = self.rng.pick(&KINDS);
        let bytes = match self.rng.below(100) {
            0..20 => {
                let request = valid::random(self.rng, kind, self.major, self.order);
                match self.big {
                    Some(_) if self.rng.chance(1, 3) => {
                        let units = (request.len() / 4 + 1) as u32;
                        valid::big_form(&request, units, self.order)
                    }
                    _ => request,
                }
            }
            20..55 => {
                let mut request = valid::random(self.rng, kind, self.major, self.order);
                mutate(self.rng, &mut request, self.order);
                request
            }
            55..70 => self.random_minor(),
            90.. if self.big.is_some() => return self.big_random(kind),
            _ => {
                let mut request = valid::random(self.rng, kind, self.major, self.order);
                let units = lie(self.rng, request.len() / 4);
                request[2..4].copy_from_slice(&self.order.u16_bytes(units));
                request
            }
        };
        Piece {
            bytes,
            deliberate: false,
        }
    }

    /// A minor opcode (half of the time one of the five known ones), a length field and
    /// random content.
    fn random_minor(&mut self) -> Vec<u8> {
        let minor = if self.rng.chance(1, 2) {
            self.rng.below(5) as u8
        } else {
            self.rng.below(256) as u8
        };
        let units = match self.rng.below(100) {
            0..10 => 0,
            10..60 => self.rng.range(1, 8),
            60..90 => self.rng.range(9, 80),
            90..99 => self.rng.range(81, 1024),
            _ => self.rng.range(1025, 65535),
        } as u16;
        let mut bytes = vec![self.major, minor];
        bytes.extend_from_slice(&self.order.u16_bytes(units));
        let body = usize::from(units).saturating_sub(1) * 4;
        bytes.extend_from_slice(&self.rng.bytes(body.min(4096)));
        bytes
    }

    /// The BIG-REQUESTS form: a valid request with its length or a lie, the header copy
    /// (length 1), a short random one, and rarely the length that closes the connection (0).
    /// Not one above the maximum: the server's own use of a freed buffer after such a request
    /// (see `prelude::big`) would crash it now and then; the prelude sends it where it is safe.
    fn big_random(&mut self, kind: Kind) -> Piece {
        debug_assert!(self.big.is_some(), "big requests are on");
        let request = valid::random(self.rng, kind, self.major, self.order);
        let natural = (request.len() / 4 + 1) as u32;
        let units = match self.rng.below(10_000) {
            0..=200 => 0,
            201..=1200 => 1,
            1201..=3200 => self.rng.range(2, 16) as u32,
            3201..=6000 => {
                let by = self.rng.range(1, 3) as u32;
                if self.rng.chance(1, 2) {
                    natural + by
                } else {
                    natural.saturating_sub(by).max(2)
                }
            }
            _ => natural,
        };
        let minor = if self.rng.chance(1, 5) {
            self.rng.below(256) as u8
        } else {
            request[1]
        };
        let mut bytes = valid::big_form(&request, units, self.order);
        bytes[1] = minor;
        Piece {
            bytes,
            deliberate: true,
        }
    }
}

impl Source for Generator<'_> {
    fn piece(&mut self) -> Piece {
        if self.unwatch_due {
            self.unwatch_due = false;
            return Piece {
                bytes: Request::Unwatch.encode(self.major, self.order),
                deliberate: false,
            };
        }
        if let Some(spec) = self.specs.as_mut().and_then(|s| s.pop_front()) {
            return self.spec(spec);
        }
        self.random_piece()
    }

    /// What a request swallows: valid requests (the next requests of a client whose length
    /// lied) or random bytes; zeros past 64 KiB, which cost nothing to make.
    fn filler(&mut self, len: usize) -> Vec<u8> {
        let mut out = if len > 1 << 16 {
            vec![0; len]
        } else if self.rng.chance(1, 2) {
            let kind = self.rng.pick(&KINDS);
            valid::random(self.rng, kind, self.major, self.order)
                .into_iter()
                .cycle()
                .take(len)
                .collect()
        } else {
            self.rng.bytes(len)
        };
        out.truncate(len);
        out
    }

    fn big_length(&mut self) -> u32 {
        match self.rng.below(50) {
            0 => 0,
            1..=5 => 1,
            _ => self.rng.range(2, 16) as u32,
        }
    }
}

/// A big request of `units` with nothing after its length word: the framer fills it.
fn big_piece(major: u8, minor: u8, units: u32, order: ByteOrder) -> Piece {
    let mut bytes = vec![major, minor, 0, 0];
    bytes.extend_from_slice(&order.u32_bytes(units));
    Piece {
        bytes,
        deliberate: true,
    }
}

/// A length field that is not `natural`: a few units short or long, 0, 1, 2, small or the
/// largest.
fn lie(rng: &mut Rng, natural: usize) -> u16 {
    let natural = natural as u64;
    let units = match rng.below(20) {
        0..=5 => natural.saturating_sub(rng.range(1, 4)),
        6..=11 => natural + rng.range(1, 4),
        12 => 0,
        13 => 1,
        14 => 2,
        15..=18 => rng.below(65),
        _ => rng.pick(&[0x7FFF, 0x8000, 0xFFFF]),
    };
    if units == natural {
        (units + 1) as u16
    } else {
        units as u16
    }
}

/// Bits flipped, or bytes and words set to values at the edges of the protocol's ranges.
fn mutate(rng: &mut Rng, request: &mut [u8], order: ByteOrder) {
    const BYTES: [u8; 6] = [0, 0x01, 0x7F, 0x80, 0xFE, 0xFF];
    const WORDS: [u32; 10] = [
        0,
        1,
        99,
        100,
        1_999,
        2_000,
        86_400_000,
        86_400_001,
        ext::DEFAULT - 1,
        ext::DEFAULT,
    ];
    let bits = request.len() * 8;
    match rng.below(10) {
        0..=5 => {
            for _ in 0..rng.pick(&[1, 1, 1, 2, 2, 3, 4, 8, 16]) {
                let bit = rng.below(bits as u64) as usize;
                request[bit / 8] ^= 1 << (bit % 8);
            }
        }
        6..=7 => {
            let at = rng.below(request.len() as u64) as usize;
            request[at] = rng.pick(&BYTES);
        }
        _ => {
            let at = rng.below(request.len() as u64 / 4) as usize * 4;
            request[at..at + 4].copy_from_slice(&order.u32_bytes(rng.pick(&WORDS)));
        }
    }
}
