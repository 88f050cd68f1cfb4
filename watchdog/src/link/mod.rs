//! The rules of the module's link to lifesign-launcher, without the socket or the timer.
//!
//! The module (ext/src/link.rs) owns the non-blocking Unix socket and the server's timer; it
//! tells [`Link`] what happened (a connect that failed or succeeded, bytes read, bytes
//! written, the socket closed or failed) in the order it happened, and does what it is told:
//! the acks to act on, write polling on or off, the connection to drop and why, when to try
//! to connect again. One idea a file:
//!
//! - [`backoff`]: when to connect again (100 ms, doubling to 5 s; again from 100 ms on an
//!   ack, or when the launcher closed or failed).
//! - [`output`]: what waits to be written, and its 1 MiB bound beyond the opening burst.
//! - [`framing`]: the launcher's lines, and the 4096-byte bound on a line.

pub mod backoff;
pub mod framing;
pub mod output;

use backoff::Backoff;
use framing::Framing;
use output::Output;
use std::fmt;

/// When to connect again after a connection ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// It closed, or its socket failed: a restarted launcher is back at once. The backoff
    /// starts again from its first wait.
    Soon,
    /// It did not read, or sent what it must not: after the backoff, which doubles each time
    /// until it acknowledges an event.
    Later,
}

/// What the launcher did that ends its connection: its own doing, so [`Retry::Later`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Breach {
    /// More output waits than [`output::OUTPUT_BOUND`] beyond the opening burst.
    NotReading,
    /// A line over [`framing::LINE_BOUND`] bytes, complete or not.
    LongLine,
}

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotReading => "the launcher does not read (output bound reached)",
            Self::LongLine => "the launcher sent a line longer than 4096 bytes",
        })
    }
}

/// A connection the rules ended: close the socket, connect again in `reconnect_in_ms`.
/// Everything of the connection is forgotten already.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Disconnect {
    pub why: Breach,
    pub reconnect_in_ms: u64,
}

/// What to do after the writes of a turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    /// Nothing changes.
    Same,
    /// Poll the socket for writing too (`true`: output waits) or no longer (`false`).
    PollWrite(bool),
    /// The launcher does not read.
    Disconnect(Disconnect),
}

/// What the reads of a turn brought.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Read {
    /// The seqs acknowledged, in the order the lines came.
    pub acks: Vec<u64>,
    /// Complete lines that were not an ack of this version (each ignored).
    pub ignored: usize,
    /// The launcher sent a line over the bound (after the lines above).
    pub disconnect: Option<Disconnect>,
}

/// The launcher closed the connection (or its socket failed) in a turn of reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ended {
    /// The complete lines read before the end, taken as [`Link::reads_done`] takes them.
    pub read: Read,
    /// Connect again in this many ms: soon, as after any close of the launcher's; after the
    /// backoff if one of those lines breached (`read.disconnect`).
    pub reconnect_in_ms: u64,
}

/// An attempt to connect failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failed {
    /// The first failure since the last connection (or since the start): the one to log.
    pub first: bool,
    /// Try again in this many ms.
    pub retry_in_ms: u64,
}

/// The link's state, one connection after another.
#[derive(Clone, Debug, Default)]
pub struct Link {
    connected: bool,
    output: Output,
    input: Framing,
    backoff: Backoff,
    /// The attempts to connect fail, and the first failure was reported.
    failing: bool,
    /// The socket is polled for writing.
    polling_write: bool,
}

impl Link {
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// When to attempt a connection where no attempt is planned (at the start, and in a new
    /// generation, whose predecessor's CloseDown freed the timer): in the first backoff if
    /// not connected, never if connected.
    pub fn first_attempt_ms(&self) -> Option<u64> {
        (!self.connected).then_some(backoff::FIRST_MS)
    }

    /// An attempt to connect failed: when to try again, the backoff doubled for the next.
    pub fn connect_failed(&mut self) -> Failed {
        let first = !self.failing;
        self.failing = true;
        Failed {
            first,
            retry_in_ms: self.backoff.take(),
        }
    }

