//! As root: two application hosts in network namespaces, Xorg on the dummy driver, the
//! launcher and, started by it, `lifesign overlay`. Host A's cable is pulled (screenshots
//! of the frame, the placeholder and the backup), then the HMI on host B hangs.

use super::{
    Deadlines, Failover, GRACE, LOGIN, Names, Outcome, UP, demo_ssh, overlay_section, path_with,
    primary_pid, service, signal, ssh, wait_past_grace, zenity,
};
use crate::Stop;
use crate::display::{overlay_ready, paint_root, program};
use crate::picture::{Shot, write_scene};
use crate::timeline::Timeline;
use lifesign_proto::event::ClientInfo;
use lifesign_tests::net::DISPLAY_ADDR;
use lifesign_tests::windows::{mapped_from, mapped_windows, parse_id};
use lifesign_tests::{Launcher, Xorg, unix_ms};
use rustix::process::Signal;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

const DEADLINES: Deadlines = Deadlines {
    idle_ms: Some(3000),
    wm_ping_timeout_ms: Some(1000),
};

/// The pictures' legend: what the display drew and what the demo added.
const LEGEND: &str = "Orange frame and dark placeholder: drawn on the display by lifesign overlay. Blue labels: added to the picture by the demo.";

/// `+1.6 s`: ms as seconds with a tenth.
fn secs(ms: i64) -> String {
    format!("{:+.1} s", ms as f64 / 1000.0)
}

