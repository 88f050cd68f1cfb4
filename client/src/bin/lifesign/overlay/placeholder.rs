//! A lost client's placeholder: what it says (the reason, who, the backup the launcher is
//! starting) and when it goes: once a new client of the same service maps a window.
//!
//! "New" is a client other than the lost one that mapped a window after the lost client
//! fell silent (its `suspect`, or its `lost` when no suspicion came first), so another
//! instance of the service that was already on the screen does not take the placeholder
//! away, and a backup the launcher started early (on `suspect`) does. The server gives a
//! closed client's XID base to the next client that connects, so a client with the lost
//! one's base is another one once the server said it is watched (`watched`). Its identity
//! may come after its map (the server learns a client's WM_CLASS from its window;
//! ListClients is asked again on `watched` and `updated`), so the maps are remembered and
//! matched whenever the overlay learns more.

use super::clients::{Directory, Label, ServiceKey};
use super::launcher_state::{Replacement, StateFile};
use super::marks::Mark;
use super::text;

/// The most clients remembered as having mapped a window since a loss.
const MAX_MAPPED: usize = 256;

/// Clients that mapped a window since a moment, bounded.
#[derive(Clone, Debug, Default)]
pub struct MapsSince(Vec<u32>);

impl MapsSince {
    pub fn saw(&mut self, base: u32) {
        if !self.0.contains(&base) {
            if self.0.len() >= MAX_MAPPED {
                self.0.remove(0);
            }
            self.0.push(base);
        }
    }

    fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().copied()
    }
}

pub struct Placeholder {
    /// The lost client's XID base.
    pub lost: u32,
    key: Option<ServiceKey>,
    declared: Option<String>,
    reason: &'static str,
    silent_ms: u64,
    label: Label,
    replacement: Replacement,
    /// The launcher's state file as this placeholder last took it in
    /// ([`StateFile::generation`]).
    read: Option<u64>,
    /// The lost client's base is another client's now.
    reused: bool,
    maps: MapsSince,
    pub marks: Vec<Mark>,
}

