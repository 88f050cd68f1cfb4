//! The support matrix: the core scenarios against the X servers of each supported Debian
//! release, each run from that release's own packages (`scripts/releases.sh`), with the module
//! built for its X.Org series (`scripts/series.sh`). Debian 12's Xorg, Xvfb and Xephyr run the
//! whole suite; its Xtigervnc, and every server of Debian 11 (X.Org 1.20) and 13 (21.1), run
//! these.
//!
//! Each test writes one line, naming its cell with the server's version, to
//! `target/matrix/`; the test command prints them after the run.

use lifesign_proto::event::{Body, LostReason};
use lifesign_tests::launcher::toml_argv;
use lifesign_tests::net::{DISPLAY_ADDR, Host, Lab};
use lifesign_tests::release::{BOOKWORM, BULLSEYE, Release, TRIXIE, series_module};
use lifesign_tests::windows::{mapped_from, peer_is, wait_until, watched_and_mapped};
use lifesign_tests::{
    LOAD_MARGIN, Launcher, Server, Xephyr, Xorg, Xtigervnc, Xvfb, lifesign, malformed,
};
use rustix::process::Signal;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
enum Kind {
    Xorg,
    Xvfb,
    Xephyr,
    Xtigervnc,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Xorg => "Xorg",
            Kind::Xvfb => "Xvfb",
            Kind::Xephyr => "Xephyr",
            Kind::Xtigervnc => "Xtigervnc",
        }
    }

    /// The Debian package the server binary comes from.
    fn package(self) -> &'static str {
        match self {
            Kind::Xorg => "xserver-xorg-core",
            Kind::Xvfb => "xvfb",
            Kind::Xephyr => "xserver-xephyr",
            Kind::Xtigervnc => "tigervnc-standalone-server",
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Cell {
    release: Release,
    kind: Kind,
}

/// A server of a cell, and what it needs alive (Xephyr's window goes to a server of this
/// machine).
struct Running {
    server: Server,
    _parent: Option<Server>,
}

impl Cell {
    /// Starts the cell's server with `options`, in `lab` if given (on TCP there only).
    fn start(self, options: &[(&str, &str)], lab: Option<&Lab>, resets: bool) -> Running {
        let preload: String = options
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join(";");
        // The build each release's package ships (linked in Debian 11's chroot), also on
        // this machine, whose other tests use the faster build of this machine.
        let module = series_module(self.release.series);
        let (server, parent) = match self.kind {
            Kind::Xorg => {
                let mut b = Xorg::new().release(self.release).module_file(module);
                for (n, v) in options {
                    b = b.option(n, v);
                }
                if let Some(lab) = lab {
                    b = b.in_lab(lab);
                }
                if resets {
                    b = b.resets();
                }
                (b.start(), None)
            }
            Kind::Xvfb => {
                let mut b = Xvfb::with_options(&preload)
                    .release(self.release)
                    .module_file(module);
                if let Some(lab) = lab {
                    b = b.in_lab(lab);
                }
                if resets {
                    b = b.resets();
                }
                (b.start(), None)
            }
            Kind::Xephyr => {
                let parent = Xvfb::stock().start();
                let mut b = Xephyr::with_options(&preload)
                    .release(self.release)
                    .module_file(module);
                if let Some(lab) = lab {
                    b = b.in_lab(lab);
                }
                if resets {
                    b = b.resets();
                }
                (b.start_on(&parent), Some(parent))
            }
            Kind::Xtigervnc => {
                let mut b = Xtigervnc::with_options(&preload)
                    .release(self.release)
                    .module_file(module);
                if let Some(lab) = lab {
                    b = b.in_lab(lab);
                }
                if resets {
                    b = b.resets();
                }
                (b.start(), None)
            }
        };
        Running {
            server,
            _parent: parent,
        }
    }

    /// "Debian 11 (bullseye) Xvfb, X.Org 1.20.11 (xvfb 2:1.20.11-1+deb11u18)": the release as
    /// the module read it, the package as the release's dpkg knows it.
    fn describe(self, server: &Server) -> String {
        // What the module read: its start line, or its refusal.
        let read = ["lifesign: in X.Org ", "lifesign: this server is X.Org "]
            .iter()
            .find_map(|needle| {
                let line = server.log_lines(needle).into_iter().next()?;
                let rest = line.split(needle).nth(1)?.to_owned();
                rest.split([';', ',']).next().map(str::to_owned)
            })
            .map_or_else(|| "release unread".to_owned(), |r| format!("X.Org {r}"));
        let package = self.kind.package();
        let version = self
            .release
            .package_version(package)
            .unwrap_or_else(|| "?".into());
        format!(
            "{} {}, {read} ({package} {version})",
            self.release.label(),
            self.kind.name()
        )
    }

    /// Records a passed scenario for the test command's matrix report.
    fn report(self, server: &Server, scenario: &str, detail: &str) {
        let line = format!("{}: {scenario}: {detail}", self.describe(server));
        eprintln!("matrix: {line}");
        let dir = lifesign_tests::server::scripts_target_dir().join("matrix");
        std::fs::create_dir_all(&dir).expect("the matrix report's directory");
        let name: String = format!("{}-{}-{scenario}", self.release.codename, self.kind.name())
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        std::fs::write(dir.join(format!("{name}.txt")), format!("{line}\n"))
            .expect("the matrix report's line");
    }
}

/// Waits for the `lost` event of the client from `addr`; its reason and the time since `from`.
fn lost(server: &Server, addr: Ipv4Addr, from: Instant, bound: Duration) -> (LostReason, Duration) {
    let event = server
        .wait_for_event(bound + LOAD_MARGIN + Duration::from_secs(5), |e| {
            matches!(e.body, Body::Lost { .. }) && peer_is(e, addr)
        })
        .unwrap_or_else(|| panic!("no lost event within {bound:?} and margins"));
    let took = from.elapsed();
    match event.body {
        Body::Lost { reason, .. } => (reason, took),
        _ => unreachable!(),
    }
}

fn loads_once_and_answers(cell: Cell) {
    let running = cell.start(&[("IdleTimeout", "3s")], None, false);
    let server = &running.server;
    assert!(server.wait_for_log(
        "lifesign: generation 1: extension LIFESIGN",
        1,
        Duration::from_secs(10)
    ));
    let conn = server.connect();
    let version = lifesign::query_version(&conn);
    assert_eq!(version.major, 1);
    assert_eq!(
        server.log_lines("lifesign: in X.Org ").len(),
        1,
        "{}",
        server.log()
    );
    assert_eq!(
        server.log_lines("lifesign: generation ").len(),
        1,
        "{}",
        server.log()
    );
    assert!(
        server.log_lines("(EE) lifesign").is_empty(),
        "{}",
        server.log()
    );
    cell.report(
        server,
        "loads once, LIFESIGN answers",
        &format!("QueryVersion {}.{}", version.major, version.minor),
    );
}

fn refuses_malformed_requests(cell: Cell) {
    let running = cell.start(&[], None, false);
    malformed::check(&running.server);
    cell.report(
        &running.server,
        "malformed requests refused",
        "BadLength, BadRequest, both byte orders",
    );
}

fn a_cut_cable_is_lost_at_idle_timeout(cell: Cell) {
    const IDLE: Duration = Duration::from_secs(2);
    let lab = Lab::new(1);
    let running = cell.start(
        &[
            ("IdleTimeout", "2s"),
            ("TransportTimeout", "0"),
            ("Grace", "1s"),
        ],
        Some(&lab),
        false,
    );
    let server = &running.server;
    let host = lab.host(0);
    let _xclock = host.spawn(server.display_number(), "xclock", &["-update", "1"]);
    watched_and_mapped(server, host.addr);
    std::thread::sleep(Duration::from_millis(1500)); // past Grace
    let cut = Instant::now();
    host.cut();
    let (reason, took) = lost(server, host.addr, cut, IDLE);
    assert_eq!(reason, LostReason::IdleTimeout);
    // xclock draws every second, so its last request came up to a second before the cut (a
    // little more on a loaded machine); a loss much sooner would be a conviction too early.
    assert!(
        took >= IDLE - Duration::from_millis(1500),
        "too early: {took:?}"
    );
    assert!(
        took <= IDLE + Duration::from_millis(100) + LOAD_MARGIN,
        "too late: {took:?}"
    );
    cell.report(
        server,
        "cable cut lost at IdleTimeout 2s",
        &format!("idle-timeout {took:.1?} after the cut"),
    );
}

fn a_cut_is_lost_at_transport_timeout(cell: Cell) {
    const T: Duration = Duration::from_secs(3);
    let lab = Lab::new(1);
    let running = cell.start(&[("TransportTimeout", "3s")], Some(&lab), false);
    let server = &running.server;
    let host = lab.host(0);
    let _xlogo = host.spawn(server.display_number(), "xlogo", &[]);
    watched_and_mapped(server, host.addr);
    std::thread::sleep(Duration::from_secs(4)); // idle: keepalive probes are under way
    let cut = Instant::now();
    host.cut();
    let (reason, took) = lost(server, host.addr, cut, T);
    assert_eq!(reason, LostReason::TransportTimeout);
    assert!(
        took <= T + Duration::from_secs(1) + LOAD_MARGIN,
        "too late: {took:?}"
    );
    cell.report(
        server,
        "cut lost at TransportTimeout 3s",
        &format!("transport-timeout {took:.1?} after the cut"),
    );
}

/// A hung application caught by a probe of the server's: `program` runs on a test host under
/// `options` (WmPing or RepaintProbe, 1s/2s), is kept while idle and answering for a few
/// intervals, then lost for `reason` within interval plus timeout once SIGSTOPped.
fn a_hung_client_is_lost(
    cell: Cell,
    options: [(&str, &str); 2],
    program: &[&str],
    reason: LostReason,
    scenario: &str,
) {
    let lab = Lab::new(1);
    let [probe, timeout] = options;
    let running = cell.start(
        &[probe, timeout, ("TransportTimeout", "0"), ("Grace", "1s")],
        Some(&lab),
        false,
    );
    let server = &running.server;
    let host = lab.host(0);
    let app = host.spawn(server.display_number(), program[0], &program[1..]);
    watched_and_mapped(server, host.addr);
    // Healthy: asked every second after Grace, it answers and stays.
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        !server
            .events()
            .iter()
            .any(|e| matches!(e.body, Body::Lost { .. })),
        "a healthy {} was convicted",
        program[0]
    );
    let stopped = Instant::now();
    app.signal(Signal::STOP);
    let (got, took) = lost(server, host.addr, stopped, Duration::from_secs(3));
    app.signal(Signal::CONT);
    assert_eq!(got, reason);
    // Interval plus timeout, plus the pass that sees it and a loaded machine's delays.
    assert!(
        took <= Duration::from_secs(4) + LOAD_MARGIN,
        "too late: {took:?}"
    );
    cell.report(
        server,
        scenario,
        &format!("{} {took:.1?} after SIGSTOP", reason.as_str()),
    );
}

