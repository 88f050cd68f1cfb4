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
    /// The repaint probe: how long a quiet client may go unprobed, and how long it has to
    /// answer. With `wm_ping` on, a client with a window listing `_NET_WM_PING` is pinged
    /// instead.
    pub repaint_probe: Option<Millis>,
    pub repaint_probe_timeout: Millis,
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
            repaint_probe: ms(config.repaint_probe),
            repaint_probe_timeout: config.repaint_probe_timeout.as_millis() as Millis,
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
            repaint_probe: pick(req.repaint_probe_ms, defaults.repaint_probe, MIN_DEADLINE)?,
            // 0 cannot turn a timeout off: it is the server's then, as for DEFAULT.
            repaint_probe_timeout: pick(
                req.repaint_probe_timeout_ms,
                Some(defaults.repaint_probe_timeout),
                MIN_DEADLINE,
            )?
            .unwrap_or(defaults.repaint_probe_timeout),
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
            repaint_probe_ms: self.repaint_probe.unwrap_or(0),
        }
    }

    /// True if a request-based deadline applies (anything the block handler must time).
    pub fn has_deadlines(&self) -> bool {
        self.idle_timeout.is_some()
            || self.expect_noop.is_some()
            || self.wm_ping.is_some()
            || self.repaint_probe.is_some()
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

/// Kernel settings on the server's socket of a TCP client so that an idle connection whose
/// peer stopped answering is dropped within `TransportTimeout`, and a link outage shorter
/// than [`Keepalive::tolerated_outage_ms`] never drops it. (Output waiting for the peer
/// stops keepalive; the module judges that case itself: [`crate::transfer`].)
///
/// How Linux uses them (`tcp_keepalive_timer`, with no user timeout set): after `idle_s`
/// with nothing received it sends a probe, then one every `interval_s`, and resets the
/// connection on the timer that finds `count` probes unanswered: `idle_s + count *
/// interval_s` after the last answer, which is the timeout. A healthy idle peer answers a
/// probe every `idle_s`. An outage convicts only if it swallows every probe from `idle_s` to
/// `idle_s + (count - 1) * interval_s` after the last answer, so it must last longer than
/// `(count - 1) * interval_s`: the timeout less the idle time less one interval. The idle
/// time is as long as a tolerance of `min(0.8 T, T - 2 s)` allows, so an idle connection is
/// probed as seldom as it can be; probes are a second apart up to a timeout of 128 s, and
/// further apart above it, as Linux takes at most 127 of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// TCP_KEEPIDLE, seconds of silence before the first probe.
    pub idle_s: u32,
    /// TCP_KEEPINTVL, seconds between probes.
    pub interval_s: u32,
    /// TCP_KEEPCNT, unanswered probes before the connection is dropped.
    pub count: u32,
    /// TCP_RTO_MAX_MS (Linux 6.15 and later): the longest wait between retransmissions, and
    /// between window probes, so that output that waited through an outage goes out again
    /// soon after its end. See [`rto_max_ms`].
    pub rto_max_ms: u32,
}

/// Linux's first retransmission timeout and its floor (TCP_RTO_MIN), in ms.
const RTO_MIN_MS: Millis = 200;
/// Linux's longest wait between retransmissions (TCP_RTO_MAX), in ms.
pub const KERNEL_RTO_MAX_MS: u32 = 120_000;

/// How long Linux keeps retransmitting unacknowledged data (or probing a closed window)
/// before it gives up, with no user timeout: `retries` (the `tcp_retries2` sysctl) tries
/// whose waits double from 200 ms up to `rto_max_ms` (`tcp_model_timeout`).
pub fn retry_budget_ms(rto_max_ms: u32, retries: u32) -> Millis {
    let rto_max = Millis::from(rto_max_ms);
    let doublings = (rto_max / RTO_MIN_MS).max(1).ilog2();
    if retries <= doublings {
        ((2 << retries) - 1) * RTO_MIN_MS
    } else {
        ((2 << doublings) - 1) * RTO_MIN_MS + Millis::from(retries - doublings) * rto_max
    }
}

/// The longest wait between retries for a transport timeout: as short as leaves the kernel's
/// own budget (see [`retry_budget_ms`]) longer than the timeout with a margin, so that the
/// module, not the kernel, ends a connection whose output waits, at the timeout. A cap of a
/// second gave every busy connection 14.4 s whatever its timeout (`tcp_retries2` 15). Whole
/// seconds; the kernel's own maximum where no cap leaves the budget.
pub fn rto_max_ms(timeout: Millis, retries: u32) -> u32 {
    let wanted = timeout + (timeout / 10).max(2000);
    (1..KERNEL_RTO_MAX_MS / 1000)
        .map(|s| s * 1000)
        .find(|&r| retry_budget_ms(r, retries) >= wanted)
        .unwrap_or(KERNEL_RTO_MAX_MS)
}

