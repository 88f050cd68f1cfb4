//! docs/compatibility.md: the measured table, what it shows, and how it was made.
//!
//! The columns come from [`MODES`](crate::mode::MODES): each mode adds a "hung: caught by"
//! and an "idle: kept under" column, and the mode that measures the repaint's cost a
//! "requests per repaint probe" and a "visible change" column, so a new mode needs nothing
//! here.

use crate::cost::{Cost, Visible};
use crate::measure::{Hung, Idle, Observed};
use crate::mode::{Mode, WM_PING};
use crate::toolkits::Toolkit;
use crate::window::{PingAnswer, WindowFacts};
use std::fmt::Write as _;
use std::time::Duration;

/// One toolkit's results, one per mode, in the modes' order.
pub struct Row {
    pub toolkit: &'static Toolkit,
    /// `package version` of each of the toolkit's packages.
    pub packages: Vec<String>,
    pub results: Vec<(Mode, Result<Observed, String>)>,
}

/// How the table was made.
pub struct Header {
    pub command: String,
    pub date: String,
    /// The server measured, with its Debian version.
    pub server: String,
    pub debian: String,
    pub idle: Duration,
    pub elapsed: Duration,
}

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn ping_cell(answer: PingAnswer) -> &'static str {
    match answer {
        PingAnswer::Answered => "yes",
        PingAnswer::Unanswered => "no",
        PingAnswer::Closed => "no: it **closes**",
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

impl Row {
    /// The window facts, from the first mode that measured them.
    fn facts(&self) -> Option<WindowFacts> {
        self.results
            .iter()
            .find_map(|(_, r)| r.as_ref().ok().map(|o| o.facts))
    }

    /// A window fact as each mode's instance showed it: once if they agree, else per mode.
    fn fact_cell(&self, cell: impl Fn(WindowFacts) -> &'static str) -> String {
        let seen: Vec<(&str, &str)> = self
            .results
            .iter()
            .filter_map(|(m, r)| r.as_ref().ok().map(|o| (m.name, cell(o.facts))))
            .collect();
        match seen.first() {
            None => "not measured".into(),
            Some((_, first)) if seen.iter().all(|(_, c)| c == first) => (*first).into(),
            Some(_) => {
                let each: Vec<String> = seen.iter().map(|(m, c)| format!("{c} ({m})")).collect();
                each.join(", ")
            }
        }
    }

    fn result(&self, mode: &Mode) -> Option<&Result<Observed, String>> {
        self.results.iter().find(|(m, _)| m == mode).map(|(_, r)| r)
    }

    /// What the repaint probes cost it under `mode`, if measured.
    fn cost(&self, mode: &Mode) -> Option<Cost> {
        self.result(mode)?.as_ref().ok()?.cost
    }

    /// Whether the server's own pings were answered: kept idle under `WmPing`.
    pub fn answers_server(&self) -> String {
        let (Some(facts), Some(Ok(observed))) = (self.facts(), self.result(&WM_PING)) else {
            return "not measured".into();
        };
        if !facts.lists_ping {
            return "not pinged".into();
        }
        match observed.idle {
            Idle::Kept(_) => "yes".into(),
            Idle::Lost { reason, after } => {
                format!(
                    "**no**: lost after {} ({})",
                    seconds(after),
                    reason.as_str()
                )
            }
            Idle::Exited => "exited".into(),
        }
    }
}

/// "hung: caught by `mode`": whether and how fast the stopped instance was lost.
pub fn caught_cell(mode: &Mode, result: &Result<Observed, String>) -> String {
    match result {
        Err(_) => "not measured".into(),
        Ok(observed) => match observed.hung {
            Hung::Caught { reason, after } if mode.convicts_with(reason) => {
                if mode.reasons.len() > 1 {
                    format!("yes, {} ({})", seconds(after), reason.as_str())
                } else {
                    format!("yes, {}", seconds(after))
                }
            }
            Hung::Caught { reason, after } => {
                format!("yes ({}), {}", reason.as_str(), seconds(after))
            }
            Hung::NotCaught(bound) => format!("no (not within {})", seconds(bound)),
            Hung::EndedBeforeStop => "lost before it was stopped".into(),
            Hung::Gone => "closed without a `lost`".into(),
        },
    }
}

/// "idle: kept under `mode`": whether the healthy instance outlived the idle period.
pub fn kept_cell(result: &Result<Observed, String>) -> String {
    match result {
        Err(_) => "not measured".into(),
        Ok(observed) => match observed.idle {
            Idle::Kept(_) => "yes".into(),
            Idle::Lost { reason, after } => {
                format!("no: lost after {} ({})", seconds(after), reason.as_str())
            }
            Idle::Exited => "exited by itself".into(),
        },
    }
}

/// "requests per repaint probe": from one probe to the next, the median requests the idle
/// instance sent and their bytes, and the range when they varied.
pub fn requests_cell(cost: Option<Cost>) -> String {
    let Some(cost) = cost else {
        return "-".into();
    };
    match (cost.probes, cost.requests, cost.bytes) {
        (0, _, _) => "not probed".into(),
        (_, Some((least, median, most)), Some(bytes)) => {
            let range = if least == most {
                String::new()
            } else {
                format!(", {least}–{most}")
            };
            format!("{median} ({bytes} bytes){range}")
        }
        (n, _, _) => format!("{n} probes, not measured"),
    }
}

/// "visible change": whether the idle instance's pixels changed after the probes.
pub fn visible_cell(cost: Option<Cost>) -> String {
    match cost {
        None => "-".into(),
        Some(Cost { probes: 0, .. }) => "not probed".into(),
        Some(cost) => match cost.visible {
            Visible::None { .. } => "none".into(),
            Visible::Changed { .. } if cost.unasked > 0 => {
                "not measured: it draws by itself".into()
            }
            Visible::Changed { differ, of } => format!("**yes**: {differ} of {of} readings"),
            Visible::NotSeen => "not measured (no reading before the first probe)".into(),
        },
    }
}

/// The whole page.
pub fn render(header: &Header, modes: &[Mode], rows: &[Row]) -> String {
    let mut out = String::new();
    let idle = seconds(header.idle);
    let _ = writeln!(out, "# Application compatibility\n");
    let _ = writeln!(
        out,
        "Generated by `{}` on {}, against {}, on Debian {} (the run took {}). Do not edit: \
         run the command again.\n",
        header.command,
        header.date,
        header.server,
        header.debian,
        seconds(header.elapsed),
    );
    out.push_str(&method(modes, &idle));
    out.push_str(&table(modes, rows, &idle));
    out.push_str(&findings(modes, rows, &idle));
    let errors: Vec<String> = rows
        .iter()
        .flat_map(|row| {
            row.results.iter().filter_map(move |(mode, r)| {
                r.as_ref()
                    .err()
                    .map(|e| format!("- {} under {}: {e}", row.toolkit.name, mode.name))
            })
        })
        .collect();
    if !errors.is_empty() {
        let _ = writeln!(out, "\n## Not measured\n\n{}", errors.join("\n"));
    }
    out
}

fn method(modes: &[Mode], idle: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "For each toolkit, a real application from Debian or, where Debian has no small one, \
         the smallest program for it written with Debian's bindings (`compat/apps/`). Each \
         mode is measured on a server of its own, with the module's options `{}` and:\n",
        crate::mode::COMMON_OPTIONS
            .replace(';', "`, `")
            .replace('=', " "),
    );
    for mode in modes {
        let _ = writeln!(out, "- **{}**: {}", mode.name, mode.described);
    }
    let _ = writeln!(
        out,
        "\nIn each server, one instance of the program is stopped (SIGSTOP: a hang) half a \
         second after its window is mapped, and the time to its `lost` event is taken from \
         the event; a second instance, started after that, has its top-level windows read \
         (`WM_PROTOCOLS`), gets one `_NET_WM_PING` sent to its window as a window manager \
         sends it, and is then left idle for {idle}, timed from its window's mapping. No \
         window manager runs. Times are from the SIGSTOP to the `lost` event: under \
         `WmPing` and `RepaintProbe` at most the interval plus the timeout; under \
         `IdleTimeout` the timeout after the program's last request, but never sooner than \
         `Grace` plus the timeout after it connected, which is why some pass 3 s. Under \
         `WmPing + RepaintProbe` a program listing `_NET_WM_PING` is pinged, any other \
         probed: the cell names the reason it was lost with.\n"
    );
    for mode in modes.iter().filter(|m| m.measures_repaint) {
        let _ = writeln!(
            out,
            "What a repaint probe costs is measured on the idle instance under **{}**: a \
             RECORD context sees, in the server's order, every request the program sends and \
             every probe the module writes to it (the 1x1 Expose at the origin), each with the \
             server's time. A probe goes only to a client quiet for the interval, so what the \
             program sends in the {} after a probe is its answer: \"requests per repaint \
             probe\" is the median over the idle period, with the bytes those requests took and, when it varied, \
             the least and the most. The program's top-level windows are read (GetImage of \
             their place on the root window) every {}; \"visible change\" compares, window \
             by window, the last reading before the first probe (taken after the program's \
             last request) with every reading after: `none` if all have the same pixels. A \
             program that redraws more often than the interval is never quiet for it and is \
             not probed; one that redraws less often is, and its own drawing is no answer.\n",
            mode.name,
            seconds(Duration::from_millis(crate::cost::ANSWER_WITHIN.into())),
            seconds(crate::cost::SHOT_EVERY),
        );
    }
    out
}

