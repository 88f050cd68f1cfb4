//! Who the watched clients are: the identity ListClients gives (a `LifesignNotify` names
//! only the client's XID base), the label a mark shows, and the service key by which a
//! placeholder recognises its client's successor.

use lifesign_proto::event::{ClientInfo, StatusEntry};
use std::collections::{HashMap, VecDeque};

/// The most clients remembered after they left the server's list.
const MAX_LEFT: usize = 256;

/// The watched clients the server showed in its last ListClients, by XID base; and, for a
/// while, those that left it.
#[derive(Default)]
pub struct Directory {
    by_base: HashMap<u32, ClientInfo>,
    /// Clients the last lists no longer showed, newest last (at most [`MAX_LEFT`]): a
    /// `lost` may be read after a ListClients reply that the server made once it had
    /// closed the client (the reply came in while the event waited in the connection's
    /// queue), and its placeholder still needs the service key to know the client's
    /// successor, and the name to show.
    left: VecDeque<(u32, ClientInfo)>,
}

impl Directory {
    /// Takes the server's whole list; a client no longer in it is remembered a while
    /// ([`Directory::last_known`]).
    pub fn replace(&mut self, entries: Vec<StatusEntry>) {
        let by_base: HashMap<u32, ClientInfo> = entries
            .into_iter()
            .filter_map(|e| Some((parse_id(&e.client.id)?, e.client)))
            .collect();
        let old = std::mem::replace(&mut self.by_base, by_base);
        self.left.retain(|(b, _)| !self.by_base.contains_key(b));
        let mut gone: Vec<(u32, ClientInfo)> = old
            .into_iter()
            .filter(|(b, _)| !self.by_base.contains_key(b))
            .collect();
        gone.sort_unstable_by_key(|(b, _)| *b);
        for (base, info) in gone {
            self.left.retain(|(b, _)| *b != base);
            if self.left.len() >= MAX_LEFT {
                self.left.pop_front();
            }
            self.left.push_back((base, info));
        }
    }

    /// A client the last list showed.
    pub fn get(&self, base: u32) -> Option<&ClientInfo> {
        self.by_base.get(&base)
    }

    pub fn contains(&self, base: u32) -> bool {
        self.by_base.contains_key(&base)
    }

    /// A client the last list showed, else the last that a list showed under `base` (for
    /// what ended: never to match a live client by, whose base may be reused).
    pub fn last_known(&self, base: u32) -> Option<&ClientInfo> {
        self.get(base).or_else(|| {
            self.left
                .iter()
                .rev()
                .find(|(b, _)| *b == base)
                .map(|(_, info)| info)
        })
    }

    /// The server watches a new client with XID base `base`: what was known of an earlier
    /// client with that base is not this one's.
    pub fn reused(&mut self, base: u32) {
        self.left.retain(|(b, _)| *b != base);
    }
}

/// The contract's id (`"0x00a00000"`) as an XID base.
pub fn parse_id(id: &str) -> Option<u32> {
    u32::from_str_radix(id.strip_prefix("0x")?, 16).ok()
}

/// What a mark says of its client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// The declared service, else the class of its WM_CLASS, else its command.
    pub service: String,
    /// The peer's address without the port, or `local`.
    pub host: String,
}

/// The most characters of a client's own texts (service, class, command) a label takes.
const MAX_LABEL: usize = 60;

impl Label {
    pub fn of(info: Option<&ClientInfo>, base: u32) -> Self {
        let Some(info) = info else {
            return Self {
                service: format!("client {}", ClientInfo::format_id(base)),
                host: "?".into(),
            };
        };
        let service = info
            .service
            .as_deref()
            .filter(|s| !s.is_empty())
            .or_else(|| {
                info.wm_class
                    .as_ref()
                    .map(|c| c[1].as_str())
                    .filter(|c| !c.is_empty())
            })
            .or(info.command.as_deref().filter(|c| !c.is_empty()))
            .map_or_else(
                || format!("client {}", ClientInfo::format_id(base)),
                |s| s.chars().take(MAX_LABEL).collect(),
            );
        Self {
            service,
            host: info.peer.as_deref().map_or_else(|| "local".into(), host_of),
        }
    }
}

/// `"10.1.2.3:51234"` → `10.1.2.3`, `"[fd00::5]:51234"` → `fd00::5`.
fn host_of(peer: &str) -> String {
    match peer.parse::<std::net::SocketAddr>() {
        Ok(addr) => addr.ip().to_string(),
        Err(_) => peer.to_owned(),
    }
}

/// What makes a later client the same service as a lost one: the service it declared if it
/// declared one, else the class of its WM_CLASS, else its command (a local client's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceKey {
    Declared(String),
    Class(String),
    Command(String),
}

impl ServiceKey {
    pub fn of(info: &ClientInfo) -> Option<Self> {
        if let Some(s) = info.service.as_deref().filter(|s| !s.is_empty()) {
            return Some(Self::Declared(s.to_owned()));
        }
        if let Some(c) = info.wm_class.as_ref().filter(|c| !c[1].is_empty()) {
            return Some(Self::Class(c[1].clone()));
        }
        info.command
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(|c| Self::Command(c.to_owned()))
    }

