//! The demo's scenes: a host that loses its cable, and an application that hangs. Each
//! follows one failover as the server, the launcher and `lifesign overlay` play it, and
//! records it into a timeline (and, for the main scene, screenshots).

mod hosts;
mod local;

pub use hosts::with_hosts;
pub use local::local;

use crate::Stop;
use crate::display::{AppWindow, Mark, Rect, app_windows, frame_over, marks, placeholder_over};
use crate::display::{FRAME_RGB, PANEL_RGB, PANEL_TEXT_RGB};
use crate::picture::Shot;
use crate::shot::{Image, region, screenshot};
use crate::timeline::{Deadline, Kind, Timeline, parse_rfc3339_ms};
use lifesign_proto::event::{Body, ClientInfo, Event, LostReason};
use lifesign_tests::launcher::toml_argv;
use lifesign_tests::{Launcher, Server, unix_ms};
use rustix::process::{Pid, Signal};
use std::path::Path;
use std::time::Duration;
use x11rb::connection::Connection;

const UP: Duration = Duration::from_secs(30);
const FAILOVER: Duration = Duration::from_secs(20);
/// The overlay's frame is 6 px wide (docs/cli.md).
const FRAME_WIDTH: i32 = 6;

/// The module's Grace in both scenes, and how often the applications show a sign of life
/// by themselves (xclock redraws every second; zenity answers the server's ping, WmPing 1s).
const GRACE: &str = "1s";
const GRACE_MS: u64 = 1000;
const SIGN_EVERY_MS: u64 = 1000;

/// The deadlines the scenes configure, to print next to what the server measured.
#[derive(Clone, Copy)]
pub struct Deadlines {
    pub idle_ms: Option<u64>,
    pub wm_ping_timeout_ms: Option<u64>,
}

impl Deadlines {
    /// The option behind a loss of `reason`, and its value.
    fn of(&self, reason: LostReason) -> Option<(&'static str, u64)> {
        match reason {
            LostReason::IdleTimeout => self.idle_ms.map(|ms| ("IdleTimeout", ms)),
            LostReason::WmPingTimeout => self.wm_ping_timeout_ms.map(|ms| ("WmPingTimeout", ms)),
            _ => None,
        }
    }
}

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

/// The launcher's `[overlay]`: `lifesign overlay` as built in this workspace, with `prefix`
/// before it (what puts it on the display's host) and `args` after.
fn overlay_section(prefix: &[&str], args: &[&str]) -> String {
    let cli = lifesign_tests::server::built_binary("lifesign", "LIFESIGN_CLI");
    let argv: Vec<String> = prefix
        .iter()
        .map(|s| (*s).to_owned())
        .chain([cli.display().to_string(), "overlay".to_owned()])
        .chain(args.iter().map(|s| (*s).to_owned()))
        .collect();
    format!("[overlay]\ncommand = {}\n", toml_argv(&argv))
}

/// How long the demo's stand-in for ssh takes before the command runs on its host, in s.
const LOGIN: &str = "1";

