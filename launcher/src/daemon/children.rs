//! The candidates the launcher started: spawned from their argv (never a shell), watched
//! for their exit, stopped when given up.

use crate::config::RunAs;
use std::collections::HashMap;
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a stopped candidate has between SIGTERM and SIGKILL.
pub(super) const KILL_AFTER: Duration = Duration::from_secs(2);

struct Running {
    child: Child,
    service: String,
    candidate: usize,
    kill_at: Option<Instant>,
}

/// What a started candidate gets in its environment, besides the launcher's own.
pub struct Env<'a> {
    pub display: &'a str,
    pub service: &'a str,
    /// The account it runs as (its uid, gid, no supplementary groups, and its HOME, USER and
    /// LOGNAME), if not the launcher's.
    pub user: Option<&'a RunAs>,
}

#[derive(Default)]
pub struct Children {
    running: HashMap<u64, Running>,
}

impl Children {
    /// Starts `argv` as `attempt`, in a process group of its own (a signal to the
    /// launcher's terminal or a stop of the launcher's unit does not reach it).
    pub fn spawn(
        &mut self,
        attempt: u64,
        candidate: usize,
        argv: &[String],
        env: &Env<'_>,
    ) -> io::Result<u32> {
        let mut command = command(argv, env.display)?;
        command.env("LIFESIGN_SERVICE", env.service);
        if let Some(user) = env.user {
            // std sets the gid, then the uid, and drops the supplementary groups when root
            // changes its uid.
            command
                .uid(user.uid)
                .gid(user.gid)
                .env("HOME", &user.home)
                .env("USER", &user.name)
                .env("LOGNAME", &user.name);
        }
        let child = command.spawn()?;
        let pid = child.id();
        self.running.insert(
            attempt,
            Running {
                child,
                service: env.service.to_owned(),
                candidate,
                kill_at: None,
            },
        );
        Ok(pid)
    }

    /// Asks the process group of `attempt` to end; it is killed if it has not after a while.
    pub fn stop(&mut self, attempt: u64) {
        if let Some(r) = self.running.get_mut(&attempt) {
            tracing::info!(service = %r.service, candidate = r.candidate, pid = r.child.id(), "stopping the candidate");
            signal_group(&r.child, rustix::process::Signal::TERM);
            r.kill_at = Some(Instant::now() + KILL_AFTER);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// Reaps what ended, as (attempt, how it ended); kills what overstayed a stop.
    pub fn poll(&mut self) -> Vec<(u64, String)> {
        let now = Instant::now();
        let mut ended = Vec::new();
        for (&attempt, r) in &mut self.running {
            match r.child.try_wait() {
                Ok(Some(status)) => {
                    let how = describe(status);
                    tracing::info!(service = %r.service, candidate = r.candidate, pid = r.child.id(), status = %how, "candidate exited");
                    ended.push((attempt, how));
                }
                Ok(None) => {
                    if r.kill_at.is_some_and(|t| t <= now) {
                        signal_group(&r.child, rustix::process::Signal::KILL);
                        r.kill_at = None;
                    }
                }
                Err(e) => {
                    tracing::warn!(service = %r.service, "waiting for the candidate: {e}");
                    ended.push((attempt, format!("cannot be waited for: {e}")));
                }
            }
        }
        for (attempt, _) in &ended {
            self.running.remove(attempt);
        }
        ended
    }
}

/// `argv` to be spawned as the launcher spawns what it starts: no shell, `DISPLAY`, none of
/// systemd's variables meant for the launcher itself, stdin /dev/null, in a process group of
/// its own (a signal to the launcher's terminal or a stop of the launcher's unit does not
/// reach it; a stop reaches all it started).
pub(super) fn command(argv: &[String], display: &str) -> io::Result<Command> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty argv"))?;
    let mut command = Command::new(program);
    command
        .args(args)
        .env("DISPLAY", display)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .stdin(Stdio::null())
        .process_group(0);
    Ok(command)
}

pub(super) fn signal_group(child: &Child, signal: rustix::process::Signal) {
    let pid = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        let _ = rustix::process::kill_process_group(pid, signal);
    }
}

pub(super) fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    }
}
