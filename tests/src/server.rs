//! Real X servers for tests.

use crate::logfile::LogFile;
use crate::release::Release;
use lifesign_proto::event::Event;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long a server may take to start on a loaded machine (under valgrind: much longer).
const START_TIMEOUT: Duration = Duration::from_secs(30);
const START_TIMEOUT_WRAPPED: Duration = Duration::from_secs(180);

/// The workspace's target directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// The clone's own `target/`, where the scripts write (`scripts/series.sh`, the matrix
/// report `scripts/test.sh` prints), whatever `CARGO_TARGET_DIR` says.
pub fn scripts_target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target")
}

/// The program `name` as built in this workspace (`target/debug`), or `$<env>`.
pub fn built_binary(name: &str, env: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env) {
        return PathBuf::from(path);
    }
    let path = target_dir().join("debug").join(name);
    assert!(
        path.is_file(),
        "{} is missing: cargo build --workspace --bins (the test command does this), or set {env}",
        path.display()
    );
    path
}

/// `liblifesign.so` as built in this workspace, or `$LIFESIGN_MODULE`.
pub fn module_path() -> PathBuf {
    if let Some(path) = std::env::var_os("LIFESIGN_MODULE") {
        return PathBuf::from(path);
    }
    let path = target_dir().join("debug/liblifesign.so");
    assert!(
        path.is_file(),
        "{} is missing: build the module first (cargo build -p lifesign-ext), \
         or set LIFESIGN_MODULE",
        path.display()
    );
    path
}

