//! Which clients are watched and what each watched client must show.

use crate::clock::Millis;
use crate::options::{Config, Watch};
use ipnet::IpNet;
use lifesign_proto::event::Transport;
use std::net::IpAddr;
use std::time::Duration;

/// The deadlines of one client. `None` is off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub idle_timeout: Option<Millis>,
    pub expect_noop: Option<Millis>,
    pub wm_ping: Option<Millis>,
    pub wm_ping_timeout: Millis,
    pub transport_timeout: Option<Millis>,
    /// This client's NoOperation pulse stands for its whole host (peer address).
    pub host_scope: bool,
}

fn ms(d: Option<Duration>) -> Option<Millis> {
    d.map(|d| d.as_millis() as Millis)
}

impl Policy {
    /// The server-wide policy of the options.
    pub fn from_config(config: &Config) -> Self {
        Self {
            idle_timeout: ms(config.idle_timeout),
            expect_noop: ms(config.expect_noop),
            wm_ping: ms(config.wm_ping),
            wm_ping_timeout: config.wm_ping_timeout.as_millis() as Millis,
            transport_timeout: ms(config.transport_timeout),
            host_scope: false,
        }
    }

    /// True if a request-based deadline applies (anything the block handler must time).
    pub fn has_deadlines(&self) -> bool {
        self.idle_timeout.is_some() || self.expect_noop.is_some() || self.wm_ping.is_some()
    }
}

/// Whether a client is watched without opting in, by `Watch` and `WatchPeers`.
pub fn watched_by_default(config: &Config, transport: Transport, peer: Option<IpAddr>) -> bool {
    let tcp = matches!(transport, Transport::Tcp | Transport::Tcp6);
    let by_kind = match config.watch {
        Watch::All => true,
        Watch::Tcp => tcp,
        Watch::Local => !tcp,
        Watch::None => false,
    };
    if !by_kind || !tcp || config.watch_peers.is_empty() {
        return by_kind;
    }
    peer.is_some_and(|ip| in_peers(&config.watch_peers, ip))
}

fn in_peers(peers: &[IpNet], ip: IpAddr) -> bool {
    // A v4 client on a dual-stack socket shows as ::ffff:a.b.c.d; match it as v4.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    peers.iter().any(|net| net.contains(&ip))
}

/// Kernel settings on the server's socket of a TCP client so that a peer that stops
/// acknowledging is dropped within `TransportTimeout`, idle or busy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// TCP_KEEPIDLE, seconds of silence before the first probe.
    pub idle_s: u32,
    /// TCP_KEEPINTVL, seconds between probes.
    pub interval_s: u32,
    /// TCP_KEEPCNT, unanswered probes before the connection is dropped.
    pub count: u32,
    /// TCP_USER_TIMEOUT, milliseconds that sent data may stay unacknowledged (this also
    /// bounds keepalive: Linux drops the connection once it has passed).
    pub user_timeout_ms: u32,
}

impl Keepalive {
    /// Half the timeout idle, the rest in up to three probes; whole seconds, at least one.
    /// `timeout` is at least 2 s (the option's lower bound).
    pub fn for_timeout(timeout: Millis) -> Self {
        let total_s = (timeout / 1000).max(2) as u32;
        let idle_s = (total_s / 2).max(1);
        let rest = total_s - idle_s;
        let count = rest.clamp(1, 3);
        let interval_s = (rest / count).max(1);
        Self {
            idle_s,
            interval_s,
            count,
            user_timeout_ms: u32::try_from(timeout).unwrap_or(u32::MAX),
        }
    }

    /// When an idle connection to a dead peer is dropped, at the latest.
    pub fn idle_detection_ms(&self) -> Millis {
        Millis::from(self.idle_s + self.interval_s * self.count) * 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Config {
        Config::from_options(pairs.iter().copied()).unwrap()
    }

    #[test]
    fn watch_selects_by_transport() {
        let v4: IpAddr = "10.0.0.5".parse().unwrap();
        let tcp = config(&[]);
        assert!(watched_by_default(&tcp, Transport::Tcp, Some(v4)));
        assert!(!watched_by_default(&tcp, Transport::Local, None));
        let local = config(&[("Watch", "local")]);
        assert!(watched_by_default(&local, Transport::Local, None));
        assert!(!watched_by_default(&local, Transport::Tcp6, Some(v4)));
        let all = config(&[("Watch", "all")]);
        assert!(watched_by_default(&all, Transport::Local, None));
        assert!(watched_by_default(&all, Transport::Tcp, Some(v4)));
        let none = config(&[("Watch", "none")]);
        assert!(!watched_by_default(&none, Transport::Tcp, Some(v4)));
    }

    #[test]
    fn watch_peers_narrow_tcp_clients_only() {
        let c = config(&[("Watch", "all"), ("WatchPeers", "10.1.0.0/16,fd00::/8")]);
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert!(watched_by_default(&c, Transport::Tcp, ip("10.1.2.3")));
        assert!(!watched_by_default(&c, Transport::Tcp, ip("10.2.0.1")));
        assert!(watched_by_default(&c, Transport::Tcp6, ip("fd00::5")));
        assert!(watched_by_default(
            &c,
            Transport::Tcp6,
            ip("::ffff:10.1.0.9")
        ));
        assert!(!watched_by_default(&c, Transport::Tcp, None));
        assert!(
            watched_by_default(&c, Transport::Local, None),
            "local clients: by Watch alone"
        );
    }

    #[test]
    fn keepalive_detects_within_the_timeout() {
        for timeout in [2_000, 3_000, 3_500, 10_000, 60_000, 3_600_000] {
            let k = Keepalive::for_timeout(timeout);
            assert!(
                k.idle_s >= 1 && k.interval_s >= 1 && (1..=3).contains(&k.count),
                "{k:?}"
            );
            assert!(k.idle_detection_ms() <= timeout, "{timeout}: {k:?}");
            assert_eq!(Millis::from(k.user_timeout_ms), timeout);
        }
        assert_eq!(
            Keepalive::for_timeout(10_000),
            Keepalive {
                idle_s: 5,
                interval_s: 1,
                count: 3,
                user_timeout_ms: 10_000
            }
        );
    }

    #[test]
    fn policy_follows_the_options() {
        let p = Policy::from_config(&config(&[("IdleTimeout", "3s"), ("WmPing", "1s")]));
        assert_eq!(p.idle_timeout, Some(3000));
        assert_eq!(p.expect_noop, None);
        assert_eq!(p.wm_ping, Some(1000));
        assert_eq!(p.wm_ping_timeout, 2000);
        assert_eq!(p.transport_timeout, Some(10_000));
        assert!(p.has_deadlines());
        assert!(!Policy::from_config(&config(&[])).has_deadlines());
    }
}