fn a_hung_gtk_client_is_lost_by_wm_ping(cell: Cell) {
    a_hung_client_is_lost(
        cell,
        [("WmPing", "1s"), ("WmPingTimeout", "2s")],
        &["zenity", "--info", "--text", "lifesign"],
        LostReason::WmPingTimeout,
        "hung GTK client lost by WmPing 1s/2s",
    );
}

/// An Athena client (xlogo) lists no `_NET_WM_PING`: the repaint probe catches it (the probe
/// walks the client's windows, whose layout is the series').
fn a_hung_athena_client_is_lost_by_the_repaint_probe(cell: Cell) {
    a_hung_client_is_lost(
        cell,
        [("RepaintProbe", "1s"), ("RepaintProbeTimeout", "2s")],
        &["xlogo"],
        LostReason::RepaintTimeout,
        "hung Athena client lost by RepaintProbe 1s/2s",
    );
}

fn xclock(host: &Host, name: &str) -> Vec<String> {
    host.argv(&["xclock", "-update", "1", "-name", name])
}

fn the_launcher_fails_over(cell: Cell) {
    const IDLE: Duration = Duration::from_secs(2);
    let lab = Lab::new(2);
    let (a, b) = (lab.host(0), lab.host(1));
    let launcher = Launcher::new(&format!(
        "display = \"{DISPLAY_ADDR}:0\"\n[[service]]\nname = \"view\"\n\
         match = {{ peer = \"10.211.0.0/16\", wm_class = \"view\" }}\n\
         start = [{}, {}]\nstart_primary = true\n",
        toml_argv(&xclock(a, "view")),
        toml_argv(&xclock(b, "view")),
    ))
    .start();
    let socket = launcher.socket().to_str().unwrap().to_owned();
    let running = cell.start(
        &[
            ("WatchPeers", "10.211.0.0/16"),
            ("IdleTimeout", "2s"),
            ("Grace", "500ms"),
            ("Launcher", &socket),
        ],
        Some(&lab),
        false,
    );
    let server = &running.server;
    assert_eq!(server.display_number(), 0, "the launcher's display is :0");
    let conn = server.connect();
    wait_until(Duration::from_secs(30), || {
        !mapped_from(&conn, a.addr, "view").is_empty()
    })
    .expect("the launcher starts the primary on host A");
    let cut = Instant::now();
    a.cut();
    let mapped = wait_until(Duration::from_secs(15), || {
        !mapped_from(&conn, b.addr, "view").is_empty()
    })
    .expect("the backup from host B is mapped");
    let took = mapped - cut;
    assert!(
        took <= IDLE + Duration::from_secs(1) + LOAD_MARGIN,
        "{took:?}"
    );
    assert!(
        launcher
            .log_lines("event lost")
            .iter()
            .any(|l| l.contains("reason=idle-timeout")),
        "{}",
        launcher.log()
    );
    cell.report(
        server,
        "launcher failover on a cut",
        &format!("backup mapped {took:.1?} after the cut"),
    );
}

