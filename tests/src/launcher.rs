//! The real `lifesign-launcher`, with a configuration of the test's, its socket and state in
//! a directory of its own; killed on drop, with the candidates it started.

use crate::logfile::LogFile;
use rustix::process::{Pid, Signal};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

/// The launcher as built in this workspace, or `$LIFESIGN_LAUNCHER`.
pub fn binary() -> PathBuf {
    crate::server::built_binary("lifesign-launcher", "LIFESIGN_LAUNCHER")
}

/// An argv as a TOML array, for a `start` candidate of a launcher config.
pub fn toml_argv(argv: &[String]) -> String {
    let quoted: Vec<String> = argv.iter().map(|a| format!("{a:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

pub struct Launcher {
    child: Option<Child>,
    config: PathBuf,
    socket: PathBuf,
    state: PathBuf,
    log: LogFile,
    env: Vec<(String, String)>,
    dir: TempDir,
}

impl Launcher {
    /// A launcher whose config is `body` after the `socket` and `state` lines the harness
    /// writes; not started yet.
    pub fn new(body: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let socket = dir.path().join("launcher.sock");
        let state = dir.path().join("state.json");
        let config = dir.path().join("launcher.toml");
        Self {
            child: None,
            log: LogFile(dir.path().join("launcher.log")),
            config,
            socket,
            state,
            env: Vec::new(),
            dir,
        }
        .configure(body)
    }

    /// Writes the config: `body` after the harness's `socket` and `state` lines. Again
    /// before [`Launcher::start`], for a body that needs what only the socket's path lets
    /// start, such as the display of a server whose module reports to this socket.
    pub fn configure(self, body: &str) -> Self {
        std::fs::write(
            &self.config,
            format!(
                "socket = {:?}\nstate = {:?}\n{body}\n",
                self.socket, self.state
            ),
        )
        .expect("write the config");
        self
    }

    /// Keeps the state file at `path` (on a filesystem of the test's, e.g. one it fills up);
    /// [`Launcher::configure`] after it writes the path into the config.
    pub fn state_at(mut self, path: &Path) -> Self {
        self.state = path.to_owned();
        self
    }

    /// Writes the launcher's log (its stderr) to `path`, not into its directory.
    pub fn log_at(mut self, path: &Path) -> Self {
        self.log = LogFile(path.to_owned());
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Starts it (again: the log goes on in the same file) and waits until it listens.
    pub fn start(mut self) -> Self {
        self.spawn();
        self
    }

    fn spawn(&mut self) {
        let runs = self.log.lines("listening").len();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log.0)
            .expect("the launcher's log");
        let child = Command::new(binary())
            .arg("--config")
            .arg(&self.config)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start lifesign-launcher");
        self.child = Some(child);
        assert!(
            self.log
                .wait_for("listening", runs + 1, Duration::from_secs(15)),
            "the launcher did not start:\n{}",
            self.log()
        );
    }

    /// Starts it again after [`Launcher::kill`].
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "still running");
        self.spawn();
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn state_file(&self) -> &Path {
        &self.state
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log(&self) -> String {
        self.log.text()
    }

    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        self.log.lines(needle)
    }

    pub fn wait_for_log(&self, needle: &str, count: usize, timeout: Duration) -> bool {
        self.log.wait_for(needle, count, timeout)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn signal(&self, signal: Signal) {
        let pid = Pid::from_raw(self.pid() as i32).expect("a pid");
        rustix::process::kill_process(pid, signal).expect("signal the launcher");
    }

    /// Waits up to `timeout` for it to exit (after a [`Launcher::signal`]); its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let child = self.child.as_mut()?;
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, and reaped.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The pids of the candidates it started, from its log.
    pub fn started_pids(&self) -> Vec<u32> {
        self.pids_of("started candidate")
    }

    /// The pids of the overlays it started (`[overlay]`), from its log.
    pub fn overlay_pids(&self) -> Vec<u32> {
        self.pids_of("started the overlay")
    }

    fn pids_of(&self, needle: &str) -> Vec<u32> {
        self.log_lines(needle)
            .iter()
            .filter_map(|l| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix("pid="))
                    .and_then(|p| p.parse().ok())
            })
            .collect()
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- lifesign-launcher log ---\n{}", self.log());
        }
        self.kill();
        // The candidates and the overlay run in process groups of their own.
        for pid in self.started_pids().into_iter().chain(self.overlay_pids()) {
            if let Some(pid) = Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process_group(pid, Signal::KILL);
            }
        }
    }
}
