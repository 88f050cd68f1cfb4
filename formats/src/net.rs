//! Peers: IP networks as operators write them, and addresses as the kernel reports them.

use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr, SocketAddrV4};

/// A network as an operator writes one: a CIDR (`10.1.0.0/16`, `fd00::/8`), or a bare
/// address, which is that address alone (`10.0.0.5` is `10.0.0.5/32`). The text is taken as
/// it is: `None` for anything else, blanks around it included.
pub fn parse_net(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// The address a client stands for: a v4 client of a dual-stack (v6) socket shows as
/// `::ffff:a.b.c.d`, and is `a.b.c.d`, so that it is one client whichever socket it came
/// in on. Any other address is itself.
pub fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// [`unmapped`] for a socket address: a v4-mapped one becomes the v4 address with its port;
/// any other is kept whole (a v6 address's scope and flow label with it).
pub fn unmapped_socket(addr: SocketAddr) -> SocketAddr {
    match unmapped(addr.ip()) {
        IpAddr::V4(v4) => SocketAddr::V4(SocketAddrV4::new(v4, addr.port())),
        IpAddr::V6(_) => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddrV6;

    fn net(text: &str) -> Option<String> {
        parse_net(text).map(|n| n.to_string())
    }

    #[test]
    fn a_cidr_is_that_network() {
        assert_eq!(net("10.1.0.0/16").as_deref(), Some("10.1.0.0/16"));
        assert_eq!(net("fd00::/8").as_deref(), Some("fd00::/8"));
        assert_eq!(net("10.0.0.5/32").as_deref(), Some("10.0.0.5/32"));
        assert_eq!(net("0.0.0.0/0").as_deref(), Some("0.0.0.0/0"));
        // The host bits are kept as written; containment is by the prefix.
        let n = parse_net("10.1.2.3/16").unwrap();
        assert!(n.contains(&"10.1.200.1".parse::<IpAddr>().unwrap()));
        assert!(!n.contains(&"10.2.0.1".parse::<IpAddr>().unwrap()));
    }

    #[test]
    fn a_bare_address_is_that_address_alone() {
        assert_eq!(net("10.0.0.5").as_deref(), Some("10.0.0.5/32"));
        assert_eq!(net("fd00::5").as_deref(), Some("fd00::5/128"));
        assert_eq!(
            net("::ffff:10.0.0.5").as_deref(),
            Some("::ffff:10.0.0.5/128")
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "10.0.0",
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0.0/",
            "/8",
            "host-a",
            "10.0.0.1,10.0.0.2",
            "10.0.0.1;10.0.0.2",
            " 10.0.0.5",
            "10.0.0.5 ",
            "10.0.0.5:6000",
            "[fd00::5]",
            "10.0.0.256",
        ] {
            assert_eq!(parse_net(bad), None, "{bad:?} must be refused");
        }
    }

    #[test]
    fn a_v4_mapped_address_is_its_v4_address() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(unmapped(ip("::ffff:10.0.0.5")), ip("10.0.0.5"));
        assert_eq!(unmapped(ip("::ffff:127.0.0.1")), ip("127.0.0.1"));
        for itself in [
            "10.0.0.5",
            "fd00::5",
            "::1",
            "::",
            "::10.0.0.5",
            "64:ff9b::a00:5",
        ] {
            assert_eq!(unmapped(ip(itself)), ip(itself), "{itself}");
        }
    }

    #[test]
    fn a_v4_mapped_socket_address_keeps_its_port() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(
            unmapped_socket(addr("[::ffff:10.0.0.7]:4000")),
            addr("10.0.0.7:4000")
        );
        assert_eq!(
            unmapped_socket(addr("10.0.0.7:4000")),
            addr("10.0.0.7:4000")
        );
        let scoped = SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 6000, 7, 2));
        assert_eq!(unmapped_socket(scoped), scoped);
    }
}