/// The server resets and the module is there again in the next generation, watching: after
/// its last client left; for Xtigervnc by SIGHUP once no client is left (TigerVNC ends,
/// exit status 0, instead of resetting when its last client leaves, and on a SIGHUP while a
/// client is connected: "VNC extension does not support -reset, terminating instead").
fn survives_regeneration(cell: Cell) {
    let vnc = matches!(cell.kind, Kind::Xtigervnc);
    let running = cell.start(&[("Watch", "all"), ("IdleTimeout", "1h")], None, !vnc);
    let server = &running.server;
    for generation in 1..=2 {
        assert!(
            server.wait_for_log(
                &format!("lifesign: generation {generation}: extension LIFESIGN"),
                1,
                Duration::from_secs(15)
            ),
            "generation {generation}\n{}",
            server.log()
        );
        let conn = server.connect();
        assert_eq!(lifesign::query_version(&conn).major, 1);
        let listed = lifesign::list_clients(&conn);
        assert!(
            !listed.is_empty(),
            "generation {generation}: the client itself is watched"
        );
        drop(conn);
        if vnc && generation == 1 {
            // The server has seen the client go before it is told to reset.
            let gone = |e: &lifesign_proto::event::Event| matches!(e.body, Body::Gone { .. });
            server
                .wait_for_event(Duration::from_secs(10), gone)
                .expect("the client's end is seen");
            server.signal(Signal::HUP);
        }
    }
    assert!(
        server.log_lines("(EE) lifesign").is_empty(),
        "{}",
        server.log()
    );
    cell.report(
        server,
        "regeneration",
        "LIFESIGN again in generation 2, clients watched",
    );
}

