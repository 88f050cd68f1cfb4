//! The report's sections on scale and event delivery.

use crate::delivery::{self, Delivery};
use crate::plot::{self, Series};
use crate::scale::{self, Scale};
use crate::stats::summarize;
use std::fmt::Write as _;
use std::path::Path;

pub fn render(report: &Path, scale: Option<&Scale>, delivery: Option<&Delivery>) -> String {
    let mut out = String::new();
    if let Some(s) = scale {
        render_scale(&mut out, report, s);
    }
    if let Some(d) = delivery {
        render_delivery(&mut out, report, d);
    }
    if scale.is_some() || delivery.is_some() {
        out.push_str(FINDINGS);
    }
    out
}

/// What profiling found: prose, kept beside the code that measures it.
const FINDINGS: &str = include_str!("findings.md");

fn render_scale(out: &mut String, report: &Path, s: &Scale) {
    let options: Vec<String> = scale::OPTIONS
        .iter()
        .map(|(n, v)| format!("{n} {v}"))
        .collect();
    let _ = writeln!(out, "## Scale: {} watched clients\n", scale::CLIENTS);
    let _ = writeln!(
        out,
        "Xorg (dummy driver, `-maxclients 2048`) with the module ({}) and {} local clients, all \
         watched: {} opted in with the Watch request (ExpectNoOperation {} ms) and send a \
         NoOperation every {} s, spread evenly over the second (one thread, about one request a \
         millisecond); {} are idle (their idle deadline is minutes away, so the heap holds a \
         deadline for every client). A stock Xorg carries the same clients and pulses at the \
         same time, so both are measured under the same conditions.\n",
        options.join(", "),
        scale::CLIENTS,
        scale::PULSING,
        scale::NOOP_DEADLINE_MS,
        scale::PERIOD.as_secs(),
        scale::CLIENTS - scale::PULSING,
    );
    let stock: Vec<f64> = s.cpu_pct.iter().map(|c| c.0).collect();
    let module: Vec<f64> = s.cpu_pct.iter().map(|c| c.1).collect();
    let added: Vec<f64> = s.cpu_pct.iter().map(|c| c.1 - c.0).collect();
    let (st, mo, ad) = (summarize(&stock), summarize(&module), summarize(&added));
    let _ = writeln!(
        out,
        "| figure | windows of {} s | median | min | max | target |\n|---|---|---|---|---|---|\n\
         | stock Xorg CPU, % of one core | {} | {:.2} | {:.2} | {:.2} | |\n\
         | lifesign Xorg CPU, % of one core | {} | {:.2} | {:.2} | {:.2} | |\n\
         | added by the module, % of one core | {} | **{:+.2}** | {:+.2} | {:+.2} | < 1 |\n",
        s.window.as_secs(),
        st.n,
        st.median,
        st.min,
        st.max,
        mo.n,
        mo.median,
        mo.min,
        mo.max,
        ad.n,
        ad.median,
        ad.min,
        ad.max,
    );
    let stock_per = s.stock_memory.per_client();
    let module_per = s.module_memory.per_client();
    let _ = writeln!(
        out,
        "Memory: the servers' resident set (VmRSS) before and after the {} clients connected.\n\n\
         | server | RSS before, KiB | after, KiB | per client, bytes |\n|---|---|---|---|\n\
         | stock Xorg | {} | {} | {:.0} |\n\
         | lifesign Xorg | {} | {} | {:.0} |\n\n\
         The module's memory per watched client, the difference: **{:.0} bytes** (target < 1024). \
         RSS counts whole pages and the allocator's arenas, so this is the cost as the \
         operator's `ps` sees it, not a count of the module's structures.\n",
        scale::CLIENTS,
        s.stock_memory.before / 1024,
        s.stock_memory.after / 1024,
        stock_per,
        s.module_memory.before / 1024,
        s.module_memory.after / 1024,
        module_per,
        module_per - stock_per,
    );
    let micros = |pick: fn(&(u32, u32)) -> u32| -> Vec<f64> {
        s.handler_ns
            .iter()
            .map(|p| f64::from(pick(p)) / 1000.0)
            .collect()
    };
    let (wall, cpu) = (micros(|p| p.0), micros(|p| p.1));
    if wall.is_empty() {
        let _ = writeln!(
            out,
            "No handler timings were recorded (see the run's output).\n"
        );
    } else {
        let (w, c) = (summarize(&wall), summarize(&cpu));
        let dir = plot::dir(report);
        plot::histogram(
            &dir.join("scale-handlers.png"),
            "Time per pass of the module's deadline timer, 2000 clients",
            "µs per pass",
            &[
                Series {
                    label: "wall",
                    values: &wall,
                },
                Series {
                    label: "CPU",
                    values: &cpu,
                },
            ],
        );
        let row = |name: &str, h: &crate::stats::Summary| {
            format!(
                "| {name} | {} | {:.1} | {:.1} | **{:.1}** | {:.1} | p99 < 20 |\n",
                h.n, h.min, h.median, h.p99, h.max
            )
        };
        let _ = writeln!(
            out,
            "Time per pass of the module's deadline timer (a sweep reads every watched client's \
             request count, every 10 ms, up to 15 ms when sweeps are dear; a pass decides \
             what is due and acts on it; the module runs no code on the server's other turns), with the same load, on a build with the \
             `handler-timing` feature (`ext/src/timing.rs`): {} passes in {:.0} s ({:.0} a \
             second). The wall time is how long the server's thread was in the pass, including \
             any time the kernel gave other processes meanwhile (the stock server, the \
             clients' process); the CPU time is the thread's own work in it. The target is \
             issue 7's, for each call into the module.\n\n\
             | clock | passes | min µs | median µs | p99 µs | max µs | target |\n\
             |---|---|---|---|---|---|---|\n{}{}\n\
             ![handler time per pass](benchmarks/scale-handlers.png)\n",
            w.n,
            s.handler_seconds,
            w.n as f64 / s.handler_seconds,
            row("wall", &w),
            row("CPU", &c),
        );
    }
    let d = summarize(&s.detection_ms);
    let _ = writeln!(
        out,
        "Detection at this scale: {} pulsing clients silenced one by one, 200 ms apart, during \
         the same run; latency = `lost` minus (last NoOperation sent + {} ms). Clients lost \
         that were never silenced: **{}**.\n\n\
         | trials | min ms | median ms | p99 ms | max ms | wrong reason |\n|---|---|---|---|---|---|\n\
         | {} | {:+.0} | {:+.0} | **{:+.0}** | {:+.0} | {} |\n",
        d.n,
        scale::NOOP_DEADLINE_MS,
        s.unexpected_lost,
        d.n,
        d.min,
        d.median,
        d.p99,
        d.max,
        s.wrong_reason,
    );
    render_tcp(out, &s.tcp);
}

