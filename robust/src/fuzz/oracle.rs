//! What the server must answer to a LIFESIGN request, from docs/protocol.md and
//! docs/options.md alone. It is written apart from `lifesign-proto`'s parser on purpose: the
//! fuzzer checks the module against the documents, not against its own code.

use lifesign_proto::ByteOrder;

pub const BAD_REQUEST: u8 = 1;
pub const BAD_VALUE: u8 = 2;
pub const BAD_LENGTH: u8 = 16;
pub const BAD_IMPLEMENTATION: u8 = 17;

/// The name of an X error code, for the counts.
pub fn error_name(code: u8) -> String {
    match code {
        BAD_REQUEST => "Request".into(),
        BAD_VALUE => "Value".into(),
        BAD_LENGTH => "Length".into(),
        BAD_IMPLEMENTATION => "Implementation".into(),
        other => format!("code {other}"),
    }
}

/// The server's answer to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// No reply and no error. `watch` says how the request changes whether the connection
    /// is watched (`Some(true)`: a Watch that succeeds).
    Nothing { watch: Option<bool> },
    /// The QueryVersion reply, version 1.0.
    Version,
    /// The ListClients reply: a JSON array of watched clients.
    List,
    /// The reply to our own GetInputFocus, which ends a stretch of requests.
    Sync,
    /// An X error. `minor`: the request's minor opcode with our major opcode, or `None`
    /// when the dispatcher names a stale request (a request above the maximum length is
    /// refused before the server looks at it). `value`: a BadValue's value.
    Error {
        code: u8,
        minor: Option<u8>,
        value: Option<u32>,
    },
}

impl Expect {
    pub fn answered(self) -> bool {
        !matches!(self, Self::Nothing { .. })
    }
}

const MIN_DEADLINE_MS: u32 = 100;
const MIN_TRANSPORT_MS: u32 = 2_000;
const MAX_MS: u32 = 86_400_000; // 24 h
const DEFAULT: u32 = u32::MAX;
const HOST_SCOPE: u32 = 1;
/// SelectEvents' mask: one bit for each of the seven kinds of event.
const ALL_KINDS: u32 = 0x7f;

/// The answer to the LIFESIGN request `minor` whose bytes, as the handler sees them
/// (`req_len` units, header included), are `request`.
pub fn expect(minor: u8, request: &[u8], order: ByteOrder) -> Expect {
    let error = |code, value| Expect::Error {
        code,
        minor: Some(minor),
        value,
    };
    let exactly = |len: usize, then: Expect| {
        if request.len() == len {
            then
        } else {
            error(BAD_LENGTH, None)
        }
    };
    match minor {
        0 => exactly(12, Expect::Version),
        1 => match watch(request, order) {
            Ok(()) => Expect::Nothing { watch: Some(true) },
            Err(WatchError::Length) => error(BAD_LENGTH, None),
            Err(WatchError::Value(v)) => error(BAD_VALUE, Some(v)),
        },
        2 => exactly(4, Expect::Nothing { watch: Some(false) }),
        3 => exactly(4, Expect::List),
        // SelectEvents (1.2): a mask of the seven kinds.
        4 => match request {
            [_, _, _, _, a, b, c, d] => {
                let mask = order.read_u32([*a, *b, *c, *d]);
                if mask & !ALL_KINDS == 0 {
                    Expect::Nothing { watch: None }
                } else {
                    error(BAD_VALUE, Some(mask))
                }
            }
            _ => error(BAD_LENGTH, None),
        },
        _ => error(BAD_REQUEST, None),
    }
}

enum WatchError {
    Length,
    Value(u32),
}

