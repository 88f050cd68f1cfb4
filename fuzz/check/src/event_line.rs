//! The lines between the module and the launcher: the launcher's `wire::parse_line`, serde of
//! `Event` as the contract defines it, and the module's reading of acks
//! (`event::parse_reply`).
//!
//! Input: one line, without its newline.

use lifesign_launcher::wire::{MAX_LINE, WireError, ack_line, parse_line};
use lifesign_proto::event::{Event, VERSION, parse_reply};

pub fn check(data: &[u8]) {
    launcher_reads(data);
    contract_serde(data);
    module_reads_ack(data);
}

fn launcher_reads(data: &[u8]) {
    match parse_line(data) {
        Ok(event) => {
            assert_eq!(event.v, VERSION);
            let line = event.to_line();
            assert!(!line.contains('\n'), "an event is one line: {line}");
            assert_eq!(parse_line(line.as_bytes()).as_ref(), Ok(&event), "{line}");
            // The launcher's reading is the contract's.
            if let Ok(direct) = serde_json::from_slice::<Event>(data) {
                assert_eq!(direct, event);
            }
        }
        Err(e) => {
            // The reason is logged: one line, whatever the peer sent, and nothing a terminal
            // would act on (fuzz/regressions/event_line/: serde quotes an unknown variant).
            let reason = e.to_string();
            assert!(!reason.contains(char::is_control), "{reason:?}");
            match e {
                WireError::TooLong => assert!(data.len() > MAX_LINE),
                WireError::NotUtf8 => assert!(std::str::from_utf8(data).is_err()),
                // A malformed line's type is one of the contract's (`EventType`) by its type.
                WireError::Malformed { .. }
                | WireError::NotJson(_)
                | WireError::Version(_)
                | WireError::UnknownType(_) => {}
            }
        }
    }
}

/// What deserializes as an `Event` serializes to a line that deserializes to the same.
fn contract_serde(data: &[u8]) {
    let Ok(event) = serde_json::from_slice::<Event>(data) else {
        return;
    };
    let line = event.to_line();
    let again: Event = serde_json::from_str(&line).expect("a serialized event parses");
    assert_eq!(again, event, "{line}");
    // The launcher takes it, unless it is over the launcher's bound: the module's own lines
    // never are (`ClientInfo::text`), but a peer's JSON can say anything.
    if line.len() > MAX_LINE {
        assert_eq!(parse_line(line.as_bytes()), Err(WireError::TooLong));
    } else if event.v == VERSION {
        assert_eq!(parse_line(line.as_bytes()), Ok(event));
    }
}

/// An ack the module takes is one the launcher could have written.
fn module_reads_ack(data: &[u8]) {
    let Some(seq) = parse_reply(data) else {
        return;
    };
    let ack = ack_line(seq);
    assert_eq!(parse_reply(ack.trim_end().as_bytes()), Some(seq));
}
