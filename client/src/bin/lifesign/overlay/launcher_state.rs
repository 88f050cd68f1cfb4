//! The backup being started, from the launcher's state file: the launcher writes, per
//! service, which client it is replacing and the candidate it started for it
//! (`{"services": {"<name>": {"active": 1, "replacing": {"client": "0x00a00000",
//! "candidate": 1, "command": [...], "since_ms": ...}}}}`), and takes `replacing` away when a
//! client of the service is up. The overlay only reads it, tolerates its absence, a file it
//! cannot read or parse, and fields it does not know: a placeholder then says it waits for a
//! new client of the service.
//!
//! The file is the launcher's, and may be anything: it is looked at (stat) at most once a
//! tick, read only when it changed, opened without blocking (a FIFO there would block an
//! open(2) for ever), read only if it is a regular file, and at most [`MAX_BYTES`] of it.

use super::clients::parse_id;
use rustix::fs::{Mode, OFlags};
use serde_json::Value;
use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The environment variable the launcher sets for the overlay it starts.
pub const ENV: &str = "LIFESIGN_LAUNCHER_STATE";

/// A state file larger than this is not read (the launcher's are a few KiB).
const MAX_BYTES: u64 = 1 << 20;

/// What a placeholder says of the backup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backup {
    /// The launcher's name of the service.
    pub service: String,
    /// The candidate started, as the launcher counts them (0 is the primary).
    pub candidate: Option<u64>,
    /// Its argv.
    pub command: Vec<String>,
}

/// What the launcher's state says of the backup for one lost client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Replacement {
    /// Nothing known: no state file, or it names no start for this client.
    #[default]
    Unknown,
    /// The launcher is starting this backup (`replacing` names the client).
    Starting(Backup),
    /// The launcher named this backup for the client, and has since taken `replacing`
    /// away with the service up (an active candidate, not starting, nothing held back).
    Up(Backup),
}

/// One service of the file, as far as the overlay reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Service {
    name: String,
    /// Its `replacing`: the backup, and the id of the client it replaces (if one is named).
    replacing: Option<(Backup, Option<u32>)>,
    /// An active candidate that is neither starting nor held back nor closed.
    up: bool,
}

/// What the file said when it was last read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    services: Vec<Service>,
}

impl View {
    /// Parses the file's bytes; `None` when they are not the state the overlay knows.
    pub fn parse(json: &[u8]) -> Option<Self> {
        let state: Value = serde_json::from_slice(json).ok()?;
        let services = state.get("services")?.as_object()?;
        Some(Self {
            services: services
                .iter()
                .map(|(name, s)| Service {
                    name: name.clone(),
                    replacing: replacing(name, s),
                    up: s.get("active").is_some_and(Value::is_u64)
                        && ["starting_since_ms", "deferred", "closed_on_server"]
                            .iter()
                            .all(|f| s.get(f).is_none_or(Value::is_null)),
                })
                .collect(),
        })
    }

    /// The backup started for the lost client `lost`: the service whose `replacing.client`
    /// is `lost`; failing that, the service named as the lost client declared itself, if it
    /// is replacing a client. A launcher started after the loss does not know the lost
    /// client's id, only the service.
    pub fn backup(&self, lost: u32, declared: Option<&str>) -> Option<Backup> {
        let starting = || self.services.iter().filter_map(|s| s.replacing.as_ref());
        if let Some((b, _)) = starting().find(|(_, client)| *client == Some(lost)) {
            return Some(b.clone());
        }
        let declared = declared?;
        starting()
            .find(|(b, client)| b.service == declared && client.is_none())
            .map(|(b, _)| b.clone())
    }

    /// What the placeholder of `lost` says now, having said `before`: a backup named for it
    /// is starting; one that was named and is no longer, with its service up, is up.
    pub fn replacement(
        &self,
        lost: u32,
        declared: Option<&str>,
        before: &Replacement,
    ) -> Replacement {
        if let Some(b) = self.backup(lost, declared) {
            return Replacement::Starting(b);
        }
        match before {
            Replacement::Starting(b) | Replacement::Up(b)
                if self.services.iter().any(|s| s.name == b.service && s.up) =>
            {
                Replacement::Up(b.clone())
            }
            _ => Replacement::Unknown,
        }
    }
}

