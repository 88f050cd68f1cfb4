//! The demo's two scenes: a host that loses its cable, and an application that hangs.

use crate::Stop;
use crate::shot::screenshot;
use crate::timeline::{Timeline, parse_rfc3339_ms};
use lifesign_proto::event::{Body, ClientInfo, Event};
use lifesign_tests::launcher::toml_argv;
use lifesign_tests::net::{DISPLAY_ADDR, Host, Lab};
use lifesign_tests::unix_ms;
use lifesign_tests::windows::mapped_from;
use lifesign_tests::{Launcher, Server, Xorg, Xvfb, lifesign};
use rustix::process::{Pid, Signal};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;
use x11rb::connection::Connection;

const UP: Duration = Duration::from_secs(30);
const FAILOVER: Duration = Duration::from_secs(20);

/// A `[[service]]` for clients of WM_CLASS instance `class`, primary then backup.
fn service(
    name: &str,
    class: &str,
    peer: Option<&str>,
    primary: &[String],
    backup: &[String],
) -> String {
    let peer = peer.map(|p| format!("peer = {p:?}, ")).unwrap_or_default();
    format!(
        "[[service]]\nname = {name:?}\nmatch = {{ {peer}wm_class = {class:?} }}\nstart = [{}, {}]\nstart_primary = true\n",
        toml_argv(primary),
        toml_argv(backup)
    )
}

fn zenity(label: &str) -> Vec<String> {
    ["zenity", "--info", "--title", "HMI", "--text", label]
        .map(str::to_owned)
        .to_vec()
}

/// The first event that `f` picks out.
fn event<T>(server: &Server, f: impl Fn(&Event) -> Option<T>) -> Option<T> {
    server.events().iter().find_map(f)
}

/// The Unix ms of the launcher's log line with all of `needles`, and the pid it names.
fn launcher_line(launcher: &Launcher, needles: &[&str]) -> Option<(u64, Option<u32>)> {
    launcher
        .log_lines(needles[0])
        .into_iter()
        .find(|l| needles.iter().all(|n| l.contains(n)))
        .and_then(|l| {
            let at = parse_rfc3339_ms(l.split_whitespace().next()?)?;
            let pid = l
                .split_whitespace()
                .find_map(|w| w.strip_prefix("pid="))
                .and_then(|p| p.parse().ok());
            Some((at, pid))
        })
}

/// Picks out the clients from `host` whose class has instance `class`.
fn of(host: Ipv4Addr, class: &str) -> impl Fn(&ClientInfo) -> bool + '_ {
    move |c| {
        c.peer
            .as_deref()
            .and_then(|p| p.parse::<SocketAddr>().ok())
            .is_some_and(|p| p.ip() == host)
            && c.wm_class.as_ref().is_some_and(|w| w[0] == class)
    }
}

/// The pid of the primary the launcher started for `service`.
fn primary_pid(launcher: &Launcher, service: &str) -> Option<u32> {
    let service = format!("service={service} ");
    launcher_line(launcher, &["started candidate", &service, "candidate=0 "])
        .and_then(|(_, pid)| pid)
}

/// Waits for a window of `class` from `host` to be mapped, into `t`.
fn backup_mapped(
    stop: &Stop,
    conn: &impl Connection,
    t: &mut Timeline,
    host: Ipv4Addr,
    class: &str,
    what: &str,
) -> Result<(), String> {
    let mapped = stop.wait("the backup's window", FAILOVER, || {
        !mapped_from(conn, host, class).is_empty()
    })?;
    t.at(
        mapped,
        format!("backup window mapped: {what} is on the display"),
    );
    Ok(())
}

