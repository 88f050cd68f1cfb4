//! A heartbeat: NoOperation requests sent at an interval from a thread of its own.

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use x11rb::connection::Connection;
use x11rb::errors::ConnectionError;
use x11rb::protocol::xproto::ConnectionExt as _;

/// Sends NoOperation and flushes, every `interval`, until stopped or dropped (or the
/// connection breaks: then [`Pulse::ended`] says so).
pub struct Pulse {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<Result<(), ConnectionError>>>,
    ended: Receiver<()>,
}

impl Pulse {
    pub fn start<C>(conn: Arc<C>, interval: Duration) -> Self
    where
        C: Connection + Send + Sync + 'static,
    {
        let (stop, stopped) = crossbeam_channel::bounded(1);
        let (end, ended) = crossbeam_channel::bounded(1);
        let thread = std::thread::Builder::new()
            .name("lifesign-pulse".into())
            .spawn(move || {
                let result = beat(&*conn, interval, &stopped);
                let _ = end.send(());
                result
            })
            .expect("spawn the pulse thread");
        Self {
            stop: Some(stop),
            thread: Some(thread),
            ended,
        }
    }

    /// Ready once the heartbeat has ended by itself (its connection broke), for a
    /// `crossbeam_channel::select!` next to the caller's other work.
    pub fn ended(&self) -> &Receiver<()> {
        &self.ended
    }

    /// Stops the heartbeat; says why it had stopped by itself, if it had.
    pub fn stop(mut self) -> Result<(), ConnectionError> {
        self.finish()
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
    /// Tells the thread to stop, without waiting for it: it may be blocked writing to a server
    /// that does not read ([`Pulse::stop`] waits).
    fn drop(&mut self) {
        drop(self.stop.take());
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
