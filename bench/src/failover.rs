//! Failover time: the cable of the host whose xclock is on the display is cut, and the real
//! `lifesign-launcher` starts the xclock on the other host; each trial from the cut to the
//! backup's window mapped, in its parts: the module's detection, the launcher's reaction, the
//! backup's start (process, X connection, map). Then the cut host is plugged back in and the
//! next trial cuts the host that is now active, so the trials alternate between the two.
//!
//! As in tests/tests/failover.rs: Xorg in a lab with two hosts, the launcher in the bench's
//! own namespace starting its candidates with `ip netns exec <host> xclock ...`.

use crate::maps::Maps;
use crate::stamp;
use lifesign_proto::event::{Body, ClientInfo, Event, LostReason};
use lifesign_tests::launcher::toml_argv;
use lifesign_tests::lifesign::list_clients;
use lifesign_tests::net::{DISPLAY_ADDR, Host, Lab};
use lifesign_tests::windows::{mapped_from, wait_until};
use lifesign_tests::{Launcher, Server, Xorg, unix_ms};
use std::net::{Ipv4Addr, SocketAddr};
use std::thread;
use std::time::{Duration, Instant};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::Window;

/// xclock redraws once a second (`-update 1`), so a healthy one is never silent for 2 s; 1 s
/// would convict a healthy clock now and then.
pub const IDLE_MS: u64 = 2000;
/// Grace after connection setup, as in tests/tests/failover.rs.
const GRACE: &str = "500ms";
/// The service's name and its xclocks' WM_CLASS instance.
const NAME: &str = "plant-view";
/// Flap protection out of the way: a window shorter than a trial holds no earlier failover
/// when the next one comes, so neither the backoff (1 s, doubling, between failovers inside
/// the window) nor `max_failovers` ever holds a trial back.
pub const FLAP: &str = "max_failovers = 1000\nwindow = \"1s\"";
/// How long the active xclock runs, once mapped, before its cable is cut: its last redraw
/// before the cut (within the second before it) must come after Grace has ended, or the
/// deadline would count from Grace's end instead of the last request: 1 s + Grace + slack.
const SETTLE: Duration = Duration::from_millis(1800);
/// An offset of the `i`th cut within xclock's second, spread evenly over it (golden-ratio
/// steps, so the same run cuts at the same moments). xclock redraws on the wall clock's second
/// and the backup starts at a fixed time after a redraw, so without it every trial would cut
/// at the same moment of the second, and cut → lost would be one value, not its spread.
fn phase(i: usize) -> Duration {
    Duration::from_secs_f64((i as f64 * 0.618_033_988_75).fract())
}

/// How long any one step may take before the trial is given up as broken.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// One failover, in ms.
pub struct Trial {
    /// The cut to the module's `lost` (its `at_ms`).
    pub detect_ms: f64,
    /// How far past its deadline the module declared it: `silent_ms` (since the last request)
    /// minus IdleTimeout. A stall of the server would push the deadline and show here.
    pub late_ms: f64,
    /// `lost` to the launcher's "started candidate" (it spawned the backup).
    pub launch_ms: f64,
    /// The spawn to the backup's window mapped (MapNotify seen by a client of the bench).
    pub map_ms: f64,
    /// `lost` to the backup mapped: what the failover adds to detection.
    pub recover_ms: f64,
    /// The cut to the backup mapped.
    pub total_ms: f64,
}

pub struct Failover {
    pub setting: String,
    pub trials: Vec<Trial>,
    pub wrong_reason: usize,
    /// Log lines of the launcher's flap protection holding a failover back (should be none).
    pub held_back: usize,
    /// How long the `ip link set down` of a cut took, median (the cut's moment is its start).
    pub cut_cmd_ms: f64,
    pub took: Duration,
}

/// An xclock on `host` whose WM_CLASS instance is [`NAME`].
fn xclock(host: &Host) -> Vec<String> {
    host.argv(&["xclock", "-update", "1", "-name", NAME])
}

fn config(a: &Host, b: &Host) -> String {
    format!(
        "display = \"{DISPLAY_ADDR}:0\"\n[[service]]\nname = {NAME:?}\n\
         match = {{ peer = \"10.211.0.0/16\", wm_class = {NAME:?} }}\n\
         start = [{}, {}]\nstart_primary = true\n{FLAP}\n",
        toml_argv(&xclock(a)),
        toml_argv(&xclock(b)),
    )
}

fn peer_is(client: &ClientInfo, host: Ipv4Addr) -> bool {
    client
        .peer
        .as_deref()
        .and_then(|p| p.parse::<SocketAddr>().ok())
        .is_some_and(|p| p.ip() == host)
}