/// The transport mode's cost: the same number of idle TCP clients on three servers.
fn render_tcp(out: &mut String, t: &crate::scale_tcp::TcpCost) {
    use crate::scale_tcp::SERVERS;
    let _ = writeln!(
        out,
        "### {} idle TCP clients\n\n\
         The same number of clients, idle and over TCP (loopback), on three Xorg side by side: \
         stock; the module (the options above) with TransportTimeout 0, whose cost is its sweeps \
         of request counts; and with TransportTimeout 10s (the default), which adds keepalive on \
         each socket (kernel work, mostly not the server's) and the module's look at each \
         socket's TCP_INFO every second (`watchdog/src/transfer.rs`, on a 100 ms grid). Server \
         CPU, % of a core, per {} s window:\n",
        scale::CLIENTS,
        t.window.as_secs()
    );
    let _ = writeln!(
        out,
        "| window | {} | {} | {} | TransportTimeout 10s less 0 |\n|---|---|---|---|---|",
        SERVERS[0], SERVERS[1], SERVERS[2]
    );
    for (i, w) in t.cpu_pct.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {:.2} | {:.2} | {:.2} | {:+.2} |",
            i + 1,
            w[0],
            w[1],
            w[2],
            w[2] - w[1]
        );
    }
    let n = t.cpu_pct.len().max(1) as f64;
    let mean = |i: usize| t.cpu_pct.iter().map(|w| w[i]).sum::<f64>() / n;
    let _ = writeln!(
        out,
        "\nThe transport mode's looks cost **{:+.2}% of a core** at this scale (mean over the \
         windows), the module in all {:+.2}% over stock.\n",
        mean(2) - mean(1),
        mean(2) - mean(0),
    );
}

