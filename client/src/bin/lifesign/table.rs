//! The readable table of `lifesign status`.

use lifesign::StatusEntry;
use lifesign_proto::event::WatchState;

const HEADER: [&str; 8] = [
    "CLIENT", "FROM", "COMMAND", "SERVICE", "STATE", "IDLE", "NOOP", "POLICY",
];

/// One row per watched client, columns aligned; a note when there are none.
pub fn render(entries: &[StatusEntry]) -> String {
    if entries.is_empty() {
        return "no watched clients\n".to_owned();
    }
    let rows: Vec<[String; 8]> = entries.iter().map(row).collect();
    let mut widths = HEADER.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header = HEADER.map(str::to_owned);
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn row(e: &StatusEntry) -> [String; 8] {
    let c = &e.client;
    let from = match (&c.peer, c.pid) {
        (Some(peer), _) => peer.clone(),
        (None, Some(pid)) => format!("pid {pid}"),
        (None, None) => "local".to_owned(),
    };
    let p = &e.policy;
    let policy = format!(
        "idle={} noop={} wmping={} repaint={} transport={}",
        off(p.idle_timeout_ms),
        off(p.expect_noop_ms),
        off(p.wm_ping_ms),
        off(p.repaint_probe_ms),
        off(p.transport_timeout_ms)
    );
    [
        c.id.clone(),
        from,
        dash(c.command.as_deref()),
        dash(c.service.as_deref()),
        match e.state {
            WatchState::Watching => "watching",
            WatchState::Suspect => "suspect",
        }
        .to_owned(),
        age(e.idle_ms),
        if p.expect_noop_ms == 0 {
            "-".to_owned()
        } else {
            age(e.noop_age_ms)
        },
        policy,
    ]
}

fn dash(text: Option<&str>) -> String {
    // Control characters of a client's command cannot garble the terminal.
    text.map_or_else(
        || "-".to_owned(),
        |t| {
            t.chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect()
        },
    )
}

fn off(ms: u64) -> String {
    if ms == 0 { "off".to_owned() } else { age(ms) }
}

/// `850ms`, `3.2s`, `4m05s`, `2h10m`.
fn age(ms: u64) -> String {
    match ms {
        0..1000 => format!("{ms}ms"),
        1000..60_000 => format!("{}.{}s", ms / 1000, ms % 1000 / 100),
        60_000..3_600_000 => format!("{}m{:02}s", ms / 60_000, ms % 60_000 / 1000),
        _ => format!("{}h{:02}m", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifesign_proto::event::{ClientInfo, PolicyInfo, Transport};

    fn entry(peer: Option<&str>, pid: Option<u32>, command: Option<&str>) -> StatusEntry {
        StatusEntry {
            client: ClientInfo {
                id: "0x00400000".into(),
                index: 2,
                transport: if peer.is_some() {
                    Transport::Tcp
                } else {
                    Transport::Local
                },
                peer: peer.map(Into::into),
                pid,
                command: command.map(Into::into),
                service: None,
                wm_class: None,
            },
            state: WatchState::Suspect,
            idle_ms: 1500,
            noop_age_ms: 12_300,
            policy: PolicyInfo {
                idle_timeout_ms: 3000,
                expect_noop_ms: 0,
                wm_ping_ms: 0,
                transport_timeout_ms: 10_000,
                repaint_probe_ms: 0,
            },
        }
    }

    #[test]
    fn a_row_per_client_with_peer_or_pid_and_the_policy() {
        let text = render(&[
            entry(Some("10.211.1.2:40000"), None, None),
            entry(None, Some(42), Some("xterm\x1b[2J")),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("CLIENT"));
        assert!(lines[1].contains("10.211.1.2:40000") && lines[1].contains("suspect"));
        assert!(
            lines[1].contains("idle=3.0s noop=off wmping=off repaint=off transport=10.0s"),
            "{text}"
        );
        assert!(
            lines[2].contains("pid 42") && lines[2].contains("xterm?[2J"),
            "{text}"
        );
        let column = lines[0].find("STATE").unwrap();
        assert_eq!(&lines[1][column..column + 7], "suspect", "aligned:\n{text}");
    }

    #[test]
    fn a_client_owing_no_operations_shows_their_age() {
        let mut e = entry(None, Some(7), Some("pulse"));
        e.policy.expect_noop_ms = 3000;
        e.noop_age_ms = 850;
        let text = render(&[e]);
        let line = text.lines().nth(1).unwrap();
        let noop = text.lines().next().unwrap().find("NOOP").unwrap();
        assert_eq!(&line[noop..noop + 5], "850ms", "{text}");
    }

    #[test]
    fn ages_read_like_ages() {
        assert_eq!(age(850), "850ms");
        assert_eq!(age(3250), "3.2s");
        assert_eq!(age(245_000), "4m05s");
        assert_eq!(age(7_800_000), "2h10m");
        assert_eq!(render(&[]), "no watched clients\n");
    }
}
