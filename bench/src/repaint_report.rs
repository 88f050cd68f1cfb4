//! The report's section on the repaint probe: detection of stopped applications, and the
//! probe's cost at 2000 clients.

use crate::plot::{self, Series};
use crate::repaint::{
    self, COST_CLIENTS, Cost, GRACE_MS, INTERVAL_MS, PARALLEL, Repaint, SERVERS, STOP_SPREAD_MS,
    TIMEOUT_MS,
};
use crate::stats::summarize;
use lifesign_proto::event::LostReason;
use std::fmt::Write as _;
use std::path::Path;

const BOUND_MS: f64 = (INTERVAL_MS + TIMEOUT_MS) as f64;

pub fn render(r: &Repaint, report: &Path) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n## Repaint probe: a hung application, and what probing costs\n"
    );
    let options: Vec<String> = repaint::OPTIONS
        .iter()
        .map(|(n, v)| format!("{n} {v}"))
        .collect();
    let _ = writeln!(
        out,
        "`sudo ./scripts/bench.sh --part repaint` ({:.1} minutes in this run). The probe of \
         decision 64: a watched client quiet for `RepaintProbe` gets a real 1x1 Expose on its \
         smallest exposed window, and is lost `repaint-timeout` when no request of its follows \
         within `RepaintProbeTimeout`. Measured on Xorg (dummy driver) with the module ({}), \
         the applications of toolkits that list no `_NET_WM_PING` (docs/compatibility.md), \
         which nothing but `IdleTimeout` caught before.\n",
        r.took.as_secs_f64() / 60.0,
        options.join(", ")
    );
    render_detection(&mut out, r, report);
    render_cost(&mut out, &r.cost);
    out
}

fn ms(v: f64) -> String {
    format!("{v:.0}")
}

fn render_detection(out: &mut String, r: &Repaint, report: &Path) {
    let _ = writeln!(out, "### A hung application: its stop to its `lost`\n");
    let _ = writeln!(
        out,
        "Each trial: the application is started on the toolkit's server ({PARALLEL} at once, \
         each its own trial), watched (its `watched` event), its window mapped (the bench's own \
         client sees it viewable); {} ms after its `watched` event (Grace {GRACE_MS} ms, then \
         two seconds for the probe cycle to settle) and a further random 0–{STOP_SPREAD_MS} ms \
         (more than one cycle: the interval and the answer), it is stopped with SIGSTOP. The \
         latency is the module's `lost` (`at_ms`) minus the stop (the bench's clock, the same \
         wall clock). A stopped client sends nothing, so the next probe goes out \
         `RepaintProbe` after its last request (or one is already out) and the loss comes \
         `RepaintProbeTimeout` after that: the bound is interval + timeout = {} ms from the \
         stop, reached by a stop just after a request.\n",
        GRACE_MS + 2000,
        BOUND_MS
    );
    let _ = writeln!(
        out,
        "| toolkit | application | trials | min ms | median ms | p90 ms | p99 ms | max ms | bound ms | over the bound | past its deadline, median / max ms | the unanswered probe sent after the stop, min–max ms | not `repaint-timeout` | not lost in 10 s | lost while running |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for t in &r.toolkits {
        let latencies: Vec<f64> = t.trials.iter().map(|x| x.latency_ms).collect();
        if latencies.is_empty() {
            let _ = writeln!(
                out,
                "| {} | `{}` | 0 | | | | | | {BOUND_MS:.0} | | | | | {} | {} |",
                t.toolkit.name, t.toolkit.app, t.not_lost, t.lost_running
            );
            continue;
        }
        let s = summarize(&latencies);
        let late = summarize(&t.trials.iter().map(|x| x.late_ms).collect::<Vec<_>>());
        let sent = summarize(
            &t.trials
                .iter()
                .map(|x| x.probe_after_ms)
                .collect::<Vec<_>>(),
        );
        let over = latencies.iter().filter(|&&l| l > BOUND_MS).count();
        let wrong = t
            .trials
            .iter()
            .filter(|x| x.reason != LostReason::RepaintTimeout)
            .count();
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} | **{}** | **{}** | **{}** | **{}** | {BOUND_MS:.0} | {over} | {:+.0} / {:+.0} | {}–{} | {wrong} | {} | {} |",
            t.toolkit.name,
            t.toolkit.app,
            s.n,
            ms(s.min),
            ms(s.median),
            ms(s.p90),
            ms(s.p99),
            ms(s.max),
            late.median,
            late.max,
            ms(sent.min),
            ms(sent.max),
            t.not_lost,
            t.lost_running
        );
    }
    let _ = writeln!(
        out,
        "\n\"Past its deadline\" is the event's `silent_ms` (counted from the client's last \
         request, the probe going out an interval after it) minus the interval and the \
         timeout: how late after the module's own deadline the loss came (its deadline timer \
         sweeps every 10 ms). \"The unanswered probe sent after the stop\" is `at_ms` − \
         `silent_ms` + the interval − the stop: where in the probe cycle the stop fell, \
         from a probe going out just after it (the stop came at the end of a quiet interval) \
         to one going out a whole interval later (the stop came just after the answer to the \
         previous probe); negative, a probe was already out. The p99 is by nearest rank: below \
         100 trials it is the largest value.\n"
    );
    let took: Vec<String> = r
        .toolkits
        .iter()
        .map(|t| format!("{} {:.0} s", t.toolkit.app, t.took.as_secs_f64()))
        .collect();
    let _ = writeln!(out, "Runtime: {}.\n", took.join(", "));
    let columns: Vec<(String, Vec<f64>)> = r
        .toolkits
        .iter()
        .map(|t| {
            (
                t.toolkit
                    .app
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_owned(),
                t.trials.iter().map(|x| x.latency_ms).collect(),
            )
        })
        .collect();
    let series: Vec<Series> = columns
        .iter()
        .map(|(label, values)| Series { label, values })
        .collect();
    plot::strip(
        &plot::dir(report).join("repaint-detection.png"),
        "Repaint probe (1 s, timeout 2 s): SIGSTOP to lost, one dot per trial",
        "ms after the stop",
        &series,
        Some((BOUND_MS, "bound: interval + timeout")),
    );
    let _ = writeln!(
        out,
        "![SIGSTOP to lost per trial, per application, the bound (interval + timeout) dashed](benchmarks/repaint-detection.png)\n"
    );
    let fates: Vec<String> = r
        .stock
        .iter()
        .map(|f| match f.still_there_after {
            Some(d) => format!(
                "`{}` still connected, its window still mapped and the process still stopped \
                 {:.0} s after the stop",
                f.app,
                d.as_secs_f64()
            ),
            None => format!(
                "`{}` gone or changed before the look (unexpected; see the run's output)",
                f.app
            ),
        })
        .collect();
    let _ = writeln!(
        out,
        "Stock Xorg, the same applications stopped the same way (started before the trials, \
         looked at after them): {}. A stock server has no notion of a hung client: it keeps the \
         connection and the window for as long as the process lives, for ever unless someone \
         kills it. Those seconds are how long this run looked, not a limit.\n",
        fates.join("; ")
    );
}