impl Keepalive {
    /// For a timeout of at least 2 s (the option's lower bound); its part below a second is
    /// dropped, as the kernel counts keepalive in seconds. `retries`: the kernel's
    /// `tcp_retries2`.
    pub fn for_timeout(timeout: Millis, retries: u32) -> Self {
        let total_s = u32::try_from(timeout / 1000).unwrap_or(u32::MAX).max(2);
        // What the idle time and one interval may take from the timeout.
        let slack_s = (total_s / 5).max(2);
        let interval_s = total_s.div_ceil(128).max(1);
        // The fewest probes that still leave the tolerance: idle + count * interval is the
        // timeout, idle + interval at most the slack.
        let count = (total_s - slack_s).div_ceil(interval_s) + 1;
        Self {
            idle_s: total_s - count * interval_s,
            interval_s,
            count,
            rto_max_ms: rto_max_ms(Millis::from(total_s) * 1000, retries),
        }
    }

    /// When an idle connection to a dead peer is dropped, at the latest, from its last answer.
    pub fn idle_detection_ms(&self) -> Millis {
        Millis::from(self.idle_s + self.count * self.interval_s) * 1000
    }

    /// The longest link outage an idle connection survives whatever its phase (less the
    /// round trip of a probe).
    pub fn tolerated_outage_ms(&self) -> Millis {
        Millis::from(self.count.saturating_sub(1) * self.interval_s) * 1000
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
    fn keepalive_detects_within_the_timeout_and_tolerates_the_stated_outage() {
        let mut timeouts: Vec<Millis> = (2..=300).map(|s| s * 1000).collect();
        timeouts.extend([3_500, 3_600_000, 86_400_000]);
        for timeout in timeouts {
            let k = Keepalive::for_timeout(timeout, 15);
            assert!(
                k.idle_s >= 1 && k.interval_s >= 1 && (1..=127).contains(&k.count),
                "{timeout}: {k:?}"
            );
            let whole = timeout / 1000 * 1000;
            assert_eq!(k.idle_detection_ms(), whole, "{timeout}: {k:?}");
            let stated = (whole * 8 / 10).min(whole.saturating_sub(2000));
            assert!(
                k.tolerated_outage_ms() >= stated,
                "{timeout}: tolerates {} < {stated}: {k:?}",
                k.tolerated_outage_ms()
            );
        }
        let k = |t| Keepalive::for_timeout(t, 15);
        assert_eq!(
            (k(3_000).idle_s, k(3_000).tolerated_outage_ms()),
            (1, 1_000)
        );
        assert_eq!(
            (k(10_000).idle_s, k(10_000).tolerated_outage_ms()),
            (1, 8_000)
        );
        assert_eq!(
            (k(30_000).idle_s, k(30_000).tolerated_outage_ms()),
            (5, 24_000)
        );
    }

    #[test]
    fn the_kernel_retries_longer_than_the_timeout_so_that_the_module_decides() {
        // Linux's own figures: 924.6 s with the defaults, 14.4 s with a cap of a second.
        assert_eq!(retry_budget_ms(KERNEL_RTO_MAX_MS, 15), 924_600);
        assert_eq!(retry_budget_ms(1000, 15), 14_400);
        assert_eq!(retry_budget_ms(1000, 2), 1_400);
        for retries in [15, 8, 5] {
            for t in [
                2_000, 3_000, 10_000, 12_000, 30_000, 60_000, 600_000, 86_400_000,
            ] {
                let r = rto_max_ms(t, retries);
                let budget = retry_budget_ms(r, retries);
                if r < KERNEL_RTO_MAX_MS {
                    assert!(
                        budget > t,
                        "{t} ms, tcp_retries2 {retries}: {r} -> {budget}"
                    );
                    // The smallest such cap: a second less would not do.
                    let wanted = t + (t / 10).max(2000);
                    assert!(r == 1000 || retry_budget_ms(r - 1000, retries) < wanted);
                }
            }
        }
        assert_eq!(rto_max_ms(10_000, 15), 1_000);
        assert_eq!(rto_max_ms(30_000, 15), 3_000);
        assert_eq!(rto_max_ms(60_000, 15), 6_000);
        // Too few retries for any cap: the kernel's own maximum.
        assert_eq!(rto_max_ms(86_400_000, 15), KERNEL_RTO_MAX_MS);
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
            repaint_probe_ms: 1500,
            repaint_probe_timeout_ms: 0,
        };
        let p = Policy::from_request(&defaults, &asked).unwrap();
        assert_eq!(p.idle_timeout, None);
        assert_eq!(p.expect_noop, Some(1000));
        assert_eq!(p.wm_ping, None);
        assert_eq!(p.transport_timeout, Some(10_000));
        assert_eq!(p.repaint_probe, Some(1500));
        assert_eq!(p.repaint_probe_timeout, 2000, "0 is the server's timeout");
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
        assert_eq!(bad(|r| r.repaint_probe_ms = 50), Err(50));
        assert_eq!(bad(|r| r.repaint_probe_timeout_ms = 99), Err(99));
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
