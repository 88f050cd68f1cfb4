//! The report's section on TransportTimeout on real links.

use crate::stats::summarize;
use crate::transport::{
    self, LossRun, PHASES, TARGET, Timeout, Transport, convicting_beyond_ms, idle_rate_per_hour,
    per_client_hour,
};
use std::fmt::Write as _;

/// Seconds, with as many decimals as they need (up to two): `1.25 s`, `8 s`.
fn secs(ms: f64) -> String {
    let text = format!("{:.2}", ms / 1000.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} s")
}

fn keepalive(t: &Timeout) -> String {
    let k = &t.keepalive;
    format!(
        "idle {} s, then {} probes {} s apart; retransmissions at most {} apart",
        k.idle_s,
        k.count,
        k.interval_s,
        secs(f64::from(k.rto_max_ms))
    )
}

pub fn render(t: &Transport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n## Transport: what TransportTimeout tolerates\n");
    let _ = writeln!(
        out,
        "`sudo ./scripts/bench.sh --part transport` ({} in this run). Xorg (dummy driver) with \
         the module (WatchPeers 10.211.0.0/16, Grace 0, TransportTimeout T, nothing else), one \
         server and one lab of network namespaces per T and per loss, all running at once; real \
         clients on the labs' hosts, each on a host of its own. Packets are dropped by nftables \
         in the host's namespace, both ways (`Host::drop_packets`: 100% is an outage, less a \
         lossy link), so the display's kernel sees only silence, as when a switch reboots. The \
         module sets keepalive on each watched TCP connection (a probe a second after an idle \
         time, so that an idle connection is dropped by probe count at T; \
         `watchdog/src/policy.rs`, `Keepalive`), caps the wait between retransmissions so that \
         output that waited through an outage goes out soon after it while the kernel's own \
         retries (`tcp_retries2`, {} in a new namespace) outlast T, and ends a client whose \
         output goes unacknowledged for T (`watchdog/src/transfer.rs`). Times are the module's events' \
         `at_ms` (the server's wall clock, the bench's too).\n",
        minutes(t.took.as_secs_f64()),
        transport::NETNS_TCP_RETRIES2
    );
    let _ = writeln!(
        out,
        "| T | keepalive | designed tolerance of an outage (`tolerated_outage_ms`) | an idle dead peer dropped after its last answer |\n|---|---|---|---|"
    );
    for x in &t.timeouts {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            secs(x.timeout_ms as f64),
            keepalive(x),
            secs(x.keepalive.tolerated_outage_ms() as f64),
            secs(x.keepalive.idle_detection_ms() as f64)
        );
    }
    render_cuts(&mut out, &t.timeouts);
    render_outages(&mut out, &t.timeouts);
    render_losses(&mut out, &t.losses);
    render_summary(&mut out, t);
    let took: Vec<String> = t
        .timeouts
        .iter()
        .map(|x| {
            format!(
                "T={} {:.0} s",
                secs(x.timeout_ms as f64),
                x.took.as_secs_f64()
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "\nRuntime: the whole part {:.0} s; cuts and outages (labs, servers and clients \
         included) {}, alongside the loss runs.",
        t.took.as_secs_f64(),
        took.join(", ")
    );
    out
}

fn render_cuts(out: &mut String, timeouts: &[Timeout]) {
    let _ = writeln!(out, "\n### A cut that lasts: detection\n");
    let _ = writeln!(
        out,
        "Idle xlogos, one per host; each host drops every packet from a moment chosen by the \
         keepalive timer of the server's connection to it (read from `/proc/net/tcp` in the \
         display's namespace): spread over the idle time since the last answered probe (T = \
         {}), all at once. Detection is the cut (the `nft` command's start) to the module's `lost`. The \
         kernel drops an idle connection T after the peer's last answer, so a cut at phase p \
         is found T − p × idle after it (\"by the arithmetic\").\n",
        timeouts
            .iter()
            .map(|t| {
                let phases: Vec<String> = transport::cut_phases(&t.keepalive, t.cuts.len())
                    .iter()
                    .map(|p| format!("{p:.3}").trim_end_matches('0').to_owned())
                    .collect();
                format!("{}: {}", secs(t.timeout_ms as f64), phases.join(", "))
            })
            .collect::<Vec<_>>()
            .join("; ")
    );
    let _ = writeln!(
        out,
        "| T | cuts | min | median | max | by the arithmetic | later than the arithmetic, median / max | not `lost`/`transport-timeout` | never reached its phase |\n|---|---|---|---|---|---|---|---|---|"
    );
    let mut past_t = Vec::new();
    for t in timeouts {
        let detect: Vec<f64> = t.cuts.iter().filter_map(|c| c.detect_ms).collect();
        let idle_ms = f64::from(t.keepalive.idle_s) * 1000.0;
        let phases = transport::cut_phases(&t.keepalive, t.cuts.len());
        let (lo, hi) = (
            phases.iter().copied().fold(f64::INFINITY, f64::min),
            phases.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        );
        let arithmetic = format!(
            "{}–{}",
            secs(t.timeout_ms as f64 - hi * idle_ms),
            secs(t.timeout_ms as f64 - lo * idle_ms)
        );
        // Each cut against the arithmetic at the phase it came at.
        let late: Vec<f64> = t
            .cuts
            .iter()
            .filter_map(|c| Some(c.detect_ms? - (t.timeout_ms as f64 - c.phase? * idle_ms)))
            .collect();
        let figures = if detect.is_empty() {
            "| - | - | - | ".to_owned() + &arithmetic + " | - "
        } else {
            let s = summarize(&detect);
            let l = summarize(&late);
            if s.max > t.timeout_ms as f64 {
                past_t.push(format!(
                    "{} past T = {}",
                    secs(s.max - t.timeout_ms as f64),
                    secs(t.timeout_ms as f64)
                ));
            }
            format!(
                "| {} | **{}** | **{}** | {arithmetic} | {:+.0} / {:+.0} ms ",
                secs(s.min),
                secs(s.median),
                secs(s.max),
                l.median,
                l.max
            )
        };
        let _ = writeln!(
            out,
            "| {} | {} {figures}| {} | {} |",
            secs(t.timeout_ms as f64),
            detect.len(),
            t.cuts.iter().filter(|c| c.wrong).count(),
            t.cuts.iter().filter(|c| c.phase.is_none()).count()
        );
    }
    let _ = writeln!(
        out,
        "\nLater than the arithmetic: the kernel's timers fire late. Linux's timer wheel runs a \
         timer at the granularity of its level, so up to that late (with HZ 250: 32 ms on a \
         timer of a second, 256 ms on one of 4 s), and the connection \
         is dropped after the idle time and `count` probe intervals, each timed anew. {}",
        if past_t.is_empty() {
            "Every cut was found within T.".to_owned()
        } else {
            format!(
                "So a cut just after an answered probe can be found after T: {}.",
                past_t.join(", ")
            )
        }
    );
}

fn render_outages(out: &mut String, timeouts: &[Timeout]) {
    let _ = writeln!(out, "\n### Outages that end: the longest survived\n");
    let phases: Vec<String> = PHASES.iter().map(|p| format!("{p}")).collect();
    let _ = writeln!(
        out,
        "Idle xlogos, one per host and per (duration, phase): each host drops every packet \
         from phase {} of the keepalive idle time on, for the duration, then passes them again; \
         the durations step from {} steps below the designed tolerance to {} above it, every \
         trial of a T at once. An outage convicts if the client is ended (within T and a second \
         after the last outage ended). \"Longest survived\" is the longest duration that none of \
         the three phases convicted, below every one that did; by the arithmetic an outage \
         beginning at phase p convicts once it swallows every probe, past (1 − p) × idle + \
         (count − 1) × interval: the designed tolerance is that at p = 1, the worst phase. The \
         drop is in place when `nft` returns (median {} ms after its start); the outage is \
         timed from then to the start of the `nft` that ends it.\n",
        phases.join(", "),
        transport::STEPS_BELOW,
        transport::STEPS_ABOVE,
        {
            let nft: Vec<f64> = timeouts.iter().flat_map(|t| t.nft_ms.clone()).collect();
            if nft.is_empty() {
                "-".to_owned()
            } else {
                format!("{:.0}", summarize(&nft).median)
            }
        }
    );
    let _ = writeln!(
        out,
        "| T | designed tolerance | swept | **longest survived, every phase measured** | first convicting (at phases) | by the arithmetic, convicting past (at {}) | trials that never reached their phase |\n|---|---|---|---|---|---|---|",
        PHASES
            .iter()
            .rev()
            .map(|p| format!("{p}"))
            .collect::<Vec<_>>()
            .join(" / ")
    );
    let mut below_design = Vec::new();
    for t in timeouts {
        let (survived, first) = t.tolerance();
        let durations: Vec<u64> = {
            let mut d: Vec<u64> = t.outages.iter().map(|o| o.duration_ms).collect();
            d.dedup();
            d
        };
        let swept = match (durations.first(), durations.last()) {
            (Some(a), Some(b)) => format!(
                "{}–{}, step {}",
                secs(*a as f64),
                secs(*b as f64),
                secs(transport::sweep_step_ms(t.timeout_ms) as f64)
            ),
            _ => "-".to_owned(),
        };
        let at_phases = |d: u64| -> String {
            let p: Vec<String> = t
                .outages
                .iter()
                .filter(|o| o.duration_ms == d && o.convicted == Some(true))
                .map(|o| format!("{}", o.phase))
                .collect();
            p.join(", ")
        };
        let designed = t.keepalive.tolerated_outage_ms();
        if survived.is_none_or(|s| s < designed) {
            below_design.push(secs(t.timeout_ms as f64));
        }
        let arithmetic: Vec<String> = PHASES
            .iter()
            .rev()
            .map(|&p| secs(convicting_beyond_ms(&t.keepalive, p)))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {swept} | **{}** | {} | {} | {} |",
            secs(t.timeout_ms as f64),
            secs(designed as f64),
            survived.map_or("none of the sweep".to_owned(), |s| secs(s as f64)),
            first.map_or("none of the sweep".to_owned(), |f| format!(
                "{} ({})",
                secs(f as f64),
                at_phases(f)
            )),
            arithmetic.join(" / "),
            t.outages.iter().filter(|o| o.convicted.is_none()).count()
        );
    }
    let late: Vec<f64> = timeouts
        .iter()
        .flat_map(|t| {
            t.outages.iter().filter_map(|o| {
                o.began_at
                    .map(|b| (b - o.phase) * f64::from(t.keepalive.idle_s))
            })
        })
        .collect();
    if !late.is_empty() {
        let s = summarize(&late);
        let _ = writeln!(
            out,
            "\nThe outages began after their phase by {:.0} ms (median; {:.0} to {:.0} ms), as \
             the keepalive timer was read.",
            s.median * 1000.0,
            s.min * 1000.0,
            s.max * 1000.0
        );
    }
    let _ = writeln!(
        out,
        "\nEvery duration swept, and the phases that convicted:\n"
    );
    for t in timeouts {
        let mut durations: Vec<u64> = t.outages.iter().map(|o| o.duration_ms).collect();
        durations.dedup();
        let items: Vec<String> = durations
            .iter()
            .map(|&d| {
                let of_d: Vec<_> = t.outages.iter().filter(|o| o.duration_ms == d).collect();
                let convicted: Vec<String> = of_d
                    .iter()
                    .filter(|o| o.convicted == Some(true))
                    .map(|o| format!("{}", o.phase))
                    .collect();
                let missing = of_d.iter().filter(|o| o.convicted.is_none()).count();
                let what = match (convicted.len(), missing) {
                    (0, 0) => "none".to_owned(),
                    (n, _) if n == of_d.len() => "all".to_owned(),
                    _ => convicted.join(", "),
                };
                if missing > 0 {
                    format!("{} {what} ({missing} not run)", secs(d as f64))
                } else {
                    format!("{} {what}", secs(d as f64))
                }
            })
            .collect();
        let _ = writeln!(
            out,
            "- T = {}: {}",
            secs(t.timeout_ms as f64),
            items.join("; ")
        );
    }
    let _ = writeln!(
        out,
        "\nEvery T survives its designed tolerance at every phase measured (the last just before a probe): **{}**.",
        if below_design.is_empty() {
            "yes".to_owned()
        } else {
            format!("no, T = {}", below_design.join(", "))
        }
    );
}