pub fn with_hosts(out: &Path, stop: &Stop) -> Result<Vec<PathBuf>, String> {
    let lab = lifesign_tests::net::Lab::new(2);
    let (a, b) = (lab.host(0), lab.host(1));
    let bin = tempfile::tempdir().map_err(|e| format!("a temporary directory: {e}"))?;
    demo_ssh(
        bin.path(),
        &[("host-a", Some(a.ns.name())), ("host-b", Some(b.ns.name()))],
    )?;
    let xclock = |host: &str, x: u32| {
        ssh(
            host,
            &[
                "xclock",
                "-update",
                "1",
                "-name",
                "plant-view",
                "-geometry",
                &format!("300x300+{x}+620"),
            ],
        )
    };
    let zenity_on = |host: &str, label: &str| {
        let argv = zenity(label);
        ssh(host, &argv.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let services = service(
        "plant-view",
        "plant-view",
        Some("10.211.0.0/16"),
        &xclock("host-a", 60),
        &xclock("host-b", 420),
    ) + &service(
        "hmi",
        "zenity",
        Some("10.211.0.0/16"),
        &zenity_on("host-b", "HMI, started on host B"),
        &zenity_on("host-a", "HMI, backup on host A"),
    );
    // The server first, then the launcher: the overlay the launcher starts finds the
    // display at once (the module connects to the launcher's socket when it appears).
    let launcher = Launcher::new("").env("PATH", &path_with(bin.path()));
    let server = Xorg::new()
        .in_lab(&lab)
        .option("WatchPeers", "10.211.0.0/16")
        .option("IdleTimeout", "3s")
        .option("WmPing", "1s")
        .option("WmPingTimeout", "1s")
        .option("Grace", GRACE)
        .option("Launcher", launcher.socket().to_str().unwrap_or_default())
        .start();
    let conn = server.connect();
    paint_root(&conn)?;
    // The overlay runs on the display's host, as an operator runs it: here that host is
    // the display's network namespace, and the overlay reaches the server there on the
    // loopback, as a local client (ListClients local shows a remote client only itself).
    // The launcher runs outside every namespace of the lab: `display`, which it hands to
    // the candidates on the application hosts, is the address they reach the display at.
    let overlay = overlay_section(
        &["ip", "netns", "exec", lab.display_ns().name()],
        &[
            "--display",
            &format!("127.0.0.1:{}", server.display_number()),
        ],
    );
    let launcher = launcher
        .configure(&format!(
            "display = \"{DISPLAY_ADDR}:{}\"\n{services}{overlay}",
            server.display_number()
        ))
        .start();
    println!(
        "Xorg (dummy driver) with lifesign, display {DISPLAY_ADDR}:0 in its own network namespace."
    );
    println!(
        "Host A is {}, host B is {}; lifesign-launcher starts xclock on A (IdleTimeout 3s) and zenity on B (WmPing 1s, WmPingTimeout 1s), and lifesign overlay on the display's host.",
        a.addr, b.addr
    );
    println!(
        "It starts the applications with demo-ssh HOST COMMAND, the demo's stand-in for ssh: it runs the command in the host's namespace after {LOGIN} s, the time of an ssh login."
    );
    println!(
        "Each fault comes after the client's Grace (1s) and its first sign of life after it, so its deadline counts as configured.\n"
    );
    stop.wait("the primaries on their hosts", UP, || {
        !mapped_from(&conn, a.addr, "plant-view").is_empty()
            && !mapped_from(&conn, b.addr, "zenity").is_empty()
    })?;
    stop.wait("lifesign overlay", UP, || overlay_ready(&conn))?;
    let host_of = |ip: Ipv4Addr| {
        if ip == a.addr {
            Some("host A")
        } else if ip == b.addr {
            Some("host B")
        } else {
            None
        }
    };
    let labels = |c: &ClientInfo| -> Option<String> {
        let ip = c.peer.as_deref()?.parse::<SocketAddr>().ok()?.ip();
        let ip = match ip {
            std::net::IpAddr::V4(v4) => v4,
            std::net::IpAddr::V6(_) => return None,
        };
        Some(format!("{} from {} ({ip})", program(c)?, host_of(ip)?))
    };

    // 1. The cable cut.
    let clock = the_client(&conn, a.addr, "plant-view")?;
    let target = window_of(&conn, &clock)?;
    wait_past_grace(&server, stop, &clock.id)?;
    println!("1. Host A loses its cable (xclock there is busy: it redraws every second).");
    let cut = unix_ms();
    a.cut();
    let mut t = Timeline::new(
        "1. Host A's cable is pulled: xclock from host A, then the backup from host B",
        cut,
        "host A's cable pulled",
        "host A's cable pulled (ip link set veth0 down)",
    );
    let backup_up = || !mapped_from(&conn, b.addr, "plant-view").is_empty();
    let outcome = Failover {
        server: &server,
        launcher: &launcher,
        conn: &conn,
        stop,
        id: clock.id.clone(),
        target,
        service: "plant-view",
        backup_up: &backup_up,
        labels: &labels,
        shoot: true,
        backup_named: true,
    }
    .follow(cut)?;
    outcome.record(
        &mut t,
        DEADLINES,
        &clock.id,
        &Names {
            who: "xclock from host A",
            started: "xclock on host B (demo-ssh: 1 s to log in)",
            mapped: "xclock from host B",
        },
    );
    print!("{}", t.render());
    let mut pictures = write_scene(out, &shots(outcome, cut, target)?)?;
    a.restore();

    // 2. The hung HMI.
    println!(
        "\n2. The HMI on host B hangs (SIGSTOP): it no longer answers the server's _NET_WM_PING."
    );
    let hmi = the_client(&conn, b.addr, "zenity")?;
    let hmi_window = window_of(&conn, &hmi)?;
    wait_past_grace(&server, stop, &hmi.id)?;
    let hmi_pid = primary_pid(&launcher, "hmi");
    let hung = unix_ms();
    signal(hmi_pid, Signal::STOP);
    let mut t2 = Timeline::new(
        "2. The HMI on host B hangs: zenity from host B, then the backup from host A",
        hung,
        "zenity on host B stopped",
        "zenity on host B stopped (kill -STOP)",
    );
    let backup_up = || !mapped_from(&conn, a.addr, "zenity").is_empty();
    let outcome = Failover {
        server: &server,
        launcher: &launcher,
        conn: &conn,
        stop,
        id: hmi.id.clone(),
        target: hmi_window,
        service: "hmi",
        backup_up: &backup_up,
        labels: &labels,
        shoot: false,
        backup_named: false,
    }
    .follow(hung);
    signal(hmi_pid, Signal::CONT);
    outcome?.record(
        &mut t2,
        DEADLINES,
        &hmi.id,
        &Names {
            who: "zenity from host B",
            started: "zenity on host A (demo-ssh: 1 s to log in)",
            mapped: "zenity from host A",
        },
    );
    print!("{}", t2.render());
    let chart = out.join("4-timeline.png");
    crate::chart::write(
        &chart,
        &[&t, &t2],
        &[
            "ms after host A's cable was pulled",
            "ms after zenity on host B was stopped",
        ],
    )?;
    pictures.push(chart);
    Ok(pictures)
}

/// The watched client from `host` whose window of instance `name` is on the display.
fn the_client(
    conn: &impl x11rb::connection::Connection,
    host: Ipv4Addr,
    name: &str,
) -> Result<ClientInfo, String> {
    mapped_from(conn, host, name)
        .into_iter()
        .next()
        .map(|e| e.client)
        .ok_or_else(|| format!("no {name} from {host} on the display"))
}

/// The outer geometry of `client`'s top-level window.
fn window_of(
    conn: &impl x11rb::connection::Connection,
    client: &ClientInfo,
) -> Result<crate::display::Rect, String> {
    mapped_windows(conn, parse_id(&client.id))
        .first()
        .and_then(|&w| crate::display::outer(conn, w))
        .ok_or_else(|| format!("{}'s window is gone", client.id))
}

/// The three screenshots of the cable cut, with their captions.
fn shots(outcome: Outcome, cut: u64, target: crate::display::Rect) -> Result<Vec<Shot>, String> {
    let rel = |at: u64| i64::try_from(i128::from(at) - i128::from(cut)).unwrap_or(0);
    let lost = outcome.lost;
    let (suspect_at, suspect_silent) = outcome.suspect.map_or((cut, 0), |s| (s.at, s.silent_ms));
    let started_after = rel(outcome.started) - rel(lost.at);
    let mapped_after = rel(outcome.backup) - rel(outcome.started);
    let [frame, placeholder, backup] = super::three(outcome.captures)?;
    let (at1, at2, at3) = (rel(frame.at), rel(placeholder.at), rel(backup.at));
    Ok(vec![
        frame.shot(
            "1-suspect.png",
            target,
            vec![
                format!(
                    "1. {} after host A's cable was pulled: xclock from host A shows no sign of life",
                    secs(at1)
                ),
                format!(
                    "At {} it had sent nothing for {:.1} s, half its IdleTimeout of 3 s: the server reported it suspect, and lifesign overlay framed it, saying how long it has been silent, its service and its host.",
                    secs(rel(suspect_at)),
                    suspect_silent as f64 / 1000.0
                ),
                LEGEND.to_owned(),
            ],
        ),
        placeholder.shot(
            "2-lost.png",
            target,
            vec![
                format!(
                    "2. {}: xclock from host A was lost at {} ({}, silent {:.1} s; IdleTimeout 3 s) and closed",
                    secs(at2),
                    secs(rel(lost.at)),
                    lost.reason.as_str(),
                    lost.silent_ms as f64 / 1000.0
                ),
                "In its place, lifesign overlay's placeholder gives the reason and the backup lifesign-launcher is starting: candidate 1 of plant-view, xclock on host B, through demo-ssh (the demo's stand-in for ssh, which takes 1 s to log in).".to_owned(),
                LEGEND.to_owned(),
            ],
        ),
        backup.shot(
            "3-failover.png",
            target,
            vec![
                format!(
                    "3. {}: the backup, xclock from host B, is on the display",
                    secs(at3)
                ),
                format!(
                    "lifesign-launcher started it {started_after} ms after the loss; its window mapped {mapped_after} ms later (1 s of it demo-ssh's login), and lifesign overlay took the placeholder away."
                ),
                LEGEND.to_owned(),
            ],
        ),
    ])
}
