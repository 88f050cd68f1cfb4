//! What the launcher keeps across its own restarts: per service, the candidate that should be
//! running and the failover history; and which events it has acted on. Written atomically
//! (a temporary file in the same directory, synced, then renamed over the old one).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// How many acted-on events are remembered: the module keeps at most this many
/// unacknowledged (`lifesign_watchdog::outbox::BOUND`), so a resent one is always among them.
pub const HANDLED_BOUND: usize = 4096;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceState {
    /// The service's candidate (index into `start`): the one that runs, or should, and the
    /// one a failover goes on from; none before the service was first started or seen.
    /// Whether it is to run on this server start: `closed_on_server`.
    #[serde(default)]
    pub active: Option<usize>,
    /// When the active candidate was started (Unix ms), until it came up.
    #[serde(default)]
    pub starting_since_ms: Option<u64>,
    /// When the active candidate was started, on the X server's clock (Unix ms, as its
    /// events' `at_ms`): a client last heard of before it is an older one.
    #[serde(default)]
    pub started_server_ms: Option<u64>,
    /// The server start (`started_ms`) on which the service's application was closed (it
    /// ended for good, was killed, or opted out): it is not started again for that server,
    /// not even after a restart of the launcher; on the next server start it is.
    #[serde(default)]
    pub closed_on_server: Option<u64>,
    /// A failover held back by flap protection: the candidate and when it may start.
    #[serde(default)]
    pub deferred: Option<Deferred>,
    /// When each failover within the current window happened (Unix ms).
    #[serde(default)]
    pub failovers: Vec<u64>,
    /// The start under way because a client ended: which client it replaces, for the overlay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacing: Option<Replacing>,
}

/// What `lifesign overlay` shows in the place of a client that ended: the backup being
/// started for it. Set when a `lost` or `gone` makes the launcher start a candidate (a
/// failover, a restart) or hold one back (flap protection); it follows the start from one
/// candidate to the next while they fail; cleared when a client of the service is up, when
/// no start is to come (flap protection allows none), or when the service is no longer
/// started (it ended for good, it is not watched).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replacing {
    /// The ended client's id, `"0x00a00000"`: what the overlay knows the lost client by.
    pub client: String,
    /// The candidate being started (index into `start`).
    pub candidate: usize,
    /// That candidate's argv.
    pub command: Vec<String>,
    /// When this candidate's start was decided (Unix ms): started, or held back.
    pub since_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deferred {
    pub candidate: usize,
    pub until_ms: u64,
}

/// The events acted on, by their `seq`, for one server start.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handled {
    pub server_started_ms: u64,
    pub seqs: BTreeSet<u64>,
}

impl Handled {
    /// Forgets the events of another server start.
    pub fn for_server(&mut self, started_ms: u64) {
        if self.server_started_ms != started_ms {
            *self = Self {
                server_started_ms: started_ms,
                seqs: BTreeSet::new(),
            };
        }
    }

    pub fn contains(&self, seq: u64) -> bool {
        self.seqs.contains(&seq)
    }

    pub fn insert(&mut self, seq: u64) {
        self.seqs.insert(seq);
        while self.seqs.len() > HANDLED_BOUND {
            self.seqs.pop_first();
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub services: BTreeMap<String, ServiceState>,
    #[serde(default)]
    pub handled: Handled,
}

impl State {
    /// The state in `path`; an absent file is a first start. A file that cannot be read
    /// is an error: starting afresh could start a duplicate of what is running.
    pub fn load(path: &Path) -> io::Result<Self> {
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        }
    }

    /// Writes the state to `path` atomically.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(dir)?;
        let name = path.file_name().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "the state path has no file name",
            )
        })?;
        let mut temp_name = name.to_owned();
        temp_name.push(format!(".tmp.{}", std::process::id()));
        let temp = dir.join(temp_name);
        let result = (|| {
            let mut file = File::create(&temp)?;
            file.write_all(&serde_json::to_vec(self).map_err(io::Error::other)?)?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            fs::rename(&temp, path)?;
            File::open(dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }
}

/// Writes the state when it changed. A write that fails (the disk is full) is tried again at
/// every chance until one succeeds, so the file catches up once there is room, not only at
/// the next event (a launcher restarted meanwhile would read an older state); the failure is
/// logged once per run of them, not at every try.
#[derive(Debug, Default)]
pub struct Saver {
    changed: bool,
    failures: u64,
}

impl Saver {
    pub fn changed(&mut self) {
        self.changed = true;
    }

    /// A change waits to be written.
    pub fn pending(&self) -> bool {
        self.changed
    }

    /// Writes `state` to `path` if it changed since it was last written.
    pub fn save(&mut self, state: &State, path: &Path) {
        if !self.changed {
            return;
        }
        match state.save(path) {
            Ok(()) => {
                self.changed = false;
                if self.failures > 0 {
                    tracing::info!(path = %path.display(), failed = self.failures, "the state is saved again");
                }
                self.failures = 0;
            }
            Err(e) => {
                if self.failures == 0 {
                    tracing::error!(path = %path.display(), "cannot save the state: {e}; acting on events all the same, and trying again");
                }
                self.failures += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_state_loads_back_and_no_temporary_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/launcher.json");
        assert_eq!(State::load(&path).unwrap(), State::default());
        let mut state = State::default();
        state.services.insert(
            "view".into(),
            ServiceState {
                active: Some(1),
                failovers: vec![5, 6],
                ..ServiceState::default()
            },
        );
        state.handled.for_server(77);
        state.handled.insert(3);
        state.save(&path).unwrap();
        state.save(&path).unwrap();
        assert_eq!(State::load(&path).unwrap(), state);
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["launcher.json"]);
    }

    #[test]
    fn a_corrupt_file_is_an_error_not_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("launcher.json");
        fs::write(&path, "{\"services\": 3").unwrap();
        let e = State::load(&path).unwrap_err();
        assert!(e.to_string().contains("launcher.json"), "{e}");
    }

    #[test]
    fn a_failed_save_is_tried_again_until_it_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the state's directory should be: every write fails, as on a full disk.
        let blocker = dir.path().join("sub");
        fs::write(&blocker, "in the way").unwrap();
        let path = blocker.join("launcher.json");
        let mut state = State::default();
        state.handled.insert(7);
        let mut saver = Saver::default();
        saver.save(&state, &path);
        assert!(!saver.pending(), "nothing changed, nothing to write");
        saver.changed();
        saver.save(&state, &path);
        saver.save(&state, &path);
        assert!(saver.pending(), "still to be written");
        assert_eq!(saver.failures, 2);
        fs::remove_file(&blocker).unwrap();
        saver.save(&state, &path);
        assert!(!saver.pending());
        assert_eq!(saver.failures, 0);
        assert_eq!(State::load(&path).unwrap(), state);
    }

    #[test]
    fn handled_is_per_server_and_bounded() {
        let mut h = Handled::default();
        h.for_server(1);
        for seq in 0..(HANDLED_BOUND as u64 + 10) {
            h.insert(seq);
        }
        assert_eq!(h.seqs.len(), HANDLED_BOUND);
        assert!(!h.contains(9) && h.contains(10));
        h.for_server(1);
        assert!(h.contains(10));
        h.for_server(2);
        assert!(!h.contains(10));
    }
}