    /// A connection is made, not yet polled for writing, with nothing of an earlier one. The
    /// backoff stays as it is until the launcher shows it reads (an ack), so that one that
    /// never does is not connected to again and again at once.
    pub fn connected(&mut self) {
        self.connected = true;
        self.failing = false;
        self.polling_write = false;
        self.output.clear();
        self.input.clear();
    }

    /// Queues one line, if connected; false if not (the outbox keeps the event for the next
    /// connection).
    pub fn queue(&mut self, line: &str) -> bool {
        if self.connected {
            self.output.queue(line);
        }
        self.connected
    }

    /// All that is queued now is the connection's opening burst (`hello`, the replay, the
    /// kept events): it does not count against the output bound until written.
    pub fn opening_queued(&mut self) {
        self.output.opening_queued();
    }

    /// What waits to be written.
    pub fn unwritten(&self) -> &[u8] {
        self.output.unwritten()
    }

    /// `n` bytes of [`unwritten`](Self::unwritten) were written.
    pub fn wrote(&mut self, n: usize) {
        self.output.wrote(n);
    }

    /// The writes of a turn ended (all written, or the socket would take no more): the
    /// connection is dropped if more waits than the bound allows; otherwise the socket is
    /// polled for writing while output waits.
    pub fn writes_done(&mut self) -> Written {
        if !self.connected {
            return Written::Same;
        }
        if self.output.over_bound() {
            return Written::Disconnect(self.breach(Breach::NotReading));
        }
        let want_write = !self.output.unwritten().is_empty();
        if want_write == self.polling_write {
            return Written::Same;
        }
        self.polling_write = want_write;
        Written::PollWrite(want_write)
    }

    /// Bytes read from the launcher: kept until [`reads_done`](Self::reads_done).
    pub fn received(&mut self, bytes: &[u8]) {
        self.input.push(bytes);
    }

    /// The reads of a turn ended (the socket has no more): every complete line is taken, an
    /// ack (`lifesign_proto::event::parse_reply`) starting the backoff again; any other line
    /// is ignored; a line over the bound, complete or not, ends the connection after the
    /// lines before it.
    pub fn reads_done(&mut self) -> Read {
        let mut read = Read::default();
        let backoff = &mut self.backoff;
        let cut = self
            .input
            .lines(|line| match lifesign_proto::event::parse_reply(line) {
                Some(seq) => {
                    backoff.reset();
                    read.acks.push(seq);
                }
                None => read.ignored += 1,
            });
        if cut.is_err() {
            read.disconnect = Some(self.breach(Breach::LongLine));
        }
        read
    }

    /// The launcher closed the connection, or its socket failed, in a turn of reads: the
    /// complete lines read before the end are taken first, then the connection is dropped
    /// ([`Retry::Soon`]). The launcher writes the acks due before it closes a connection
    /// (docs/decisions.md, 73), so they and the end often come in one turn: those events were
    /// acted on, and sent again they would be acted on again by a launcher that no longer
    /// knows their seqs (another server start said `hello` meanwhile).
    pub fn ended(&mut self) -> Ended {
        let read = self.reads_done();
        let reconnect_in_ms = match read.disconnect {
            Some(breach) => breach.reconnect_in_ms,
            None => self.dropped(Retry::Soon),
        };
        Ended {
            read,
            reconnect_in_ms,
        }
    }

    /// The connection ended (or is ended by the module): everything of it is forgotten.
    /// Returns when to connect again: for [`Retry::Soon`] the first backoff, which the
    /// backoff starts again from; for [`Retry::Later`] the backoff, doubled for the next.
    pub fn dropped(&mut self, retry: Retry) -> u64 {
        self.connected = false;
        self.polling_write = false;
        self.output.clear();
        self.input.clear();
        match retry {
            Retry::Soon => {
                self.backoff.reset();
                backoff::FIRST_MS
            }
            Retry::Later => self.backoff.take(),
        }
    }

    fn breach(&mut self, why: Breach) -> Disconnect {
        Disconnect {
            why,
            reconnect_in_ms: self.dropped(Retry::Later),
        }
    }
}

#[cfg(test)]
mod tests;
