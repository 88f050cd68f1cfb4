//! How the X server cuts a client's byte stream into requests (`ReadRequestFromClient` in
//! xserver's os/io.c), so that the fuzzer knows for every byte it sends which request the
//! server will see, and can predict the answer to each.
//!
//! The rules, in 4-byte units, for a header whose 16-bit length field is `n`:
//! - `n > 0`: the request is `n` units.
//! - `n == 0` without BIG-REQUESTS: a 4-byte request the handler sees with length 0.
//! - `n == 0` with BIG-REQUESTS: a 32-bit length `L` follows, and the handler sees the
//!   header and the body after the extra length word, `L - 1` units:
//!   - `L == 0`: the server closes the connection;
//!   - `L` above the server's maximum: BadLength at once, and the `L * 4` bytes are skipped;
//!   - `L > MAXINT >> 2`: Xorg 21.1 (Debian 12) answers BadLength for ever, the same request
//!     again and again, at full speed and with its output buffer growing while the client
//!     does not read; later servers close the connection. A bug of the server with or
//!     without our module (docs/robustness.md shows it on a stock Xvfb), so the framer never
//!     sends such a length;
//!   - `L == 1`: the handler sees 0 units, and the server copies the 4-byte header over the
//!     length word, so that copy is the next request's header, followed by the next bytes.
//!
//! A request whose content is longer than its length field (a length that lies short)
//! leaves the rest to be read as the next request; one whose length field is longer
//! swallows what follows. The framer keeps the rest (`carry`) and fills what is swallowed,
//! so every byte on the wire belongs to exactly one request it knows about. It also keeps
//! every request the server dispatches a LIFESIGN request: it sets the first byte of each
//! header it has not sent yet to the extension's major opcode, since a stray core request
//! (KillClient, GrabServer...) would hit other clients by design of X, not by a fault of ours.

use lifesign_proto::ByteOrder;

/// Lengths above this (`MAXINT >> 2`) make Xorg 21.1 loop (see above): never sent.
pub const LAST_UNITS: u32 = 0x1FFF_FFFF;

/// Bytes the generator wants at the start of a request, header included.
pub struct Piece {
    pub bytes: Vec<u8>,
    /// Its 32-bit length was chosen on purpose (a big request above the maximum, whose
    /// bytes are sent in full); otherwise a length that would need megabytes of filler is
    /// cut down.
    pub deliberate: bool,
}

/// What the framer asks the generator for.
pub trait Source {
    /// The next request.
    fn piece(&mut self) -> Piece;
    /// `len` bytes a request swallows beyond its content.
    fn filler(&mut self, len: usize) -> Vec<u8>;
    /// A 32-bit length for a big request whose header has no room for one.
    fn big_length(&mut self) -> u32;
}

/// One request as the server reads it.
#[derive(Debug)]
pub enum Frame {
    /// Dispatched to the extension: `request` is what its handler sees (`req_len` units).
    Request {
        wire: Vec<u8>,
        minor: u8,
        request: Vec<u8>,
    },
    /// Above the server's maximum: BadLength from the dispatcher, the bytes skipped.
    TooBig { wire: Vec<u8> },
    /// The server closes the connection on reading it.
    Close { wire: Vec<u8> },
}

impl Frame {
    pub fn wire(&self) -> &[u8] {
        match self {
            Self::Request { wire, .. } | Self::TooBig { wire } | Self::Close { wire } => wire,
        }
    }
}

pub struct Framer {
    order: ByteOrder,
    /// The maximum request length in units, if BIG-REQUESTS is on.
    big: Option<u32>,
    major: u8,
    /// Bytes that start the next request.
    carry: Vec<u8>,
    /// How many leading bytes of `carry` are on the wire already (the server's header copy).
    carry_sent: usize,
}

impl Framer {
    pub fn new(order: ByteOrder, big: Option<u32>, major: u8) -> Self {
        Self {
            order,
            big,
            major,
            carry: Vec::new(),
            carry_sent: 0,
        }
    }

    /// True when the next request starts with the generator's next piece: bytes of our own
    /// (a sync request) may go on the wire here.
    pub fn at_boundary(&self) -> bool {
        self.carry.is_empty()
    }