/// Writes `demo-ssh HOST COMMAND...` into `dir`: the demo's stand-in for ssh, through which
/// the launcher starts every candidate. Its hosts are the lab's network namespaces, or this
/// machine (no namespace); like an ssh login it takes a second before the command runs.
/// The second matters to what the screenshots show: without it a backup started at once
/// maps 200-300 ms after the loss, before the overlay re-reads the launcher's state (every
/// 500 ms) and names the backup in the placeholder, and before the demo has shot it.
fn demo_ssh(dir: &Path, hosts: &[(&str, Option<&str>)]) -> Result<(), String> {
    let cases: String = hosts
        .iter()
        .map(|(name, ns)| match ns {
            Some(ns) => format!("    {name}) set -- ip netns exec {ns} \"$@\" ;;\n"),
            None => format!("    {name}) ;;\n"),
        })
        .collect();
    let script = format!(
        "#!/bin/sh\n\
         # demo-ssh HOST COMMAND...: lifesign-demo's stand-in for ssh. Its hosts are network\n\
         # namespaces (or this machine); like an ssh login, it takes {LOGIN} s before the\n\
         # command runs there.\n\
         host=$1\nshift\n\
         case \"$host\" in\n{cases}    *) echo \"demo-ssh: no host $host\" >&2; exit 255 ;;\nesac\n\
         sleep {LOGIN}\nexec \"$@\"\n"
    );
    let path = dir.join("demo-ssh");
    std::fs::write(&path, script).map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// `PATH` with `dir` first: where the launcher finds `demo-ssh`.
fn path_with(dir: &Path) -> String {
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    format!("{}:{path}", dir.display())
}

/// `argv` run on `host` through `demo-ssh`.
fn ssh(host: &str, argv: &[&str]) -> Vec<String> {
    ["demo-ssh", host]
        .iter()
        .chain(argv)
        .map(|s| (*s).to_owned())
        .collect()
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

/// What the server said of a client: when, why, and how long it had been silent.
#[derive(Clone, Copy, Debug)]
pub struct Judged {
    pub at: u64,
    pub reason: LostReason,
    pub silent_ms: u64,
}

fn suspect_of(server: &Server, id: &str, since: u64) -> Option<Judged> {
    event(server, |e| match &e.body {
        Body::Suspect {
            client,
            reason,
            silent_ms,
        } if client.id == id && e.at_ms >= since => Some(Judged {
            at: e.at_ms,
            reason: *reason,
            silent_ms: *silent_ms,
        }),
        _ => None,
    })
}

fn lost_of(server: &Server, id: &str) -> Option<Judged> {
    event(server, |e| match &e.body {
        Body::Lost {
            client,
            reason,
            silent_ms,
        } if client.id == id => Some(Judged {
            at: e.at_ms,
            reason: *reason,
            silent_ms: *silent_ms,
        }),
        _ => None,
    })
}

/// Waits until Grace, and the client's first sign of life after it, have passed since the
/// client was watched. A deadline counts from the end of Grace while the client's last
/// request is older than that: a fault inside Grace is lost later than its deadline says
/// (`silent_ms` 3918 for IdleTimeout 3s). From then on it counts from the last request (or
/// the unanswered ping), and the timeline shows the deadline as configured.
fn wait_past_grace(server: &Server, stop: &Stop, id: &str) -> Result<(), String> {
    let watched = event(server, |e| {
        (matches!(e.body, Body::Watched { .. }) && e.client().is_some_and(|c| c.id == id))
            .then_some(e.at_ms)
    })
    .ok_or_else(|| format!("no watched event for {id}"))?;
    // A tenth of a second more, for the sign of life to arrive.
    let past = watched + GRACE_MS + SIGN_EVERY_MS + 100;
    stop.wait("the end of Grace", UP, || unix_ms() >= past)?;
    Ok(())
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

fn started_needles(service: &str, candidate: usize) -> [String; 3] {
    [
        "started candidate".to_owned(),
        format!("service={service} "),
        format!("candidate={candidate} "),
    ]
}

/// The pid of the primary the launcher started for `service`.
fn primary_pid(launcher: &Launcher, service: &str) -> Option<u32> {
    let needles = started_needles(service, 0);
    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
    launcher_line(launcher, &needles).and_then(|(_, pid)| pid)
}

/// Signals a candidate's process group (the launcher starts each in its own, so the
/// signal reaches the application whatever demo-ssh and `ip netns exec` made of the pid).
fn signal(pid: Option<u32>, signal: Signal) {
    if let Some(pid) = pid.and_then(|p| Pid::from_raw(p as i32)) {
        let _ = rustix::process::kill_process_group(pid, signal);
    }
}

/// The screen at one moment, with the windows and marks on it then.
pub struct Capture {
    /// When the screen was read (Unix ms).
    pub at: u64,
    pub image: Image,
    pub windows: Vec<AppWindow>,
    pub marks: Vec<Rect>,
}

impl Capture {
    /// The capture as the picture `file`, about `subject`, with its caption.
    pub fn shot(self, file: &'static str, subject: Rect, caption: Vec<String>) -> Shot {
        Shot {
            file,
            image: self.image,
            windows: self.windows,
            marks: self.marks,
            subject,
            caption,
        }
    }
}

/// A scene's three captures: the frame, the placeholder, the backup.
pub fn three(captures: Vec<Capture>) -> Result<[Capture; 3], String> {
    captures
        .try_into()
        .map_err(|c: Vec<_>| format!("{} screenshots of 3", c.len()))
}

/// One failover as the demo follows it: a client that fails, and its backup.
pub struct Failover<'a, C: Connection> {
    pub server: &'a Server,
    pub launcher: &'a Launcher,
    pub conn: &'a C,
    pub stop: &'a Stop,
    /// The client that fails, and its window.
    pub id: String,
    pub target: Rect,
    /// Its service in the launcher's config; the backup is its candidate 1.
    pub service: &'a str,
    /// Whether the backup's window is on the display.
    pub backup_up: &'a dyn Fn() -> bool,
    /// The label of each application window in the screenshots.
    pub labels: &'a dyn Fn(&ClientInfo) -> Option<String>,
    /// Whether to take the three screenshots.
    pub shoot: bool,
    /// Whether the placeholder must name the backup before it is shot (it does once the
    /// overlay has read the launcher's state with it).
    pub backup_named: bool,
}

/// What happened, in Unix ms.
pub struct Outcome {
    pub suspect: Option<Judged>,
    /// When the overlay's frame was first seen on the screen.
    pub framed: Option<u64>,
    pub lost: Judged,
    /// When its placeholder was first seen, and what it said then.
    pub placeholder: Option<(u64, String)>,
    /// When the placeholder was first seen naming the backup.
    pub named: Option<u64>,
    pub started: u64,
    pub backup: u64,
    /// When the placeholder was seen gone (the backup up).
    pub cleared: u64,
    /// The frame, the placeholder, the backup: when asked for.
    pub captures: Vec<Capture>,
}

impl<C: Connection> Failover<'_, C> {
    /// The screen with the labelled windows and the marks on it, unless a window came or
    /// went while it was read (then the labels might not match the picture: `None`, to be
    /// taken again).
    fn shoot(&self) -> Result<Option<Capture>, String> {
        let before = app_windows(self.conn, self.labels);
        let marks = marks(self.conn).into_iter().map(|m| m.outer).collect();
        let image = screenshot(self.conn)?;
        let at = unix_ms();
        let windows = app_windows(self.conn, self.labels);
        Ok((windows == before).then_some(Capture {
            at,
            image,
            windows,
            marks,
        }))
    }

    /// Polls `f` every 10 ms until it gives something.
    fn poll<T>(
        &self,
        what: &str,
        mut f: impl FnMut() -> Result<Option<T>, String>,
    ) -> Result<T, String> {
        let mut found = None;
        let mut failed = None;
        self.stop.wait(what, FAILOVER, || match f() {
            Ok(Some(t)) => {
                found = Some(t);
                true
            }
            Ok(None) => false,
            Err(e) => {
                failed = Some(e);
                true
            }
        })?;
        match (found, failed) {
            (Some(t), _) => Ok(t),
            (None, Some(e)) => Err(e),
            (None, None) => Err(format!("{what}: nothing")),
        }
    }

    /// Whether `image` shows the frame around the target with its banner's text drawn
    /// (the overlay draws the text when the server exposes the new mark): orange beside
    /// the window, and black text in the banner above it.
    fn frame_drawn(&self, image: &Image, frame: &Mark) -> bool {
        let t = &self.target;
        let beside = image.pixel(t.x - FRAME_WIDTH / 2, t.y + t.h / 2) == Some(FRAME_RGB);
        let o = &frame.outer;
        let banner_h = t.y - FRAME_WIDTH - o.y;
        beside && (banner_h < 8 || image.count((o.x, o.y, o.w, banner_h), [0, 0, 0]) > 0)
    }

    /// Whether `image` shows the placeholder over the target with its text drawn: the
    /// panel's colour where the window was, and its light text.
    fn placeholder_drawn(&self, image: &Image, mark: &Mark) -> bool {
        let t = &self.target;
        let o = &mark.outer;
        image.pixel(t.right() - 8, t.bottom() - 8) == Some(PANEL_RGB)
            && image.count((o.x, o.y, o.w, o.h), PANEL_TEXT_RGB) > 0
    }

    /// Looks at the mark's part of the screen first (quick), then takes the whole screen
    /// once that part shows what `drawn` wants; `None` until both do.
    fn shoot_when(
        &self,
        mark: &Mark,
        drawn: impl Fn(&Image) -> bool,
    ) -> Result<Option<Capture>, String> {
        let o = &mark.outer;
        if !drawn(&region(self.conn, (o.x, o.y, o.w, o.h))?) {
            return Ok(None);
        }
        Ok(self.shoot()?.filter(|c| drawn(&c.image)))
    }

    /// Follows the failover from the fault at `zero` to the backup on the display.
    pub fn follow(&self, zero: u64) -> Result<Outcome, String> {
        let (server, id) = (self.server, self.id.as_str());
        let suspect = self.poll("suspect", || {
            Ok(suspect_of(server, id, zero)
                .map(Some)
                .or_else(|| lost_of(server, id).map(|_| None)))
        })?;
        let mut captures = Vec::new();
        let mut framed = None;
        if suspect.is_some() {
            // Until the frame is drawn (and shot), or the loss came first.
            self.poll("the overlay's frame", || {
                let Some(frame) = frame_over(self.conn, &self.target) else {
                    return Ok(lost_of(server, id).map(|_| ()));
                };
                framed.get_or_insert_with(unix_ms);
                if !self.shoot {
                    return Ok(Some(()));
                }
                Ok(self
                    .shoot_when(&frame, |image| self.frame_drawn(image, &frame))?
                    .map(|capture| captures.push(capture)))
            })?;
        }
        let lost = self.poll("the loss", || Ok(lost_of(server, id)))?;
        let needles = started_needles(self.service, 1);
        let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
        // From the loss until the backup is up and the placeholder gone, in one loop: each
        // moment is taken when first seen, whichever order they come in.
        let (mut placeholder, mut named, mut started, mut backup) = (None, None, None, None);
        let mut gone = None;
        let cleared = self.poll("the backup on the display, the placeholder gone", || {
            let now = unix_ms();
            if started.is_none() {
                started = launcher_line(self.launcher, &needles).map(|(at, _)| at);
            }
            if backup.is_none() && (self.backup_up)() {
                backup = Some(now);
            }
            let shot_placeholder = captures.len() > usize::from(framed.is_some() && self.shoot);
            match placeholder_over(self.conn, &self.target) {
                Some(mark) => {
                    placeholder.get_or_insert_with(|| (now, mark.name.clone()));
                    if named.is_none() && mark.name.contains("starting backup of") {
                        named = Some(now);
                    }
                    if self.shoot && !shot_placeholder {
                        if backup.is_some() {
                            return Err(format!(
                                "the backup was on the display before the overlay's placeholder{} could be shot",
                                if self.backup_named { " naming it" } else { "" }
                            ));
                        }
                        if named.is_some() || !self.backup_named {
                            let drawn = |image: &Image| self.placeholder_drawn(image, &mark);
                            if let Some(capture) = self.shoot_when(&mark, drawn)? {
                                captures.push(capture);
                            }
                        }
                    }
                    Ok(None)
                }
                None if backup.is_some() && started.is_some() => {
                    if self.shoot && !shot_placeholder {
                        return Err(
                            "the backup was on the display before the overlay's placeholder could be shot"
                                .to_owned(),
                        );
                    }
                    let gone_at = *gone.get_or_insert(now);
                    if !self.shoot {
                        return Ok(Some(gone_at));
                    }
                    Ok(self.shoot()?.map(|capture| {
                        captures.push(capture);
                        gone_at
                    }))
                }
                None => Ok(None),
            }
        });
        let cleared = cleared.map_err(|e| {
            if self.stop.interrupted() {
                return e;
            }
            format!(
                "{e} (placeholder seen: {:?}; named the backup: {}; launcher's start: {}; backup up: {}; placeholder gone: {})",
                placeholder.as_ref().map(|(_, text)| text),
                named.is_some(),
                started.is_some(),
                backup.is_some(),
                gone.is_some()
            )
        })?;
        Ok(Outcome {
            suspect,
            framed,
            lost,
            placeholder,
            named,
            started: started.unwrap_or(cleared),
            backup: backup.unwrap_or(cleared),
            cleared,
            captures,
        })
    }
}

/// How the timeline names the applications of a failover.
pub struct Names<'a> {
    /// The client that fails: `xclock from host A`.
    pub who: &'a str,
    /// What the launcher starts: `xclock on host B`.
    pub started: &'a str,
    /// The backup on the display: `xclock from host B`.
    pub mapped: &'a str,
}

