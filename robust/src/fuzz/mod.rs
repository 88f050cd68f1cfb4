//! The live fuzzer: random and mutated LIFESIGN requests on raw connections to a running
//! Xorg, in both byte orders, with and without BIG-REQUESTS, every answer checked against
//! the protocol; between batches, a healthy connection's round trip and a bystander that
//! must stay watched as it asked.

mod conn;
mod frame;
mod generator;
mod oracle;
mod prelude;
mod report;
mod segment;
mod tally;
mod valid;

use crate::health::{self, Watcher};
use crate::rng::Rng;
use conn::{End, FuzzConn};
use frame::Framer;
use generator::Generator;
use lifesign_proto::ByteOrder;
use lifesign_proto::event::Body;
use lifesign_tests::Server;
use lifesign_tests::usage::{self, Usage};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tally::Tally;

pub struct Args {
    pub requests: u64,
    pub seed: u64,
    /// Requests between two checks.
    pub batch: u64,
    /// The longest a healthy connection's round trip may take at a check.
    pub bound: Duration,
}

/// A run stops early after this many failures: the first ones tell the story.
const MAX_FAILURES: usize = 10;

pub fn run(server: &Server, args: &Args) -> (Value, Vec<String>) {
    let mut failures = Vec::new();
    let mut watcher = match Watcher::start(server) {
        Ok(w) => w,
        Err(e) => return (json!({}), vec![e]),
    };
    let pid = server.pid();
    let before = usage::of(pid).unwrap_or_default();
    println!(
        "live-fuzz: {} requests, seed {}, checks every {} (server pid {pid}, RSS {} KiB, {} fds)",
        args.requests, args.seed, args.batch, before.rss_kib, before.fds
    );
    println!("   requests  seconds  reconnects  round trip  RSS KiB  fds  errors");
    let mut rng = Rng::new(args.seed);
    let mut phases: VecDeque<_> = prelude::phases().into();
    let mut tally = Tally::default();
    let start = Instant::now();
    let mut next_check = args.batch;
    let mut worst_round_trip = Duration::ZERO;
    let display = server.display_number();
    'run: while tally.requests < args.requests && failures.len() < MAX_FAILURES {
        // A kind of connection: the prelude's next, then random ones for 1000 to 20000
        // requests each, so both byte orders and both length forms keep coming.
        let (order, big, mut specs, budget) = match phases.pop_front() {
            Some(p) => (p.order, p.big, Some(p.specs), u64::MAX),
            None => (
                rng.pick(&[ByteOrder::LsbFirst, ByteOrder::MsbFirst]),
                rng.chance(1, 2),
                None,
                rng.range(1_000, 20_000),
            ),
        };
        let mut conn = match FuzzConn::open(display, order, big) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("cannot open a fuzzing connection: {e}"));
                break;
            }
        };
        let mut used = 0;
        loop {
            let want = (next_check - tally.requests)
                .min(budget - used)
                .min(args.requests - tally.requests)
                .max(1);
            let mut framer = Framer::new(order, conn.big, conn.major);
            let mut generator =
                Generator::new(&mut rng, conn.major, order, conn.big, specs.as_mut());
            let segment = segment::build(
                &mut framer,
                &mut generator,
                order,
                conn.seq,
                want,
                &mut conn.watched,
            );
            let exhausted = generator.exhausted();
            tally.requests += segment.requests;
            used += segment.requests;
            let reopen = match conn.run(segment, &mut tally, &watcher.bystander_id) {
                End::Synced => false,
                End::Closed => {
                    tally.reconnects += 1;
                    true
                }
                End::Broken(why) => {
                    if lost(server, &conn.id) {
                        tally.lost_while_watched += 1;
                    } else {
                        failures.push(format!(
                            "connection {} ({order:?}, big requests {big}): {why}",
                            conn.id
                        ));
                    }
                    true
                }
            };
            if tally.requests >= next_check || tally.requests >= args.requests {
                match check(server, &mut watcher, args.bound) {
                    Ok((round_trip, now)) => {
                        worst_round_trip = worst_round_trip.max(round_trip);
                        println!(
                            "{:>11}  {:>7.1}  {:>10}  {:>7.2} ms  {:>7}  {:>3}  {}",
                            tally.requests,
                            start.elapsed().as_secs_f64(),
                            tally.reconnects,
                            round_trip.as_secs_f64() * 1e3,
                            now.rss_kib,
                            now.fds,
                            tally.errors_line()
                        );
                    }
                    Err(e) => {
                        failures.push(format!("after {} requests: {e}", tally.requests));
                        break 'run;
                    }
                }
                while next_check <= tally.requests {
                    next_check += args.batch;
                }
            }
            if exhausted || used >= budget || tally.requests >= args.requests {
                break;
            }
            if reopen {
                conn = match FuzzConn::open(display, order, big) {
                    Ok(c) => c,
                    Err(e) => {
                        failures.push(format!("cannot reopen a fuzzing connection: {e}"));
                        break 'run;
                    }
                };
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    // The fuzzing connection is gone: give the server a moment to free what it held.
    std::thread::sleep(Duration::from_millis(500));
    let after = usage::of(pid).unwrap_or_default();
    failures.extend(final_checks(server, &mut watcher, args.bound, &tally));
    let summary = report::summary(args.seed, &tally, seconds, worst_round_trip, before, after);
    report::print(&tally, seconds, worst_round_trip, before, after);
    (summary, failures)
}

fn check(
    server: &Server,
    watcher: &mut Watcher,
    bound: Duration,
) -> Result<(Duration, Usage), String> {
    let round_trip = watcher.check(bound)?;
    Ok((round_trip, usage::of(server.pid())?))
}

/// Whether the module declared connection `id` lost (it was watched when it went quiet).
fn lost(server: &Server, id: &str) -> bool {
    health::events(server)
        .0
        .iter()
        .any(|e| matches!(e.body, Body::Lost { .. }) && e.client().is_some_and(|c| c.id == id))
}

fn final_checks(
    server: &Server,
    watcher: &mut Watcher,
    bound: Duration,
    tally: &Tally,
) -> Vec<String> {
    let mut failures = Vec::new();
    if let Err(e) = watcher.check(bound) {
        failures.push(format!("at the end: {e}"));
    }
    if let Err(e) = watcher.never_lost(server) {
        failures.push(e);
    }
    failures.extend(health::module_errors(server));
    failures.extend(health::unparseable_events(server));
    if tally.mismatches > 0 {
        failures.push(format!(
            "{} answers were not what the protocol says; the first:\n  {}",
            tally.mismatches,
            tally.examples.join("\n  ")
        ));
    }
    failures
}