/// Watch, checked in the order the protocol gives: the length (fixed part, then the name's
/// padded length), the name, the flags, then each deadline.
fn watch(request: &[u8], order: ByteOrder) -> Result<(), WatchError> {
    if request.len() < 28 {
        return Err(WatchError::Length);
    }
    let u32_at = |at: usize| {
        order.read_u32([
            request[at],
            request[at + 1],
            request[at + 2],
            request[at + 3],
        ])
    };
    let name_len = usize::from(order.read_u16([request[24], request[25]]));
    // 1.0: the name after 28 bytes; 1.1: after 36, the repaint probe's two words before it.
    let padded = name_len.div_ceil(4) * 4;
    let fixed = match request.len() {
        len if len == 28 + padded => 28,
        len if len == 36 + padded => 36,
        _ => return Err(WatchError::Length),
    };
    if name_len > 255 || std::str::from_utf8(&request[fixed..fixed + name_len]).is_err() {
        return Err(WatchError::Value(name_len as u32));
    }
    let flags = u32_at(20);
    if flags & !HOST_SCOPE != 0 {
        return Err(WatchError::Value(flags));
    }
    // In the order the server checks them: idle, NoOperation, ping, the repaint probe's
    // interval and timeout (1.1), transport.
    let mut deadlines = vec![
        (4, MIN_DEADLINE_MS),
        (8, MIN_DEADLINE_MS),
        (12, MIN_DEADLINE_MS),
    ];
    if fixed == 36 {
        deadlines.extend([(28, MIN_DEADLINE_MS), (32, MIN_DEADLINE_MS)]);
    }
    deadlines.push((16, MIN_TRANSPORT_MS));
    for (at, min) in deadlines {
        let ms = u32_at(at);
        if ms != 0 && ms != DEFAULT && !(min..=MAX_MS).contains(&ms) {
            return Err(WatchError::Value(ms));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDER: ByteOrder = ByteOrder::MsbFirst;

    fn watch_bytes(deadlines: [u32; 4], flags: u32, name: &[u8]) -> Vec<u8> {
        let mut out = vec![140, 1, 0, 0];
        for v in deadlines {
            out.extend_from_slice(&ORDER.u32_bytes(v));
        }
        out.extend_from_slice(&ORDER.u32_bytes(flags));
        out.extend_from_slice(&ORDER.u16_bytes(name.len() as u16));
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(name);
        out.resize(28 + name.len().div_ceil(4) * 4, 0);
        out
    }

    fn value(v: u32) -> Expect {
        Expect::Error {
            code: BAD_VALUE,
            minor: Some(1),
            value: Some(v),
        }
    }

    #[test]
    fn watch_values_follow_the_options_ranges() {
        let ok = Expect::Nothing { watch: Some(true) };
        let check = |d, f, n: &[u8]| expect(1, &watch_bytes(d, f, n), ORDER);
        assert_eq!(check([0, DEFAULT, 100, 2_000], 1, b"svc"), ok);
        assert_eq!(check([99, 0, 0, 0], 0, b""), value(99));
        assert_eq!(check([0, 0, 0, 1_999], 0, b""), value(1_999));
        assert_eq!(check([0, MAX_MS + 1, 0, 0], 0, b""), value(MAX_MS + 1));
        assert_eq!(check([99, 0, 0, 0], 2, b""), value(2), "flags come first");
        assert_eq!(check([0; 4], 0, &[0xFF, 0xFE]), value(2), "not UTF-8");
    }

    #[test]
    fn a_1_1_watch_carries_the_repaint_probe_before_its_name() {
        let mut bytes = watch_bytes([0, 0, 0, 0], 0, b"svc");
        let name = bytes.split_off(28);
        let with = |probe: u32, timeout: u32| {
            let mut b = bytes.clone();
            b.extend_from_slice(&ORDER.u32_bytes(probe));
            b.extend_from_slice(&ORDER.u32_bytes(timeout));
            b.extend_from_slice(&name);
            expect(1, &b, ORDER)
        };
        assert_eq!(with(1000, DEFAULT), Expect::Nothing { watch: Some(true) });
        assert_eq!(with(99, 0), value(99));
        assert_eq!(with(0, 50), value(50));
    }

    #[test]
    fn lengths_come_before_values() {
        let mut bytes = watch_bytes([99, 0, 0, 0], 0, b"abcde");
        bytes.truncate(32);
        assert_eq!(
            expect(1, &bytes, ORDER),
            Expect::Error {
                code: BAD_LENGTH,
                minor: Some(1),
                value: None
            }
        );
        assert_eq!(
            expect(0, &[], ORDER),
            Expect::Error {
                code: BAD_LENGTH,
                minor: Some(0),
                value: None
            }
        );
        assert_eq!(
            expect(200, &[], ORDER),
            Expect::Error {
                code: BAD_REQUEST,
                minor: Some(200),
                value: None
            }
        );
    }

    #[test]
    fn select_events_takes_a_mask_of_the_seven_kinds_in_8_bytes() {
        let select = |mask: u32| {
            let mut out = vec![140, 4, 0, 2];
            out.extend_from_slice(&ORDER.u32_bytes(mask));
            out
        };
        assert_eq!(
            expect(4, &select(0x7f), ORDER),
            Expect::Nothing { watch: None }
        );
        assert_eq!(
            expect(4, &select(0x80), ORDER),
            Expect::Error {
                code: BAD_VALUE,
                minor: Some(4),
                value: Some(0x80)
            }
        );
        for len in [0, 4, 12] {
            let mut short = select(1);
            short.resize(len, 0);
            assert_eq!(
                expect(4, &short, ORDER),
                Expect::Error {
                    code: BAD_LENGTH,
                    minor: Some(4),
                    value: None
                }
            );
        }
    }
}
