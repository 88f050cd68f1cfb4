//! The soak: thousands of watched clients' lives (see `cycle`), in parallel batches, with the
//! server's resident memory and open file descriptors sampled after every batch. They must
//! stay flat: after a warm-up (a tenth of the cycles), memory grows by less than a limit,
//! and when the last client is gone the server has exactly the descriptors it had before
//! the first.

use crate::cycle::{self, Ending, Transport};
use crate::health::{self, Watcher};
use lifesign_proto::event::{Body, Event, GoneReason, LostReason};
use lifesign_tests::Server;
use lifesign_tests::listener::{Listener, Received};
use lifesign_tests::usage::{self, Usage};
use serde_json::{Value, json};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

pub struct Args {
    pub cycles: u64,
    /// Clients alive at once.
    pub parallel: u64,
    /// How long past its deadline a lost client may take to be closed (and a killed one).
    pub bound: Duration,
    /// The most the server's RSS may grow after the warm-up, in KiB.
    pub rss_growth_kib: u64,
}

/// Of every ten lives, eight are lost, one ends cleanly, one is killed; lives alternate
/// between the Unix socket and TCP (whose sockets the module duplicates and must close).
fn plan(k: u64) -> (Ending, Transport) {
    let ending = match k % 10 {
        8 => Ending::Clean,
        9 => Ending::Killed,
        _ => Ending::Lost,
    };
    let transport = if k.is_multiple_of(2) {
        Transport::Unix
    } else {
        Transport::Tcp
    };
    (ending, transport)
}

#[derive(Default)]
struct Counts {
    lost: u64,
    clean: u64,
    killed: u64,
    /// Watch to close, for lost clients.
    worst_lost: Duration,
    total_lost: Duration,
}

