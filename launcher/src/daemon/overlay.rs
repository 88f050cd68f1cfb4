//! The overlay's process (`[overlay]`): spawned from its argv like a candidate (never a
//! shell), with `DISPLAY` and `LIFESIGN_LAUNCHER_STATE`; reaped and started again without
//! ever blocking the main loop ([`crate::overlay::Restarts`] says when); stopped with the
//! launcher. Unlike the candidates, it is the launcher's own helper: under the shipped
//! unit's `KillMode=process` nothing else would stop it. So it is stopped however the
//! launcher ends: by [`OverlayProcess::stop`] on an orderly stop, by its `Drop` when the
//! main loop unwinds, and by the kernel when the launcher dies without either (SIGKILL, an
//! abort, systemd's watchdog): the overlay asked for SIGTERM at its parent's death.

use super::children::{KILL_AFTER, command, describe, signal_group};
use crate::config::Overlay;
use crate::overlay::Restarts;
use rustix::process::Signal;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub struct OverlayProcess {
    argv: Vec<String>,
    display: String,
    state: PathBuf,
    restarts: Restarts,
    child: Option<Child>,
}

impl OverlayProcess {
    /// The overlay of a launcher that starts at `now` (Unix ms, the daemon's clock): due at
    /// once.
    pub fn new(config: &Overlay, display: &str, state: PathBuf, now: u64) -> Self {
        Self {
            argv: config.command.clone(),
            display: display.to_owned(),
            state,
            restarts: Restarts::new(now),
            child: None,
        }
    }

    /// It runs: the loop looks at it often, to notice its exit.
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// When it is to be started next; none while it runs.
    pub fn due(&self) -> Option<u64> {
        self.restarts.due()
    }

    /// Reaps it if it ended; starts it when due.
    pub fn poll(&mut self, now: u64) {
        if let Some(child) = &mut self.child {
            let ended = match child.try_wait() {
                Ok(Some(status)) => Some(describe(status)),
                Ok(None) => None,
                Err(e) => Some(format!("cannot be waited for: {e}")),
            };
            if let Some(status) = ended {
                let pid = child.id();
                self.child = None;
                let due = self.restarts.ended(now);
                tracing::warn!(pid, status = %status, restart_in_ms = due.saturating_sub(now), "the overlay exited; starting it again");
            }
        }
        if self.restarts.due().is_some_and(|t| t <= now) {
            self.start(now);
        }
    }

    fn start(&mut self, now: u64) {
        let spawned = command(&self.argv, &self.display).and_then(|mut c| {
            c.env("LIFESIGN_LAUNCHER_STATE", &self.state);
            ends_with_the_launcher(&mut c);
            c.spawn()
        });
        match spawned {
            Ok(child) => {
                tracing::info!(pid = child.id(), argv = ?self.argv, "started the overlay");
                self.child = Some(child);
                self.restarts.started(now);
            }
            Err(e) => {
                let due = self.restarts.ended(now);
                tracing::error!(argv = ?self.argv, restart_in_ms = due.saturating_sub(now), "cannot start the overlay: {e}");
            }
        }
    }

    /// Stops it (its process group: SIGTERM, SIGKILL after a while) and waits for it: the
    /// launcher is exiting.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        tracing::info!(pid = child.id(), "stopping the overlay");
        signal_group(&child, Signal::TERM);
        let kill_at = Instant::now() + KILL_AFTER;
        loop {
            match child.try_wait() {
                Ok(None) if Instant::now() < kill_at => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(None) => {
                    signal_group(&child, Signal::KILL);
                    let _ = child.wait();
                    return;
                }
                Ok(Some(_)) | Err(_) => return,
            }
        }
    }
}

impl Drop for OverlayProcess {
    /// A launcher whose main loop unwinds (a panic) stops its overlay as an orderly stop does.
    fn drop(&mut self) {
        self.stop();
    }
}

/// The process `command` starts gets SIGTERM when the launcher dies, however it dies.
///
/// Linux sends the parent-death signal when the *thread* that forked the child ends, not the
/// process: the overlay is spawned from the main loop, on the main thread, which ends only
/// with the process. The setting survives the exec (the overlay is no set-user-ID program).
#[allow(unsafe_code)]
fn ends_with_the_launcher(command: &mut Command) {
    let launcher = rustix::process::getpid();
    debug_assert_eq!(
        rustix::thread::gettid(),
        launcher,
        "the overlay is spawned from the main thread: its death signal follows the spawning thread"
    );
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // work is allowed. It makes two system calls through rustix (prctl, getppid), which
    // neither allocate nor lock, and an error it returns is an errno, made without allocating.
    unsafe {
        command.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(Signal::TERM))?;
            // The launcher died between the fork and the prctl: no signal will come.
            if rustix::process::getppid() != Some(launcher) {
                return Err(io::Error::from(rustix::io::Errno::SRCH));
            }
            Ok(())
        });
    }
}
