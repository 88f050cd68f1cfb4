//! Durations as operators write them: `formats::duration::parse`, and `display` for what
//! parsed.
//!
//! Input: the text itself; its first 8 bytes are also read as a number of milliseconds,
//! which must display as something that parses back to it.

use lifesign_formats::duration::{display, parse};
use std::time::Duration;

pub fn check(data: &[u8]) {
    if let Some(head) = data.first_chunk::<8>() {
        let d = Duration::from_millis(u64::from_le_bytes(*head));
        assert_eq!(parse(&display(d)), Some(d), "{}", display(d));
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(d) = parse(text) else {
        assert_eq!(
            parse(&format!(" {text}\t")),
            None,
            "blanks around make it one"
        );
        return;
    };
    assert_eq!(
        d.subsec_nanos() % 1_000_000,
        0,
        "whole milliseconds: {text:?}"
    );
    let shown = display(d);
    assert_eq!(parse(&shown), Some(d), "{text:?} displays as {shown:?}");
    assert_eq!(
        parse(&format!(" {text}\t")),
        Some(d),
        "blanks around count not"
    );
    // A bare number is milliseconds: the same count with `ms` is the same duration.
    if !text.trim().is_empty() && text.trim().bytes().all(|b| b.is_ascii_digit()) {
        assert_eq!(parse(&format!("{}ms", text.trim())), Some(d));
    }
}
