//! Which configured service an event's client belongs to.

use crate::config::{Match, Service};
use lifesign_formats::net::unmapped;
use lifesign_proto::event::ClientInfo;
use std::net::SocketAddr;

/// How a client stands to a service's match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Yes,
    No,
    /// Every key known so far matches, but a key needs what the client has not shown yet:
    /// its `wm_class` (no top-level window yet) or its declared `service`.
    Maybe,
}

impl Match {
    /// Every key given matches the client: `peer` contains its address, `wm_class` is its
    /// instance or class, `command` its command (or that command's file name or first word),
    /// `service` the name it declared.
    pub fn matches(&self, client: &ClientInfo) -> bool {
        self.verdict(client) == Verdict::Yes
    }

    /// [`Match::matches`], telling a client that cannot match from one whose window or
    /// declared name is still to come.
    ///
    /// A client that declared a service said what it is: it may be only what a match that
    /// names a service may be. For a match without `service` it is a maybe no longer: a
    /// helper that declares itself (`lifesign overlay` as `lifesign-overlay`, a `lifesign
    /// pulse --service`) and has no window of the class is not taken for a starting
    /// application; once its class shows it matches (yes) or not (no) as any client.
    pub fn verdict(&self, client: &ClientInfo) -> Verdict {
        let peer = self.peer.is_none_or(|net| {
            client
                .peer
                .as_deref()
                .and_then(|p| p.parse::<SocketAddr>().ok())
                .is_some_and(|addr| net.contains(&unmapped(addr.ip())))
        });
        let command = self.command.as_deref().is_none_or(|want| {
            client.command.as_deref().is_some_and(|c| {
                c == want
                    || c.rsplit('/').next() == Some(want)
                    || c.split_whitespace().next() == Some(want)
            })
        });
        // None: not known yet.
        let class = self.wm_class.as_deref().map(|want| {
            client
                .wm_class
                .as_ref()
                .map(|[instance, class]| instance == want || class == want)
        });
        let service = self
            .service
            .as_deref()
            .map(|want| client.service.as_deref().map(|s| s == want));
        let later = [class, service];
        let pending = later.contains(&Some(None));
        let declared_otherwise = self.service.is_none() && client.service.is_some();
        if !peer || !command || later.contains(&Some(Some(false))) {
            Verdict::No
        } else if !pending {
            Verdict::Yes
        } else if declared_otherwise {
            Verdict::No
        } else {
            Verdict::Maybe
        }
    }
}

/// The first service (in the file's order) whose match takes the client.
pub fn service_for<'a>(services: &'a [Service], client: &ClientInfo) -> Option<&'a Service> {
    services.iter().find(|s| s.matcher.matches(client))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use lifesign_proto::event::Transport;

    fn client(
        peer: Option<&str>,
        wm_class: Option<[&str; 2]>,
        command: Option<&str>,
        service: Option<&str>,
    ) -> ClientInfo {
        ClientInfo {
            id: "0x00a00000".into(),
            index: 5,
            transport: if peer.is_some() {
                Transport::Tcp
            } else {
                Transport::Local
            },
            peer: peer.map(Into::into),
            pid: None,
            command: command.map(Into::into),
            service: service.map(Into::into),
            wm_class: wm_class.map(|[a, b]| [a.into(), b.into()]),
        }
    }

    const CONFIG: &str = r#"
[[service]]
name = "plant-view"
match = { peer = "10.0.0.0/24", wm_class = "xclock" }
start = [["xclock"]]

[[service]]
name = "pulse"
match = { service = "host-a" }
start = [["lifesign", "pulse"]]

[[service]]
name = "term"
match = { command = "xterm" }
start = [["xterm"]]
"#;

    #[test]
    fn every_key_given_must_match() {
        let c = Config::parse(CONFIG).unwrap();
        let name = |cl: &ClientInfo| service_for(&c.services, cl).map(|s| s.name.as_str());
        assert_eq!(
            name(&client(
                Some("10.0.0.5:4000"),
                Some(["xclock", "XClock"]),
                None,
                None
            )),
            Some("plant-view")
        );
        assert_eq!(
            name(&client(
                Some("10.0.0.5:4000"),
                Some(["x", "XClock"]),
                None,
                None
            )),
            None,
            "class xclock? no: XClock"
        );
        assert_eq!(
            name(&client(
                Some("10.0.1.5:4000"),
                Some(["xclock", "XClock"]),
                None,
                None
            )),
            None,
            "other subnet"
        );
        assert_eq!(
            name(&client(
                Some("[::ffff:10.0.0.7]:4000"),
                Some(["xclock", "XClock"]),
                None,
                None
            )),
            Some("plant-view")
        );
        assert_eq!(
            name(&client(None, None, None, Some("host-a"))),
            Some("pulse")
        );
        assert_eq!(
            name(&client(None, None, Some("/usr/bin/xterm"), None)),
            Some("term")
        );
        assert_eq!(
            name(&client(None, None, Some("xterm -e top"), None)),
            Some("term")
        );
        assert_eq!(name(&client(None, None, Some("xterminal"), None)), None);
        assert_eq!(
            name(&client(Some("10.0.0.5:4000"), None, None, None)),
            None,
            "wm_class unknown"
        );
    }

    #[test]
    fn a_client_without_its_window_yet_may_match() {
        let c = Config::parse(CONFIG).unwrap();
        let view = &c.services[0].matcher;
        let fresh = client(Some("10.0.0.5:4000"), None, None, None);
        assert_eq!(view.verdict(&fresh), Verdict::Maybe);
        let elsewhere = client(Some("10.9.0.5:4000"), None, None, None);
        assert_eq!(view.verdict(&elsewhere), Verdict::No, "the peer is known");
        let other = client(Some("10.0.0.5:4000"), Some(["xterm", "XTerm"]), None, None);
        assert_eq!(view.verdict(&other), Verdict::No);
        let pulse = &c.services[1].matcher;
        assert_eq!(
            pulse.verdict(&fresh),
            Verdict::Maybe,
            "service not declared yet"
        );
        let term = &c.services[2].matcher;
        assert_eq!(
            term.verdict(&fresh),
            Verdict::No,
            "the command is known at once"
        );
    }

    #[test]
    fn a_client_that_declared_a_service_may_be_only_what_names_a_service() {
        let c = Config::parse(CONFIG).unwrap();
        let (view, pulse) = (&c.services[0].matcher, &c.services[1].matcher);
        let helper = client(Some("10.0.0.5:4000"), None, None, Some("lifesign-overlay"));
        assert_eq!(view.verdict(&helper), Verdict::No, "said what it is");
        assert_eq!(pulse.verdict(&helper), Verdict::No, "another service");
        let named = client(Some("10.0.0.5:4000"), None, None, Some("host-a"));
        assert_eq!(pulse.verdict(&named), Verdict::Yes);
        // Its class still counts in full.
        let app = client(
            Some("10.0.0.5:4000"),
            Some(["xclock", "XClock"]),
            None,
            Some("plant-view"),
        );
        assert_eq!(view.verdict(&app), Verdict::Yes);
    }
}