/// `liblifesign.so` built with the `fault-injection` feature (the test command builds it
/// into `target/fault-injection`), or `$LIFESIGN_FAULT_MODULE`.
pub fn fault_module_path() -> PathBuf {
    if let Some(path) = std::env::var_os("LIFESIGN_FAULT_MODULE") {
        return PathBuf::from(path);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/fault-injection/debug/liblifesign.so");
    assert!(
        path.is_file(),
        "{} is missing: cargo build -p lifesign-ext --features fault-injection \
         --target-dir target/fault-injection (the test command does this)",
        path.display()
    );
    path
}

/// A running X server; killed on drop. If the test is failing, its log is printed.
pub struct Server {
    child: Child,
    display: u32,
    /// The network namespace the server runs in, if not the test's own.
    netns: Option<crate::net::NetnsName>,
    log: PathBuf,
    kind: &'static str,
    _dir: TempDir,
}

impl Server {
    /// The display number the server chose (`-displayfd`).
    pub fn display_number(&self) -> u32 {
        self.display
    }

    /// `:N`, for `DISPLAY`.
    pub fn display(&self) -> String {
        format!(":{}", self.display)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's log (Xorg's log file; Xvfb's stderr).
    pub fn log(&self) -> String {
        LogFile(self.log.clone()).text()
    }

    /// Lines of the log that contain `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        LogFile(self.log.clone()).lines(needle)
    }

    /// Waits until the log has at least `count` lines containing `needle`.
    pub fn wait_for_log(&self, needle: &str, count: usize, timeout: Duration) -> bool {
        LogFile(self.log.clone()).wait_for(needle, count, timeout)
    }

    /// The module's events so far, from its log lines.
    pub fn events(&self) -> Vec<Event> {
        let log = self.log();
        // Only whole lines: the server may be writing the last one as the file is read.
        let whole = log.rfind('\n').map_or("", |end| &log[..end]);
        whole
            .lines()
            .filter_map(|l| l.split_once("lifesign: event ").map(|(_, json)| json))
            .map(|json| {
                serde_json::from_str(json).unwrap_or_else(|e| panic!("bad event {json}: {e}"))
            })
            .collect()
    }

    /// The module's `lost` events so far.
    pub fn lost_events(&self) -> Vec<Event> {
        self.events()
            .into_iter()
            .filter(|e| matches!(e.body, lifesign_proto::event::Body::Lost { .. }))
            .collect()
    }

    /// Waits for an event that `matches`, and returns it.
    pub fn wait_for_event(
        &self,
        timeout: Duration,
        matches: impl Fn(&Event) -> bool,
    ) -> Option<Event> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.events().into_iter().find(&matches) {
                return Some(e);
            }
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends a signal to the server process.
    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).expect("a pid");
        rustix::process::kill_process(pid, signal).expect("signal the server");
    }

    /// Ends the server as an operator would (SIGTERM) and waits up to `timeout` for it to
    /// exit (under valgrind the leak check at exit takes seconds); `None` if it did not.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        self.signal(rustix::process::Signal::TERM);
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits up to `timeout` for the server to exit by itself; its status, or `None`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// True while the server process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// An x11rb connection to the server (over TCP from inside its namespace, for a server
    /// in a lab).
    pub fn connect(&self) -> x11rb::rust_connection::RustConnection {
        if let Some(ns) = &self.netns {
            let port = 6000 + u16::try_from(self.display).expect("a display number");
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            let stream = ns
                .connect(addr)
                .unwrap_or_else(|e| panic!("cannot reach {addr} in {}: {e}", ns.0));
            let (stream, _) =
                x11rb::rust_connection::DefaultStream::from_tcp_stream(stream).expect("a stream");
            return x11rb::rust_connection::RustConnection::connect_to_stream(stream, 0)
                .unwrap_or_else(|e| panic!("cannot connect to {} over TCP: {e}", self.kind));
        }
        let (conn, _) = x11rb::connect(Some(&self.display()))
            .unwrap_or_else(|e| panic!("cannot connect to {} {}: {e}", self.kind, self.display()));
        conn
    }

    /// Runs a client program against the server and returns its output.
    pub fn run(&self, program: &str, args: &[&str]) -> std::process::Output {
        Command::new(program)
            .args(args)
            .env("DISPLAY", self.display())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
    }

    /// Starts a client program against the server, in the background.
    pub fn spawn(&self, program: &str, args: &[&str]) -> Child {
        Command::new(program)
            .args(args)
            .env("DISPLAY", self.display())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"))
    }

    fn start_in(
        mut command: Command,
        kind: &'static str,
        log: PathBuf,
        dir: TempDir,
        netns: Option<crate::net::NetnsName>,
        wrapped: bool,
    ) -> Self {
        entry_times(&mut command);
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {kind}: {e} (is it installed?)"));
        // -displayfd 1: the server writes its display number to stdout once it accepts clients.
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let timeout = if wrapped {
            START_TIMEOUT_WRAPPED
        } else {
            START_TIMEOUT
        };
        let line = rx.recv_timeout(timeout).unwrap_or_default();
        let mut server = Self {
            child,
            display: 0,
            netns,
            log,
            kind,
            _dir: dir,
        };
        match line.trim().parse() {
            Ok(display) => server.display = display,
            Err(_) => panic!(
                "{kind} did not start within {timeout:?} (displayfd said {line:?})\n{}",
                server.report()
            ),
        }
        server
    }

    fn report(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "----- {} log ({}) -----",
            self.kind,
            self.log.display()
        );
        out.push_str(&self.log());
        let _ = writeln!(out, "----- end of {} log -----", self.kind);
        out
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("{}", self.report());
        }
        // Already reaped (terminate): its pid may be another process's by now.
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32);
        if let Some(pid) = pid {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Xorg (dummy video driver) loading the module from the build tree.
pub struct Xorg {
    options: Vec<(String, String)>,
    module_section: Option<String>,
    resets: bool,
    tcp: bool,
    netns: Option<String>,
    module: bool,
    wrapper: Vec<String>,
    module_file: Option<PathBuf>,
    env: Vec<(String, String)>,
    abstract_socket: bool,
    installed: bool,
    args: Vec<String>,
    release: Release,
}

impl Default for Xorg {
    fn default() -> Self {
        Self::new()
    }
}

impl Xorg {
    pub fn new() -> Self {
        Self {
            options: Vec::new(),
            module_section: None,
            resets: false,
            tcp: false,
            netns: None,
            module: true,
            wrapper: Vec::new(),
            module_file: None,
            env: Vec::new(),
            abstract_socket: false,
            installed: false,
            args: Vec::new(),
            release: Release::default(),
        }
    }

    /// Runs the Xorg of another Debian release, from its chroot, with the module built for
    /// its series.
    pub fn release(mut self, release: Release) -> Self {
        self.release = release;
        self
    }

    /// More arguments on the server's command line (e.g. `-maxclients 2048`).
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// Loads this `liblifesign.so` instead of the build tree's.
    pub fn module_file(mut self, path: PathBuf) -> Self {
        self.module_file = Some(path);
        self
    }

    /// An environment variable for the server process.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Runs the server under `wrapper` (e.g. valgrind and its options); the server binary is
    /// then `/usr/lib/xorg/Xorg` itself, not Debian's wrapper script.
    pub fn wrapped(mut self, wrapper: &[&str]) -> Self {
        self.wrapper = wrapper.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Loads the module installed in Xorg's default module path (by the Debian package),
    /// not a copy of the build tree's.
    pub fn installed(mut self) -> Self {
        self.installed = true;
        self
    }

    /// In a lab, also listens on its abstract Unix socket, which is the namespace's own (no
    /// path is shared with other tests): programs run in the display's namespace with
    /// `DISPLAY=:0` are local clients, with a pid and a command.
    pub fn abstract_socket(mut self) -> Self {
        self.abstract_socket = true;
        self
    }

    /// Runs the server in the lab's display namespace, listening on TCP there, with host
    /// access control off (only the lab's hosts can reach it).
    pub fn in_lab(mut self, lab: &crate::net::Lab) -> Self {
        self.netns = Some(lab.display_ns().name().to_owned());
        self.tcp = true;
        self
    }

    /// The same server without lifesign, for comparisons.
    pub fn stock(mut self) -> Self {
        self.module = false;
        self
    }

    /// An `Option "name" "value"` line in `SubSection "lifesign"`.
    pub fn option(mut self, name: &str, value: &str) -> Self {
        self.options.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The whole body of `Section "Module"`, instead of the SubSection built from options.
    pub fn module_section(mut self, body: &str) -> Self {
        self.module_section = Some(body.to_owned());
        self
    }

    /// Let the server reset when its last client leaves (no `-noreset`).
    pub fn resets(mut self) -> Self {
        self.resets = true;
        self
    }

    /// Listen on TCP too.
    pub fn tcp(mut self) -> Self {
        self.tcp = true;
        self
    }

    pub fn start(self) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let modules = dir.path().join("modules");
        let confd = dir.path().join("xorg.conf.d");
        fs::create_dir_all(&modules).expect("module dir");
        fs::create_dir_all(&confd).expect("config dir");
        // A config directory of our own keeps the system's snippets (and any Section "Module"
        // in them) out; Xorg complains about an empty one, so it holds a file with no sections.
        fs::write(
            confd.join("00-empty.conf"),
            "# nothing: see xorg-conf/headless.conf\n",
        )
        .expect("config dir file");
        // A directory of its own, so only this one liblifesign.so is found.
        if !self.installed {
            let module = self
                .module_file
                .clone()
                .unwrap_or_else(|| self.release.module());
            fs::copy(module, modules.join("liblifesign.so")).expect("copy the module");
        }
        let module_section = self.module_section.clone().unwrap_or_else(|| {
            let mut body = String::from("  SubSection \"lifesign\"\n");
            for (name, value) in &self.options {
                let _ = writeln!(body, "    Option \"{name}\" \"{value}\"");
            }
            body.push_str("  EndSubSection\n");
            body
        });
        let config = dir.path().join("xorg.conf");
        let template = include_str!("../../xorg-conf/headless.conf");
        let text = if self.installed {
            template.to_owned()
        } else {
            template.replace(
                "    ModulePath \"/usr/lib/xorg/modules\"",
                &format!(
                    "    ModulePath \"{},/usr/lib/xorg/modules\"",
                    modules.display()
                ),
            )
        };
        let text = if self.module {
            format!("{text}\nSection \"Module\"\n{module_section}EndSection\n")
        } else {
            text
        };
        fs::write(&config, text).expect("write xorg.conf");
        let log = dir.path().join("Xorg.log");
        let mut command = match (&self.netns, self.wrapper.split_first()) {
            (None, Some((program, args))) => {
                assert!(
                    self.release.is_this_machine(),
                    "wrapped servers are this machine's"
                );
                let mut c = Command::new(program);
                c.args(args).arg("/usr/lib/xorg/Xorg");
                c
            }
            (netns, _) => self.release.command("Xorg", netns.as_deref(), None),
        };
        command
            .arg("-config")
            .arg(&config)
            .arg("-configdir")
            .arg(&confd)
            .arg("-logfile")
            .arg(&log)
            .args([
                "-logverbose",
                "4",
                "-displayfd",
                "1",
                "-novtswitch",
                "-sharevts",
            ])
            .stderr(Stdio::null());
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command.args(&self.args);
        if !self.tcp {
            command.args(["-nolisten", "tcp"]);
        } else {
            command.args(["-listen", "tcp"]);
        }
        if self.netns.is_some() {
            // Alone in its namespace, on TCP only: no lock file or Unix socket is shared with
            // the servers of other tests, so every lab's server can be display 0.
            command.args(["-ac", "-nolock", "-nolisten", "unix"]);
            if !self.abstract_socket {
                command.args(["-nolisten", "local"]);
            }
        }
        if !self.resets {
            command.arg("-noreset");
        }
        let netns = self.netns.clone().map(crate::net::NetnsName);
        let wrapped = !self.wrapper.is_empty();
        Server::start_in(command, "Xorg", log, dir, netns, wrapped)
    }
}

/// Xvfb, with the module preloaded and options from `LIFESIGN_OPTIONS`, or stock.
pub struct Xvfb {
    options: Option<String>,
    wrapper: Vec<String>,
    env: Vec<(String, String)>,
    resets: bool,
    user: Option<(u32, u32)>,
    release: Release,
    netns: Option<String>,
    module_file: Option<PathBuf>,
}

impl Xvfb {
    /// `options` is the value of `LIFESIGN_OPTIONS`, e.g. `IdleTimeout=3s;Watch=all`.
    pub fn with_options(options: &str) -> Self {
        Self {
            options: Some(options.to_owned()),
            ..Self::stock()
        }
    }

    /// Xvfb without the module.
    pub fn stock() -> Self {
        Self {
            options: None,
            wrapper: Vec::new(),
            env: Vec::new(),
            resets: false,
            user: None,
            release: Release::default(),
            netns: None,
            module_file: None,
        }
    }

    /// Preloads this `liblifesign.so` instead of the one built for the release's series.
    pub fn module_file(mut self, path: PathBuf) -> Self {
        self.module_file = Some(path);
        self
    }

    /// Runs the Xvfb of another Debian release, from its chroot, with the module built for
    /// its series.
    pub fn release(mut self, release: Release) -> Self {
        self.release = release;
        self
    }

    /// Runs the server in the lab's display namespace, listening on TCP there only, with
    /// host access control off (only the lab's hosts can reach it).
    pub fn in_lab(mut self, lab: &crate::net::Lab) -> Self {
        self.netns = Some(lab.display_ns().name().to_owned());
        self
    }

    /// Runs the server under `wrapper` (a program and its options, e.g. a valgrind tool:
    /// see [`crate::valgrind`]); the preload is in the wrapper's environment too.
    pub fn wrapped(mut self, wrapper: &[&str]) -> Self {
        self.wrapper = wrapper.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// An environment variable for the server (or its wrapper) process.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Let the server reset when its last client leaves (no `-noreset`).
    pub fn resets(mut self) -> Self {
        self.resets = true;
        self
    }

    /// Runs the server as `uid`:`gid` with no supplementary groups (the test runs as root).
    pub fn user(mut self, uid: u32, gid: u32) -> Self {
        self.user = Some((uid, gid));
        self
    }

    pub fn start(self) -> Server {
        use std::os::unix::process::CommandExt as _;
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("Xvfb.log");
        let module = preload_file(
            self.release,
            dir.path(),
            self.options.is_some(),
            self.module_file.as_deref(),
        );
        let mut command = match self.wrapper.split_first() {
            Some((program, args)) => {
                assert!(
                    self.release.is_this_machine(),
                    "wrapped servers are this machine's"
                );
                let mut c = Command::new(program);
                c.args(args).arg("Xvfb");
                if let Some(module) = &module {
                    c.env("LD_PRELOAD", module);
                }
                c
            }
            None => self
                .release
                .command("Xvfb", self.netns.as_deref(), module.as_deref()),
        };
        command.args(["-displayfd", "1"]);
        lab_listening(&mut command, self.netns.is_some());
        if !self.resets {
            command.arg("-noreset");
        }
        preload(&mut command, self.options.as_deref(), &log);
        for (name, value) in &self.env {
            command.env(name, value);
        }
        if let Some((uid, gid)) = self.user {
            command.uid(uid).gid(gid);
        }
        let wrapped = !self.wrapper.is_empty();
        let netns = self.netns.map(crate::net::NetnsName);
        Server::start_in(command, "Xvfb", log, dir, netns, wrapped)
    }
}

/// Xephyr, a nested server shown in a window of `host`, with the module preloaded.
pub struct Xephyr {
    options: String,
    release: Release,
    netns: Option<String>,
    resets: bool,
    module_file: Option<PathBuf>,
}

impl Xephyr {
    pub fn with_options(options: &str) -> Self {
        Self {
            options: options.to_owned(),
            release: Release::default(),
            netns: None,
            resets: false,
            module_file: None,
        }
    }

    /// Preloads this `liblifesign.so` instead of the one built for the release's series.
    pub fn module_file(mut self, path: PathBuf) -> Self {
        self.module_file = Some(path);
        self
    }

    /// Let the server reset when its last client leaves (no `-noreset`).
    pub fn resets(mut self) -> Self {
        self.resets = true;
        self
    }

    /// Runs the Xephyr of another Debian release, from its chroot, with the module built for
    /// its series.
    pub fn release(mut self, release: Release) -> Self {
        self.release = release;
        self
    }

    /// Runs the server in the lab's display namespace, listening on TCP there only; its own
    /// window still goes to `host`'s display, by that server's Unix socket.
    pub fn in_lab(mut self, lab: &crate::net::Lab) -> Self {
        self.netns = Some(lab.display_ns().name().to_owned());
        self
    }

    pub fn start_on(self, host: &Server) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("Xephyr.log");
        let module = preload_file(self.release, dir.path(), true, self.module_file.as_deref());
        let mut command = self
            .release
            .command("Xephyr", self.netns.as_deref(), module.as_deref());
        lab_listening(&mut command, self.netns.is_some());
        if !self.resets {
            command.arg("-noreset");
        }
        command
            .args(["-displayfd", "1", "-screen", "800x600"])
            .env("DISPLAY", host.display());
        preload(&mut command, Some(&self.options), &log);
        let netns = self.netns.map(crate::net::NetnsName);
        Server::start_in(command, "Xephyr", log, dir, netns, false)
    }
}

/// Xtigervnc (TigerVNC's X server, a whole X server with a VNC front end), with the module
/// preloaded. Its VNC side listens on a Unix socket of its own, on no TCP port: the tests are
/// X clients.
pub struct Xtigervnc {
    options: String,
    release: Release,
    netns: Option<String>,
    resets: bool,
    module_file: Option<PathBuf>,
}

impl Xtigervnc {
    pub fn with_options(options: &str) -> Self {
        Self {
            options: options.to_owned(),
            release: Release::default(),
            netns: None,
            resets: false,
            module_file: None,
        }
    }

    /// Preloads this `liblifesign.so` instead of the one built for the release's series.
    pub fn module_file(mut self, path: PathBuf) -> Self {
        self.module_file = Some(path);
        self
    }

    /// Let the server reset when its last client leaves (no `-noreset`).
    pub fn resets(mut self) -> Self {
        self.resets = true;
        self
    }

    /// Runs the Xtigervnc of another Debian release, from its chroot, with the module built
    /// for its series.
    pub fn release(mut self, release: Release) -> Self {
        self.release = release;
        self
    }

    /// Runs the server in the lab's display namespace, listening on TCP there only.
    pub fn in_lab(mut self, lab: &crate::net::Lab) -> Self {
        self.netns = Some(lab.display_ns().name().to_owned());
        self
    }

    pub fn start(self) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("Xtigervnc.log");
        let module = preload_file(self.release, dir.path(), true, self.module_file.as_deref());
        let mut command =
            self.release
                .command("Xtigervnc", self.netns.as_deref(), module.as_deref());
        if !self.resets {
            command.arg("-noreset");
        }
        command.args([
            "-displayfd",
            "1",
            "-geometry",
            "1024x768",
            "-SecurityTypes",
            "None",
        ]);
        command.arg("-rfbunixpath").arg(dir.path().join("vnc.sock"));
        lab_listening(&mut command, self.netns.is_some());
        preload(&mut command, Some(&self.options), &log);
        let netns = self.netns.map(crate::net::NetnsName);
        Server::start_in(command, "Xtigervnc", log, dir, netns, false)
    }
}

/// How a preloaded server listens: in a lab, on TCP only (alone in its namespace, every lab's
/// server can be display 0: no lock file or socket path is shared with other tests), with
/// host access control off; else on its Unix socket only.
fn lab_listening(command: &mut Command, in_lab: bool) {
    if in_lab {
        command.args([
            "-listen",
            "tcp",
            "-ac",
            "-nolock",
            "-nolisten",
            "unix",
            "-nolisten",
            "local",
        ]);
    } else {
        command.args(["-nolisten", "tcp"]);
    }
}

/// The module file a preloaded server of `release` loads, if it loads one: this workspace's
/// build as it is for this machine's servers; a copy in the server's own directory (under
/// /tmp, which a chroot shares) of the series build for another release's.
/// `file` instead, when given, is copied there too.
fn preload_file(release: Release, dir: &Path, loads: bool, file: Option<&Path>) -> Option<PathBuf> {
    if !loads {
        assert!(file.is_none(), "a module file for a server that loads none");
        return None;
    }
    if release.is_this_machine() && file.is_none() {
        return Some(module_path());
    }
    let copy = dir.join("liblifesign.so");
    let source = file.map_or_else(|| release.module(), Path::to_path_buf);
    fs::copy(source, &copy).expect("copy the module");
    Some(copy)
}

/// Preload mode: the module's options in `LIFESIGN_OPTIONS` (unless `options` is `None`: a
/// stock server), stderr (the server's only log) into `log`. The module itself is in the
/// command's `LD_PRELOAD` already ([`preload_file`], [`Release::command`]).
fn preload(command: &mut Command, options: Option<&str>, log: &Path) {
    let stderr = fs::File::create(log).expect("server log file");
    command.stderr(stderr);
    if let Some(options) = options {
        command.env("LIFESIGN_OPTIONS", options);
    }
}

/// With `LIFESIGN_ENTRY_TIMES_DIR` set (the fault benchmark, with a `handler-timing` build of
/// the module), each server started writes its module's entry-point times to a file there
/// named after the test and the server's number in it: `<test>.<n>.tsv`.
fn entry_times(command: &mut Command) {
    if let Some(path) = benchmark_file("", "tsv") {
        command.env("LIFESIGN_ENTRY_TIMES", path);
    }
}

/// With `LIFESIGN_ENTRY_TIMES_DIR` set (the fault benchmark), a new file's path there for the
/// running test: `<test>.<kind><n>.<ext>`, `n` counting the files this process named.
pub(crate) fn benchmark_file(kind: &str, ext: &str) -> Option<PathBuf> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NAMED: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::var_os("LIFESIGN_ENTRY_TIMES_DIR")?;
    let n = NAMED.fetch_add(1, Ordering::Relaxed);
    Some(PathBuf::from(dir).join(format!("{}.{kind}{n}.{ext}", test_name())))
}

/// The running test's name (libtest names its thread after it), for file names.
fn test_name() -> String {
    thread::current()
        .name()
        .unwrap_or("main")
        .replace("::", "-")
}
