//! One running instance of a toolkit's program on a server: its X clients (found in the
//! module's `watched` events by its pid, or by its host's address for a program run on a
//! test host), its mapped top-level windows, and SIGSTOP.

use crate::toolkits::{Context, Toolkit};
use lifesign_proto::event::{Body, Event};
use lifesign_tests::Server;
use lifesign_tests::net::{Host, Netns};
use lifesign_tests::windows::{mapped_windows, parse_id};
use rustix::process::{Pid, Signal, kill_process};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};
use x11rb::connection::Connection as X11Connection;
use x11rb::protocol::xproto::Window;

/// One connection of a program: its id, which the server gives again to a later connection
/// once this one is gone, and the `seq` of its `watched` event, after which the events with
/// that id are this connection's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    pub id: String,
    pub watched_seq: u64,
}

impl Connection {
    /// True if `event` is about this connection.
    pub fn is_about(&self, event: &Event) -> bool {
        event.seq > self.watched_seq && event.client().is_some_and(|c| c.id == self.id)
    }
}

/// The connections of a program that have a viewable top-level window, and those windows.
#[derive(Clone, Debug, Default)]
pub struct Mapped {
    pub clients: Vec<Connection>,
    pub windows: Vec<Window>,
}

/// A program started against a server; killed (SIGKILL, which also ends a stopped process)
/// and reaped on drop.
pub struct Instance {
    child: Child,
    /// The test host it runs on, whose address names its connections (a TCP client has no
    /// pid in the events); `None` for a local program, known by its pid.
    host: Option<Ipv4Addr>,
}

impl Instance {
    /// Starts `toolkit`'s program on `server`, as a desktop session would but without one: no
    /// accessibility bus, no session bus (each instance its own application, never handed to
    /// the other), output thrown away.
    pub fn start(server: &Server, toolkit: &Toolkit, context: &Context) -> Result<Self, String> {
        let mut command = context.command(&toolkit.launch);
        command.env("DISPLAY", server.display());
        Self::spawn(command, toolkit, None)
    }

    /// Starts `toolkit`'s program on `host` (a network namespace of a lab), against the
    /// server at display number `display` there, over TCP. Its connections are told apart
    /// from other programs' by the host's address: one program per host.
    pub fn start_on(
        host: &Host,
        display: u32,
        toolkit: &Toolkit,
        context: &Context,
    ) -> Result<Self, String> {
        let mut command = in_namespace(&host.ns, toolkit, context)?;
        command.env("DISPLAY", host.display(display));
        Self::spawn(command, toolkit, Some(host.addr))
    }

    /// Starts `toolkit`'s program in namespace `ns` as a local client of the server at
    /// display number `display` that runs there (on the namespace's own abstract socket).
    pub fn start_local_in(
        ns: &Netns,
        display: u32,
        toolkit: &Toolkit,
        context: &Context,
    ) -> Result<Self, String> {
        let mut command = in_namespace(ns, toolkit, context)?;
        command.env("DISPLAY", format!(":{display}"));
        Self::spawn(command, toolkit, None)
    }

    fn spawn(
        mut command: Command,
        toolkit: &Toolkit,
        host: Option<Ipv4Addr>,
    ) -> Result<Self, String> {
        let child = command
            .env("NO_AT_BRIDGE", "1")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env_remove("XAUTHORITY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", toolkit.app))?;
        Ok(Self { child, host })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True if `client` is a connection of this program: by its pid, or by its host's
    /// address.
    fn owns(&self, client: &lifesign_proto::event::ClientInfo) -> bool {
        match self.host {
            None => client.pid == Some(self.pid()),
            Some(addr) => client
                .peer
                .as_deref()
                .and_then(|p| p.parse::<SocketAddr>().ok())
                .is_some_and(|p| p.ip() == IpAddr::V4(addr)),
        }
    }

    /// The connections of this process that the module watches now. Ended ones are left
    /// out: their windows may outlive them (nedit's second connection, which closes at once,
    /// keeps a mapped window with RetainPermanent).
    pub fn clients(&self, events: &[Event]) -> Vec<Connection> {
        let mut found: Vec<Connection> = Vec::new();
        for e in events {
            match &e.body {
                Body::Watched { client, .. } if self.owns(client) => {
                    found.push(Connection {
                        id: client.id.clone(),
                        watched_seq: e.seq,
                    });
                }
                Body::Lost { .. } | Body::Gone { .. } => found.retain(|c| !c.is_about(e)),
                _ => {}
            }
        }
        found
    }

    /// Waits until the program has a viewable top-level window; returns the clients that
    /// have one, and their windows. Only those count: a program may open other connections
    /// that come and go (nedit, xterm), whose ends say nothing of the application.
    pub fn wait_mapped(
        &mut self,
        server: &Server,
        observer: &impl X11Connection,
        timeout: Duration,
    ) -> Result<Mapped, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut mapped = Mapped::default();
            for client in self.clients(&server.events()) {
                let windows = mapped_windows(observer, parse_id(&client.id));
                if !windows.is_empty() {
                    mapped.clients.push(client);
                    mapped.windows.extend(windows);
                }
            }
            if !mapped.windows.is_empty() {
                return Ok(mapped);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("it exited before mapping a window ({status})"));
            }
            if Instant::now() > deadline {
                return Err(format!("no window mapped within {timeout:?}"));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the process as a hang would: every thread, at once (SIGSTOP).
    pub fn stop(&self) {
        self.signal(Signal::STOP);
    }

    fn signal(&self, signal: Signal) {
        if let Some(pid) = Pid::from_raw(self.child.id() as i32) {
            let _ = kill_process(pid, signal);
        }
    }
}

/// `toolkit`'s program run in network namespace `ns` (`ip netns exec`, which execs it: the
/// child's pid is the program's).
fn in_namespace(ns: &Netns, toolkit: &Toolkit, context: &Context) -> Result<Command, String> {
    let local = context.command(&toolkit.launch);
    let program = local
        .get_program()
        .to_str()
        .ok_or_else(|| format!("{}: a program name that is not UTF-8", toolkit.app))?;
    let mut command = ns.command(program);
    command.args(local.get_args());
    Ok(command)
}

impl Drop for Instance {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.signal(Signal::KILL);
        }
        let _ = self.child.wait();
    }
}