/// `listener` serves the server's launcher socket: the events are read from it, not from the
/// server's log, whose lines are rate-limited.
pub fn run(server: &Server, listener: &Listener, args: &Args) -> (Value, Vec<String>) {
    let mut failures = Vec::new();
    let mut watcher = match Watcher::start(server) {
        Ok(w) => w,
        Err(e) => return (json!({}), vec![e]),
    };
    let killer = Arc::new(server.connect());
    let pid = server.pid();
    let display = server.display_number();
    let start_usage = match usage::of(pid) {
        Ok(u) => u,
        Err(e) => return (json!({}), vec![e]),
    };
    println!(
        "soak: {} cycles, {} at once (server pid {pid}, RSS {} KiB, {} fds)",
        args.cycles, args.parallel, start_usage.rss_kib, start_usage.fds
    );
    println!("     cycles  seconds  RSS KiB  fds  worst lost (Watch to close)");
    let warm_up = (args.cycles / 10).max(args.parallel);
    let every = (args.cycles / 10).max(args.parallel);
    let mut warm: Option<Usage> = None;
    let mut samples = Vec::new();
    let mut counts = Counts::default();
    let mut done = 0;
    let start = Instant::now();
    while done < args.cycles && failures.len() < 10 {
        let n = args.parallel.min(args.cycles - done);
        let lives: Vec<_> = (done..done + n)
            .map(|k| {
                let (ending, transport) = plan(k);
                let killer = Arc::clone(&killer);
                let bound = args.bound;
                let life =
                    thread::spawn(move || cycle::live(display, transport, ending, &killer, bound));
                (ending, life)
            })
            .collect();
        for (ending, life) in lives {
            match life.join() {
                Ok(Ok(life)) => counts.add(ending, life.closed_after),
                Ok(Err(e)) => failures.push(e),
                Err(_) => failures.push("a client's thread panicked".into()),
            }
        }
        done += n;
        let now = match usage::of(pid) {
            Ok(u) => u,
            Err(e) => {
                failures.push(e);
                break;
            }
        };
        samples.push((done, now));
        if warm.is_none() && done >= warm_up {
            warm = Some(now);
        }
        if done % every < args.parallel || done == args.cycles {
            if let Err(e) = watcher.check(args.bound) {
                failures.push(format!("after {done} cycles: {e}"));
                break;
            }
            println!(
                "{done:>11}  {:>7.1}  {:>7}  {:>3}  {:.0} ms",
                start.elapsed().as_secs_f64(),
                now.rss_kib,
                now.fds,
                counts.worst_lost.as_secs_f64() * 1e3
            );
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let end_usage = settle(&watcher, pid, start_usage.fds, &mut failures);
    let lives = counts.lost + counts.clean + counts.killed;
    let ends = |r: &[Received]| {
        r.iter()
            .filter(|r| matches!(r.event.body, Body::Lost { .. } | Body::Gone { .. }))
            .count() as u64
    };
    // Every life's end delivered (the module writes them once a pass).
    listener.wait_for(Duration::from_secs(10), |r| ends(r) >= lives);
    // Each event once (one sent again after a reconnect is the same seq), and not the
    // replays of what is watched that open each connection.
    let mut seqs = std::collections::HashSet::new();
    let events: Vec<Event> = listener
        .received()
        .into_iter()
        .map(|r| r.event)
        .filter(|e| {
            !matches!(
                e.body,
                Body::Watched { replay: true, .. } | Body::Hello { .. }
            )
        })
        .filter(|e| seqs.insert(e.seq))
        .collect();
    failures.extend(check_events(&events, &watcher, &counts));
    failures.extend(health::module_errors(server));
    failures.extend(health::unparseable_events(server));
    if let Err(e) = watcher.never_lost_in(events) {
        failures.push(e);
    }
    let warm = warm.unwrap_or(start_usage);
    let growth = end_usage.rss_kib as i64 - warm.rss_kib as i64;
    if end_usage.fds != start_usage.fds {
        failures.push(format!(
            "the server has {} fds after the soak, {} before",
            end_usage.fds, start_usage.fds
        ));
    }
    if growth > args.rss_growth_kib as i64 {
        failures.push(format!(
            "the server's RSS grew by {growth} KiB after the warm-up ({} -> {} KiB), more than {} KiB",
            warm.rss_kib, end_usage.rss_kib, args.rss_growth_kib
        ));
    }
    let lives = counts.lost + counts.clean + counts.killed;
    println!();
    println!(
        "{lives} lives in {seconds:.1} s: {} lost, {} ended cleanly, {} killed",
        counts.lost, counts.clean, counts.killed
    );
    println!(
        "lost clients closed {:.0} ms after their Watch on average, {:.0} ms at worst (deadline {} ms)",
        counts.mean_lost().as_secs_f64() * 1e3,
        counts.worst_lost.as_secs_f64() * 1e3,
        cycle::DEADLINE.as_millis()
    );
    println!(
        "server RSS: {} KiB at the start, {} KiB after the warm-up ({} cycles), {} KiB at the end: {growth:+} KiB after the warm-up (limit {} KiB)",
        start_usage.rss_kib, warm.rss_kib, warm_up, end_usage.rss_kib, args.rss_growth_kib
    );
    println!(
        "server fds: {} at the start, {} at the end; most during the run: {}",
        start_usage.fds,
        end_usage.fds,
        samples.iter().map(|(_, u)| u.fds).max().unwrap_or(0)
    );
    let summary = json!({
        "cycles": lives,
        "seconds": seconds,
        "lost": counts.lost,
        "clean": counts.clean,
        "killed": counts.killed,
        "mean_lost_ms": counts.mean_lost().as_secs_f64() * 1e3,
        "worst_lost_ms": counts.worst_lost.as_secs_f64() * 1e3,
        "rss_start_kib": start_usage.rss_kib,
        "rss_warm_kib": warm.rss_kib,
        "rss_end_kib": end_usage.rss_kib,
        "rss_max_kib": samples.iter().map(|(_, u)| u.rss_kib).max().unwrap_or(0),
        "rss_growth_kib": growth,
        "fds_start": start_usage.fds,
        "fds_end": end_usage.fds,
        "samples": samples.iter().map(|(c, u)| json!([c, u.rss_kib, u.fds])).collect::<Vec<_>>(),
    });
    (summary, failures)
}

impl Counts {
    fn add(&mut self, ending: Ending, closed_after: Option<Duration>) {
        match ending {
            Ending::Lost => {
                self.lost += 1;
                let after = closed_after.unwrap_or_default();
                self.worst_lost = self.worst_lost.max(after);
                self.total_lost += after;
            }
            Ending::Clean => self.clean += 1,
            Ending::Killed => self.killed += 1,
        }
    }

    fn mean_lost(&self) -> Duration {
        self.total_lost / u32::try_from(self.lost.max(1)).unwrap_or(u32::MAX)
    }
}

/// Waits (up to 5 s) until no soak client is watched and the server is back to `fds`
/// descriptors: a clean end is seen by the server a moment after the client shuts down.
fn settle(watcher: &Watcher, pid: u32, fds: usize, failures: &mut Vec<String>) -> Usage {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let others = watcher.others_watched();
        let now = usage::of(pid).unwrap_or_default();
        if (others == Ok(0) && now.fds == fds) || Instant::now() > deadline {
            match others {
                Ok(0) => {}
                Ok(n) => failures.push(format!("{n} soak clients are still watched at the end")),
                Err(e) => failures.push(e),
            }
            return now;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// The module's events agree: one `watched` per life, and one end each, of the right kind.
fn check_events(events: &[Event], watcher: &Watcher, counts: &Counts) -> Vec<String> {
    let mut watched = 0;
    let (mut lost, mut closed, mut killed, mut other) = (0, 0, 0, Vec::new());
    for event in events {
        if event.client().is_some_and(|c| c.id == watcher.bystander_id) {
            continue;
        }
        match &event.body {
            Body::Watched { .. } => watched += 1,
            Body::Lost {
                reason: LostReason::NoopMissed,
                ..
            } => lost += 1,
            Body::Gone {
                reason: GoneReason::Closed,
                ..
            } => closed += 1,
            Body::Gone {
                reason: GoneReason::Killed,
                ..
            } => killed += 1,
            Body::Suspect { .. }
            | Body::Recovered { .. }
            | Body::Updated { .. }
            | Body::Hello { .. }
            | Body::Replayed { .. } => {}
            Body::Lost { .. } | Body::Unwatched { .. } => other.push(event.to_line()),
        }
    }
    let lives = counts.lost + counts.clean + counts.killed;
    let mut failures = Vec::new();
    for (what, got, want) in [
        ("watched", watched, lives),
        ("lost (noop-missed)", lost, counts.lost),
        ("gone (closed)", closed, counts.clean),
        ("gone (killed)", killed, counts.killed),
    ] {
        if got != want {
            failures.push(format!("{got} {what} events for {want} such lives"));
        }
    }
    if !other.is_empty() {
        failures.push(format!(
            "lost for another reason, or unwatched: {}",
            other.join("; ")
        ));
    }
    failures
}