fn replacing(name: &str, service: &Value) -> Option<(Backup, Option<u32>)> {
    let r = service.get("replacing")?.as_object()?;
    let backup = Backup {
        service: name.to_owned(),
        candidate: r.get("candidate").and_then(Value::as_u64),
        command: r
            .get("command")
            .and_then(Value::as_array)
            .map(|argv| {
                argv.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    };
    let client = r.get("client").and_then(Value::as_str).and_then(parse_id);
    Some((backup, client))
}

/// What tells that the file changed: which file the path names, its size, when its
/// content and its inode last changed (the launcher renames a new file over the old one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(m: &Metadata) -> Self {
        Self {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// The launcher's state file, as last read.
pub struct StateFile {
    path: PathBuf,
    /// The file last read (none: absent).
    stamp: Option<Stamp>,
    /// What it said (none: absent, not a regular file, too large, unreadable, malformed).
    view: Option<View>,
    /// Counts the reads, so that each placeholder looks at what was read once.
    generation: u64,
}

impl StateFile {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            stamp: None,
            view: None,
            generation: 0,
        }
    }

    /// What the file said when last read.
    pub fn view(&self) -> Option<&View> {
        self.view.as_ref()
    }

    /// Changes each time the file is read (or found gone).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Looks at the file (one stat) and reads it again if it changed since.
    pub fn refresh(&mut self) {
        let looked = std::fs::metadata(&self.path).ok().map(|m| Stamp::of(&m));
        if looked == self.stamp {
            return;
        }
        let (stamp, view) = match looked {
            None => (None, None),
            Some(looked) => match read(&self.path) {
                Some((opened, bytes)) => (Some(opened), bytes.as_deref().and_then(View::parse)),
                None => (Some(looked), None),
            },
        };
        self.stamp = stamp;
        self.view = view;
        self.generation += 1;
    }
}

/// Opens `path` without blocking and reads it if it is a regular file of at most
/// [`MAX_BYTES`]: the stamp of what was opened, and its bytes (none if it was not read).
/// `None` when it cannot be opened or looked at.
fn read(path: &Path) -> Option<(Stamp, Option<Vec<u8>>)> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )
    .ok()?;
    let file = File::from(fd);
    let meta = file.metadata().ok()?;
    let stamp = Stamp::of(&meta);
    if !meta.is_file() || meta.len() > MAX_BYTES {
        return Some((stamp, None));
    }
    let mut bytes = Vec::new();
    if file.take(MAX_BYTES + 1).read_to_end(&mut bytes).is_err() || bytes.len() as u64 > MAX_BYTES {
        return Some((stamp, None));
    }
    Some((stamp, Some(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    const STATE: &str = r#"{
        "services": {
            "plant-view": {
                "active": 1,
                "failovers": [1796124660002],
                "replacing": {"client": "0x00a00000", "candidate": 1,
                              "command": ["ssh", "host-b", "xclock"], "since_ms": 1796124660002,
                              "something_new": true}
            },
            "alarms": {"active": 0},
            "trends": {"replacing": {"candidate": 0, "command": ["trend-view"]}}
        },
        "handled": {"server_started_ms": 1, "seqs": [1, 2]}
    }"#;

    fn lookup(json: &str, lost: u32, declared: Option<&str>) -> Option<Backup> {
        View::parse(json.as_bytes())?.backup(lost, declared)
    }

    #[test]
    fn the_backup_for_a_lost_client_is_found_by_its_id() {
        let b = lookup(STATE, 0x00a0_0000, None).unwrap();
        assert_eq!(
            b,
            Backup {
                service: "plant-view".into(),
                candidate: Some(1),
                command: vec!["ssh".into(), "host-b".into(), "xclock".into()],
            }
        );
        assert_eq!(lookup(STATE, 0x00c0_0000, None), None);
    }

    #[test]
    fn without_its_id_the_declared_service_names_the_backup() {
        let b = lookup(STATE, 0x00c0_0000, Some("trends")).unwrap();
        assert_eq!(b.command, vec!["trend-view"]);
        // A service replacing another client is not this one's backup.
        assert_eq!(lookup(STATE, 0x00c0_0000, Some("plant-view")), None);
        assert_eq!(lookup(STATE, 0x00c0_0000, Some("alarms")), None);
    }

    #[test]
    fn anything_unexpected_is_no_backup() {
        for bad in [
            "",
            "not json",
            "[]",
            r#"{"services": 3}"#,
            r#"{"services": {"a": {"replacing": 7}}}"#,
        ] {
            assert_eq!(lookup(bad, 0x00a0_0000, Some("a")), None, "{bad}");
        }
        // Odd field types inside a replacement are left out, not fatal.
        let odd = r#"{"services": {"a": {"replacing": {"client": "0x00a00000", "candidate": "x", "command": [1, "b"]}}}}"#;
        assert_eq!(
            lookup(odd, 0x00a0_0000, None),
            Some(Backup {
                service: "a".into(),
                candidate: None,
                command: vec!["b".into()]
            })
        );
    }

    #[test]
    fn a_backup_whose_replacing_went_with_its_service_up_is_up() {
        let starting = View::parse(STATE.as_bytes()).unwrap();
        let before = starting.replacement(0x00a0_0000, None, &Replacement::Unknown);
        let Replacement::Starting(backup) = before.clone() else {
            panic!("{before:?}")
        };
        let up = View::parse(
            br#"{"services": {"plant-view": {"active": 1, "starting_since_ms": null}}}"#,
        )
        .unwrap();
        assert_eq!(
            up.replacement(0x00a0_0000, None, &before),
            Replacement::Up(backup.clone())
        );
        assert_eq!(
            up.replacement(0x00a0_0000, None, &Replacement::Up(backup.clone())),
            Replacement::Up(backup.clone()),
            "and stays so"
        );
        // Never named for this client: nothing known.
        assert_eq!(
            up.replacement(0x00a0_0000, None, &Replacement::Unknown),
            Replacement::Unknown
        );
        // Gone, but the service is not up (still starting, held back, closed, none active):
        // no backup is known to be up.
        for not_up in [
            r#"{"services": {"plant-view": {"active": 1, "starting_since_ms": 5}}}"#,
            r#"{"services": {"plant-view": {"active": 1, "deferred": {"candidate": 1, "until_ms": 9}}}}"#,
            r#"{"services": {"plant-view": {"active": 1, "closed_on_server": 5}}}"#,
            r#"{"services": {"plant-view": {"active": null}}}"#,
            r#"{"services": {}}"#,
        ] {
            assert_eq!(
                View::parse(not_up.as_bytes())
                    .unwrap()
                    .replacement(0x00a0_0000, None, &before),
                Replacement::Unknown,
                "{not_up}"
            );
        }
    }

    fn dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("lifesign-overlay-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn an_absent_unreadable_or_too_large_file_is_no_backup() {
        let dir = dir("absent");
        let view = |path: PathBuf| {
            let mut f = StateFile::new(path);
            f.refresh();
            f.view().cloned()
        };
        assert_eq!(view(dir.join("absent.json")), None);
        assert_eq!(view(dir.clone()), None, "a directory");
        let file = dir.join("state.json");
        std::fs::write(&file, STATE).unwrap();
        assert!(view(file.clone()).is_some());
        // Padded past the bound: not read.
        let mut big = STATE.as_bytes().to_vec();
        big.resize(MAX_BYTES as usize + 1, b' ');
        std::fs::write(&file, &big).unwrap();
        assert_eq!(view(file.clone()), None, "over {MAX_BYTES} bytes");
        big.truncate(MAX_BYTES as usize);
        std::fs::write(&file, &big).unwrap();
        assert!(view(file).is_some(), "at the bound");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_fifo_in_its_place_does_not_block() {
        let dir = dir("fifo");
        let fifo = dir.join("state.json");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || {
            let mut f = StateFile::new(path);
            f.refresh();
            let _ = tx.send(f.view().cloned());
        });
        let view = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("reading a FIFO's path blocked");
        assert_eq!(view, None);
        // And opened without looking first (replaced after the stat): not read either.
        assert!(read(&fifo).is_some_and(|(_, bytes)| bytes.is_none()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn it_is_read_again_only_when_it_changed() {
        let dir = dir("changed");
        let file = dir.join("state.json");
        std::fs::write(&file, STATE).unwrap();
        let mut f = StateFile::new(file.clone());
        f.refresh();
        assert_eq!(f.generation(), 1);
        assert!(f.view().is_some());
        f.refresh();
        f.refresh();
        assert_eq!(f.generation(), 1, "unchanged: not read again");
        // Replaced as the launcher does it (a new file renamed over the old), of the same
        // size and with an older mtime: read.
        let new = dir.join("state.json.new");
        std::fs::write(&new, STATE.replace("host-b", "host-c")).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&new)
            .unwrap()
            .set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1))
            .unwrap();
        std::fs::rename(&new, &file).unwrap();
        f.refresh();
        assert_eq!(f.generation(), 2);
        assert_eq!(
            f.view().unwrap().backup(0x00a0_0000, None).unwrap().command[1],
            "host-c"
        );
        // Gone: nothing known, once.
        std::fs::remove_file(&file).unwrap();
        f.refresh();
        f.refresh();
        assert_eq!((f.generation(), f.view()), (3, None));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
