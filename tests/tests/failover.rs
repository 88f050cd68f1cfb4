//! Failover end to end: real Xorg with the module, the real `lifesign-launcher`, xclocks on
//! two application hosts made as network namespaces, cables pulled with `ip link`.
//!
//! The launcher runs in the test's own namespace and starts its candidates with
//! `ip netns exec <host> xclock ...` (as a real one would with `ssh host xclock ...`); every
//! host reaches the display at `DISPLAY_ADDR`, which is the launcher's `display`.

use lifesign_proto::event::{Body, StatusEntry};
use lifesign_tests::launcher::toml_argv;
use lifesign_tests::net::{DISPLAY_ADDR, Host, Lab};
use lifesign_tests::windows::{map_with_class, mapped_from, wait_until};
use lifesign_tests::{Launcher, Server, Xorg};
use rustix::process::Signal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::ConnectionExt as _;
use x11rb::wrapper::ConnectionExt as _;

const IDLE: Duration = Duration::from_secs(2);

/// An xclock that redraws every second (so it is never idle while healthy), named `name`
/// (its WM_CLASS instance).
fn xclock(host: &Host, name: &str) -> Vec<String> {
    host.argv(&["xclock", "-update", "1", "-name", name])
}

/// A `[[service]]` named `name` for xclocks named `name`, primary on `a`, backup on `b`.
fn service(name: &str, a: &Host, b: &Host, extra: &str) -> String {
    format!(
        "[[service]]\nname = {name:?}\nmatch = {{ peer = \"10.211.0.0/16\", wm_class = {name:?} }}\n\
         start = [{}, {}]\nstart_primary = true\n{extra}\n",
        toml_argv(&xclock(a, name)),
        toml_argv(&xclock(b, name)),
    )
}

fn launcher(services: &str) -> Launcher {
    Launcher::new(&format!("display = \"{DISPLAY_ADDR}:0\"\n{services}")).start()
}

/// Xorg in the lab, watching the lab's hosts (not the test's own connections) with an idle
/// deadline, and reporting to `launcher`.
fn xorg(lab: &Lab, launcher: &Launcher, idle: Duration) -> Server {
    let server = Xorg::new()
        .in_lab(lab)
        .option("WatchPeers", "10.211.0.0/16")
        .option("IdleTimeout", &format!("{}ms", idle.as_millis()))
        .option("Grace", "500ms")
        .option("Launcher", launcher.socket().to_str().unwrap())
        .start();
    assert_eq!(server.display_number(), 0, "the launcher's display is :0");
    server
}

/// The watched clients from `host` named `name` that have a window mapped.
fn mapped(conn: &impl Connection, host: &Host, name: &str) -> Vec<StatusEntry> {
    mapped_from(conn, host.addr, name)
}

fn wait_mapped(
    conn: &impl Connection,
    host: &Host,
    name: &str,
    timeout: Duration,
) -> Option<Instant> {
    wait_until(timeout, || !mapped(conn, host, name).is_empty())
}