fn render_losses(out: &mut String, losses: &[LossRun]) {
    let _ = writeln!(out, "\n### Lossy links: convictions of healthy clients\n");
    let names: Vec<&str> = losses
        .first()
        .map(|l| l.kinds.iter().map(|k| k.name).collect())
        .unwrap_or_default();
    let per_kind = losses
        .first()
        .and_then(|l| l.kinds.first())
        .map_or(0, |k| k.clients);
    let _ = writeln!(
        out,
        "Each combination: a lab of its own and a server of its own, {per_kind} clients of each \
         kind ({}), each on a host of its own; once all are watched, every host drops that share \
         of its packets both ways (an independent draw per packet) until the run ends. A client \
         the module convicts is started again at once, so every place keeps a client; a \
         client-hour is an hour of one client watched under loss (from the loss, or from a \
         restarted client's `watched`, to its end or the run's). The four runs went on at once. \
         \"Idle, by the arithmetic\" is the rate an idle connection would have from its \
         keepalive alone: a probe goes unanswered when it or its answer is dropped, and a \
         conviction takes `count` in a row.\n",
        names.join(", ")
    );
    let kinds_header = names.join(" / ");
    let _ = writeln!(
        out,
        "| T | loss, both ways | minutes | clients | client-hours | convictions: {kinds_header} | all | **per client-hour** | idle, by the arithmetic, per hour |\n|---|---|---|---|---|---|---|---|---|"
    );
    for l in losses {
        let k = transport::keepalive(l.timeout_ms);
        let counts: Vec<String> = l.kinds.iter().map(|k| k.convictions.to_string()).collect();
        let _ = writeln!(
            out,
            "| {} | {}% | {} | {} | {:.2} | {} | {} | **{:.2}** | {} |",
            secs(l.timeout_ms as f64),
            l.loss_pct,
            minutes(l.run.as_secs_f64()).split(' ').next().unwrap_or(""),
            l.kinds.iter().map(|k| k.clients).sum::<usize>(),
            l.client_ms() as f64 / 3_600_000.0,
            counts.join(" / "),
            l.convictions(),
            per_client_hour(l.convictions(), l.client_ms()),
            rate(idle_rate_per_hour(&k, l.loss_pct)),
        );
    }
    let _ = writeln!(out, "\nPer kind, convictions per client-hour:\n");
    for l in losses {
        let items: Vec<String> = l
            .kinds
            .iter()
            .map(|k| {
                let mut s = format!(
                    "{} {:.2} ({} in {:.2} h)",
                    k.name,
                    per_client_hour(k.convictions, k.client_ms),
                    k.convictions,
                    k.client_ms as f64 / 3_600_000.0
                );
                if k.other_ends > 0 {
                    let _ = write!(s, ", {} ended by themselves", k.other_ends);
                }
                s
            })
            .collect();
        let reasons: Vec<String> = l.reasons.iter().map(|(r, n)| format!("{r} {n}")).collect();
        let _ = writeln!(
            out,
            "- T = {}, {}%: {}{}",
            secs(l.timeout_ms as f64),
            l.loss_pct,
            items.join("; "),
            if reasons.is_empty() {
                String::new()
            } else {
                format!("; reasons: {}", reasons.join(", "))
            }
        );
    }
    if let Some(target) = losses.iter().find(|l| (l.timeout_ms, l.loss_pct) == TARGET) {
        let minutes = target.run.as_secs_f64() / 60.0;
        // The target is for ten minutes: a shorter run shows nothing of it.
        let verdict = if minutes < 10.0 - 1e-9 {
            "not shown (the run was shorter than 10 minutes)"
        } else if target.convictions() == 0 {
            "met"
        } else {
            "not met"
        };
        let _ = writeln!(
            out,
            "\nTarget (issue 17): at T = {}, {}% loss both ways for 10 minutes convicts nobody: \
             **{verdict}** ({} convictions of {} clients in {:.2} client-hours, {}{}).",
            secs(TARGET.0 as f64),
            TARGET.1,
            target.convictions(),
            target.kinds.iter().map(|k| k.clients).sum::<usize>(),
            target.client_ms() as f64 / 3_600_000.0,
            self::minutes(target.run.as_secs_f64()),
            if minutes + 0.01 < 10.0 {
                "; shorter than the target's 10 minutes"
            } else {
                ""
            }
        );
    }
}