/// The `suspect` and `lost` of the client `is` picks out, into `t`; the lost client.
fn convicted(
    server: &Server,
    stop: &Stop,
    t: &mut Timeline,
    is: impl Fn(&ClientInfo) -> bool,
) -> Result<ClientInfo, String> {
    stop.wait("the loss", FAILOVER, || {
        event(server, |e| {
            matches!(&e.body, Body::Lost { client, .. } if is(client)).then_some(())
        })
        .is_some()
    })?;
    let (client, at, reason, silent) = event(server, |e| match &e.body {
        Body::Lost {
            client,
            reason,
            silent_ms,
        } if is(client) => Some((client.clone(), e.at_ms, *reason, *silent_ms)),
        _ => None,
    })
    .expect("seen above");
    if let Some((s_at, s_reason, s_silent)) = event(server, |e| match &e.body {
        Body::Suspect {
            client: c,
            reason,
            silent_ms,
        } if c.id == client.id && e.at_ms >= t.zero() => Some((e.at_ms, *reason, *silent_ms)),
        _ => None,
    }) {
        t.at(
            s_at,
            format!(
                "suspect {} ({}, silent {s_silent} ms)",
                client.id,
                s_reason.as_str()
            ),
        );
    }
    t.at(
        at,
        format!(
            "lost {} ({}, silent {silent} ms); its windows are closed",
            client.id,
            reason.as_str()
        ),
    );
    Ok(client)
}

/// The launcher's start of `service`'s candidate `candidate` into `t`; its pid.
fn started(
    launcher: &Launcher,
    stop: &Stop,
    t: &mut Timeline,
    service: &str,
    candidate: usize,
    what: &str,
) -> Result<Option<u32>, String> {
    let needles = [
        "started candidate",
        &format!("service={service} "),
        &format!("candidate={candidate} "),
    ];
    stop.wait("the launcher's start", FAILOVER, || {
        launcher_line(launcher, &needles).is_some()
    })?;
    let (at, pid) = launcher_line(launcher, &needles).expect("seen above");
    t.at(at, format!("launcher started {what}"));
    Ok(pid)
}

/// Signals a candidate's process group (the launcher starts each in its own; `ip netns
/// exec` may run the application as its child).
fn signal(pid: Option<u32>, signal: Signal) {
    if let Some(pid) = pid.and_then(|p| Pid::from_raw(p as i32)) {
        let _ = rustix::process::kill_process_group(pid, signal);
    }
}

/// As root: two application hosts in network namespaces, Xorg on the dummy driver.
pub fn with_hosts(out: &Path, stop: &Stop) -> Result<Vec<PathBuf>, String> {
    let lab = Lab::new(2);
    let (a, b) = (lab.host(0), lab.host(1));
    let xclock = |h: &Host, x: u32| {
        h.argv(&[
            "xclock",
            "-update",
            "1",
            "-name",
            "plant-view",
            "-geometry",
            &format!("300x300+{x}+620"),
        ])
    };
    let services = service(
        "plant-view",
        "plant-view",
        Some("10.211.0.0/16"),
        &xclock(a, 60),
        &xclock(b, 420),
    ) + &service(
        "hmi",
        "zenity",
        Some("10.211.0.0/16"),
        &b.argv(
            &zenity("HMI, started on host B")
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        ),
        &a.argv(
            &zenity("HMI, backup on host A")
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        ),
    );
    let launcher = Launcher::new(&format!("display = \"{DISPLAY_ADDR}:0\"\n{services}")).start();
    let server = Xorg::new()
        .in_lab(&lab)
        .option("WatchPeers", "10.211.0.0/16")
        .option("IdleTimeout", "3s")
        .option("WmPing", "1s")
        .option("WmPingTimeout", "1s")
        .option("Grace", "1s")
        .option("Launcher", launcher.socket().to_str().unwrap_or_default())
        .start();
    let conn = server.connect();
    println!(
        "Xorg (dummy driver) with lifesign, display {DISPLAY_ADDR}:0 in its own network namespace."
    );
    println!(
        "Host A is {}, host B is {}; lifesign-launcher starts xclock on A (IdleTimeout 3s) and zenity on B (WmPing 1s, WmPingTimeout 1s).\n",
        a.addr, b.addr
    );
    stop.wait("the primaries on their hosts", UP, || {
        !mapped_from(&conn, a.addr, "plant-view").is_empty()
            && !mapped_from(&conn, b.addr, "zenity").is_empty()
    })?;
    let mut shots = Vec::new();
    let mut shoot = |name: &str| -> Result<(), String> {
        let path = out.join(name);
        screenshot(&conn, &path)?;
        shots.push(path);
        Ok(())
    };
    shoot("1-before-cut.png")?;

    println!("1. Host A loses its cable (xclock there is busy: it redraws every second).");
    let cut = unix_ms();
    a.cut();
    let mut t = Timeline::new(cut, "host A's cable pulled (ip link set veth0 down)");
    convicted(&server, stop, &mut t, of(a.addr, "plant-view"))?;
    shoot("2-after-loss.png")?;
    started(&launcher, stop, &mut t, "plant-view", 1, "xclock on host B")?;
    backup_mapped(
        stop,
        &conn,
        &mut t,
        b.addr,
        "plant-view",
        "xclock from host B",
    )?;
    shoot("3-after-failover.png")?;
    print!("{}", t.render());
    a.restore();

    println!(
        "\n2. The HMI on host B hangs (SIGSTOP): it no longer answers the server's _NET_WM_PING."
    );
    let hmi = primary_pid(&launcher, "hmi");
    let hung = unix_ms();
    signal(hmi, Signal::STOP);
    let mut t = Timeline::new(hung, "zenity on host B stopped (kill -STOP)");
    convicted(&server, stop, &mut t, of(b.addr, "zenity"))?;
    started(&launcher, stop, &mut t, "hmi", 1, "zenity on host A")?;
    backup_mapped(stop, &conn, &mut t, a.addr, "zenity", "zenity from host A")?;
    print!("{}", t.render());
    signal(hmi, Signal::CONT);
    Ok(shots)
}

