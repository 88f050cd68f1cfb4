//! Whether output that waits for a TCP client is moving: the busy half of `TransportTimeout`.
//!
//! The kernel's keepalive ends an idle connection whose peer stopped answering (the probe
//! count and interval are tuned to the timeout: `policy::Keepalive`). Keepalive stops while
//! data waits for the peer, and the kernel's own rule for that case, TCP_USER_TIMEOUT, cannot
//! tell a client that reads slowly from one that stopped: with the peer's receive window
//! closed, it times the zero-window probes from the first one and resets that clock only when
//! the whole head of the send queue fits the window, which a reader that takes a segment at a
//! time never opens. It closed a client reading 1448 bytes every 300 ms within the timeout
//! (Linux 6.18; `tests/tests/transport.rs` keeps such a client now). So the module sets no user timeout and judges
//! waiting output itself, looking at the socket every [`check_interval`]:
//!
//! - data in flight, or two window probes in a row, unanswered, and nothing acknowledged for
//!   the timeout: the peer is gone (a dead host, a cut link); the look is set for the moment
//!   the timeout passes since the last acknowledgment, so that is when the connection is
//!   dropped. (One probe out is not enough: on kernels that back window probes off, a probe
//!   is out for a round trip with the last answer long ago, from a peer that is there.)
//! - data in flight and no byte of it acknowledged for the timeout, though something comes
//!   back: the way to the client is cut and the way back is not (its own retransmissions
//!   refresh the time of the last acknowledgment);
//! - every probe answered, but no byte taken for [`not_taken_limit`] (the timeout, and at
//!   least a minute) while data waits: the client stopped reading;
//! - anything taken within that: it is reading, however slowly.
//!
//! Why a minute: a receiver advertises a closed window until a good part of its buffer is
//! free (Linux: a sixteenth of it, and a segment), so a client that reads slowly opens it
//! only now and then. One reading 1448 bytes every 300 ms under a flood of events opened it
//! 5 to 25 s apart (`docs/decisions.md`, 61); nothing the sender sees tells that pause from a
//! client that stopped.

use crate::clock::Millis;

/// What a client's socket says of the output waiting for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// Data is sent and not acknowledged, or not sent yet.
    pub waiting: bool,
    /// Data is sent and not acknowledged.
    pub in_flight: bool,
    /// Window probes sent since the peer last answered one.
    pub probes: u32,
    /// Bytes the peer has acknowledged since the connection began.
    pub acked: u64,
    /// Milliseconds since the peer last acknowledged anything (a data ack, a window update,
    /// the answer to a probe).
    pub since_ack_ms: Millis,
}

impl Transfer {
    /// Something sent is known to go unanswered: data in flight, or two probes in a row.
    fn unanswered(&self) -> bool {
        self.in_flight || self.probes >= 2
    }
}

/// Why a client's transfer is judged lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stuck {
    /// What was sent went unacknowledged for the timeout: the peer is gone, or the way to it.
    Unanswered { for_ms: Millis },
    /// Acknowledged, but nothing taken for the timeout: the client stopped reading.
    NotTaken { for_ms: Millis },
}

/// How often the socket of a client with `timeout` is looked at while nothing is known to
/// wait: a tenth of the timeout, from 100 ms to a second. Output that begins to wait just
/// after a look is seen at the next one.
pub fn check_interval(timeout: Millis) -> Millis {
    (timeout / 10).clamp(100, 1000)
}

/// Looks land on multiples of this (watchdog time), so that the looks of many TCP clients
/// share the module's passes instead of waking the server for each: at most ten extra passes
/// a second, however many clients; a look is up to this late.
pub const GRID: Millis = 100;

fn on_grid(t: Millis) -> Millis {
    t.div_ceil(GRID) * GRID
}

/// The shortest time a client that answers but takes nothing is kept.
pub const NOT_TAKEN_MIN: Millis = 60_000;

/// How long a client whose window stays closed, answering every probe, is kept.
pub fn not_taken_limit(timeout: Millis) -> Millis {
    timeout.max(NOT_TAKEN_MIN)
}

