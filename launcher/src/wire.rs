//! What the launcher accepts on its socket, line by line, and what it answers.
//!
//! A line that breaks the protocol closes its connection: the reason is logged by the caller,
//! and nothing in the line is acted on.

use lifesign_proto::event::{Event, EventType, VERSION};
use serde_json::Value;

/// The longest line accepted, newline excluded. The module's lines are a few hundred bytes;
/// the bound leaves room for long command lines and stops a peer from making us buffer
/// without end.
pub const MAX_LINE: usize = 64 * 1024;

/// Why a line was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("line longer than {MAX_LINE} bytes")]
    TooLong,
    #[error("line is not UTF-8")]
    NotUtf8,
    #[error("invalid JSON: {0}")]
    NotJson(String),
    #[error("version {0} (this launcher speaks version {VERSION})")]
    Version(String),
    #[error("unknown type {0}")]
    UnknownType(String),
    #[error("malformed {kind} message: {error}")]
    Malformed { kind: EventType, error: String },
}

/// One line (without its newline) as an event of the contract.
pub fn parse_line(line: &[u8]) -> Result<Event, WireError> {
    if line.len() > MAX_LINE {
        return Err(WireError::TooLong);
    }
    let text = std::str::from_utf8(line).map_err(|_| WireError::NotUtf8)?;
    let value: Value =
        serde_json::from_str(text).map_err(|e| WireError::NotJson(one_line(&e.to_string())))?;
    match value.get("v") {
        Some(v) if v.as_u64() == Some(u64::from(VERSION)) => {}
        other => {
            return Err(WireError::Version(other.map_or_else(
                || "missing".to_owned(),
                |v| one_line(&v.to_string()),
            )));
        }
    }
    let named = value.get("type");
    let Some(kind) = named.and_then(Value::as_str).and_then(EventType::from_name) else {
        return Err(WireError::UnknownType(named.map_or_else(
            || "missing".to_owned(),
            |t| one_line(&t.to_string()),
        )));
    };
    serde_json::from_value(value).map_err(|e| WireError::Malformed {
        kind,
        error: one_line(&e.to_string()),
    })
}