fn table(modes: &[Mode], rows: &[Row], idle: &str) -> String {
    let mut head = vec![
        "toolkit".to_owned(),
        "Debian packages".to_owned(),
        "application".to_owned(),
        "lists `_NET_WM_PING`".to_owned(),
        "answers a window manager's ping".to_owned(),
        format!("answers the server's pings ({idle} under WmPing)"),
    ];
    head.extend(modes.iter().map(|m| format!("hung: caught by {}", m.name)));
    head.extend(
        modes
            .iter()
            .map(|m| format!("idle {idle}: kept under {}", m.name)),
    );
    let costed: Vec<&Mode> = modes.iter().filter(|m| m.measures_repaint).collect();
    for mode in &costed {
        head.push(format!("requests per repaint probe ({})", mode.name));
        head.push(format!("visible change ({})", mode.name));
    }
    let mut out = format!("| {} |\n|{}\n", head.join(" | "), "---|".repeat(head.len()));
    for row in rows {
        let mut cells = vec![
            row.toolkit.name.to_owned(),
            row.packages.join(", "),
            format!("`{}`", row.toolkit.app),
            row.fact_cell(|f| yes_no(f.lists_ping)),
            row.fact_cell(|f| ping_cell(f.ping)),
            row.answers_server(),
        ];
        for mode in modes {
            cells.push(
                row.result(mode)
                    .map_or("-".into(), |r| caught_cell(mode, r)),
            );
        }
        for mode in modes {
            cells.push(row.result(mode).map_or("-".into(), kept_cell));
        }
        for mode in &costed {
            let cost = row.cost(mode);
            cells.push(requests_cell(cost));
            cells.push(visible_cell(cost));
        }
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}

/// What the table says, in words, from the same results.
fn findings(modes: &[Mode], rows: &[Row], idle: &str) -> String {
    let mut out = String::from("\n## What it shows\n\n");
    for mode in modes {
        let caught = names(rows, |row| {
            matches!(
                row.result(mode),
                Some(Ok(Observed { hung: Hung::Caught { reason, .. }, .. })) if mode.convicts_with(*reason)
            )
        });
        let missed = names(rows, |row| {
            matches!(
                row.result(mode),
                Some(Ok(Observed {
                    hung: Hung::NotCaught(_),
                    ..
                }))
            )
        });
        let kept = names(rows, |row| {
            matches!(
                row.result(mode),
                Some(Ok(Observed {
                    idle: Idle::Kept(_),
                    ..
                }))
            )
        });
        let _ = writeln!(
            out,
            "- **{}** caught the hang of: {}; missed: {}. Kept idle for {idle}: {}.",
            mode.name,
            list(&caught),
            list(&missed),
            list(&kept),
        );
    }
    let answered = |f: WindowFacts| f.ping == PingAnswer::Answered;
    let unlisted_answer = names(rows, |row| {
        row.facts().is_some_and(|f| answered(f) && !f.lists_ping)
    });
    let listed_silent = names(rows, |row| {
        row.facts().is_some_and(|f| f.lists_ping && !answered(f))
    });
    let closes = names(rows, |row| {
        row.facts().is_some_and(|f| f.ping == PingAnswer::Closed)
    });
    let _ = writeln!(
        out,
        "- Answer a window manager's ping without listing `_NET_WM_PING` (the server, like a \
         window manager, pings only those that list it): {}.",
        list(&unlisted_answer)
    );
    let _ = writeln!(
        out,
        "- List `_NET_WM_PING` but did not answer one: {}.",
        list(&listed_silent)
    );
    let _ = writeln!(
        out,
        "- Close their window on a `_NET_WM_PING` they do not list (they take any \
         `WM_PROTOCOLS` message for `WM_DELETE_WINDOW`): {}. This is why the server pings \
         only clients that list the protocol.",
        list(&closes)
    );
    for mode in modes.iter().filter(|m| m.measures_repaint) {
        let costs: Vec<String> = rows
            .iter()
            .filter_map(|row| {
                let (_, median, _) = row.cost(mode)?.requests?;
                Some(format!("{} {median}", row.toolkit.name))
            })
            .collect();
        let changed = names(rows, |row| {
            row.cost(mode)
                .is_some_and(|c| c.unasked == 0 && matches!(c.visible, Visible::Changed { .. }))
        });
        let unprobed = names(rows, |row| row.cost(mode).is_some_and(|c| c.probes == 0));
        let _ = writeln!(
            out,
            "- Requests per repaint probe (median, under {}): {}. Pixels changed by the \
             probes: {}. Not probed while idle (never quiet for the interval): {}.",
            mode.name,
            list(&costs.iter().map(String::as_str).collect::<Vec<_>>()),
            list(&changed),
            list(&unprobed),
        );
    }
    out.push_str(
        "\nFor the toolkits `WmPing` cannot see, docs/operator-guide.md, \"Toolkits that do not \
         answer `_NET_WM_PING`\", says what to use instead.\n",
    );
    out
}

fn names(rows: &[Row], pick: impl Fn(&Row) -> bool) -> Vec<&'static str> {
    rows.iter()
        .filter(|r| pick(r))
        .map(|r| r.toolkit.name)
        .collect()
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::{IDLE_TIMEOUT, MODES, REPAINT_PROBE, WM_PING_AND_REPAINT};
    use crate::toolkits::find;
    use lifesign_proto::event::LostReason;

    fn observed(lists_ping: bool, idle: Idle, hung: Hung) -> Observed {
        let ping = PingAnswer::Answered;
        Observed {
            facts: WindowFacts { lists_ping, ping },
            idle,
            hung,
            cost: None,
        }
    }

    fn page() -> String {
        let second = Duration::from_secs(1);
        let caught = |reason, ms| Hung::Caught {
            reason,
            after: Duration::from_millis(ms),
        };
        let gtk = Row {
            toolkit: find("GTK 3").unwrap(),
            packages: vec!["libgtk-3-0 3.24".into()],
            results: vec![
                (
                    WM_PING,
                    Ok(observed(
                        true,
                        Idle::Kept(60 * second),
                        caught(LostReason::WmPingTimeout, 2300),
                    )),
                ),
                (
                    IDLE_TIMEOUT,
                    Ok(observed(
                        true,
                        Idle::Lost {
                            reason: LostReason::IdleTimeout,
                            after: 3900 * second / 1000,
                        },
                        caught(LostReason::IdleTimeout, 3100),
                    )),
                ),
                (
                    REPAINT_PROBE,
                    Ok(Observed {
                        cost: Some(Cost {
                            probes: 30,
                            requests: Some((2, 3, 5)),
                            bytes: Some(64),
                            unasked: 0,
                            visible: Visible::None { readings: 100 },
                        }),
                        ..observed(
                            true,
                            Idle::Kept(60 * second),
                            caught(LostReason::RepaintTimeout, 2600),
                        )
                    }),
                ),
                (
                    WM_PING_AND_REPAINT,
                    Ok(observed(
                        true,
                        Idle::Kept(60 * second),
                        caught(LostReason::WmPingTimeout, 2200),
                    )),
                ),
            ],
        };
        let tk = Row {
            toolkit: find("Tk").unwrap(),
            packages: vec!["libtk8.6 8.6.13".into()],
            results: vec![
                (
                    WM_PING,
                    Ok(observed(
                        false,
                        Idle::Kept(60 * second),
                        Hung::NotCaught(8 * second),
                    )),
                ),
                (
                    IDLE_TIMEOUT,
                    Err("wish: no window mapped within 60s".into()),
                ),
            ],
        };
        let header = Header {
            command: "sudo ./scripts/compat.sh".into(),
            date: "2026-01-01".into(),
            server: "xvfb 2:21.1.7".into(),
            debian: "12.11".into(),
            idle: 60 * second,
            elapsed: 100 * second,
        };
        render(&header, MODES, &[gtk, tk])
    }

    #[test]
    fn every_row_has_a_cell_for_every_column() {
        let page = page();
        let table: Vec<&str> = page.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(table.len(), 4, "{page}");
        let columns = table[0].matches(" | ").count();
        // Two more for the one mode that measures the repaint's cost.
        assert_eq!(columns, 5 + 2 * MODES.len() + 2, "{}", table[0]);
        for line in &table[2..] {
            assert_eq!(line.matches(" | ").count(), columns, "{line}");
        }
    }

    #[test]
    fn cells_and_findings_say_what_was_measured() {
        let page = page();
        let gtk = page.lines().find(|l| l.starts_with("| GTK 3")).unwrap();
        assert!(
            gtk.contains(
                "| yes, 2.3 s | yes, 3.1 s | yes, 2.6 s | yes, 2.2 s (wm-ping-timeout) | yes | \
                 no: lost after 3.9 s (idle-timeout) | yes | yes | 3 (64 bytes), 2–5 | none |"
            ),
            "{gtk}"
        );
        assert!(
            page.contains("Requests per repaint probe (median, under RepaintProbe): GTK 3 3."),
            "{page}"
        );
        let tk = page.lines().find(|l| l.starts_with("| Tk")).unwrap();
        assert!(
            tk.contains("| not pinged | no (not within 8.0 s) | not measured |"),
            "{tk}"
        );
        assert!(
            page.contains("**WmPing** caught the hang of: GTK 3; missed: Tk."),
            "{page}"
        );
        assert!(
            page.contains("- Tk under IdleTimeout: wish: no window mapped within 60s"),
            "{page}"
        );
    }

    #[test]
    fn facts_that_differ_between_modes_are_shown_per_mode() {
        let kept = Idle::Kept(Duration::from_secs(60));
        let missed = Hung::NotCaught(Duration::from_secs(8));
        let row = Row {
            toolkit: find("GNUstep").unwrap(),
            packages: vec![],
            results: vec![
                (WM_PING, Ok(observed(false, kept, missed))),
                (IDLE_TIMEOUT, Ok(observed(true, kept, missed))),
            ],
        };
        assert_eq!(
            row.fact_cell(|f| yes_no(f.lists_ping)),
            "no (WmPing), yes (IdleTimeout)"
        );
        assert_eq!(row.fact_cell(|f| ping_cell(f.ping)), "yes");
    }

    #[test]
    fn cost_cells_tell_unprobed_changed_and_unseen_apart() {
        let cost = |probes, visible| Cost {
            probes,
            requests: None,
            bytes: None,
            unasked: 0,
            visible,
        };
        let unseen = Visible::NotSeen;
        assert_eq!(requests_cell(None), "-");
        assert_eq!(requests_cell(Some(cost(0, unseen))), "not probed");
        assert_eq!(visible_cell(Some(cost(0, unseen))), "not probed");
        let changed = Visible::Changed { differ: 2, of: 90 };
        assert_eq!(
            visible_cell(Some(cost(12, changed))),
            "**yes**: 2 of 90 readings"
        );
        assert!(visible_cell(Some(cost(12, unseen))).starts_with("not measured"));
        let one = Cost {
            requests: Some((4, 4, 4)),
            bytes: Some(48),
            ..cost(9, unseen)
        };
        assert_eq!(requests_cell(Some(one)), "4 (48 bytes)");
    }
}