/// Without root: Xvfb with the module, local clients, the hung-application scene.
pub fn local(out: &Path, stop: &Stop) -> Result<Vec<PathBuf>, String> {
    let launcher = Launcher::new("");
    let server = Xvfb::with_options(&format!(
        "Watch=local;WmPing=1s;WmPingTimeout=1s;Grace=1s;Launcher={}",
        launcher.socket().display()
    ))
    .start();
    let uid = rustix::process::getuid().as_raw();
    let services = service(
        "hmi",
        "zenity",
        None,
        &zenity("HMI (primary)"),
        &zenity("HMI (backup)"),
    );
    let launcher = launcher
        .configure(&format!(
            "display = {:?}\nallow_uids = [{uid}]\n{services}",
            server.display()
        ))
        .start();
    let conn = server.connect();
    lifesign::unwatch(&conn);
    println!(
        "Xvfb {} with lifesign (preload mode); lifesign-launcher starts zenity (WmPing 1s, WmPingTimeout 1s).\n",
        server.display()
    );
    let zenity_up = |conn: &x11rb::rust_connection::RustConnection| {
        lifesign::list_clients(conn)
            .iter()
            .filter(|e| e.client.wm_class.as_ref().is_some_and(|w| w[0] == "zenity"))
            .count()
    };
    stop.wait("the HMI", UP, || zenity_up(&conn) == 1)?;
    let mut shots = vec![out.join("1-before-hang.png")];
    screenshot(&conn, &shots[0])?;

    println!("The HMI hangs (SIGSTOP): it no longer answers the server's _NET_WM_PING.");
    let hmi = primary_pid(&launcher, "hmi");
    let hung = unix_ms();
    signal(hmi, Signal::STOP);
    let mut t = Timeline::new(hung, "zenity stopped (kill -STOP)");
    let pid = hmi;
    convicted(&server, stop, &mut t, |c| c.pid == pid)?;
    shots.push(out.join("2-after-loss.png"));
    screenshot(&conn, &shots[1])?;
    started(&launcher, stop, &mut t, "hmi", 1, "the backup zenity")?;
    let mapped = stop.wait("the backup's window", FAILOVER, || {
        zenity_up(&conn) == 1 && {
            lifesign::list_clients(&conn)
                .iter()
                .all(|e| e.client.pid != pid)
        }
    })?;
    t.at(mapped, "backup zenity watched on the display");
    shots.push(out.join("3-after-failover.png"));
    screenshot(&conn, &shots[2])?;
    print!("{}", t.render());
    signal(hmi, Signal::CONT);
    let _ = conn.flush();
    Ok(shots)
}