    pub fn next(&mut self, source: &mut impl Source) -> Frame {
        let (mut buf, mut deliberate, sent) = if self.carry.is_empty() {
            let piece = source.piece();
            (piece.bytes, piece.deliberate, 0)
        } else {
            (std::mem::take(&mut self.carry), false, self.carry_sent)
        };
        self.carry_sent = 0;
        debug_assert!(buf.len() >= 4 && buf.len() % 4 == 0);
        if sent == 0 {
            buf[0] = self.major;
        }
        let n = self.order.read_u16([buf[2], buf[3]]);
        match (n, self.big) {
            (0, Some(max)) => {
                if buf.len() < 8 {
                    let chosen = source.big_length();
                    buf.truncate(4);
                    buf.extend_from_slice(&self.order.u32_bytes(chosen));
                    deliberate = true;
                }
                let mut units = self.order.read_u32([buf[4], buf[5], buf[6], buf[7]]);
                if !deliberate || units > LAST_UNITS {
                    units = affordable(units, max);
                    buf[4..8].copy_from_slice(&self.order.u32_bytes(units));
                }
                self.big_frame(buf, sent, units, max, source)
            }
            (0, None) => {
                let wire = self.cut(buf, 4, source);
                Frame::Request {
                    minor: wire[1],
                    wire,
                    request: Vec::new(),
                }
            }
            (n, _) => {
                let wire = self.cut(buf, usize::from(n) * 4, source);
                Frame::Request {
                    minor: wire[1],
                    request: wire.clone(),
                    wire,
                }
            }
        }
    }

    fn big_frame(
        &mut self,
        mut buf: Vec<u8>,
        sent: usize,
        units: u32,
        max: u32,
        source: &mut impl Source,
    ) -> Frame {
        if units == 0 {
            // Nothing after this is read: what the generator meant to follow is dropped.
            buf.truncate(8);
            return Frame::Close {
                wire: buf.split_off(sent),
            };
        }
        let len = units as usize * 4;
        if units > max {
            // Skipped unread: zeros cost nothing to make.
            if buf.len() > len {
                self.carry = buf.split_off(len);
            }
            buf.resize(len, 0);
            return Frame::TooBig {
                wire: buf.split_off(sent),
            };
        }
        if units == 1 {
            let minor = buf[1];
            let rest = buf.split_off(8);
            let mut carry = buf[..4].to_vec();
            carry.extend_from_slice(&rest);
            self.carry = carry;
            self.carry_sent = 4;
            return Frame::Request {
                wire: buf.split_off(sent),
                minor,
                request: Vec::new(),
            };
        }
        let mut whole = self.cut(buf, len, source);
        let mut request = whole[..4].to_vec();
        request.extend_from_slice(&whole[8..]);
        Frame::Request {
            minor: whole[1],
            request,
            wire: whole.split_off(sent),
        }
    }

    /// `buf` made exactly `len` bytes: the rest carried to the next request, or filler.
    fn cut(&mut self, mut buf: Vec<u8>, len: usize, source: &mut impl Source) -> Vec<u8> {
        if buf.len() > len {
            self.carry = buf.split_off(len);
        } else if buf.len() < len {
            let more = source.filler(len - buf.len());
            buf.extend_from_slice(&more);
        }
        buf
    }
}

