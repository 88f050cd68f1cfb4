//! Which clients are watched and what each watched client must show.

use crate::clock::Millis;
use crate::options::{Config, HostScope, ListClients, MAX, MIN_DEADLINE, MIN_TRANSPORT, Watch};
use ipnet::IpNet;
use lifesign_formats::net::unmapped;
use lifesign_proto::event::PolicyInfo;
use lifesign_proto::event::Transport;
use lifesign_proto::ext::{self, WatchRequest};
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

    /// The policy a client asked for in a Watch request, over `defaults` (the options).
    /// `Err` carries the first value out of range, for BadValue.
    pub fn from_request(defaults: &Policy, req: &WatchRequest) -> Result<Self, u32> {
        let pick = |asked: u32, default: Option<Millis>, min: Duration| match asked {
            ext::DEFAULT => Ok(default),
            0 => Ok(None),
            ms if (min.as_millis()..=MAX.as_millis()).contains(&u128::from(ms)) => {
                Ok(Some(Millis::from(ms)))
            }
            bad => Err(bad),
        };
        if req.flags & !ext::flags::HOST_SCOPE != 0 {
            return Err(req.flags);
        }
        Ok(Self {
            idle_timeout: pick(req.idle_timeout_ms, defaults.idle_timeout, MIN_DEADLINE)?,
            expect_noop: pick(req.expect_noop_ms, defaults.expect_noop, MIN_DEADLINE)?,
            wm_ping: pick(req.wm_ping_ms, defaults.wm_ping, MIN_DEADLINE)?,
            wm_ping_timeout: defaults.wm_ping_timeout,
            transport_timeout: pick(
                req.transport_timeout_ms,
                defaults.transport_timeout,
                MIN_TRANSPORT,
            )?,
            host_scope: req.flags & ext::flags::HOST_SCOPE != 0,
        })
    }

    /// As `lifesign status` shows it.
    pub fn info(&self) -> PolicyInfo {
        PolicyInfo {
            idle_timeout_ms: self.idle_timeout.unwrap_or(0),
            expect_noop_ms: self.expect_noop.unwrap_or(0),
            wm_ping_ms: self.wm_ping.unwrap_or(0),
            transport_timeout_ms: self.transport_timeout.unwrap_or(0),
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

/// Whether a client is on the display's own host: a Unix socket, or TCP from a loopback
/// address (as `ssh -X` forwarding and tools run on the console reach the server).
pub fn is_local(transport: Transport, peer: Option<IpAddr>) -> bool {
    match transport {
        Transport::Local => true,
        Transport::Tcp | Transport::Tcp6 => peer.is_some_and(|ip| unmapped(ip).is_loopback()),
    }
}

/// Whether a client may declare a host-scope pulse (`HostScope`): its pulse stopping would
/// take down every watched client of its host.
pub fn may_declare_host_scope(config: &Config, transport: Transport, peer: Option<IpAddr>) -> bool {
    match &config.host_scope {
        HostScope::None => false,
        HostScope::All => true,
        HostScope::Peers(peers) => {
            transport != Transport::Local && peer.is_some_and(|ip| in_peers(peers, ip))
        }
    }
}

/// Whether ListClients shows a requester the other watched clients (before the server's own
/// access control has its say). A client always sees itself.
pub fn lists_others(list: ListClients, requester_is_local: bool) -> bool {
    match list {
        ListClients::All => true,
        ListClients::Local => requester_is_local,
        ListClients::Own => false,
    }
}

fn in_peers(peers: &[IpNet], ip: IpAddr) -> bool {
    // A v4 client on a dual-stack socket shows as ::ffff:a.b.c.d; match it as v4.
    let ip = unmapped(ip);
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
    fn local_means_a_unix_socket_or_loopback_tcp() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert!(is_local(Transport::Local, None));
        assert!(is_local(Transport::Tcp, ip("127.0.0.1")));
        assert!(is_local(Transport::Tcp, ip("127.3.4.5")));
        assert!(is_local(Transport::Tcp6, ip("::1")));
        assert!(is_local(Transport::Tcp6, ip("::ffff:127.0.0.1")));
        assert!(!is_local(Transport::Tcp, ip("10.211.1.2")));
        assert!(!is_local(Transport::Tcp6, ip("::ffff:10.0.0.5")));
        assert!(!is_local(Transport::Tcp, None));
    }

    #[test]
    fn others_are_listed_as_the_operator_allows() {
        for local in [true, false] {
            assert!(lists_others(ListClients::All, local));
            assert!(!lists_others(ListClients::Own, local));
        }
        assert!(lists_others(ListClients::Local, true));
        assert!(!lists_others(ListClients::Local, false));
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
    fn a_request_overrides_the_options_within_their_ranges() {
        let defaults = Policy::from_config(&config(&[("IdleTimeout", "3s")]));
        let asked = WatchRequest {
            idle_timeout_ms: 0,
            expect_noop_ms: 1000,
            wm_ping_ms: ext::DEFAULT,
            transport_timeout_ms: ext::DEFAULT,
            flags: ext::flags::HOST_SCOPE,
            service: "pulse".into(),
        };
        let p = Policy::from_request(&defaults, &asked).unwrap();
        assert_eq!(p.idle_timeout, None);
        assert_eq!(p.expect_noop, Some(1000));
        assert_eq!(p.wm_ping, None);
        assert_eq!(p.transport_timeout, Some(10_000));
        assert!(p.host_scope);
        let bad = |f: fn(&mut WatchRequest)| {
            let mut r = WatchRequest::defaults();
            f(&mut r);
            Policy::from_request(&defaults, &r)
        };
        assert_eq!(bad(|r| r.expect_noop_ms = 5), Err(5));
        assert_eq!(bad(|r| r.idle_timeout_ms = 90_000_000), Err(90_000_000));
        assert_eq!(bad(|r| r.transport_timeout_ms = 1000), Err(1000));
        assert_eq!(bad(|r| r.flags = 6), Err(6));
        assert_eq!(
            Policy::from_request(&defaults, &WatchRequest::defaults()).unwrap(),
            defaults
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

    #[test]
    fn only_the_peers_the_operator_names_may_declare_a_host_scope_pulse() {
        let config =
            |value: &str| Config::from_options([("HostScope", value)]).expect("a valid HostScope");
        let peer = |ip: &str| Some(ip.parse::<IpAddr>().unwrap());
        let none = Config::default();
        assert!(!may_declare_host_scope(
            &none,
            Transport::Tcp,
            peer("10.0.0.5")
        ));
        assert!(!may_declare_host_scope(&none, Transport::Local, None));
        let all = config("all");
        assert!(may_declare_host_scope(
            &all,
            Transport::Tcp,
            peer("10.0.0.5")
        ));
        assert!(may_declare_host_scope(&all, Transport::Local, None));
        let listed = config("10.0.0.0/24");
        assert!(may_declare_host_scope(
            &listed,
            Transport::Tcp,
            peer("10.0.0.5")
        ));
        assert!(may_declare_host_scope(
            &listed,
            Transport::Tcp6,
            peer("::ffff:10.0.0.5")
        ));
        assert!(!may_declare_host_scope(
            &listed,
            Transport::Tcp,
            peer("10.0.1.5")
        ));
        assert!(!may_declare_host_scope(&listed, Transport::Local, None));
    }
}
