//! How a watched client's connection ended, from what its socket says at the end.

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
}

/// The end of a watched client that the module did not close itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Gone(GoneReason),
    Lost(LostReason),
}

/// `killed`: the end came from another client's KillClient. `socket`: for TCP clients.
pub fn classify(killed: bool, socket: Option<SocketEnd>) -> End {
    if killed {
        return End::Gone(GoneReason::Killed);
    }
    let Some(socket) = socket else {
        return End::Gone(GoneReason::Closed);
    };
    match (socket.error, socket.state) {
        (Some(SocketError::TimedOut), _) => End::Lost(LostReason::TransportTimeout),
        (Some(SocketError::Reset), _) => End::Lost(LostReason::Reset),
        (_, TcpState::Closed) if socket.retrying => End::Lost(LostReason::TransportTimeout),
        (_, TcpState::Closed) => End::Lost(LostReason::Reset),
        _ => End::Gone(GoneReason::Closed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(error: Option<SocketError>, state: TcpState, retrying: bool) -> Option<SocketEnd> {
        Some(SocketEnd {
            error,
            state,
            retrying,
        })
    }

    #[test]
    fn kernel_aborts_are_losses() {
        use TcpState::*;
        let lost = |r| End::Lost(r);
        assert_eq!(
            classify(false, tcp(Some(SocketError::TimedOut), Other, false)),
            lost(LostReason::TransportTimeout)
        );
        assert_eq!(
            classify(false, tcp(None, Closed, true)),
            lost(LostReason::TransportTimeout)
        );
        assert_eq!(
            classify(false, tcp(Some(SocketError::Reset), Closed, false)),
            lost(LostReason::Reset)
        );
        assert_eq!(
            classify(false, tcp(None, Closed, false)),
            lost(LostReason::Reset)
        );
    }

    #[test]
    fn clean_ends_are_gone() {
        assert_eq!(classify(false, None), End::Gone(GoneReason::Closed));
        assert_eq!(
            classify(false, tcp(None, TcpState::CloseWait, false)),
            End::Gone(GoneReason::Closed)
        );
        assert_eq!(
            classify(false, tcp(None, TcpState::Other, false)),
            End::Gone(GoneReason::Closed)
        );
        assert_eq!(
            classify(true, tcp(None, TcpState::Closed, true)),
            End::Gone(GoneReason::Killed)
        );
    }
}
