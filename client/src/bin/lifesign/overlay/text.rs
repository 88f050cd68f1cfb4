//! What the marks say, and the bytes a core font draws. Pure, unit-tested.

use super::clients::Label;
use super::launcher_state::{Backup, Replacement};

/// The most characters of a line [`wrap`] folds; the rest is cut. The backup's command is
/// the launcher's argv, of any length: folding costs at most this much per line drawn.
const MAX_FOLDED: usize = 4096;
/// The most characters of the backup's line a placeholder keeps (in its text and its
/// WM_NAME): a screenful, far below a request's size.
const MAX_BACKUP_LINE: usize = 1024;

/// A silence as the banner says it: tenths of a second below a minute (cut, never rounded
/// up: the banner does not say more than is known), then minutes, then hours.
pub fn silence(ms: u64) -> String {
    match ms {
        ..60_000 => format!("{}.{} s", ms / 1000, ms % 1000 / 100),
        60_000..3_600_000 => format!("{} min {:02} s", ms / 60_000, ms % 60_000 / 1000),
        _ => format!("{} h {:02} min", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

/// Who: "XClock on 10.211.1.2", "plant-view on local".
pub fn who(label: &Label) -> String {
    format!("{} on {}", label.service, label.host)
}

/// A suspect client's banner: how long it has been silent, and who it is.
pub fn banner(silent_ms: u64, label: &Label) -> Vec<String> {
    vec![
        format!("no sign of life for {}", silence(silent_ms)),
        who(label),
    ]
}

/// A lost client's placeholder: the reason and how long it was silent, who it was, and
/// the backup the launcher is starting or has up (or that one is awaited).
pub fn placeholder(
    reason: &str,
    silent_ms: u64,
    label: &Label,
    replacement: &Replacement,
) -> Vec<String> {
    let backup = |head: String, b: &Backup| {
        let mut line = head;
        if let Some(c) = b.candidate {
            line.push_str(&format!(", candidate {c}"));
        }
        if !b.command.is_empty() {
            line.push_str(&format!(": {}", b.command.join(" ")));
        }
        if line.chars().count() > MAX_BACKUP_LINE {
            line = line.chars().take(MAX_BACKUP_LINE - 3).collect::<String>() + "...";
        }
        line
    };
    let last = match replacement {
        Replacement::Starting(b) => backup(format!("starting backup of {}", b.service), b),
        Replacement::Up(b) => backup(format!("backup of {} up", b.service), b),
        Replacement::Unknown => format!("waiting for a new {}", label.service),
    };
    vec![
        format!("lost: {reason}, silent {}", silence(silent_ms)),
        who(label),
        last,
    ]
}

/// `text` for a core font of ISO 8859-1 ("fixed") and for STRING properties: characters
/// outside Latin-1, and control characters (a client chose its class and command), become
/// `?`.
pub fn latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match u8::try_from(u32::from(c)) {
            Ok(b) if !(b.is_ascii_control() || (0x80..0xa0).contains(&b)) => b,
            _ => b'?',
        })
        .collect()
}

/// `lines` folded to `cols` characters (at spaces where there are some), at most `rows`
/// lines; a cut last line ends in `...`. Each line's first [`MAX_FOLDED`] characters are
/// folded, and no further than `rows` lines: linear in what is shown.
pub fn wrap(lines: &[String], cols: usize, rows: usize) -> Vec<String> {
    let cols = cols.max(4);
    let mut out: Vec<String> = Vec::new();
    'lines: for line in lines {
        let chars: Vec<char> = line.chars().take(MAX_FOLDED).collect();
        let mut rest = &chars[..];
        loop {
            if out.len() > rows {
                break 'lines;
            }
            if rest.len() <= cols {
                out.push(rest.iter().collect());
                break;
            }
            let cut = rest[..=cols]
                .iter()
                .rposition(|&c| c == ' ')
                .filter(|&at| at > 0)
                .unwrap_or(cols);
            out.push(rest[..cut].iter().collect::<String>().trim_end().to_owned());
            rest = &rest[cut..];
            while rest.first() == Some(&' ') {
                rest = &rest[1..];
            }
        }
    }
    if out.len() > rows {
        out.truncate(rows);
        if let Some(last) = out.last_mut() {
            let mut chars: Vec<char> = last.chars().collect();
            chars.truncate(cols.saturating_sub(3));
            *last = chars.into_iter().collect::<String>() + "...";
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label() -> Label {
        Label {
            service: "XClock".into(),
            host: "10.211.1.2".into(),
        }
    }

    #[test]
    fn silences_read_as_an_operator_says_them() {
        assert_eq!(silence(0), "0.0 s");
        assert_eq!(silence(2_499), "2.4 s");
        assert_eq!(silence(12_050), "12.0 s");
        assert_eq!(silence(59_999), "59.9 s");
        assert_eq!(silence(65_000), "1 min 05 s");
        assert_eq!(silence(3_725_000), "1 h 02 min");
    }

    #[test]
    fn the_banner_says_how_long_and_who() {
        assert_eq!(
            banner(2_400, &label()),
            vec!["no sign of life for 2.4 s", "XClock on 10.211.1.2"]
        );
    }

    #[test]
    fn the_placeholder_names_the_reason_and_the_backup() {
        let backup = Backup {
            service: "plant-view".into(),
            candidate: Some(1),
            command: vec!["ssh".into(), "host-b".into(), "xclock".into()],
        };
        assert_eq!(
            placeholder(
                "idle-timeout",
                3_000,
                &label(),
                &Replacement::Starting(backup.clone())
            ),
            vec![
                "lost: idle-timeout, silent 3.0 s",
                "XClock on 10.211.1.2",
                "starting backup of plant-view, candidate 1: ssh host-b xclock",
            ]
        );
        assert_eq!(
            placeholder("idle-timeout", 3_000, &label(), &Replacement::Up(backup))[2],
            "backup of plant-view up, candidate 1: ssh host-b xclock"
        );
        assert_eq!(
            placeholder("reset", 0, &label(), &Replacement::Unknown)[2],
            "waiting for a new XClock"
        );
    }

    #[test]
    fn a_long_command_is_cut() {
        let backup = Backup {
            service: "s".into(),
            candidate: None,
            command: vec!["x".repeat(1 << 20)],
        };
        let line = &placeholder("reset", 0, &label(), &Replacement::Starting(backup))[2];
        assert_eq!(line.chars().count(), MAX_BACKUP_LINE);
        assert!(line.starts_with("starting backup of s: xxx") && line.ends_with("x..."));
    }

    #[test]
    fn text_for_a_core_font_is_latin1_without_controls() {
        assert_eq!(
            latin1("caf\u{e9} \u{263a}\n\u{85}"),
            b"caf\xe9 ???".to_vec()
        );
    }

    #[test]
    fn long_lines_fold_at_spaces_and_too_many_are_cut() {
        let lines = vec!["starting backup: ssh host-b env DISPLAY=console:0 xclock".to_owned()];
        assert_eq!(
            wrap(&lines, 20, 10),
            vec![
                "starting backup: ssh",
                "host-b env",
                "DISPLAY=console:0",
                "xclock"
            ]
        );
        assert_eq!(
            wrap(&["abcdefghij".to_owned()], 4, 10),
            vec!["abcd", "efgh", "ij"]
        );
        assert_eq!(
            wrap(&["one".into(), "two".into(), "three".into()], 10, 2),
            vec!["one", "two..."]
        );
        assert_eq!(
            wrap(&["abcd ".to_owned(), "e".to_owned()], 4, 10),
            vec!["abcd", "", "e"]
        );
    }

    #[test]
    fn folding_is_bounded_by_what_is_shown() {
        // A long command: only its first MAX_FOLDED characters are folded...
        let huge = vec!["ab ".repeat(70_000)];
        let all = wrap(&huge, 40, usize::MAX - 1);
        assert!(all.len() <= MAX_FOLDED / 39 + 2, "{} lines", all.len());
        // ... and no further than the rows shown.
        let shown = wrap(&huge, 40, 8);
        assert_eq!(shown.len(), 8);
        assert!(shown[7].ends_with("..."));
    }
}
