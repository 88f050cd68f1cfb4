//! The overlay's process (`[overlay]`): spawned from its argv like a candidate (never a
//! shell), with `DISPLAY` and `LIFESIGN_LAUNCHER_STATE`; reaped and started again without
//! ever blocking the main loop ([`crate::overlay::Restarts`] says when); stopped with the
//! launcher. Unlike the candidates, it is the launcher's own helper: under the shipped
//! unit's `KillMode=process` nothing else would stop it.

use super::children::{KILL_AFTER, command, describe, signal_group};
use crate::config::Overlay;
use crate::overlay::Restarts;
use rustix::process::Signal;
use std::path::PathBuf;
use std::process::Child;
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
        let spawned = command(&self.argv, &self.display)
            .and_then(|mut c| c.env("LIFESIGN_LAUNCHER_STATE", &self.state).spawn());
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