/// One client's transfer as last looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransferWatch {
    timeout: Millis,
    /// When the socket is looked at next (watchdog time).
    pub next_check: Millis,
    acked: u64,
    /// Since when data has waited with no byte taken, as first seen by a look.
    stalled_since: Option<Millis>,
    /// Since when data has been in flight with no byte of it acknowledged, as first seen by a
    /// look.
    in_flight_since: Option<Millis>,
}

impl TransferWatch {
    pub fn new(timeout: Millis, now: Millis) -> Self {
        Self {
            timeout,
            next_check: on_grid(now + check_interval(timeout)),
            acked: 0,
            stalled_since: None,
            in_flight_since: None,
        }
    }

    /// A look at `now`: the transfer is lost, or the next look is set.
    pub fn look(&mut self, now: Millis, t: Transfer) -> Result<(), Stuck> {
        let every = check_interval(self.timeout);
        let progressed = t.acked != self.acked;
        self.acked = t.acked;
        // A clock that runs while `on` holds and nothing is taken, from the first look that
        // saw it.
        let since = |clock: Option<Millis>, on: bool| match clock {
            _ if !on => None,
            Some(since) if !progressed => Some(since),
            _ => Some(now),
        };
        self.stalled_since = since(self.stalled_since, t.waiting);
        self.in_flight_since = since(self.in_flight_since, t.in_flight);
        if !t.waiting {
            self.next_check = on_grid(now + every);
            return Ok(());
        }
        if t.unanswered() && t.since_ack_ms >= self.timeout {
            return Err(Stuck::Unanswered {
                for_ms: t.since_ack_ms,
            });
        }
        if let Some(since) = self.in_flight_since
            && now - since >= self.timeout
        {
            return Err(Stuck::Unanswered {
                for_ms: now - since,
            });
        }
        let limit = not_taken_limit(self.timeout);
        let stalled = self.stalled_since.unwrap_or(now);
        if now - stalled >= limit {
            return Err(Stuck::NotTaken {
                for_ms: now - stalled,
            });
        }
        // The next look: in the usual interval, and exactly when a rule's time would pass.
        let mut next = (now + every).min(stalled + limit);
        if let Some(since) = self.in_flight_since {
            next = next.min(since + self.timeout);
        }
        if t.unanswered() {
            next = next.min(now + (self.timeout - t.since_ack_ms));
        }
        self.next_check = on_grid(next);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Millis = 10_000;

    fn idle(acked: u64) -> Transfer {
        Transfer {
            waiting: false,
            in_flight: false,
            probes: 0,
            acked,
            since_ack_ms: 0,
        }
    }

    /// Data in flight, nothing acknowledged for `since_ack_ms`.
    fn waiting(acked: u64, since_ack_ms: Millis) -> Transfer {
        Transfer {
            waiting: true,
            in_flight: true,
            probes: 0,
            acked,
            since_ack_ms,
        }
    }

    /// A closed window whose last probe was answered `since_ack_ms` ago.
    fn closed(acked: u64, since_ack_ms: Millis) -> Transfer {
        Transfer {
            waiting: true,
            in_flight: false,
            probes: 0,
            acked,
            since_ack_ms,
        }
    }

    #[test]
    fn looks_come_a_tenth_of_the_timeout_apart_within_bounds_on_the_grid() {
        assert_eq!(check_interval(2_000), 200);
        assert_eq!(check_interval(500), 100);
        assert_eq!(check_interval(10_000), 1_000);
        assert_eq!(check_interval(3_600_000), 1_000);
        let mut w = TransferWatch::new(T, 0);
        assert_eq!(w.next_check, 1_000);
        assert_eq!(w.look(1_000, idle(5)), Ok(()));
        assert_eq!(w.next_check, 2_000);
        // Two clients a few ms apart share their next look.
        let mut v = TransferWatch::new(T, 7);
        assert_eq!(v.next_check, 1_100);
        v.look(1_100, idle(5)).unwrap();
        w.look(2_000, idle(5)).unwrap();
        v.look(2_100, idle(5)).unwrap();
        let mut u = TransferWatch::new(T, 1_093);
        u.look(2_100, idle(5)).unwrap();
        assert_eq!(u.next_check, v.next_check);
    }

    #[test]
    fn output_nobody_acknowledges_is_lost_when_the_timeout_passes_since_the_last_ack() {
        let mut w = TransferWatch::new(T, 0);
        w.look(1_000, idle(100)).unwrap();
        // Output began waiting; the peer last answered 300 ms ago.
        w.look(2_000, waiting(100, 300)).unwrap();
        assert_eq!(w.next_check, 3_000);
        // Looks each second, and one where 10 s since the ack (at 1_700) are reached.
        let mut looks = vec![];
        let stuck = loop {
            let now = w.next_check;
            looks.push(now);
            if let Err(stuck) = w.look(now, waiting(100, now - 1_700)) {
                break stuck;
            }
        };
        assert_eq!(
            looks,
            [
                3_000, 4_000, 5_000, 6_000, 7_000, 8_000, 9_000, 10_000, 11_000, 11_700
            ]
        );
        assert_eq!(stuck, Stuck::Unanswered { for_ms: 10_000 });
    }

    #[test]
    fn a_reader_that_takes_anything_is_kept_however_slowly() {
        let mut w = TransferWatch::new(T, 0);
        let mut acked = 0;
        // A window opened every 50 s; probes answered, some of them 20 s apart (an older
        // kernel's probes back off): kept for ten minutes.
        for now in (1_000..600_000).step_by(1_000) {
            if now % 50_000 == 0 {
                acked += 30_000;
            }
            let since_ack = now % 20_000;
            assert_eq!(w.look(now, closed(acked, since_ack)), Ok(()), "at {now}");
        }
    }

    #[test]
    fn a_reader_that_takes_nothing_is_lost_after_the_timeout_though_it_answers() {
        let mut w = TransferWatch::new(T, 0);
        w.look(1_000, closed(5_000, 100)).unwrap();
        let mut now;
        loop {
            now = w.next_check;
            match w.look(now, closed(5_000, 100)) {
                Ok(()) => assert!(now < 61_000, "still kept at {now}"),
                Err(stuck) => {
                    assert_eq!(stuck, Stuck::NotTaken { for_ms: 60_000 });
                    break;
                }
            }
        }
        assert_eq!(now, 61_000);
        // A timeout longer than a minute is the limit itself.
        assert_eq!(not_taken_limit(90_000), 90_000);
    }

    #[test]
    fn output_that_stops_waiting_clears_the_stall() {
        let mut w = TransferWatch::new(T, 0);
        w.look(1_000, closed(0, 0)).unwrap();
        w.look(59_000, closed(0, 0)).unwrap();
        // Everything went out and was taken in between.
        w.look(60_000, idle(0)).unwrap();
        w.look(61_000, closed(0, 0)).unwrap();
        assert_eq!(w.look(120_000, closed(0, 0)), Ok(()));
        assert!(w.look(121_000, closed(0, 0)).is_err());
    }

    #[test]
    fn one_probe_out_long_after_the_last_answer_is_not_a_dead_peer_two_are() {
        let mut w = TransferWatch::new(T, 0);
        let probing = |probes, since_ack_ms| Transfer {
            probes,
            ..closed(0, since_ack_ms)
        };
        // A backed-off probe is out for a round trip, the last answer 12.8 s ago.
        assert_eq!(w.look(1_000, probing(1, 12_800)), Ok(()));
        assert_eq!(
            w.look(2_000, probing(2, 13_800)),
            Err(Stuck::Unanswered { for_ms: 13_800 })
        );
    }

    #[test]
    fn data_in_flight_that_nobody_takes_is_lost_at_the_timeout_though_acks_come_back() {
        // The way to the client is cut; its own retransmissions keep acknowledging old data.
        let mut w = TransferWatch::new(T, 0);
        w.look(1_000, idle(500)).unwrap();
        let mut now = 2_000;
        let stuck = loop {
            match w.look(now, waiting(500, 300)) {
                Ok(()) => now = w.next_check,
                Err(stuck) => break stuck,
            }
        };
        assert_eq!(stuck, Stuck::Unanswered { for_ms: 10_000 });
        assert_eq!(now, 12_000);
        // Data that is acknowledged a round trip after each look it is seen in is moving.
        let mut w = TransferWatch::new(T, 0);
        for (i, now) in (1_000..120_000).step_by(1_000).enumerate() {
            assert_eq!(w.look(now, waiting(i as u64 * 100, 5)), Ok(()), "at {now}");
        }
    }
}