/// A length found in random bytes, cut down when it would need more than 256 KiB of filler
/// (or the gigabytes a length above the maximum skips): a run of a million requests cannot
/// afford them by chance, only on purpose. Lengths the server loops on are cut down too.
/// What it is cut to may be 0 or 1, which are cases of their own.
fn affordable(units: u32, max: u32) -> u32 {
    const CAP: u32 = 1 << 16;
    if units <= CAP.min(max) {
        units
    } else {
        units % CAP
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAJOR: u8 = 140;
    const ORDER: ByteOrder = ByteOrder::LsbFirst;

    struct Fixed(Vec<Vec<u8>>, u32);

    impl Source for Fixed {
        fn piece(&mut self) -> Piece {
            Piece {
                bytes: self.0.remove(0),
                deliberate: false,
            }
        }
        fn filler(&mut self, len: usize) -> Vec<u8> {
            vec![0xEE; len]
        }
        fn big_length(&mut self) -> u32 {
            self.1
        }
    }

    fn header(minor: u8, n: u16) -> Vec<u8> {
        let [a, b] = ORDER.u16_bytes(n);
        vec![0, minor, a, b]
    }

    #[test]
    fn a_short_length_leaves_the_rest_as_the_next_request_with_our_opcode() {
        let mut piece = header(0, 1);
        piece.extend_from_slice(&[7, 9, 2, 0, 1, 2, 3, 4]); // 7 9: not our opcode
        let mut source = Fixed(vec![piece], 0);
        let mut framer = Framer::new(ORDER, None, MAJOR);
        let Frame::Request { wire, request, .. } = framer.next(&mut source) else {
            panic!()
        };
        assert_eq!(wire, vec![MAJOR, 0, 1, 0]);
        assert_eq!(request, wire);
        assert!(!framer.at_boundary());
        let Frame::Request { wire, minor, .. } = framer.next(&mut source) else {
            panic!()
        };
        assert_eq!((wire.len(), minor, wire[0]), (8, 9, MAJOR));
        assert!(framer.at_boundary());
    }

    #[test]
    fn a_long_length_swallows_filler() {
        let mut source = Fixed(vec![header(3, 3)], 0);
        let mut framer = Framer::new(ORDER, None, MAJOR);
        let frame = framer.next(&mut source);
        assert_eq!(frame.wire().len(), 12);
        assert_eq!(&frame.wire()[4..], &[0xEE; 8]);
        assert!(framer.at_boundary());
    }

    #[test]
    fn a_zero_length_is_four_bytes_the_handler_sees_empty() {
        let mut piece = header(0, 0);
        piece.extend_from_slice(&[1, 2, 3, 4]);
        let mut source = Fixed(vec![piece], 0);
        let mut framer = Framer::new(ORDER, None, MAJOR);
        let Frame::Request { wire, request, .. } = framer.next(&mut source) else {
            panic!()
        };
        assert_eq!((wire.len(), request.len()), (4, 0));
        assert!(!framer.at_boundary());
    }

    #[test]
    fn big_requests_drop_the_length_word_and_close_on_zero() {
        let mut piece = header(0, 0);
        piece.extend_from_slice(&ORDER.u32_bytes(4));
        piece.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
        let mut source = Fixed(vec![piece, header(2, 0)], 0);
        let mut framer = Framer::new(ORDER, Some(4_194_303), MAJOR);
        let Frame::Request { wire, request, .. } = framer.next(&mut source) else {
            panic!()
        };
        assert_eq!((wire.len(), request.len()), (16, 12));
        assert_eq!(&request[..4], &[MAJOR, 0, 0, 0]);
        // No room for the length word: the source picks it (0 here: the server closes).
        assert!(matches!(framer.next(&mut source), Frame::Close { wire } if wire.len() == 8));
    }

    #[test]
    fn a_big_length_of_one_makes_the_header_copy_the_next_header() {
        let mut piece = header(5, 0);
        piece.extend_from_slice(&ORDER.u32_bytes(1));
        piece.extend_from_slice(&ORDER.u32_bytes(3));
        piece.extend_from_slice(&[0; 4]);
        let mut source = Fixed(vec![piece], 0);
        let mut framer = Framer::new(ORDER, Some(4_194_303), MAJOR);
        let first = framer.next(&mut source);
        assert_eq!(first.wire().len(), 8);
        // The copy (not sent again) and the next 8 bytes: a big request of 3 units.
        let Frame::Request {
            wire,
            minor,
            request,
        } = framer.next(&mut source)
        else {
            panic!()
        };
        assert_eq!((wire.len(), minor, request.len()), (8, 5, 8));
        assert!(framer.at_boundary());
    }

    #[test]
    fn lengths_from_random_bytes_stay_affordable() {
        assert_eq!(affordable(3, 4_194_303), 3);
        assert_eq!(affordable(1 << 16, 4_194_303), 1 << 16);
        assert_eq!(affordable((1 << 16) + 5, 4_194_303), 5);
        assert_eq!(affordable(4_194_304, 4_194_303), 0);
        assert_eq!(affordable(LAST_UNITS + 1, 4_194_303), 0);
        assert_eq!(affordable(u32::MAX, 4_194_303), 0xFFFF);
    }
}