impl Outcome {
    /// Puts what happened to client `id` into `t`.
    pub fn record(&self, t: &mut Timeline, deadlines: Deadlines, id: &str, names: &Names) {
        let who = names.who;
        let lost = self.lost;
        let configured = deadlines.of(lost.reason);
        let quiet = lost.at.saturating_sub(lost.silent_ms);
        match (lost.reason, configured) {
            (LostReason::IdleTimeout, Some((option, ms))) => t.at(
                quiet,
                Kind::Quiet,
                "last request",
                format!("last request from {who}: its {option} ({ms} ms) counts from here"),
            ),
            (LostReason::WmPingTimeout, Some((option, ms))) => t.at(
                quiet,
                Kind::Quiet,
                "_NET_WM_PING sent, never answered",
                format!("the server's _NET_WM_PING to {who}, never answered: its {option} ({ms} ms) counts from here"),
            ),
            _ => {}
        }
        if let Some((option, ms)) = configured {
            t.deadline = Some(Deadline {
                from: quiet,
                ms,
                option: option.to_owned(),
            });
        }
        if let Some(s) = self.suspect {
            t.at(
                s.at,
                Kind::Suspect,
                format!("suspect (silent {} ms)", s.silent_ms),
                format!(
                    "suspect {id} ({}, silent {} ms)",
                    s.reason.as_str(),
                    s.silent_ms
                ),
            );
        }
        if let Some(at) = self.framed {
            t.at(
                at,
                Kind::Overlay,
                "overlay: frame",
                format!("lifesign overlay frames {who}"),
            );
        }
        let deadline = configured
            .map(|(option, ms)| format!("; configured {option} {ms} ms"))
            .unwrap_or_default();
        t.at(
            lost.at,
            Kind::Lost,
            format!("lost (silent {} ms)", lost.silent_ms),
            format!(
                "lost {id} ({}, silent {} ms{deadline}); its windows are closed",
                lost.reason.as_str(),
                lost.silent_ms
            ),
        );
        if let Some((at, text)) = &self.placeholder {
            let said = text.split(" / ").collect::<Vec<_>>();
            let waiting = said.iter().find(|l| l.starts_with("waiting for"));
            t.at(
                *at,
                Kind::Overlay,
                "overlay: placeholder",
                match waiting {
                    // It read the launcher's state before the launcher wrote the start.
                    Some(w) => format!("lifesign overlay's placeholder in its place: \"{w}\""),
                    None => {
                        "lifesign overlay's placeholder in its place, naming the backup".to_owned()
                    }
                },
            );
        }
        if let Some(at) = self.named
            && self
                .placeholder
                .as_ref()
                .is_some_and(|(first, _)| *first != at)
        {
            t.at(
                at,
                Kind::Overlay,
                "overlay: backup named",
                "the placeholder names the backup (the overlay re-reads the launcher's state every 500 ms)",
            );
        }
        t.at(
            self.started,
            Kind::Launcher,
            "launcher starts the backup",
            format!("launcher started {}", names.started),
        );
        t.at(
            self.backup,
            Kind::Backup,
            "backup window mapped",
            format!("backup window mapped: {} is on the display", names.mapped),
        );
        t.at(
            self.cleared,
            Kind::Overlay,
            "overlay: placeholder gone",
            "the placeholder is gone",
        );
        for (n, c) in self.captures.iter().enumerate() {
            t.at(
                c.at,
                Kind::Shot,
                format!("screenshot {}", n + 1),
                format!("screenshot {}", n + 1),
            );
        }
    }
}
