//! The report's section on faults.

use crate::faults::{BOUND_NS, EntryFigures, Faults, SERVER_CLOSE, is_entry_point};
use crate::stats::summarize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

fn ms(ns: u64) -> String {
    format!("{:.2}", ns as f64 / 1e6)
}

pub fn render(f: &Faults) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Faults: how long the module held the server\n");
    let _ = writeln!(
        out,
        "The fault tests (`tests/tests/faults.rs`, `faults_server.rs`), run one at a time as \
         they are, with the `handler-timing` build of the module, which times every call \
         from the server into the module (its deadline timer, callbacks, requests, \
         the launcher link, timers: everything that passes `guard::entry`) in wall time and \
         in the server thread's CPU time. Wall time is how long the server's thread was in \
         the module; CPU time is the part of it the thread ran, so the difference is time \
         the kernel gave to other processes (on this 2-core machine: the test's clients, \
         the launcher end, the prober). A call made inside another (a client-state callback \
         from a client closed by the deadline timer) counts in both. The server's own \
         CloseDownClient of a client the module lost is timed apart too, inside the deadline \
         timer's pass, since what it costs (freeing what the client held) is the server's \
         and would be paid at any close of that client. The target: no call longer than {} \
         ms. Each test's prober times a healthy client's round trips throughout (every 5 \
         ms).\n",
        ms(BOUND_NS)
    );
    if f.failed {
        let _ = writeln!(
            out,
            "**Some fault tests failed in this run**; their figures are still shown.\n"
        );
    }
    let _ = writeln!(
        out,
        "| test | calls | longest call, wall ms (entry point) | longest, CPU ms | of which the server's CloseDownClient, CPU ms | calls over {} ms, wall / CPU | round trips | median ms | p99 ms | max ms |\n|---|---|---|---|---|---|---|---|---|---|",
        ms(BOUND_NS)
    );
    let mut by_entry: BTreeMap<&str, EntryFigures> = BTreeMap::new();
    for (test, t) in &f.tests {
        for (name, e) in &t.entries {
            by_entry.entry(name.as_str()).or_default().merge(e);
        }
        let all = t.all();
        let wall = t
            .longest(|e| &e.wall)
            .map_or("-".into(), |(n, ns)| format!("{} ({n})", ms(ns)));
        let cpu = t.longest(|e| &e.cpu).map_or("-".into(), |(_, ns)| ms(ns));
        let trips = t.round_trips().map_or("- | - | - | -".into(), |s| {
            format!(
                "{} | {:.2} | {:.2} | {:.2}",
                s.n,
                s.median / 1e3,
                s.p99 / 1e3,
                s.max / 1e3
            )
        });
        let close = t.longest_server_close_cpu().map_or("-".into(), ms);
        let _ = writeln!(
            out,
            "| `{test}` | {} | {wall} | {cpu} | {close} | {} / {} | {trips} |",
            all.calls,
            all.wall.over(BOUND_NS),
            all.cpu.over(BOUND_NS),
        );
    }
    if !f.stock_round_trips_us.is_empty() {
        let s = summarize(&f.stock_round_trips_us);
        let _ = writeln!(
            out,
            "| stock Xorg, probed alone for comparison | | | | | | {} | {:.2} | {:.2} | {:.2} |",
            s.n,
            s.median / 1e3,
            s.p99 / 1e3,
            s.max / 1e3
        );
    }
    let _ = writeln!(
        out,
        "\nBy entry point, over every test (calls by duration, wall time; the CPU time's \
         longest beside it):\n"
    );
    let _ = writeln!(
        out,
        "| entry point | calls | ≤ 10 µs | ≤ 100 µs | ≤ 1 ms | ≤ 2 ms | ≤ 5 ms | > 5 ms | longest, wall ms | longest, CPU ms |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    for (name, e) in &by_entry {
        let b = &e.wall.buckets;
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            e.calls,
            b[0],
            b[1],
            b[2],
            b[3],
            b[4],
            b[5..].iter().sum::<u64>(),
            ms(e.wall.longest_ns),
            ms(e.cpu.longest_ns)
        );
    }
    let points = || {
        by_entry
            .iter()
            .filter(|(n, _)| is_entry_point(n))
            .map(|(_, e)| e)
    };
    let over_cpu: u64 = points().map(|e| e.cpu.over(BOUND_NS)).sum();
    let over_wall: u64 = points().map(|e| e.wall.over(BOUND_NS)).sum();
    let calls: u64 = points().map(|e| e.calls).sum();
    let _ = writeln!(
        out,
        "\nOf {calls} calls into the module during the faults, {over_cpu} took over {} ms of \
         the server thread's CPU time and {over_wall} over {} ms of wall time.\n",
        ms(BOUND_NS),
        ms(BOUND_NS)
    );
    if let Some(close) = by_entry.get(SERVER_CLOSE) {
        let _ = writeln!(
            out,
            "The server's own CloseDownClient of the {} clients the module lost took up to {} \
             ms of CPU time, over {} ms {} times: those are in the deadline timer's figures \
             above, and the module's own part of such a pass is the difference.\n",
            close.calls,
            ms(close.cpu.longest_ns),
            ms(BOUND_NS),
            close.cpu.over(BOUND_NS)
        );
    }
    let _ = writeln!(
        out,
        "Runtime: {:.0} s (the fault tests, then the stock server's probe).\n",
        f.runtime.as_secs_f64()
    );
    out
}
