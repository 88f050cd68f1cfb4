//! Without root: Xvfb with the module, local clients, the hung-application scene, with
//! `lifesign overlay` started by the launcher and the same three screenshots.

use super::{
    Deadlines, Failover, GRACE, LOGIN, Names, Outcome, UP, demo_ssh, overlay_section, path_with,
    primary_pid, service, signal, ssh, wait_past_grace, zenity,
};
use crate::Stop;
use crate::display::{Rect, outer, overlay_ready, paint_root, program};
use crate::picture::{Shot, write_scene};
use crate::timeline::Timeline;
use lifesign_proto::event::ClientInfo;
use lifesign_tests::windows::{mapped_windows, parse_id};
use lifesign_tests::{Launcher, Xvfb, lifesign, unix_ms};
use rustix::process::Signal;
use std::path::{Path, PathBuf};
use x11rb::connection::Connection;

const DEADLINES: Deadlines = Deadlines {
    idle_ms: None,
    wm_ping_timeout_ms: Some(1000),
};

const LEGEND: &str = "Orange frame and dark placeholder: drawn on the display by lifesign overlay. Blue labels: added to the picture by the demo.";

/// The watched zenity clients with a window on the display.
fn zenitys(conn: &impl Connection) -> Vec<ClientInfo> {
    lifesign::list_clients(conn)
        .into_iter()
        .map(|e| e.client)
        .filter(|c| c.wm_class.as_ref().is_some_and(|w| w[0] == "zenity"))
        .filter(|c| !mapped_windows(conn, parse_id(&c.id)).is_empty())
        .collect()
}

pub fn local(out: &Path, stop: &Stop) -> Result<Vec<PathBuf>, String> {
    let bin = tempfile::tempdir().map_err(|e| format!("a temporary directory: {e}"))?;
    demo_ssh(bin.path(), &[("localhost", None)])?;
    let launcher = Launcher::new("").env("PATH", &path_with(bin.path()));
    let server = Xvfb::with_options(&format!(
        "Watch=local;WmPing=1s;WmPingTimeout=1s;Grace={GRACE};Launcher={}",
        launcher.socket().display()
    ))
    .start();
    let conn = server.connect();
    lifesign::unwatch(&conn);
    paint_root(&conn)?;
    let uid = rustix::process::getuid().as_raw();
    let on_localhost = |label: &str| {
        let argv = zenity(label);
        ssh(
            "localhost",
            &argv.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };
    let services = service(
        "hmi",
        "zenity",
        None,
        &on_localhost("HMI (primary)"),
        &on_localhost("HMI (backup)"),
    );
    let launcher = launcher
        .configure(&format!(
            "display = {:?}\nallow_uids = [{uid}]\n{services}{}",
            server.display(),
            overlay_section(&[], &[])
        ))
        .start();
    println!(
        "Xvfb {} with lifesign (preload mode); lifesign-launcher starts zenity (WmPing 1s, WmPingTimeout 1s) and lifesign overlay.",
        server.display()
    );
    println!(
        "It starts zenity with demo-ssh localhost COMMAND, the demo's stand-in for ssh, which runs the command after {LOGIN} s, the time of an ssh login.\n"
    );
    stop.wait("the HMI", UP, || zenitys(&conn).len() == 1)?;
    stop.wait("lifesign overlay", UP, || overlay_ready(&conn))?;
    let hmi = zenitys(&conn).remove(0);
    let target = mapped_windows(&conn, parse_id(&hmi.id))
        .first()
        .and_then(|&w| outer(&conn, w))
        .ok_or("the HMI's window is gone")?;
    wait_past_grace(&server, stop, &hmi.id)?;

    println!("The HMI hangs (SIGSTOP): it no longer answers the server's _NET_WM_PING.");
    let pid = primary_pid(&launcher, "hmi");
    let hung = unix_ms();
    signal(pid, Signal::STOP);
    let mut t = Timeline::new(
        "The HMI hangs: zenity, then its backup",
        hung,
        "zenity stopped",
        "zenity stopped (kill -STOP)",
    );
    // By pid: the server gives the lost client's XID base to the next client that connects,
    // often the backup.
    let primary = hmi.pid;
    let backup_up = || zenitys(&conn).iter().any(|c| c.pid != primary);
    let labels = |c: &ClientInfo| -> Option<String> {
        let which = if c.pid == primary {
            "primary"
        } else {
            "backup"
        };
        Some(format!("{} ({which}), local, pid {}", program(c)?, c.pid?))
    };
    let outcome = Failover {
        server: &server,
        launcher: &launcher,
        conn: &conn,
        stop,
        id: hmi.id.clone(),
        target,
        service: "hmi",
        backup_up: &backup_up,
        labels: &labels,
        shoot: true,
        backup_named: true,
    }
    .follow(hung);
    signal(pid, Signal::CONT);
    let outcome = outcome?;
    outcome.record(
        &mut t,
        DEADLINES,
        &hmi.id,
        &Names {
            who: "zenity",
            started: "the backup zenity (demo-ssh: 1 s to log in)",
            mapped: "the backup zenity",
        },
    );
    print!("{}", t.render());
    let mut pictures = write_scene(out, &shots(outcome, hung, target)?)?;
    let chart = out.join("4-timeline.png");
    crate::chart::write(&chart, &[&t], &["ms after zenity was stopped"])?;
    pictures.push(chart);
    let _ = conn.flush();
    Ok(pictures)
}

fn shots(outcome: Outcome, hung: u64, target: Rect) -> Result<Vec<Shot>, String> {
    let rel = |at: u64| (i128::from(at) - i128::from(hung)) as f64 / 1000.0;
    let lost = outcome.lost;
    let [frame, placeholder, backup] = super::three(outcome.captures)?;
    let (at1, at2, at3) = (rel(frame.at), rel(placeholder.at), rel(backup.at));
    Ok(vec![
        frame.shot(
            "1-suspect.png",
            target,
            vec![
                format!(
                    "1. {:+.1} s after zenity was stopped: it leaves the server's _NET_WM_PING unanswered",
                    at1
                ),
                "The server reports it suspect, and lifesign overlay frames it, saying how long it has been silent.".to_owned(),
                LEGEND.to_owned(),
            ],
        ),
        placeholder.shot(
            "2-lost.png",
            target,
            vec![
                format!(
                    "2. {:+.1} s: zenity is lost ({}, silent {:.1} s; WmPingTimeout 1 s) and closed",
                    at2,
                    lost.reason.as_str(),
                    lost.silent_ms as f64 / 1000.0
                ),
                "In its place, lifesign overlay's placeholder gives the reason and the backup lifesign-launcher is starting, through demo-ssh (the demo's stand-in for ssh, which takes 1 s to log in).".to_owned(),
                LEGEND.to_owned(),
            ],
        ),
        backup.shot(
            "3-failover.png",
            target,
            vec![
                format!("3. {:+.1} s: the backup zenity is on the display", at3),
                "The overlay took the placeholder away when the backup mapped its window.".to_owned(),
                LEGEND.to_owned(),
            ],
        ),
    ])
}