/// The environment of process `pid`.
fn environ(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .map(|b| {
            b.split(|&c| c == 0)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Round trips (NoOperation, then GetInputFocus for the reply) of a client of the test's own,
/// in a loop until stopped; returns their durations.
struct Prober {
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<Vec<Duration>>,
}

impl Prober {
    fn start(server: &Server) -> Self {
        let conn = server.connect();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = thread::spawn({
            let stop = stop.clone();
            move || {
                let mut times = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    conn.no_operation().unwrap();
                    conn.get_input_focus().unwrap().reply().unwrap();
                    times.push(t.elapsed());
                    thread::sleep(Duration::from_millis(5));
                }
                times
            }
        });
        Self { stop, thread }
    }

    /// Stops; returns (p99, max, count).
    fn finish(self) -> (Duration, Duration, usize) {
        self.stop.store(true, Ordering::Relaxed);
        let mut times = self.thread.join().expect("the prober");
        times.sort();
        assert!(times.len() > 100, "the prober ran: {}", times.len());
        let p99 = times[times.len() * 99 / 100];
        (p99, *times.last().unwrap(), times.len())
    }
}

/// Two hosts, the launcher with service `plant-view` (primary on host A, backup on host B),
/// and Xorg; returned once the launcher's primary is mapped.
fn plant_view() -> (Lab, Launcher, Server) {
    let lab = Lab::new(2);
    let launcher = launcher(&service("plant-view", lab.host(0), lab.host(1), ""));
    let server = xorg(&lab, &launcher, IDLE);
    wait_mapped(
        &server.connect(),
        lab.host(0),
        "plant-view",
        Duration::from_secs(20),
    )
    .expect("the launcher starts the primary on host A");
    (lab, launcher, server)
}

#[test]
fn a_cut_host_is_replaced_by_the_backup_within_idle_timeout_and_a_second() {
    let (lab, launcher, server) = plant_view();
    let (a, b) = (lab.host(0), lab.host(1));
    let conn = server.connect();
    assert!(mapped(&conn, b, "plant-view").is_empty());

    let cut = Instant::now();
    a.cut();
    let mapped_at = wait_mapped(&conn, b, "plant-view", Duration::from_secs(15))
        .expect("the backup from host B is mapped");
    let took = mapped_at - cut;
    eprintln!("cut to backup mapped: {took:?}");
    assert!(took <= IDLE + Duration::from_secs(1), "{took:?}");

    // The launcher's log tells the story: the event with its reason, the candidate started.
    assert_eq!(
        launcher.log_lines("event lost").len(),
        1,
        "{}",
        launcher.log()
    );
    let lost = &launcher.log_lines("event lost")[0];
    assert!(
        lost.contains("reason=idle-timeout") && lost.contains("10.211.1.2"),
        "{lost}"
    );
    let started = launcher.log_lines("started candidate");
    assert_eq!(started.len(), 2, "{}", launcher.log());
    assert!(
        started[0].contains("candidate=0") && started[0].contains("h0"),
        "{}",
        started[0]
    );
    assert!(
        started[1].contains("candidate=1") && started[1].contains("h1"),
        "{}",
        started[1]
    );
    // The backup got DISPLAY and LIFESIGN_SERVICE.
    let backup = launcher.started_pids()[1];
    let env = environ(backup);
    assert!(
        env.contains(&format!("DISPLAY={DISPLAY_ADDR}:0")),
        "{env:?}"
    );
    assert!(
        env.contains(&"LIFESIGN_SERVICE=plant-view".to_owned()),
        "{env:?}"
    );
    // It is acknowledged: the module keeps nothing for the launcher.
    assert!(server.log_lines("launcher queue full").is_empty());
    // The backup was taken for up when its window showed its class (`updated`), not at its
    // startup_timeout (10 s) on a mere connection.
    assert!(
        wait_until(Duration::from_secs(3), || {
            launcher.log_lines("service is up").len() >= 2
        })
        .is_some(),
        "{}",
        launcher.log()
    );
    assert!(
        launcher.log_lines("has shown no window yet").is_empty(),
        "{}",
        launcher.log()
    );
}

/// The service's entry in the launcher's state file, as JSON.
fn service_state(launcher: &Launcher, name: &str) -> serde_json::Value {
    std::fs::read(launcher.state_file())
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .map(|v| v["services"][name].clone())
        .unwrap_or_default()
}

#[test]
fn the_state_names_the_lost_client_while_its_backup_starts() {
    // What `lifesign overlay` reads to show, in the lost client's place, the backup being
    // started: `services.<name>.replacing`, from the start until the backup is up.
    let (lab, launcher, server) = plant_view();
    let (a, b) = (lab.host(0), lab.host(1));
    let conn = server.connect();
    let primary = mapped(&conn, a, "plant-view")[0].client.id.clone();
    assert!(service_state(&launcher, "plant-view")["replacing"].is_null());
    a.cut();
    let mut seen = serde_json::Value::Null;
    let named = wait_until(Duration::from_secs(15), || {
        seen = service_state(&launcher, "plant-view")["replacing"].clone();
        !seen.is_null()
    });
    assert!(named.is_some(), "{}", launcher.log());
    assert_eq!(seen["client"], serde_json::json!(primary), "{seen}");
    assert_eq!(seen["candidate"], serde_json::json!(1), "{seen}");
    assert!(seen["command"].to_string().contains("h1"), "{seen}");
    assert!(seen["since_ms"].as_u64().is_some(), "{seen}");
    wait_mapped(&conn, b, "plant-view", Duration::from_secs(15)).expect("the backup");
    assert!(
        wait_until(Duration::from_secs(5), || {
            service_state(&launcher, "plant-view")["replacing"].is_null()
        })
        .is_some(),
        "still replacing once the backup is up:\n{}",
        launcher.log()
    );
}

#[test]
fn a_client_that_opts_out_is_not_replaced() {
    // A service's application on host A that is running when the launcher starts (no
    // start_primary): the launcher takes it for the service when its window shows its class
    // (`updated`). Then it opts out (Unwatch): the server will not report its end, so the
    // launcher stops waiting for it and starts nothing in its place, not even when its host
    // is cut.
    let lab = Lab::new(2);
    let (a, b) = (lab.host(0), lab.host(1));
    let launcher = launcher(&format!(
        "[[service]]\nname = \"plant-view\"\nmatch = {{ peer = \"10.211.0.0/16\", wm_class = \"plant-view\" }}\n\
         start = [{}]\n",
        toml_argv(&xclock(b, "plant-view"))
    ));
    let server = xorg(&lab, &launcher, IDLE);
    assert!(launcher.wait_for_log("event replayed", 1, Duration::from_secs(15)));
    let app = a.connect_x(0);
    map_with_class(&app, b"plant-view\0XClock\0");
    // (Busy meanwhile: an idle client is lost after IDLE.)
    let up = wait_until(Duration::from_secs(10), || {
        app.get_input_focus().unwrap().reply().unwrap();
        !launcher
            .log_lines("service is up (already running)")
            .is_empty()
    });
    assert!(up.is_some(), "{}", launcher.log());
    lifesign_tests::lifesign::unwatch(&app);
    assert!(
        launcher.wait_for_log("no longer watched", 1, Duration::from_secs(10)),
        "{}",
        launcher.log()
    );
    a.cut();
    thread::sleep(IDLE + Duration::from_secs(2));
    assert!(server.lost_events().is_empty(), "it is not watched");
    assert!(
        launcher.log_lines("started candidate").is_empty(),
        "{}",
        launcher.log()
    );
    // Not started on this server start; the candidate it was on is kept (decision 83).
    let state = service_state(&launcher, "plant-view");
    assert_eq!(state["active"], 0, "{state}");
    assert!(state["closed_on_server"].is_u64(), "{state}");
    drop(app);
}

#[test]
fn a_launcher_killed_during_an_outage_acts_on_every_loss_once_after_its_restart() {
    let lab = Lab::new(2);
    let (a, b) = (lab.host(0), lab.host(1));
    let names = ["view-1", "view-2", "view-3"];
    let services: String = names.iter().map(|n| service(n, a, b, "")).collect();
    let mut launcher = launcher(&services);
    let server = xorg(&lab, &launcher, IDLE);
    let conn = server.connect();
    for name in names {
        wait_mapped(&conn, a, name, Duration::from_secs(20)).expect("primaries on host A");
    }

    let prober = Prober::start(&server);
    launcher.kill();
    let killed = Instant::now();
    a.cut();
    assert!(
        wait_until(Duration::from_secs(15), || server.lost_events().len() >= 3).is_some(),
        "all three are lost while the launcher is away"
    );
    thread::sleep(Duration::from_secs(5).saturating_sub(killed.elapsed()));
    let (p99, max, count) = prober.finish();
    eprintln!("round trips during the outage: p99 {p99:?}, max {max:?} over {count}");
    assert!(p99 < Duration::from_millis(5), "p99 {p99:?}");

    launcher.restart();
    for name in names {
        wait_mapped(&conn, b, name, Duration::from_secs(20))
            .unwrap_or_else(|| panic!("{name} fails over to host B:\n{}", launcher.log()));
    }
    // Time for a duplicate to show, if there were one.
    thread::sleep(Duration::from_secs(2));

    let lost = server.lost_events();
    assert_eq!(lost.len(), 3);
    for event in &lost {
        let needle = format!("seq={} ", event.seq);
        let seen: Vec<String> = launcher
            .log_lines("event lost")
            .into_iter()
            .filter(|l| l.contains(&needle))
            .collect();
        assert_eq!(
            seen.len(),
            1,
            "lost seq {} reaches the launcher once: {seen:?}",
            event.seq
        );
    }
    for name in names {
        let service = format!("service={name} ");
        let failovers = launcher
            .log_lines("failing over")
            .into_iter()
            .filter(|l| l.contains(&service))
            .count();
        assert_eq!(failovers, 1, "{name} fails over once:\n{}", launcher.log());
        assert_eq!(mapped(&conn, b, name).len(), 1, "one backup of {name}");
    }
    assert_eq!(
        launcher.log_lines("started candidate").len(),
        6,
        "{}",
        launcher.log()
    );
}

#[test]
fn a_stopped_launcher_does_not_hold_up_the_server_and_catches_up_after() {
    let (lab, launcher, server) = plant_view();
    let (a, b) = (lab.host(0), lab.host(1));
    let conn = server.connect();

    let prober = Prober::start(&server);
    launcher.signal(Signal::STOP);
    let stopped = Instant::now();
    a.cut();
    // Clients come and go on host B meanwhile: events pile up for the stopped launcher.
    let mut churn = 0;
    while stopped.elapsed() < Duration::from_secs(10) {
        let c = b.connect_x(0);
        c.get_input_focus().unwrap().reply().unwrap();
        drop(c);
        churn += 1;
        thread::sleep(Duration::from_millis(100));
    }
    let (p99, max, count) = prober.finish();
    eprintln!(
        "round trips while the launcher is stopped: p99 {p99:?}, max {max:?} over {count}; {churn} clients came and went"
    );
    assert!(p99 < Duration::from_millis(5), "p99 {p99:?}");
    assert!(
        server.lost_events().len() == 1,
        "the primary was lost meanwhile"
    );

    launcher.signal(Signal::CONT);
    wait_mapped(&conn, b, "plant-view", Duration::from_secs(15))
        .unwrap_or_else(|| panic!("the backup is started after SIGCONT:\n{}", launcher.log()));
}

#[test]
fn flapping_starts_at_most_max_failovers_backups() {
    const MAX: usize = 3;
    let lab = Lab::new(2);
    let hosts = [lab.host(0), lab.host(1)];
    let launcher = launcher(&service(
        "plant-view",
        hosts[0],
        hosts[1],
        &format!("max_failovers = {MAX}\nwindow = \"10m\""),
    ));
    let idle = Duration::from_millis(1500);
    let server = xorg(&lab, &launcher, idle);
    let conn = server.connect();
    wait_mapped(&conn, hosts[0], "plant-view", Duration::from_secs(20)).expect("the primary");

    let begin = Instant::now();
    for round in 0..10u32 {
        let round_start = Instant::now();
        // Pull the cable of whichever host shows the clock (both when none does).
        let active: Vec<&Host> = hosts
            .iter()
            .copied()
            .filter(|h| !mapped(&conn, h, "plant-view").is_empty())
            .collect();
        if active.is_empty() {
            // Nothing runs (flap protection holds the failover back): cut and restore both.
            for h in hosts {
                h.cut();
            }
            thread::sleep(idle + Duration::from_millis(500));
            for h in hosts {
                h.restore();
            }
        } else {
            let lost_before = server.lost_events().len();
            for h in &active {
                h.cut();
            }
            wait_until(idle + Duration::from_secs(2), || {
                server.lost_events().len() > lost_before
            });
            for h in &active {
                h.restore();
            }
            // Then the next candidate comes up on the other host, if the launcher starts one.
            wait_until(Duration::from_secs(3), || {
                hosts
                    .iter()
                    .any(|h| !mapped(&conn, h, "plant-view").is_empty())
            });
        }
        thread::sleep(Duration::from_millis(5500).saturating_sub(round_start.elapsed()));
        eprintln!("round {round}: {:?}", begin.elapsed());
    }
    assert!(
        begin.elapsed() <= Duration::from_secs(60),
        "ten cuts in a minute"
    );
    let started = launcher.log_lines("started candidate").len();
    // The primary, then at most MAX backups; all MAX were used, then it held back.
    assert_eq!(started, 1 + MAX, "{}", launcher.log());
    assert!(
        !launcher.log_lines("flap protection").is_empty(),
        "{}",
        launcher.log()
    );
}

#[test]
fn malformed_peers_do_not_disturb_the_servers_link() {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    let lab = Lab::new(1);
    let launcher = launcher("");
    let _server = xorg(&lab, &launcher, IDLE);
    assert!(launcher.wait_for_log("server said hello", 1, Duration::from_secs(15)));
    for junk in [
        &b"{\"v\":1,\"type\":\"lost\"}\n"[..],
        b"garbage\n",
        &[b'{'; 100_000],
    ] {
        let mut s = UnixStream::connect(launcher.socket()).unwrap();
        let _ = s.write_all(junk);
    }
    assert!(launcher.wait_for_log("closing the connection", 3, Duration::from_secs(5)));
    // The module's own connection still carries events, acknowledged.
    let app = lab.host(0).connect_x(0);
    app.get_input_focus().unwrap().reply().unwrap();
    assert!(
        launcher.wait_for_log("event lost", 1, IDLE + Duration::from_secs(10)),
        "{}",
        launcher.log()
    );
    assert_eq!(
        launcher.log_lines("server said hello").len(),
        1,
        "no reconnect was needed"
    );
    drop(app);
}

#[test]
fn a_client_with_a_wm_class_of_megabytes_does_not_hold_up_the_servers_events() {
    let lab = Lab::new(1);
    let launcher = launcher("");
    let server = xorg(&lab, &launcher, IDLE);
    assert!(launcher.wait_for_log("server said hello", 1, Duration::from_secs(15)));

    // A client of its own choosing sets a WM_CLASS of 2 MB (BIG-REQUESTS) and goes quiet.
    let hostile = lab.host(0).connect_x(0);
    let mut class = vec![b'h'; 2 << 20];
    class.extend(b"\0Hostile\0");
    map_with_class(&hostile, &class);
    // Then an ordinary one, quiet too.
    let ordinary = lab.host(0).connect_x(0);
    ordinary.get_input_focus().unwrap().reply().unwrap();

    // Both losses reach the launcher on the module's one connection: the hostile client's
    // event carries its class cut to the bound, a line the launcher takes.
    assert!(
        launcher.wait_for_log("event lost", 2, IDLE + Duration::from_secs(10)),
        "{}",
        launcher.log()
    );
    assert_eq!(
        launcher.log_lines("server said hello").len(),
        1,
        "{}",
        launcher.log()
    );
    assert!(
        launcher.log_lines("closing the connection").is_empty(),
        "{}",
        launcher.log()
    );
    // (From the launcher's log: Xorg cuts a log line at 1024 bytes, so its copy of the
    // event is not whole.)
    let class = format!(
        "wm_class {:?}/\"Hostile\"",
        "h".repeat(lifesign_proto::event::MAX_TEXT)
    );
    let lost = launcher.log_lines(&class);
    assert_eq!(
        lost.iter().filter(|l| l.contains("event lost")).count(),
        1,
        "{}",
        launcher.log()
    );
    drop(server);
    drop((hostile, ordinary));
}

#[test]
fn an_application_killed_on_its_healthy_host_comes_back_and_one_removed_with_xkill_does_not() {
    let (lab, launcher, server) = plant_view();
    let a = lab.host(0);
    let conn = server.connect();
    // Up as far as the launcher knows (one that dies while it starts is given up for the next
    // candidate instead).
    assert!(
        wait_until(Duration::from_secs(15), || {
            !launcher.log_lines("service is up").is_empty()
        })
        .is_some(),
        "{}",
        launcher.log()
    );
    let up_lines = |l: &Launcher| l.log_lines("service is up").len();
    let ups = up_lines(&launcher);
    // SIGKILL (a crash, the OOM killer): its connection closes, its host is fine.
    let pid = launcher.started_pids()[0];
    let pid = rustix::process::Pid::from_raw(pid as i32).expect("a pid");
    rustix::process::kill_process(pid, Signal::KILL).expect("kill the xclock");
    // (The server may give the new xclock the same id: the second start, then its window.)
    let restarted = wait_until(Duration::from_secs(15), || {
        launcher.log_lines("started candidate").len() == 2
    });
    assert!(restarted.is_some(), "not started again: {}", launcher.log());
    let back = wait_mapped(&conn, a, "plant-view", Duration::from_secs(15));
    assert!(back.is_some(), "its window is not back: {}", launcher.log());
    let started = launcher.log_lines("started candidate");
    assert_eq!(started.len(), 2, "{}", launcher.log());
    assert!(
        started[1].contains("candidate=0"),
        "in place: {}",
        started[1]
    );
    assert_eq!(
        launcher
            .log_lines("ended by itself; starting it again")
            .len(),
        1,
        "{}",
        launcher.log()
    );
    // The operator removes it with xkill (KillClient), once it is up again: it stays
    // removed.
    assert!(
        wait_until(Duration::from_secs(15), || up_lines(&launcher) > ups).is_some(),
        "{}",
        launcher.log()
    );
    let second = mapped(&conn, a, "plant-view")[0].client.id.clone();
    let base = u32::from_str_radix(second.trim_start_matches("0x"), 16).expect("an id");
    conn.kill_client(base).expect("KillClient");
    conn.sync().expect("a round trip");
    assert!(
        wait_until(Duration::from_secs(5), || mapped(&conn, a, "plant-view")
            .is_empty())
        .is_some()
    );
    thread::sleep(Duration::from_secs(3));
    assert_eq!(
        launcher.log_lines("started candidate").len(),
        2,
        "{}",
        launcher.log()
    );
    assert!(server.lost_events().is_empty(), "nothing was lost");
}

#[test]
fn a_client_of_the_services_class_on_another_host_does_not_hold_back_the_failover() {
    // The primary on host 0, the backup on host 2; on host 1, inside the service's peer
    // range, a client of someone else's that takes the service's WM_CLASS (any Xt program
    // can, with -name; an xclock of its own redraws every second, so the module never
    // takes it for idle).
    let lab = Lab::new(3);
    let (a, stranger_host, b) = (lab.host(0), lab.host(1), lab.host(2));
    let mut launcher = launcher(&service("plant-view", a, b, ""));
    let server = xorg(&lab, &launcher, IDLE);
    let conn = server.connect();
    wait_mapped(&conn, a, "plant-view", Duration::from_secs(20))
        .expect("the launcher starts the primary on host 0");
    let _stranger = stranger_host.spawn(
        0,
        "xclock",
        &["-digital", "-update", "1", "-name", "plant-view"],
    );
    wait_mapped(&conn, stranger_host, "plant-view", Duration::from_secs(20))
        .expect("the stranger's window on host 1");
    // The launcher knows both by their class (`updated`, when their windows showed it);
    // a restarted launcher (a systemd restart, an upgrade) learns them from the module's
    // replay, as here.
    launcher.kill();
    launcher.restart();
    let replayed = || {
        launcher
            .log_lines("replay=true")
            .iter()
            .filter(|l| l.contains("wm_class \"plant-view\""))
            .count()
    };
    assert!(
        wait_until(Duration::from_secs(15), || replayed() == 2).is_some(),
        "{}",
        launcher.log()
    );

    let cut = Instant::now();
    a.cut();
    let mapped_at = wait_mapped(&conn, b, "plant-view", Duration::from_secs(15))
        .unwrap_or_else(|| panic!("the backup from host 2 is mapped:\n{}", launcher.log()));
    let took = mapped_at - cut;
    eprintln!("cut to backup mapped: {took:?}");
    assert!(took <= IDLE + Duration::from_secs(1), "{took:?}");
    let started = launcher.log_lines("started candidate");
    assert_eq!(started.len(), 2, "{}", launcher.log());
    assert!(
        started[1].contains("candidate=1") && started[1].contains("h2"),
        "{}",
        started[1]
    );
    assert!(
        launcher
            .log_lines("other clients of the service are up")
            .is_empty(),
        "{}",
        launcher.log()
    );
    // The stranger is still there: it was neither closed nor taken for the service.
    assert_eq!(mapped(&conn, stranger_host, "plant-view").len(), 1);
}

#[test]
fn an_application_that_stops_reading_is_lost_by_its_transport_and_failed_over() {
    // TransportTimeout alone (no idle deadline): the xclock on host 0 is stopped while the
    // server streams events to it, so its window closes and stays closed, though its host's
    // kernel answers every probe. The module ends it once it has taken nothing for its limit
    // (a minute here), as `lost`, and the launcher starts the backup on host 1.
    const TRANSPORT: Duration = Duration::from_secs(3);
    let limit = Duration::from_millis(lifesign_watchdog::transfer::not_taken_limit(
        TRANSPORT.as_millis() as u64,
    ));
    let lab = Lab::new(2);
    let (a, b) = (lab.host(0), lab.host(1));
    let launcher = launcher(&service("stream-view", a, b, ""));
    let server = Xorg::new()
        .in_lab(&lab)
        .option("WatchPeers", "10.211.0.0/16")
        .option("TransportTimeout", &format!("{}ms", TRANSPORT.as_millis()))
        .option("Grace", "500ms")
        .option("Launcher", launcher.socket().to_str().unwrap())
        .start();
    let conn = server.connect();
    wait_mapped(&conn, a, "stream-view", Duration::from_secs(20))
        .expect("the launcher starts the primary on host 0");
    let primary = mapped(&conn, a, "stream-view").remove(0);
    let window = lifesign_tests::windows::mapped_windows(
        &conn,
        lifesign_tests::windows::parse_id(&primary.client.id),
    )[0];
    // Only the primary runs yet.
    let out = std::process::Command::new("pgrep")
        .args(["-f", "^xclock -update 1 -name stream-view$"])
        .output()
        .unwrap();
    let pid: i32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("the primary's pid");
    let pid = rustix::process::Pid::from_raw(pid).unwrap();
    rustix::process::kill_process(pid, Signal::STOP).unwrap();
    let stopped = Instant::now();

    // A thousand ClientMessage events a second to its window (32 KB/s).
    let stop = Arc::new(AtomicBool::new(false));
    let streamer = thread::spawn({
        let stop = stop.clone();
        let conn = server.connect();
        move || {
            let event = x11rb::protocol::xproto::ClientMessageEvent::new(
                32,
                window,
                x11rb::protocol::xproto::AtomEnum::STRING,
                [0u32; 5],
            );
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..10 {
                    conn.send_event(
                        false,
                        window,
                        x11rb::protocol::xproto::EventMask::NO_EVENT,
                        event,
                    )
                    .unwrap();
                }
                conn.flush().unwrap();
                thread::sleep(Duration::from_millis(10));
            }
        }
    });
    let id = primary.client.id.clone();
    let lost = server.wait_for_event(
        limit + Duration::from_secs(30),
        |e| matches!(&e.body, Body::Lost { client, .. } if client.id == id),
    );
    stop.store(true, Ordering::Relaxed);
    streamer.join().unwrap();
    let took = stopped.elapsed();
    let _ = rustix::process::kill_process(pid, Signal::KILL);
    let lost = lost.unwrap_or_else(|| panic!("the stopped xclock is lost:\n{}", server.log()));
    eprintln!(
        "stopped xclock lost {took:?} after it stopped: {:?}",
        lost.body
    );
    assert!(
        matches!(
            lost.body,
            Body::Lost {
                reason: lifesign_proto::event::LostReason::TransportTimeout,
                ..
            }
        ),
        "{lost:?}"
    );
    assert!(took >= limit, "lost {took:?} after it stopped reading");
    wait_mapped(&conn, b, "stream-view", Duration::from_secs(15))
        .unwrap_or_else(|| panic!("the backup from host 1 is mapped:\n{}", launcher.log()));
}