/// A raw subscriber to every kind of event, in `order`; its event code.
fn subscribe(client: &mut lifesign_tests::raw::RawClient) -> u8 {
    let (major, first_event) = client
        .extension(lifesign_proto::ext::EXTENSION_NAME)
        .expect("QueryExtension")
        .expect("LIFESIGN");
    let select = lifesign_proto::ext::Request::SelectEvents {
        mask: lifesign_proto::notify::ALL_KINDS,
    }
    .encode(major, client.order());
    client.send(&select).expect("SelectEvents");
    client.round_trip().expect("SelectEvents is taken");
    first_event
}

fn events_reach_subscribers_in_both_byte_orders(cell: Cell) {
    use lifesign_proto::ByteOrder;
    use lifesign_proto::notify::{Kind as K, Notify};
    use lifesign_tests::raw::{Packet, RawClient};
    use x11rb::connection::Connection as _;
    use x11rb::wrapper::ConnectionExt as _;
    let running = cell.start(&[("Watch", "all")], None, false);
    let server = &running.server;
    let n = server.display_number();
    // The order of a client the server must swap for.
    let other = ByteOrder::for_client(true);
    let mut subscribers: Vec<(RawClient, u8)> = [ByteOrder::native(), other]
        .into_iter()
        .map(|order| {
            let mut c = RawClient::connect(n, order).expect("a raw client");
            let code = subscribe(&mut c);
            (c, code)
        })
        .collect();
    // A client comes, gets a class (WM_CLASS written: `updated`), and goes once that is told.
    let app = server.connect();
    let base = app.setup().resource_id_base;
    lifesign_tests::windows::map_with_class(&app, b"matrix\0Matrix\0");
    app.sync().expect("a round trip");
    let mut heard = vec![Vec::new(), Vec::new()];
    let mut app = Some(app);
    for until in [K::Updated, K::Gone] {
        for ((client, code), kinds) in subscribers.iter_mut().zip(&mut heard) {
            while !kinds.contains(&until) {
                match client.read_packet() {
                    Ok(Packet::Event(bytes)) if bytes[0] == *code => {
                        let notify = Notify::parse(&bytes, client.order()).expect("LifesignNotify");
                        if notify.client == base {
                            kinds.push(notify.kind);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => panic!("{:?} subscriber: {e}; heard {kinds:?}", client.order()),
                }
            }
        }
        drop(app.take());
    }
    assert_eq!(heard[0], [K::Watched, K::Updated, K::Gone]);
    assert_eq!(heard[0], heard[1], "the same in both byte orders");
    cell.report(
        server,
        "events as X events",
        "watched, updated (WM_CLASS), gone to subscribers of both byte orders",
    );
}

macro_rules! cells {
    ($($cell:ident: $release:expr, $kind:expr;)*) => {$(
        mod $cell {
            use super::*;
            const CELL: Cell = Cell { release: $release, kind: $kind };
            #[test]
            fn loads_once_and_answers() { super::loads_once_and_answers(CELL) }
            #[test]
            fn refuses_malformed_requests() { super::refuses_malformed_requests(CELL) }
            #[test]
            fn a_cut_cable_is_lost_at_idle_timeout() { super::a_cut_cable_is_lost_at_idle_timeout(CELL) }
            #[test]
            fn a_cut_is_lost_at_transport_timeout() { super::a_cut_is_lost_at_transport_timeout(CELL) }
            #[test]
            fn a_hung_gtk_client_is_lost_by_wm_ping() { super::a_hung_gtk_client_is_lost_by_wm_ping(CELL) }
            #[test]
            fn a_hung_athena_client_is_lost_by_the_repaint_probe() {
                super::a_hung_athena_client_is_lost_by_the_repaint_probe(CELL)
            }
            #[test]
            fn the_launcher_fails_over() { super::the_launcher_fails_over(CELL) }
            #[test]
            fn survives_regeneration() { super::survives_regeneration(CELL) }
            #[test]
            fn events_reach_subscribers_in_both_byte_orders() {
                super::events_reach_subscribers_in_both_byte_orders(CELL)
            }
        }
    )*};
}

cells! {
    debian11_xorg: BULLSEYE, Kind::Xorg;
    debian11_xvfb: BULLSEYE, Kind::Xvfb;
    debian11_xephyr: BULLSEYE, Kind::Xephyr;
    debian11_xtigervnc: BULLSEYE, Kind::Xtigervnc;
    debian12_xtigervnc: BOOKWORM, Kind::Xtigervnc;
    debian13_xorg: TRIXIE, Kind::Xorg;
    debian13_xvfb: TRIXIE, Kind::Xvfb;
    debian13_xephyr: TRIXIE, Kind::Xephyr;
    debian13_xtigervnc: TRIXIE, Kind::Xtigervnc;
}

/// A build of the other series, in Xorg (module mode) or Xvfb (preload): one `(EE)` line
/// naming the server found and the series built for, and the server runs on, without
/// LIFESIGN.
fn refuses_the_other_series(release: Release, kind: Kind) {
    let other = if release.series == "1.20" {
        "21.1"
    } else {
        "1.20"
    };
    let module = series_module(other);
    let server = match kind {
        Kind::Xorg => Xorg::new()
            .release(release)
            .module_file(module)
            .option("IdleTimeout", "3s")
            .start(),
        Kind::Xvfb => Xvfb::with_options("IdleTimeout=3s")
            .release(release)
            .module_file(module)
            .start(),
        Kind::Xtigervnc => Xtigervnc::with_options("IdleTimeout=3s")
            .release(release)
            .module_file(module)
            .start(),
        Kind::Xephyr => unreachable!("Xephyr reads its release as Xvfb does"),
    };
    let refusals = server.log_lines("(EE) lifesign: this server is X.Org ");
    assert_eq!(refusals.len(), 1, "{}", server.log());
    let line = &refusals[0];
    assert!(
        line.contains(&format!("X.Org {}.", release.series))
            && line.contains(&format!("this build of lifesign is for X.Org {other} ")),
        "{line}"
    );
    assert_eq!(
        server.log_lines(") lifesign: ").len(),
        1,
        "one line only: {}",
        server.log()
    );
    let conn = server.connect();
    assert_eq!(
        lifesign::major_opcode(&conn),
        None,
        "LIFESIGN must not be there"
    );
    use x11rb::protocol::xproto::ConnectionExt as _;
    conn.get_input_focus()
        .unwrap()
        .reply()
        .expect("the server serves");
    let cell = Cell { release, kind };
    cell.report(
        &server,
        &format!("the {other} build refused"),
        line.split("lifesign: ")
            .nth(1)
            .unwrap_or(line)
            .split(';')
            .next()
            .unwrap_or(""),
    );
}

#[test]
fn debian11_xorg_refuses_the_21_1_build() {
    refuses_the_other_series(BULLSEYE, Kind::Xorg);
}

#[test]
fn debian11_xvfb_refuses_the_21_1_build() {
    refuses_the_other_series(BULLSEYE, Kind::Xvfb);
}

#[test]
fn debian12_xorg_refuses_the_1_20_build() {
    refuses_the_other_series(BOOKWORM, Kind::Xorg);
}

#[test]
fn debian13_xorg_refuses_the_1_20_build() {
    refuses_the_other_series(TRIXIE, Kind::Xorg);
}

#[test]
fn debian13_xvfb_refuses_the_1_20_build() {
    refuses_the_other_series(TRIXIE, Kind::Xvfb);
}

#[test]
fn debian12_xvfb_refuses_the_1_20_build() {
    refuses_the_other_series(BOOKWORM, Kind::Xvfb);
}

#[test]
fn xtigervnc_of_each_release_refuses_the_other_series() {
    for release in [BULLSEYE, BOOKWORM, TRIXIE] {
        refuses_the_other_series(release, Kind::Xtigervnc);
    }
}
