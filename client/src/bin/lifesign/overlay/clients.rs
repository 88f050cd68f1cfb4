//! Who the watched clients are: the identity ListClients gives (a `LifesignNotify` names
//! only the client's XID base), the label a mark shows, and the service key by which a
//! placeholder recognises its client's successor.

use lifesign_proto::event::{ClientInfo, StatusEntry};
use std::collections::HashMap;

/// The watched clients the server showed in its last ListClients, by XID base.
#[derive(Default)]
pub struct Directory {
    by_base: HashMap<u32, ClientInfo>,
}

impl Directory {
    /// Takes the server's whole list; a client no longer in it is forgotten (its marks and
    /// placeholders keep their own copy of what they show).
    pub fn replace(&mut self, entries: Vec<StatusEntry>) {
        self.by_base = entries
            .into_iter()
            .filter_map(|e| Some((parse_id(&e.client.id)?, e.client)))
            .collect();
    }

    pub fn get(&self, base: u32) -> Option<&ClientInfo> {
        self.by_base.get(&base)
    }

    pub fn contains(&self, base: u32) -> bool {
        self.by_base.contains_key(&base)
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
        use lifesign_proto::event::{PolicyInfo, WatchState};
        let entry = |id: &str| StatusEntry {
            client: ClientInfo {
                id: id.into(),
                ..info(None, Some("XClock"), None)
            },
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
}