    /// Whether `info` is a client of this service. A lost client that declared a service is
    /// succeeded only by one declaring the same; one known by its class, by any client of
    /// that class (whatever it declares).
    pub fn matches(&self, info: &ClientInfo) -> bool {
        match self {
            Self::Declared(s) => info.service.as_deref() == Some(s),
            Self::Class(c) => info.wm_class.as_ref().is_some_and(|w| &w[1] == c),
            Self::Command(c) => info.command.as_deref() == Some(c),
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use lifesign_proto::event::Transport;

    pub fn info(service: Option<&str>, class: Option<&str>, peer: Option<&str>) -> ClientInfo {
        ClientInfo {
            id: "0x00a00000".into(),
            index: 5,
            transport: if peer.is_some() {
                Transport::Tcp
            } else {
                Transport::Local
            },
            peer: peer.map(str::to_owned),
            pid: None,
            command: Some("xclock -update 1".into()),
            service: service.map(str::to_owned),
            wm_class: class.map(|c| [c.to_lowercase(), c.to_owned()]),
        }
    }

    /// `client` as ListClients lists a watched client.
    pub fn listed(client: ClientInfo) -> StatusEntry {
        use lifesign_proto::event::{PolicyInfo, WatchState};
        StatusEntry {
            client,
            state: WatchState::Watching,
            idle_ms: 0,
            noop_age_ms: 0,
            policy: PolicyInfo {
                idle_timeout_ms: 0,
                expect_noop_ms: 0,
                wm_ping_ms: 0,
                transport_timeout_ms: 0,
                repaint_probe_ms: 0,
            },
        }
    }

    #[test]
    fn a_label_names_the_service_else_the_class_else_the_command_and_the_host() {
        let l = Label::of(
            Some(&info(
                Some("plant-view"),
                Some("XClock"),
                Some("10.1.2.3:51234"),
            )),
            0,
        );
        assert_eq!(
            l,
            Label {
                service: "plant-view".into(),
                host: "10.1.2.3".into()
            }
        );
        assert_eq!(
            Label::of(Some(&info(None, Some("XClock"), None)), 0),
            Label {
                service: "XClock".into(),
                host: "local".into()
            }
        );
        assert_eq!(
            Label::of(Some(&info(None, None, Some("[fd00::5]:4000"))), 0).service,
            "xclock -update 1"
        );
        assert_eq!(
            Label::of(Some(&info(None, None, Some("[fd00::5]:4000"))), 0).host,
            "fd00::5"
        );
        assert_eq!(Label::of(None, 0x00a0_0000).service, "client 0x00a00000");
    }

    #[test]
    fn a_service_key_prefers_the_declared_name_then_the_class() {
        let declared = ServiceKey::of(&info(Some("plant-view"), Some("XClock"), None)).unwrap();
        assert_eq!(declared, ServiceKey::Declared("plant-view".into()));
        assert!(declared.matches(&info(Some("plant-view"), Some("Other"), None)));
        assert!(
            !declared.matches(&info(None, Some("XClock"), None)),
            "the same class without the declared name is another service"
        );
        let class = ServiceKey::of(&info(None, Some("XClock"), None)).unwrap();
        assert_eq!(class, ServiceKey::Class("XClock".into()));
        assert!(class.matches(&info(Some("anything"), Some("XClock"), None)));
        assert!(!class.matches(&info(None, Some("XLogo"), None)));
        assert!(!class.matches(&info(None, None, None)));
        let mut bare = info(None, None, None);
        assert_eq!(
            ServiceKey::of(&bare),
            Some(ServiceKey::Command("xclock -update 1".into()))
        );
        bare.command = None;
        assert_eq!(ServiceKey::of(&bare), None);
    }

    #[test]
    fn the_directory_is_the_servers_last_list() {
        let entry = |id: &str| {
            listed(ClientInfo {
                id: id.into(),
                ..info(None, Some("XClock"), None)
            })
        };
        let mut d = Directory::default();
        d.replace(vec![
            entry("0x00a00000"),
            entry("0x00c00000"),
            entry("nonsense"),
        ]);
        assert!(d.contains(0x00a0_0000) && d.contains(0x00c0_0000));
        d.replace(vec![entry("0x00c00000")]);
        assert!(!d.contains(0x00a0_0000));
        assert!(d.get(0x00c0_0000).is_some());
    }

    #[test]
    fn a_client_that_left_the_list_is_still_known_for_its_loss() {
        let entry = |id: &str, class: &str| {
            listed(ClientInfo {
                id: id.into(),
                ..info(None, Some(class), None)
            })
        };
        let mut d = Directory::default();
        d.replace(vec![entry("0x00a00000", "XClock")]);
        // The list answered after the server closed it, its `lost` still queued.
        d.replace(vec![]);
        assert!(d.get(0x00a0_0000).is_none(), "not a live client");
        let known = d.last_known(0x00a0_0000).expect("remembered");
        assert_eq!(
            ServiceKey::of(known),
            Some(ServiceKey::Class("XClock".into()))
        );
        // A new client with that base: the old one's identity is not its.
        d.reused(0x00a0_0000);
        assert!(d.last_known(0x00a0_0000).is_none());
        // Listed again under that base: the list's word.
        d.replace(vec![entry("0x00a00000", "XClock")]);
        d.replace(vec![entry("0x00a00000", "XLogo")]);
        assert_eq!(
            d.last_known(0x00a0_0000).and_then(ServiceKey::of),
            Some(ServiceKey::Class("XLogo".into()))
        );
        // Bounded.
        for i in 1..=(MAX_LEFT as u32 + 10) {
            d.replace(vec![entry(&format!("{:#010x}", i << 21), "XClock")]);
        }
        d.replace(vec![]);
        assert_eq!(d.left.len(), MAX_LEFT);
    }
}
