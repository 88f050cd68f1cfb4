//! A heartbeat: NoOperation requests sent at an interval from a thread of its own.

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use x11rb::connection::Connection;
use x11rb::errors::ConnectionError;
use x11rb::protocol::xproto::ConnectionExt as _;

/// Sends NoOperation and flushes, every `interval`, until stopped or dropped (or the
/// connection breaks).
pub struct Pulse {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<Result<(), ConnectionError>>>,
}

impl Pulse {
    pub fn start<C>(conn: Arc<C>, interval: Duration) -> Self
    where
        C: Connection + Send + Sync + 'static,
    {
        let (stop, stopped) = crossbeam_channel::bounded(1);
        let thread = std::thread::Builder::new()
            .name("lifesign-pulse".into())
            .spawn(move || beat(&*conn, interval, &stopped))
            .expect("spawn the pulse thread");
        Self {
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Stops the heartbeat; says why it had stopped by itself, if it had.
    pub fn stop(mut self) -> Result<(), ConnectionError> {
        self.finish()
    }

    /// Lets the heartbeat thread go without waiting for it: for a caller that is about to
    /// exit because the server is lost (the thread may be blocked writing to it).
    pub fn abandon(mut self) {
        drop(self.stop.take());
        drop(self.thread.take());
    }

    fn finish(&mut self) -> Result<(), ConnectionError> {
        drop(self.stop.take());
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(ConnectionError::UnknownError),
            None => Ok(()),
        }
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

fn beat(
    conn: &impl Connection,
    interval: Duration,
    stopped: &Receiver<()>,
) -> Result<(), ConnectionError> {
    loop {
        conn.no_operation()?;
        conn.flush()?;
        match stopped.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}