/// Minutes, to a tenth where they need it: `10 minutes`, `0.5 minutes`.
fn minutes(seconds: f64) -> String {
    let text = format!("{:.1}", seconds / 60.0);
    match text.trim_end_matches(".0") {
        "1" => "1 minute".to_owned(),
        text => format!("{text} minutes"),
    }
}

/// A rate per hour: two decimals, or in powers of ten when it is tiny.
fn rate(r: f64) -> String {
    if r == 0.0 || r >= 0.01 {
        format!("{r:.2}")
    } else {
        format!("{r:.0e}")
    }
}

fn render_summary(out: &mut String, t: &Transport) {
    let _ = writeln!(out, "\n### What each T tolerates, measured\n");
    for x in &t.timeouts {
        let (survived, first) = x.tolerance();
        let detect: Vec<f64> = x.cuts.iter().filter_map(|c| c.detect_ms).collect();
        let found = if detect.is_empty() {
            "no cut was measured".to_owned()
        } else {
            let s = summarize(&detect);
            format!(
                "finds a host that is gone in {} to {} (median {})",
                secs(s.min),
                secs(s.max),
                secs(s.median)
            )
        };
        let outage = match (survived, first) {
            (Some(s), Some(f)) => format!(
                "outages of up to {} at any phase convict nobody (designed {}); from {} some \
                 phase convicts",
                secs(s as f64),
                secs(x.keepalive.tolerated_outage_ms() as f64),
                secs(f as f64)
            ),
            (Some(s), None) => format!(
                "no outage of the sweep convicted, up to {} (designed {})",
                secs(s as f64),
                secs(x.keepalive.tolerated_outage_ms() as f64)
            ),
            (None, Some(f)) => format!(
                "the shortest outage of the sweep, {}, convicted (designed {})",
                secs(f as f64),
                secs(x.keepalive.tolerated_outage_ms() as f64)
            ),
            (None, None) => "no outage was measured".to_owned(),
        };
        let losses: Vec<String> = t
            .losses
            .iter()
            .filter(|l| l.timeout_ms == x.timeout_ms)
            .map(|l| {
                format!(
                    "at {}% loss {:.2} convictions per client-hour ({} in {:.2} h)",
                    l.loss_pct,
                    per_client_hour(l.convictions(), l.client_ms()),
                    l.convictions(),
                    l.client_ms() as f64 / 3_600_000.0
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "- **T = {}**: {found}; {outage}{}.",
            secs(x.timeout_ms as f64),
            if losses.is_empty() {
                String::new()
            } else {
                format!("; {}", losses.join(", "))
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_take_the_decimals_they_need() {
        assert_eq!(secs(1250.0), "1.25 s");
        assert_eq!(secs(8000.0), "8 s");
        assert_eq!(secs(7500.0), "7.5 s");
        assert_eq!(secs(2345.6), "2.35 s");
    }

    #[test]
    fn minutes_take_a_tenth_where_they_need_it() {
        assert_eq!(minutes(600.0), "10 minutes");
        assert_eq!(minutes(30.0), "0.5 minutes");
        assert_eq!(minutes(632.0), "10.5 minutes");
        assert_eq!(minutes(60.0), "1 minute");
    }

    #[test]
    fn tiny_rates_in_powers_of_ten() {
        assert_eq!(rate(0.0), "0.00");
        assert_eq!(rate(30.9), "30.90");
        assert_eq!(rate(2.6e-6), "3e-6");
    }
}
