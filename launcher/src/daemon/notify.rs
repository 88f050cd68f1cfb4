//! systemd's notification protocol: ready once listening, watchdog pings from the main loop
//! (a loop that hangs stops pinging, and systemd restarts the launcher). Without systemd
//! (no NOTIFY_SOCKET) these do nothing.

use sd_notify::NotifyState;
use std::time::{Duration, Instant};

pub struct Notifier {
    interval: Option<Duration>,
    next: Instant,
}

impl Notifier {
    pub fn new() -> Self {
        // Ping at half the watchdog period, as sd_watchdog_enabled(3) advises.
        let interval = sd_notify::watchdog_enabled().map(|d| d / 2);
        if let Some(i) = interval {
            tracing::info!(interval_ms = i.as_millis(), "systemd watchdog enabled");
        }
        Self {
            interval,
            next: Instant::now(),
        }
    }

    pub fn ready(&self) {
        if let Err(e) = sd_notify::notify(&[NotifyState::Ready]) {
            tracing::warn!("sd_notify READY: {e}");
        }
    }

    pub fn stopping(&self) {
        let _ = sd_notify::notify(&[NotifyState::Stopping]);
    }

    /// Pings when due; returns when the next ping is due.
    pub fn tick(&mut self, now: Instant) -> Option<Instant> {
        let interval = self.interval?;
        if now >= self.next {
            if let Err(e) = sd_notify::notify(&[NotifyState::Watchdog]) {
                tracing::warn!("sd_notify WATCHDOG: {e}");
            }
            self.next = now + interval;
        }
        Some(self.next)
    }
}