fn render_cost(out: &mut String, c: &Cost) {
    let _ = writeln!(out, "### What probing costs: 2000 idle clients\n");
    let _ = writeln!(
        out,
        "Three Xorg (dummy driver, `-maxclients 2048`) side by side: {}, {} and {} (the scale \
         part's options besides: Watch all, Grace 0, IdleTimeout 10m, Launcher none; \
         RepaintProbeTimeout 2s). Each holds {COST_CLIENTS} raw clients over its Unix socket, \
         each with a mapped 10x10 window (a grid, none covering another) that selected \
         ExposureMask, and otherwise idle; one thread per server (epoll over its clients' \
         sockets) answers every Expose with a ClearArea of the exposed area (exposures off), a \
         repaint's cheapest request. Server CPU is the process's utime + stime from `/proc` \
         over each window of {} s, in % of one core; the probes are the Exposes the clients got \
         in the windows, the answers their ClearAreas.\n",
        SERVERS[0],
        SERVERS[1],
        SERVERS[2],
        c.window.as_secs()
    );
    let _ = writeln!(
        out,
        "| window | {} | {} | {} |\n|---|---|---|---|",
        SERVERS[0], SERVERS[1], SERVERS[2]
    );
    for (i, w) in c.cpu_pct.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {:.2}% | {:.2}% | {:.2}% |",
            i + 1,
            w[0],
            w[1],
            w[2]
        );
    }
    let mean = |i: usize| c.cpu_pct.iter().map(|w| w[i]).sum::<f64>() / c.cpu_pct.len() as f64;
    let means = [mean(0), mean(1), mean(2)];
    let _ = writeln!(
        out,
        "| **mean** | **{:.2}%** | **{:.2}%** | **{:.2}%** |\n",
        means[0], means[1], means[2]
    );
    let rate = |v: u64| v as f64 / c.seconds;
    let _ = writeln!(
        out,
        "| | {} | {} | {} |\n|---|---|---|---|\n\
         | probes (Exposes) the clients got, per second | {:.0} | {:.0} | {:.0} |\n\
         | answers (ClearArea) they sent, per second | {:.0} | {:.0} | {:.0} |\n",
        SERVERS[0],
        SERVERS[1],
        SERVERS[2],
        rate(c.exposes[0]),
        rate(c.exposes[1]),
        rate(c.exposes[2]),
        rate(c.answers[0]),
        rate(c.answers[1]),
        rate(c.answers[2])
    );
    let probes = rate(c.exposes[2]);
    let per_probe_us = |base: f64| (means[2] - base) / 100.0 / probes * 1e6;
    let _ = writeln!(
        out,
        "With the probe on, each of the {COST_CLIENTS} clients is probed once per cycle (the \
         interval after its last request, which is its answer to the previous probe): {:.0} \
         probes a second, {:.2} per client. What the probing costs: {:+.2}% of a core over the \
         probe off, {:+.2}% over stock; per probe {:.1} µs of server CPU over the probe off \
         ({:.1} µs over stock). That is the whole round: the module's sweep finding the client \
         due, the walk of its windows for the smallest exposed one, writing the Expose, then \
         reading and executing the client's ClearArea, the kernel's share (the socket writes \
         and reads, epoll) included. A client busy within the interval gets no probe, so this \
         is the most it costs per client: an idle one. The module's server lost {} clients in \
         the run (every probe was answered).\n",
        probes,
        probes / COST_CLIENTS as f64,
        means[2] - means[1],
        means[2] - means[0],
        per_probe_us(means[1]),
        per_probe_us(means[0]),
        c.lost
    );
}
