//! Test hosts: network namespaces and veth links made by the test, removed on drop.
//!
//! A [`Lab`] has one namespace for the display server and one per application host, each
//! host linked to the display by its own veth pair: host `i` is `10.211.<i+1>.2`, and reaches
//! the display at `10.211.<i+1>.1`. No traffic leaves these namespaces; addresses may repeat
//! across labs, since every lab has its own namespaces.

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::Duration;

static LABS: AtomicU32 = AtomicU32::new(0);

/// The display server's address as every host of a lab reaches it.
pub const DISPLAY_ADDR: Ipv4Addr = Ipv4Addr::new(10, 211, 0, 1);

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("run ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The name of a namespace another part of the harness owns.
#[derive(Clone, Debug)]
pub struct NetnsName(pub String);

impl NetnsName {
    pub fn connect(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        connect_in(&self.0, addr)
    }
}

fn connect_in(name: &str, addr: SocketAddr) -> io::Result<TcpStream> {
    let path = format!("/var/run/netns/{name}");
    thread::scope(|scope| {
        scope
            .spawn(|| {
                let ns = File::open(&path)?;
                rustix::thread::move_into_link_name_space(
                    ns.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )?;
                TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            })
            .join()
            .expect("the connecting thread")
    })
}

/// A network namespace, deleted on drop.
pub struct Netns {
    name: String,
}

impl Netns {
    fn new(name: String) -> Self {
        // A namespace of a crashed earlier run with the same pid would be in the way.
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        ip(&["netns", "add", &name]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        Self { name }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A TCP connection made from inside the namespace (by a thread that moves there).
    pub fn connect(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        connect_in(&self.name, addr)
    }

    /// `program` run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// An application host.
pub struct Host {
    pub ns: Netns,
    /// The host's own address.
    pub addr: Ipv4Addr,
    /// The display server's address as this host sees it.
    pub display_addr: Ipv4Addr,
}

impl Host {
    /// Pulls the host's cable: its end of the link goes down.
    pub fn cut(&self) {
        ip(&["-n", self.ns.name(), "link", "set", "veth0", "down"]);
    }

    /// Plugs it back in (the route to [`DISPLAY_ADDR`] went with the link: it is put back).
    pub fn restore(&self) {
        ip(&["-n", self.ns.name(), "link", "set", "veth0", "up"]);
        self.route_display();
    }

    /// Drops `percent` of the packets both ways at the host (nftables in its namespace, a
    /// random draw per packet): 100 is an outage, less a lossy link. The display's kernel
    /// sees nothing of it but silence. Replaces what an earlier call set.
    pub fn drop_packets(&self, percent: u32) {
        assert!((1..=100).contains(&percent), "a share of 1 to 100");
        let rule = if percent == 100 {
            "drop".to_owned()
        } else {
            format!("numgen random mod 100 < {percent} drop")
        };
        let script = format!(
            "table inet lifesign_loss {{}}\n\
             delete table inet lifesign_loss\n\
             table inet lifesign_loss {{\n\
               chain input {{ type filter hook input priority -300; {rule}; }}\n\
               chain output {{ type filter hook output priority -300; {rule}; }}\n\
             }}\n"
        );
        self.nft(&script);
    }

    /// Drops every packet that reaches the host, for good, while its own still go out: a link
    /// cut one way (the display's packets are lost, the host's arrive).
    pub fn drop_incoming(&self) {
        self.nft(
            "table inet lifesign_loss {}\n\
             delete table inet lifesign_loss\n\
             table inet lifesign_loss {\n\
               chain input { type filter hook input priority -300; drop; }\n\
             }\n",
        );
    }

    /// Every packet passes again.
    pub fn pass_packets(&self) {
        self.nft("table inet lifesign_loss {}\ndelete table inet lifesign_loss\n");
    }

    /// Runs an nftables script in the host's namespace, in one transaction.
    fn nft(&self, script: &str) {
        use std::io::Write;
        let mut child = self
            .ns
            .command("nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run nft (nftables)");
        child
            .stdin
            .take()
            .expect("nft's stdin")
            .write_all(script.as_bytes())
            .expect("write the nft script");
        let out = child.wait_with_output().expect("wait for nft");
        assert!(
            out.status.success(),
            "nft: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn route_display(&self) {
        ip(&[
            "-n",
            self.ns.name(),
            "route",
            "replace",
            &format!("{DISPLAY_ADDR}/32"),
            "via",
            &self.display_addr.to_string(),
            "dev",
            "veth0",
            "onlink",
        ]);
    }

    /// The program `argv` run on this host: `ip netns exec <host> argv...`, as a launcher's
    /// candidate would be `ssh host argv...`.
    pub fn argv(&self, argv: &[&str]) -> Vec<String> {
        ["ip", "netns", "exec", self.ns.name()]
            .iter()
            .chain(argv)
            .map(|s| (*s).to_owned())
            .collect()
    }

    /// `DISPLAY` for a client on this host of the server at display number `n`.
    pub fn display(&self, n: u32) -> String {
        format!("{}:{n}", self.display_addr)
    }

    /// An x11rb connection from this host to the display server at display number `n`.
    pub fn connect_x(&self, n: u32) -> x11rb::rust_connection::RustConnection {
        let port = 6000 + u16::try_from(n).expect("a display number");
        let stream = self
            .ns
            .connect(SocketAddr::from((self.display_addr, port)))
            .unwrap_or_else(|e| panic!("cannot reach the display from {}: {e}", self.ns.name()));
        let (stream, _) =
            x11rb::rust_connection::DefaultStream::from_tcp_stream(stream).expect("a stream");
        x11rb::rust_connection::RustConnection::connect_to_stream(stream, 0)
            .expect("X connection setup")
    }

    /// An X connection from this host to display `n` over TCP, set up by hand (no client
    /// library reads for the test): the test reads and writes its bytes itself.
    pub fn connect_raw_x(&self, n: u32, order: lifesign_proto::ByteOrder) -> TcpStream {
        let port = 6000 + u16::try_from(n).expect("a display number");
        let mut s = self
            .ns
            .connect(SocketAddr::from((self.display_addr, port)))
            .unwrap_or_else(|e| panic!("cannot reach the display from {}: {e}", self.ns.name()));
        crate::raw::set_up(&mut s, order).expect("the connection setup");
        s
    }

    /// Starts an X client on this host, against display number `n`; killed on drop. GTK is
    /// told not to look for the accessibility bus (none is there).
    pub fn spawn(&self, n: u32, program: &str, args: &[&str]) -> Proc {
        let child = self
            .ns
            .command(program)
            .args(args)
            .env("DISPLAY", self.display(n))
            .env("NO_AT_BRIDGE", "1")
            .env_remove("XAUTHORITY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program} on {}: {e}", self.ns.name()));
        Proc(child)
    }
}

/// The display's namespace and the hosts linked to it.
pub struct Lab {
    // Hosts first: dropped before the display namespace.
    hosts: Vec<Host>,
    display: Netns,
}

/// Deletes the namespaces of labs whose process is gone (a test or benchmark that was
/// killed before its drops ran).
fn remove_stale_labs() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let pid = name
            .strip_prefix("ls")
            .and_then(|rest| rest.split_once('x'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok());
        if let Some(pid) = pid
            && pid != std::process::id()
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

impl Lab {
    pub fn new(hosts: usize) -> Self {
        remove_stale_labs();
        let tag = format!(
            "ls{}x{}",
            std::process::id(),
            LABS.fetch_add(1, Ordering::Relaxed)
        );
        let display = Netns::new(format!("{tag}d"));
        ip(&[
            "-n",
            display.name(),
            "addr",
            "add",
            &format!("{DISPLAY_ADDR}/32"),
            "dev",
            "lo",
        ]);
        let hosts = (0..hosts)
            .map(|i| {
                let ns = Netns::new(format!("{tag}h{i}"));
                let net = u8::try_from(i + 1).expect("few hosts");
                let display_addr = Ipv4Addr::new(10, 211, net, 1);
                let addr = Ipv4Addr::new(10, 211, net, 2);
                let display_if = format!("veth{i}");
                ip(&[
                    "link",
                    "add",
                    "name",
                    &display_if,
                    "netns",
                    display.name(),
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "veth0",
                    "netns",
                    ns.name(),
                ]);
                ip(&[
                    "-n",
                    display.name(),
                    "addr",
                    "add",
                    &format!("{display_addr}/24"),
                    "dev",
                    &display_if,
                ]);
                ip(&[
                    "-n",
                    ns.name(),
                    "addr",
                    "add",
                    &format!("{addr}/24"),
                    "dev",
                    "veth0",
                ]);
                ip(&["-n", display.name(), "link", "set", &display_if, "up"]);
                ip(&["-n", ns.name(), "link", "set", "veth0", "up"]);
                let host = Host {
                    ns,
                    addr,
                    display_addr,
                };
                host.route_display();
                host
            })
            .collect();
        Self { hosts, display }
    }

    pub fn host(&self, i: usize) -> &Host {
        &self.hosts[i]
    }

    /// The namespace the display server runs in.
    pub fn display_ns(&self) -> &Netns {
        &self.display
    }

    /// How long until the keepalive timer of the server's connection to `addr` fires, if it
    /// has one running (`ss -o`): where an idle connection is in its keepalive cycle.
    pub fn keepalive_due(&self, addr: Ipv4Addr) -> Option<Duration> {
        let out = self
            .display
            .command("ss")
            .args(["-tno", "state", "established"])
            .output()
            .expect("run ss (iproute2)");
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().find(|l| l.contains(&format!("{addr}:")))?;
        let rest = line.split("timer:(keepalive,").nth(1)?;
        parse_ss_time(rest.split(',').next()?)
    }

    /// The server's TCP sockets whose peer is `addr` (`ss`, in the display's namespace).
    pub fn server_sockets_to(&self, addr: Ipv4Addr) -> Vec<String> {
        let out = self
            .display
            .command("ss")
            .args(["-tan"])
            .output()
            .expect("run ss (iproute2)");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains(&format!("{addr}:")))
            .map(str::to_owned)
            .collect()
    }
}

/// A time as `ss` prints it: `482ms`, `1.042sec`, `1min2sec`.
fn parse_ss_time(t: &str) -> Option<Duration> {
    if let Some(ms) = t.strip_suffix("ms") {
        return ms.parse().ok().map(Duration::from_millis);
    }
    let t = t.strip_suffix("sec")?;
    let (min, sec) = match t.split_once("min") {
        Some((m, s)) => (m.parse::<u64>().ok()?, s),
        None => (0, t),
    };
    let sec: f64 = if sec.is_empty() {
        0.0
    } else {
        sec.parse().ok()?
    };
    Some(Duration::from_secs(min * 60) + Duration::from_secs_f64(sec))
}

/// A process the test started; killed on drop.
pub struct Proc(pub Child);

impl Proc {
    pub fn running(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.0.id() as i32).expect("a pid");
        rustix::process::kill_process(pid, signal).expect("signal the process");
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ss_times_are_read() {
        assert_eq!(parse_ss_time("482ms"), Some(Duration::from_millis(482)));
        assert_eq!(parse_ss_time("1.042sec"), Some(Duration::from_millis(1042)));
        assert_eq!(parse_ss_time("1min2sec"), Some(Duration::from_secs(62)));
        assert_eq!(parse_ss_time("1min"), None);
    }
}