fn render_delivery(out: &mut String, report: &Path, d: &Delivery) {
    let _ = writeln!(
        out,
        "## Event delivery: {} clients lost at once\n",
        delivery::LOST
    );
    let _ = writeln!(
        out,
        "{} local clients opt in with ExpectNoOperation and fall silent within a few ms of each \
         other; the module's launcher socket is this benchmark, which timestamps each line as \
         it arrives and acknowledges it at once. A healthy, unwatched client (the tests' \
         prober) sends a NoOperation and makes a GetInputFocus round trip every 0.5 ms \
         throughout.\n",
        delivery::LOST
    );
    let span = d.span_ms();
    let rate = d.lost.len() as f64 / (span / 1000.0).max(0.001);
    let at: Vec<f64> = d.lost.iter().map(|r| r.at_ms as f64).collect();
    let lag: Vec<f64> = d
        .lost
        .iter()
        .map(|r| r.received_ms.saturating_sub(r.at_ms) as f64)
        .collect();
    let (at, lag) = (summarize(&at), summarize(&lag));
    let _ = writeln!(
        out,
        "| lost events received | declared over, ms | first loss to last arrival, ms | events per second | declared → arrived, median ms | p99 ms | max ms |\n|---|---|---|---|---|---|---|\n\
         | {} | {:.0} | {:.0} | **{:.0}** | {:.0} | {:.0} | {:.0} |\n",
        d.lost.len(),
        at.max - at.min,
        span,
        rate,
        lag.median,
        lag.p99,
        lag.max,
    );
    let (from, to) = d.burst();
    let before = d.round_trips_in(from.saturating_sub(1000), from);
    let during = d.round_trips_in(from, to.max(from + 1));
    let _ = writeln!(
        out,
        "The healthy client's round trips, the second before the first loss and during the \
         burst (first loss to last arrival):\n\n\
         | when | round trips | median µs | p99 µs | max µs |\n|---|---|---|---|---|"
    );
    for (name, values) in [("before", &before), ("during", &during)] {
        if values.is_empty() {
            let _ = writeln!(out, "| {name} | 0 | | | |");
            continue;
        }
        let r = summarize(values);
        let _ = writeln!(
            out,
            "| {name} | {} | {:.0} | {:.0} | {:.0} |",
            r.n, r.median, r.p99, r.max
        );
    }
    let dir = plot::dir(report);
    let to_ms = |v: &[f64]| v.iter().map(|us| us / 1000.0).collect::<Vec<_>>();
    let (before_ms, during_ms) = (to_ms(&before), to_ms(&during));
    plot::strip(
        &dir.join("delivery-round-trips.png"),
        "Round trips of a healthy client while 1000 are lost at once",
        "round trip, ms",
        &[
            Series {
                label: "the second before",
                values: &before_ms,
            },
            Series {
                label: "during the burst",
                values: &during_ms,
            },
        ],
        Some((5.0, "5 ms")),
    );
    let _ = writeln!(
        out,
        "\n![round trips during the burst](benchmarks/delivery-round-trips.png)\n"
    );
}
