//! How a watched client's connection ended, from what its socket says at the end.
//!
//! By the time the module sees the end, the server has usually read the socket's error
//! already (that read is what made it close the client), so the error is often gone; the
//! TCP state, the retry counters and the time since the last acknowledgment remain:
//!
//! - no retransmission or probe under way: the peer itself ended the connection (FIN, or a
//!   reset from its kernel because the client exited with unread data): `gone`, `closed`;
//! - retrying, and nothing acknowledged for the transport timeout: `transport-timeout`;
//! - retrying, then reset by the peer before that: `reset` (the peer lost the connection's
//!   state: a reboot, a NAT or firewall that forgot it);
//! - the peer's receive window closed with data waiting for it, and nothing sent for the
//!   transport timeout: `transport-timeout`. A kernel with a user timeout on the socket ends
//!   such a connection (Linux 5.11 and later) and clears the probe counters as it does, so
//!   the window and the time since data last went out are what tell it from the peer's own
//!   close. The module sets no user timeout since issue 17 (it ends such a client itself:
//!   `transfer`), so this reads only an end some other code's setting caused.

use crate::clock::Millis;
use lifesign_proto::event::{GoneReason, LostReason};

/// A socket error pending at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketError {
    TimedOut,
    Reset,
    Other,
}

/// The TCP state at the end, as far as it matters here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpState {
    /// The peer closed its side (FIN received).
    CloseWait,
    /// The kernel tore the connection down.
    Closed,
    Other,
}

/// What the server's socket of a TCP client said as the server closed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketEnd {
    pub error: Option<SocketError>,
    pub state: TcpState,
    /// Retransmissions, keepalive probes or backoff were under way.
    pub retrying: bool,
    /// Milliseconds since the peer last acknowledged anything.
    pub since_ack_ms: Millis,
    /// The peer's receive window was closed with data waiting for it (false where the kernel
    /// does not say).
    pub window_closed: bool,
    /// Milliseconds since data was last sent to the peer.
    pub since_data_ms: Millis,
}

/// The end of a watched client that the module did not close itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Gone(GoneReason),
    Lost(LostReason),
}

/// `killed`: the end came from another client's KillClient. `socket`: for TCP clients.
/// `transport_timeout`: the client's, if set.
pub fn classify(killed: bool, socket: Option<SocketEnd>, transport_timeout: Option<Millis>) -> End {
    if killed {
        return End::Gone(GoneReason::Killed);
    }
    let Some(socket) = socket else {
        return End::Gone(GoneReason::Closed);
    };
    if socket.error == Some(SocketError::TimedOut) {
        return End::Lost(LostReason::TransportTimeout);
    }
    // Timers are in whole milliseconds and the abort comes on the tick that passes the
    // timeout: allow a tenth of it.
    let past_timeout = |ms: Millis| transport_timeout.is_some_and(|t| ms >= t - t / 10);
    // A reset still pending is the peer's own, whatever its window was.
    if socket.window_closed
        && socket.error.is_none()
        && socket.state == TcpState::Closed
        && past_timeout(socket.since_data_ms)
    {
        return End::Lost(LostReason::TransportTimeout);
    }
    if !socket.retrying {
        return End::Gone(GoneReason::Closed);
    }
    if past_timeout(socket.since_ack_ms) {
        return End::Lost(LostReason::TransportTimeout);
    }
    match (socket.error, socket.state) {
        (Some(SocketError::Reset), _) | (_, TcpState::Closed) => End::Lost(LostReason::Reset),
        _ => End::Gone(GoneReason::Closed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(
        error: Option<SocketError>,
        state: TcpState,
        retrying: bool,
        since_ack_ms: Millis,
    ) -> Option<SocketEnd> {
        Some(SocketEnd {
            error,
            state,
            retrying,
            since_ack_ms,
            window_closed: false,
            since_data_ms: since_ack_ms,
        })
    }

    /// A peer whose window was closed with data waiting, for `since_data_ms`.
    fn closed_window(error: Option<SocketError>, since_data_ms: Millis) -> Option<SocketEnd> {
        Some(SocketEnd {
            window_closed: true,
            since_data_ms,
            // The probes were answered; the abort cleared their counters.
            ..tcp(error, TcpState::Closed, false, 700)?
        })
    }

    #[test]
    fn a_peer_that_takes_nothing_for_the_timeout_is_a_transport_timeout() {
        let lost = End::Lost(LostReason::TransportTimeout);
        assert_eq!(
            classify(false, closed_window(None, 3_050), Some(3_000)),
            lost
        );
        assert_eq!(
            classify(false, closed_window(None, 2_750), Some(3_000)),
            lost
        );
    }

    #[test]
    fn a_closed_window_short_of_the_timeout_or_reset_by_the_peer_is_its_own_end() {
        let closed = End::Gone(GoneReason::Closed);
        // Killed while it did not read: its kernel reset the connection before the timeout.
        assert_eq!(
            classify(false, closed_window(None, 1_200), Some(3_000)),
            closed
        );
        // The reset still pending says so, however long nothing went out.
        assert_eq!(
            classify(
                false,
                closed_window(Some(SocketError::Reset), 9_000),
                Some(3_000)
            ),
            closed
        );
        // No transport timeout of ours: the kernel did not end it for one.
        assert_eq!(classify(false, closed_window(None, 60_000), None), closed);
    }

    #[test]
    fn a_peer_that_stops_acknowledging_is_a_transport_timeout() {
        let lost = End::Lost(LostReason::TransportTimeout);
        assert_eq!(
            classify(
                false,
                tcp(Some(SocketError::TimedOut), TcpState::Closed, true, 0),
                None
            ),
            lost
        );
        // The server read the error already; the counters tell.
        assert_eq!(
            classify(false, tcp(None, TcpState::Closed, true, 3_050), Some(3_000)),
            lost
        );
        assert_eq!(
            classify(false, tcp(None, TcpState::Closed, true, 2_800), Some(3_000)),
            lost
        );
    }

    #[test]
    fn a_reset_while_retrying_is_a_reset() {
        let reset = End::Lost(LostReason::Reset);
        assert_eq!(
            classify(
                false,
                tcp(Some(SocketError::Reset), TcpState::Closed, true, 800),
                Some(3_000)
            ),
            reset
        );
        assert_eq!(
            classify(false, tcp(None, TcpState::Closed, true, 800), Some(3_000)),
            reset
        );
        assert_eq!(
            classify(false, tcp(None, TcpState::Closed, true, 60_000), None),
            reset
        );
    }

    #[test]
    fn a_peer_that_ends_the_connection_itself_is_gone() {
        let closed = End::Gone(GoneReason::Closed);
        assert_eq!(classify(false, None, None), closed);
        assert_eq!(
            classify(false, tcp(None, TcpState::CloseWait, false, 5), Some(3_000)),
            closed
        );
        // Exited with unread data: its kernel sent a reset, nothing was being retried.
        assert_eq!(
            classify(
                false,
                tcp(Some(SocketError::Reset), TcpState::Closed, false, 5),
                Some(3_000)
            ),
            closed
        );
        assert_eq!(
            classify(false, tcp(None, TcpState::Closed, false, 5), None),
            closed
        );
        assert_eq!(
            classify(true, tcp(None, TcpState::Closed, true, 9_000), Some(3_000)),
            End::Gone(GoneReason::Killed)
        );
    }
}