impl Placeholder {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        lost: u32,
        key: Option<ServiceKey>,
        declared: Option<String>,
        reason: &'static str,
        silent_ms: u64,
        label: Label,
        mut maps: MapsSince,
        state: Option<&StateFile>,
    ) -> Self {
        maps.0.retain(|&b| b != lost);
        let mut p = Self {
            lost,
            key,
            declared,
            reason,
            silent_ms,
            label,
            replacement: Replacement::Unknown,
            read: None,
            reused: false,
            maps,
            marks: Vec::new(),
        };
        p.reread(state);
        p
    }

    /// Client `base` mapped a window.
    pub fn saw_map(&mut self, base: u32) {
        if base != self.lost || self.reused {
            self.maps.saw(base);
        }
    }

    /// The server watches a new client with XID base `base`.
    pub fn saw_watched(&mut self, base: u32) {
        if base == self.lost {
            self.reused = true;
        }
    }

    pub fn lines(&self) -> Vec<String> {
        text::placeholder(self.reason, self.silent_ms, &self.label, &self.replacement)
    }

    /// Takes in what the launcher's state file says since it was last read; whether what
    /// the placeholder says changed. An absent or unreadable file says nothing is known.
    pub fn reread(&mut self, state: Option<&StateFile>) -> bool {
        let Some(file) = state else {
            return false;
        };
        if self.read == Some(file.generation()) {
            return false;
        }
        self.read = Some(file.generation());
        let replacement = file.view().map_or(Replacement::Unknown, |v| {
            v.replacement(self.lost, self.declared.as_deref(), &self.replacement)
        });
        let changed = replacement != self.replacement;
        self.replacement = replacement;
        changed
    }

    /// Whether a new client of the lost one's service has mapped a window.
    pub fn succeeded(&self, clients: &Directory) -> bool {
        let Some(key) = &self.key else {
            return false;
        };
        self.maps
            .iter()
            .any(|b| clients.get(b).is_some_and(|info| key.matches(info)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overlay::clients::tests::{info, listed};

    fn directory(clients: &[(u32, Option<&str>, Option<&str>)]) -> Directory {
        let mut d = Directory::default();
        d.replace(
            clients
                .iter()
                .map(|&(base, service, class)| {
                    listed(lifesign_proto::event::ClientInfo {
                        id: format!("{base:#010x}"),
                        ..info(service, class, None)
                    })
                })
                .collect(),
        );
        d
    }

    fn placeholder(key: Option<ServiceKey>) -> Placeholder {
        Placeholder::new(
            0x00a0_0000,
            key,
            None,
            "idle-timeout",
            3000,
            Label {
                service: "XClock".into(),
                host: "local".into(),
            },
            MapsSince::default(),
            None,
        )
    }

    #[test]
    fn it_goes_once_a_new_client_of_the_service_maps_a_window() {
        let mut p = placeholder(Some(ServiceKey::Class("XClock".into())));
        let mut d = directory(&[
            (0x00a0_0000, None, Some("XClock")),
            (0x00c0_0000, None, Some("XLogo")),
        ]);
        assert!(!p.succeeded(&d));
        p.saw_map(0x00a0_0000); // the lost client itself (OnLost notify) maps again
        p.saw_map(0x00c0_0000); // another service
        assert!(!p.succeeded(&d));
        // A client that mapped before its class was known: matched once it is.
        p.saw_map(0x00e0_0000);
        assert!(!p.succeeded(&d));
        d = directory(&[(0x00e0_0000, None, Some("XClock"))]);
        assert!(p.succeeded(&d));
    }

    #[test]
    fn a_new_client_with_the_lost_ones_base_counts_once_it_is_watched() {
        let mut p = placeholder(Some(ServiceKey::Class("XClock".into())));
        let d = directory(&[(0x00a0_0000, None, Some("XClock"))]);
        p.saw_map(0x00a0_0000);
        assert!(!p.succeeded(&d), "the lost client itself");
        p.saw_watched(0x00c0_0000);
        p.saw_watched(0x00a0_0000);
        p.saw_map(0x00a0_0000);
        assert!(p.succeeded(&d), "the server gave its base to a new client");
    }

    #[test]
    fn maps_of_the_lost_client_while_it_was_suspect_do_not_count() {
        let mut maps = MapsSince::default();
        maps.saw(0x00a0_0000);
        let mut p = placeholder(Some(ServiceKey::Class("XClock".into())));
        p = Placeholder { maps, ..p };
        assert!(p.succeeded(&directory(&[(0x00a0_0000, None, Some("XClock"))])));
        let mut maps = MapsSince::default();
        maps.saw(0x00a0_0000);
        let p = Placeholder::new(
            0x00a0_0000,
            Some(ServiceKey::Class("XClock".into())),
            None,
            "idle-timeout",
            0,
            Label {
                service: "XClock".into(),
                host: "local".into(),
            },
            maps,
            None,
        );
        assert!(!p.succeeded(&directory(&[(0x00a0_0000, None, Some("XClock"))])));
    }

    #[test]
    fn a_declared_service_is_succeeded_only_by_the_same_declaration() {
        let mut p = placeholder(Some(ServiceKey::Declared("plant-view".into())));
        p.saw_map(0x00c0_0000);
        assert!(!p.succeeded(&directory(&[(0x00c0_0000, None, Some("XClock"))])));
        assert!(p.succeeded(&directory(&[(0x00c0_0000, Some("plant-view"), None)])));
    }

    #[test]
    fn without_a_key_it_waits_and_says_so() {
        let mut p = placeholder(None);
        p.saw_map(0x00c0_0000);
        assert!(!p.succeeded(&directory(&[(0x00c0_0000, None, Some("XClock"))])));
        assert_eq!(p.lines()[2], "waiting for a new XClock");
    }

    #[test]
    fn the_maps_remembered_are_bounded() {
        let mut m = MapsSince::default();
        for i in 0..1000 {
            m.saw(i << 21);
            m.saw(i << 21);
        }
        assert_eq!(m.0.len(), MAX_MAPPED);
        assert_eq!(m.0.last(), Some(&(999 << 21)));
    }

    #[test]
    fn the_backup_comes_from_the_state_file_and_is_read_again() {
        let dir = std::env::temp_dir().join(format!("lifesign-placeholder-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("launcher.json");
        let mut file = StateFile::new(path.clone());
        let mut p = placeholder(None);
        file.refresh();
        assert!(!p.reread(Some(&file)), "absent: still waiting");
        // Written as the launcher does: a new file renamed over the old one.
        let write = |json: &str| {
            let new = dir.join("launcher.json.new");
            std::fs::write(&new, json).unwrap();
            std::fs::rename(&new, &path).unwrap();
        };
        write(
            r#"{"services":{"clock":{"active":1,"starting_since_ms":5,"replacing":{"client":"0x00a00000","candidate":1,"command":["ssh","host-b","xclock"]}}}}"#,
        );
        file.refresh();
        assert!(p.reread(Some(&file)));
        assert_eq!(
            p.lines()[2],
            "starting backup of clock, candidate 1: ssh host-b xclock"
        );
        file.refresh();
        assert!(!p.reread(Some(&file)), "unchanged");
        // The launcher has the backup up: it takes `replacing` away.
        write(r#"{"services":{"clock":{"active":1,"starting_since_ms":null}}}"#);
        file.refresh();
        assert!(p.reread(Some(&file)));
        assert_eq!(
            p.lines()[2],
            "backup of clock up, candidate 1: ssh host-b xclock"
        );
        // A placeholder made now, without having seen the start, knows nothing of it.
        let mut late = placeholder(None);
        assert!(!late.reread(Some(&file)));
        assert_eq!(late.lines()[2], "waiting for a new XClock");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
