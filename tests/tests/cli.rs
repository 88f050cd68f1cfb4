//! The `lifesign` command against real servers: `status` (table and JSON) with a TCP client
//! from a lab host and a local one, `pulse` as a host-scope heartbeat, and `pulse` noticing
//! that the server is gone.

use lifesign_proto::event::{Body, LostReason, StatusEntry, Transport};
use lifesign_tests::net::{Lab, Proc};
use lifesign_tests::windows::wait_until;
use lifesign_tests::{LOAD_MARGIN, Server, Xorg, Xvfb, lifesign, unix_ms};
use rustix::process::Signal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn cli() -> PathBuf {
    lifesign_tests::server::built_binary("lifesign", "LIFESIGN_CLI")
}

/// `lifesign status [--json]` run in the display's namespace, as a local client.
fn status(lab: &Lab, json: bool) -> std::process::Output {
    let mut c = lab.display_ns().command(cli().to_str().unwrap());
    c.args(["status", "--display", ":0"]);
    if json {
        c.arg("--json");
    }
    c.output().expect("run lifesign status")
}

fn from_host(e: &StatusEntry, lab: &Lab) -> bool {
    e.client
        .peer
        .as_deref()
        .and_then(|p| p.parse::<SocketAddr>().ok())
        .is_some_and(|p| p.ip() == lab.host(0).addr)
}

#[test]
fn status_lists_a_remote_and_a_local_client_in_json_and_as_a_table() {
    let lab = Lab::new(1);
    let _server = Xorg::new()
        .in_lab(&lab)
        .abstract_socket()
        .option("Watch", "all")
        .start();
    let _xclock = lab.host(0).spawn(0, "xclock", &[]);
    let xterm = lab
        .display_ns()
        .command("xterm")
        .env("DISPLAY", ":0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start xterm");
    let xterm = Proc(xterm);

    let mut entries: Vec<StatusEntry> = Vec::new();
    let listed = wait_until(Duration::from_secs(20), || {
        let out = status(&lab, true);
        assert!(out.status.success(), "{out:?}");
        entries = serde_json::from_slice(&out.stdout).expect("status --json is JSON");
        entries.iter().any(|e| from_host(e, &lab))
            && entries.iter().any(|e| e.client.pid == Some(xterm.pid()))
    });
    assert!(listed.is_some(), "{entries:#?}");
    let remote = entries.iter().find(|e| from_host(e, &lab)).unwrap();
    assert_eq!(remote.client.transport, Transport::Tcp);
    assert_eq!(remote.client.pid, None);
    let local = entries
        .iter()
        .find(|e| e.client.pid == Some(xterm.pid()))
        .unwrap();
    assert_eq!(local.client.transport, Transport::Local);
    assert!(
        local
            .client
            .command
            .as_deref()
            .is_some_and(|c| c.contains("xterm")),
        "{local:?}"
    );
    // The contract's field names and values, as printed.
    let raw: serde_json::Value = serde_json::from_slice(&status(&lab, true).stdout).unwrap();
    let printed = |id: &str| {
        raw.as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} in {raw}"))
    };
    let r = printed(&remote.client.id);
    assert_eq!(r["transport"], "tcp");
    let host_prefix = format!("{}:", lab.host(0).addr);
    assert!(r["peer"].as_str().unwrap().starts_with(&host_prefix), "{r}");
    assert!(r["pid"].is_null() && r["command"].is_null(), "{r}");
    let l = printed(&local.client.id);
    assert_eq!(l["transport"], "local");
    assert_eq!(l["pid"], xterm.pid());
    assert!(l["command"].as_str().unwrap().contains("xterm"), "{l}");
    for entry in [&r, &l] {
        assert_eq!(entry["state"], "watching", "{entry}");
        for field in ["index", "service", "wm_class", "idle_ms", "noop_age_ms"] {
            assert!(entry.get(field).is_some(), "{field} in {entry}");
        }
        for field in [
            "idle_timeout_ms",
            "expect_noop_ms",
            "wm_ping_ms",
            "transport_timeout_ms",
        ] {
            assert!(entry["policy"][field].is_u64(), "policy.{field} in {entry}");
        }
    }

    let table = status(&lab, false);
    assert!(table.status.success());
    let text = String::from_utf8_lossy(&table.stdout);
    let peer = remote.client.peer.as_deref().unwrap();
    assert!(text.lines().next().unwrap().starts_with("CLIENT"), "{text}");
    let row = |needles: &[&str]| text.lines().any(|l| needles.iter().all(|n| l.contains(n)));
    assert!(row(&[&remote.client.id, peer, "watching"]), "{text}");
    let pid = format!("pid {}", xterm.pid());
    assert!(
        row(&[&local.client.id, &pid, "xterm", "watching"]),
        "{text}"
    );
}