/// Is `window` a window of a watched client from `host` (ListClients, by resource-ID base)?
fn owned_by(conn: &impl Connection, window: Window, host: Ipv4Addr) -> bool {
    let id = ClientInfo::format_id(window & !conn.setup().resource_id_mask);
    list_clients(conn)
        .iter()
        .any(|e| e.client.id == id && peer_is(&e.client, host))
}

fn wait_lost(server: &Server, seen: u64, host: Ipv4Addr) -> Event {
    server
        .wait_for_event(STEP_TIMEOUT, |e| {
            e.seq > seen
                && matches!(e.body, Body::Lost { .. })
                && e.client().is_some_and(|c| peer_is(c, host))
        })
        .expect("the cut host's xclock is lost")
}

/// The time of the launcher's `n`th (from 0) "started candidate" line.
fn started_at(launcher: &Launcher, n: usize) -> f64 {
    let lines = || launcher.log_lines("started candidate");
    assert!(
        launcher.wait_for_log("started candidate", n + 1, STEP_TIMEOUT),
        "the launcher starts a backup:\n{}",
        launcher.log()
    );
    let line = &lines()[n];
    stamp::unix_ms(line).unwrap_or_else(|| panic!("no time stamp in {line:?}"))
}

/// `trials` failovers, alternating between the two hosts.
pub fn run(trials: usize) -> Failover {
    let began = Instant::now();
    // scripts/bench.sh names the release build; the harness's default is the debug one.
    eprintln!(
        "failover: lifesign-launcher is {}",
        lifesign_tests::launcher::binary().display()
    );
    let lab = Lab::new(2);
    let hosts = [lab.host(0), lab.host(1)];
    let launcher = Launcher::new(&config(hosts[0], hosts[1])).start();
    let server = Xorg::new()
        .in_lab(&lab)
        .option("WatchPeers", "10.211.0.0/16")
        .option("IdleTimeout", &format!("{IDLE_MS}ms"))
        .option("Grace", GRACE)
        .option(
            "Launcher",
            launcher.socket().to_str().expect("a UTF-8 path"),
        )
        .start();
    assert_eq!(server.display_number(), 0, "the launcher's display is :0");
    let conn = server.connect();
    let maps = Maps::watch(&server);
    wait_until(Duration::from_secs(20), || {
        !mapped_from(&conn, hosts[0].addr, NAME).is_empty()
    })
    .unwrap_or_else(|| panic!("the launcher starts the primary:\n{}", launcher.log()));

    let mut out = Vec::new();
    let mut wrong_reason = 0;
    let mut cut_cmd = Vec::new();
    for i in 0..trials {
        let (cut, backup) = (hosts[i % 2], hosts[(i + 1) % 2]);
        thread::sleep(SETTLE + phase(i));
        let seen = server.events().last().map_or(0, |e| e.seq);
        let starts = launcher.log_lines("started candidate").len();
        maps.clear();
        let cut_at = unix_ms();
        cut.cut();
        cut_cmd.push((unix_ms() - cut_at) as f64);
        let lost = wait_lost(&server, seen, cut.addr);
        let mapped_at = maps
            .next(STEP_TIMEOUT, |w| owned_by(&conn, w, backup.addr))
            .unwrap_or_else(|| panic!("the backup is mapped:\n{}", launcher.log()));
        let started = started_at(&launcher, starts);
        cut.restore();
        let Body::Lost {
            reason, silent_ms, ..
        } = lost.body
        else {
            unreachable!("wait_lost takes lost events only")
        };
        if reason != LostReason::IdleTimeout {
            wrong_reason += 1;
        }
        let (cut_at, lost_at, mapped_at) = (cut_at as f64, lost.at_ms as f64, mapped_at as f64);
        let trial = Trial {
            detect_ms: lost_at - cut_at,
            late_ms: silent_ms as f64 - IDLE_MS as f64,
            launch_ms: started - lost_at,
            map_ms: mapped_at - started,
            recover_ms: mapped_at - lost_at,
            total_ms: mapped_at - cut_at,
        };
        eprintln!(
            "failover {}: cut -> lost {:.0} ms ({:+.0} past the deadline), -> started {:.0} ms, -> mapped {:.0} ms; total {:.0} ms",
            i + 1,
            trial.detect_ms,
            trial.late_ms,
            trial.launch_ms,
            trial.map_ms,
            trial.total_ms
        );
        out.push(trial);
    }
    let held_back = launcher.log_lines("flap protection").len();
    Failover {
        setting: format!(
            "IdleTimeout {IDLE_MS}ms, Grace {GRACE}, WatchPeers 10.211.0.0/16; xclock -update 1"
        ),
        trials: out,
        wrong_reason,
        held_back,
        cut_cmd_ms: crate::stats::summarize(&cut_cmd).median,
        took: began.elapsed(),
    }
}