/// A message for the log, where the caller writes it, made of what the peer sent. serde
/// quotes an unknown variant as sent, decoded: a `\n` in it would end the log line and let
/// the peer write lines of its own (a forged "started candidate"), an ESC would reach the
/// operator's terminal; JSON itself leaves DEL and the C1 controls (CSI among them)
/// unescaped. Control characters are escaped (found by fuzzing: fuzz/regressions/event_line/).
pub fn one_line(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for c in message.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

pub use lifesign_proto::event::ack_line;

#[cfg(test)]
mod tests {
    use super::*;
    use lifesign_proto::event::{Body, parse_reply};

    const LOST: &str = r#"{"v":1,"seq":7,"at_ms":1,"type":"lost","reason":"idle-timeout","silent_ms":3012,"client":{"id":"0x00a00000","index":5,"transport":"tcp","peer":"10.1.2.3:51234","pid":null,"command":null,"service":null,"wm_class":["xclock","XClock"]}}"#;

    #[test]
    fn the_contracts_lines_are_accepted() {
        let event = parse_line(LOST.as_bytes()).unwrap();
        assert_eq!(event.seq, 7);
        assert!(matches!(event.body, Body::Lost { .. }));
        let hello = r#"{"v":1,"seq":1,"at_ms":1,"type":"hello","server":{"display":":0","pid":9,"started_ms":5}}"#;
        assert!(matches!(
            parse_line(hello.as_bytes()).unwrap().body,
            Body::Hello { .. }
        ));
    }

    #[test]
    fn each_breach_has_its_reason() {
        let long = vec![b'x'; MAX_LINE + 1];
        assert_eq!(parse_line(&long), Err(WireError::TooLong));
        assert_eq!(parse_line(b"\xff\xfe"), Err(WireError::NotUtf8));
        assert!(matches!(
            parse_line(b"{not json"),
            Err(WireError::NotJson(_))
        ));
        assert!(matches!(parse_line(b"[1,2]"), Err(WireError::Version(_))));
        let v2 = LOST.replace(r#""v":1"#, r#""v":2"#);
        assert_eq!(
            parse_line(v2.as_bytes()),
            Err(WireError::Version("2".into()))
        );
        let odd = LOST.replace(r#""type":"lost""#, r#""type":"died""#);
        assert_eq!(
            parse_line(odd.as_bytes()),
            Err(WireError::UnknownType("\"died\"".into()))
        );
        let broken = LOST.replace(r#""reason":"idle-timeout""#, r#""reason":"bored""#);
        assert!(matches!(
            parse_line(broken.as_bytes()),
            Err(WireError::Malformed {
                kind: EventType::Lost,
                ..
            })
        ));
        let no_client = r#"{"v":1,"seq":1,"at_ms":1,"type":"lost","reason":"reset","silent_ms":1}"#;
        assert!(matches!(
            parse_line(no_client.as_bytes()),
            Err(WireError::Malformed { .. })
        ));
    }

    #[test]
    fn a_breach_reason_is_one_line_whatever_the_peer_sent() {
        // An unknown variant with a newline and an ESC, JSON-escaped on the wire.
        let forged = LOST.replace(
            r#""transport":"tcp""#,
            r#""transport":"tcp\n2026-12-01T18:00:00Z  INFO started candidate\u001b[31m""#,
        );
        let e = parse_line(forged.as_bytes()).unwrap_err();
        assert!(matches!(e, WireError::Malformed { .. }), "{e}");
        let reason = e.to_string();
        assert!(!reason.contains(char::is_control), "{reason:?}");
        assert!(
            reason.contains(r"tcp\n2026-12-01T18:00:00Z  INFO started candidate\u{1b}[31m"),
            "it still says what was sent: {reason}"
        );
        // A version or type quoted as JSON, which leaves DEL and C1 (CSI) as they are.
        for line in [
            r#"{"v":"\u009b31m\u007f"}"#,
            r#"{"v":1,"type":"\u009b31m"}"#,
        ] {
            let reason = parse_line(line.as_bytes()).unwrap_err().to_string();
            assert!(!reason.contains(char::is_control), "{reason:?}");
            assert!(reason.contains(r"\u{9b}31m"), "{reason}");
        }
    }

    #[test]
    fn the_module_reads_our_acks() {
        let line = ack_line(42);
        assert!(line.ends_with('\n'));
        assert_eq!(parse_reply(line.trim_end().as_bytes()), Some(42));
    }

    /// Every text an event carries is bounded (`ClientInfo::text`, the extension's service
    /// name), so whatever a client sets, the module's lines fit this reader's bound: a longer
    /// one would end the connection, and the same kept line after every reconnect.
    #[test]
    fn the_longest_event_the_module_can_make_is_taken() {
        use lifesign_proto::event::{ClientInfo, Event, LostReason, MAX_TEXT, Transport};
        use lifesign_proto::ext::MAX_SERVICE_LEN;
        // Each byte a control character: six bytes (`\u0001`) in JSON.
        let worst = ClientInfo::text(&[1u8; 10 * MAX_TEXT]);
        let client = ClientInfo {
            id: ClientInfo::format_id(u32::MAX),
            index: u32::MAX,
            transport: Transport::Tcp6,
            peer: Some("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535".into()),
            pid: Some(u32::MAX),
            command: Some(worst.clone()),
            service: Some("\u{1}".repeat(MAX_SERVICE_LEN)),
            wm_class: Some([worst.clone(), worst]),
        };
        let body = Body::Lost {
            client,
            reason: LostReason::TransportTimeout,
            silent_ms: u64::MAX,
        };
        let line = Event::new(u64::MAX, u64::MAX, body).to_line();
        assert!(line.len() < MAX_LINE / 2, "{} bytes", line.len());
        assert!(parse_line(line.trim_end().as_bytes()).is_ok());
    }
}