#[test]
fn status_says_so_when_the_server_has_no_lifesign() {
    let server = Xvfb::stock().start();
    let out = Command::new(cli())
        .args(["status", "--display", &server.display()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no LIFESIGN extension"), "{err}");
}

/// `lifesign pulse --scope host` on host A of `lab`.
fn host_pulse(lab: &Lab, interval: &str, expect: &str) -> Proc {
    let host = lab.host(0);
    let child = host
        .ns
        .command(cli().to_str().unwrap())
        .args(["pulse", "--scope", "host", "--service", "host-a"])
        .args(["--interval", interval, "--expect", expect])
        .env("DISPLAY", host.display(0))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start lifesign pulse");
    Proc(child)
}

fn lost(server: &Server) -> Vec<(Option<String>, LostReason, u64)> {
    server
        .events()
        .into_iter()
        .filter_map(|e| match e.body {
            Body::Lost { client, reason, .. } => Some((client.service, reason, e.at_ms)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_host_pulse_keeps_an_idle_client_for_a_minute_and_takes_it_down_when_stopped() {
    let lab = Lab::new(1);
    let server = Xorg::new()
        .in_lab(&lab)
        .option("WatchPeers", "10.211.0.0/16")
        .option("HostScope", &lab.host(0).addr.to_string())
        .option("Grace", "0")
        .start();
    let conn = server.connect();
    let pulse = host_pulse(&lab, "200ms", "1s");
    let _xlogo = lab.host(0).spawn(0, "xlogo", &[]);
    assert!(
        wait_until(Duration::from_secs(20), || {
            let from_a: Vec<_> = lifesign::list_clients(&conn)
                .into_iter()
                .filter(|e| from_host(e, &lab))
                .collect();
            from_a.len() == 2 && from_a.iter().any(|e| e.policy.expect_noop_ms == 1000)
        })
        .is_some(),
        "the pulse and xlogo are watched"
    );

    // A minute with the pulse running: the idle xlogo has no deadline but its host's pulse.
    std::thread::sleep(Duration::from_secs(60));
    assert!(lost(&server).is_empty(), "{:?}", lost(&server));

    let stopped_ms = unix_ms();
    pulse.signal(Signal::STOP);
    assert!(
        wait_until(Duration::from_secs(5), || lost(&server).len() == 2).is_some(),
        "both are lost"
    );
    let mut lost = lost(&server);
    lost.sort_by_key(|(service, ..)| service.is_none());
    assert_eq!(lost[0].0.as_deref(), Some("host-a"));
    assert_eq!(
        lost[0].1,
        LostReason::NoopMissed,
        "the pulse missed its own deadline"
    );
    assert_eq!(
        lost[1].1,
        LostReason::HostPulseLost,
        "xlogo goes with its host's pulse"
    );
    for (_, _, at_ms) in &lost {
        let after = at_ms.saturating_sub(stopped_ms);
        assert!(after <= 1000 + 100, "lost {after} ms after the stop");
    }
}

#[test]
fn pulse_exits_non_zero_within_its_probe_timeout_when_the_server_is_gone() {
    for how in [Signal::KILL, Signal::STOP] {
        let server = Xvfb::with_options("Watch=none;Launcher=none").start();
        let mut pulse = Proc(
            Command::new(cli())
                .args(["pulse", "--interval", "200ms", "--timeout", "1s"])
                .args(["--display", &server.display()])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        std::thread::sleep(Duration::from_secs(1));
        assert!(pulse.running(), "the pulse runs while the server does");
        let gone = Instant::now();
        server.signal(how);
        let exited = wait_until(Duration::from_secs(10), || !pulse.running())
            .unwrap_or_else(|| panic!("{how:?}: the pulse does not notice"));
        let took = exited - gone;
        let status = pulse.0.wait().unwrap();
        assert!(!status.success(), "{how:?}: {status}");
        // A killed server breaks the connection: seen by the next beat or probe (one
        // interval). A stopped one is seen when a probe times out (an interval, then 1 s).
        let bound = match how {
            Signal::KILL => Duration::from_millis(200),
            _ => Duration::from_millis(1200),
        };
        assert!(took <= bound + LOAD_MARGIN, "{how:?}: {took:?}");
        if how == Signal::STOP {
            server.signal(Signal::CONT);
        }
    }
}

#[test]
fn a_host_pulse_the_server_refuses_names_the_option_to_set() {
    let lab = Lab::new(1);
    let server = Xorg::new().in_lab(&lab).option("Grace", "0").start();
    let host = lab.host(0);
    let out = host
        .ns
        .command(cli().to_str().unwrap())
        .args(["pulse", "--scope", "host", "--interval", "200ms"])
        .env("DISPLAY", host.display(server.display_number()))
        .output()
        .expect("run lifesign pulse");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("HostScope"), "{err}");
}

#[test]
fn status_follow_prints_each_event_within_100_ms_of_the_server_making_it() {
    use std::io::BufRead;
    let server = Xorg::new()
        .option("Watch", "all")
        .option("Grace", "0")
        .option("IdleTimeout", "3s")
        .start();
    let display = server.display();
    let mut follow = Command::new(cli())
        .args(["status", "--follow", "--json", "--display", &display])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run lifesign status --follow");
    // Each line with the Unix ms at which it was read.
    let stdout = follow.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<(u64, String)>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send((unix_ms(), line)).is_err() {
                break;
            }
        }
    });
    let (_, first) = rx.recv_timeout(Duration::from_secs(20)).expect("the list");
    let listed: Vec<StatusEntry> = serde_json::from_str(&first).expect("the list as JSON");
    let follow = Proc(follow);
    // The follower opts out: a quiet observer must not be lost under `Watch all`.
    assert!(listed.is_empty(), "{listed:?}");

    // An xclock drawing every second: watched, updated (its class), then stopped: suspect
    // at 1.5 s, continued: recovered, stopped again: lost at 3 s.
    let xclock = Proc(
        Command::new("xclock")
            .args(["-display", &display, "-update", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("xclock"),
    );
    let mut events: Vec<(u64, lifesign_proto::event::Event)> = Vec::new();
    let next = |events: &mut Vec<_>, want: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let Ok((read_ms, line)) = rx.recv_timeout(Duration::from_millis(100)) else {
                continue;
            };
            let event: lifesign_proto::event::Event =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
            let about_xclock = event.client().is_some_and(|c| c.pid == Some(xclock.pid()));
            let kind = event.body.event_type().as_str();
            if about_xclock {
                events.push((read_ms, event));
                if kind == want {
                    return;
                }
            }
        }
        panic!("no {want} event for xclock: {events:?}");
    };
    next(&mut events, "watched");
    next(&mut events, "updated");
    std::thread::sleep(Duration::from_millis(500));
    xclock.signal(Signal::STOP);
    next(&mut events, "suspect");
    xclock.signal(Signal::CONT);
    next(&mut events, "recovered");
    std::thread::sleep(Duration::from_millis(500));
    xclock.signal(Signal::STOP);
    next(&mut events, "lost");
    drop(follow);

    // The server's own log has the same events, with the same seq and at_ms.
    let logged = server.events();
    let mut delays = Vec::new();
    for (read_ms, event) in &events {
        assert!(
            logged.iter().any(|l| l.seq == event.seq
                && l.at_ms == event.at_ms
                && l.body.event_type() == event.body.event_type()),
            "{event:?} is the server's own"
        );
        delays.push(read_ms.saturating_sub(event.at_ms));
    }
    let kinds: Vec<&str> = events
        .iter()
        .map(|(_, e)| e.body.event_type().as_str())
        .collect();
    eprintln!(
        "status --follow printed {kinds:?}, each this many ms after the server made it: {delays:?}"
    );
    let mut sorted = delays.clone();
    sorted.sort_unstable();
    assert!(
        sorted[sorted.len() / 2] <= 100,
        "median over 100 ms: {delays:?}"
    );
    assert!(
        delays
            .iter()
            .all(|&d| d <= 100 + LOAD_MARGIN.as_millis() as u64),
        "{delays:?}"
    );
    let Body::Lost {
        reason, silent_ms, ..
    } = &events.last().unwrap().1.body
    else {
        unreachable!()
    };
    assert_eq!(*reason, LostReason::IdleTimeout);
    assert!((3000..3000 + LOAD_MARGIN.as_millis() as u64).contains(silent_ms));
}
