//! The threat model's tests (docs/threat-model.md): what one client can learn of or do to
//! another through LIFESIGN, and who gets the launcher's events. Real Xorg, real clients from
//! lab hosts (network namespaces) and from the display's own host.

use lifesign_proto::event::{Body, ClientInfo, StatusEntry};
use lifesign_proto::ext::WatchRequest;
use lifesign_tests::net::Lab;
use lifesign_tests::windows::wait_until;
use lifesign_tests::{Server, Xorg, lifesign};
use std::process::{Command, Stdio};
use std::time::Duration;
use x11rb::connection::{Connection, RequestConnection};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

const WAIT: Duration = Duration::from_secs(20);

fn id(conn: &RustConnection) -> String {
    ClientInfo::format_id(conn.setup().resource_id_base)
}

fn ids(entries: &[StatusEntry]) -> Vec<String> {
    let mut ids: Vec<String> = entries.iter().map(|e| e.client.id.clone()).collect();
    ids.sort();
    ids
}

/// Two watched clients from two lab hosts, and a server listing as `list_clients` says.
fn two_hosts(list_clients: Option<&str>) -> (Lab, Server, RustConnection, RustConnection) {
    let lab = Lab::new(2);
    let mut xorg = Xorg::new().in_lab(&lab).option("Grace", "0");
    if let Some(value) = list_clients {
        xorg = xorg.option("ListClients", value);
    }
    let server = xorg.start();
    let a = lab.host(0).connect_x(server.display_number());
    let b = lab.host(1).connect_x(server.display_number());
    for conn in [&a, &b] {
        let id = id(conn);
        server
            .wait_for_event(WAIT, |e| {
                matches!(e.body, Body::Watched { .. }) && e.client().is_some_and(|c| c.id == id)
            })
            .expect("both remote clients are watched");
    }
    (lab, server, a, b)
}

#[test]
fn a_remote_client_lists_only_itself_by_default_and_a_local_one_lists_all() {
    let (_lab, server, a, b) = two_hosts(None);
    assert_eq!(ids(&lifesign::list_clients(&a)), [id(&a)]);
    assert_eq!(ids(&lifesign::list_clients(&b)), [id(&b)]);
    // The test's own connection is TCP from 127.0.0.1 in the display's namespace: local (and
    // watched itself, being TCP).
    let local = server.connect();
    let listed = ids(&lifesign::list_clients(&local));
    for remote in [id(&a), id(&b)] {
        assert!(listed.contains(&remote), "{remote} in {listed:?}");
    }
    assert!(
        server.log().contains("ListClients=local"),
        "the summary line names the setting"
    );
}

#[test]
fn the_operator_can_open_the_list_to_all_or_close_it_to_each_client_itself() {
    let (_lab, server, a, b) = two_hosts(Some("all"));
    let mut both = vec![id(&a), id(&b)];
    both.sort();
    assert_eq!(ids(&lifesign::list_clients(&a)), both);
    drop(server);

    let (_lab, server, a, _b) = two_hosts(Some("self"));
    assert_eq!(ids(&lifesign::list_clients(&a)), [id(&a)]);
    // A local client sees only itself too.
    let local = server.connect();
    let listed = ids(&lifesign::list_clients(&local));
    assert!(
        listed.iter().all(|i| *i == id(&local)),
        "{listed:?} holds only the local client itself"
    );
}

#[test]
fn watch_and_unwatch_act_on_the_requester_alone() {
    let (_lab, server, a, b) = two_hosts(Some("all"));
    let local = server.connect();
    let policy_of = |who: &str| {
        lifesign::list_clients(&local)
            .into_iter()
            .find(|e| e.client.id == who)
            .map(|e| e.policy)
    };
    let b_before = policy_of(&id(&b)).expect("b is watched");
    // A declares a policy of its own and then leaves: B is untouched by either request.
    let asked = WatchRequest {
        expect_noop_ms: 5000,
        ..WatchRequest::defaults()
    };
    lifesign::watch(&a, asked).check().expect("Watch");
    assert_eq!(policy_of(&id(&a)).map(|p| p.expect_noop_ms), Some(5000));
    assert_eq!(policy_of(&id(&b)), Some(b_before));
    lifesign::unwatch(&a);
    a.sync().expect("a round trip");
    assert_eq!(policy_of(&id(&a)), None, "A is no longer watched");
    assert_eq!(policy_of(&id(&b)), Some(b_before), "B still is, as it was");
}

/// A Watch with the host flag from `conn`: Ok, or the X error's kind.
fn host_scope_watch(conn: &RustConnection) -> Result<(), x11rb::protocol::ErrorKind> {
    let asked = WatchRequest {
        expect_noop_ms: 1000,
        flags: lifesign_proto::ext::flags::HOST_SCOPE,
        ..WatchRequest::defaults()
    };
    match lifesign::watch(conn, asked).check() {
        Ok(()) => Ok(()),
        Err(x11rb::errors::ReplyError::X11Error(e)) => Err(e.error_kind),
        Err(e) => panic!("Watch: {e}"),
    }
}

#[test]
fn a_strangers_host_scope_pulse_is_refused_and_a_listed_peers_honoured() {
    // By default nobody may declare one: its stopping would take a whole host down.
    let (_lab, server, a, _b) = two_hosts(None);
    assert_eq!(
        host_scope_watch(&a),
        Err(x11rb::protocol::ErrorKind::Access)
    );
    assert!(
        server.log().contains("HostScope=none"),
        "the option in the log line"
    );
    // With host A named, A may, and B (a stranger to the option) still may not.
    let lab = Lab::new(2);
    let server = Xorg::new()
        .in_lab(&lab)
        .option("Grace", "0")
        .option("HostScope", &lab.host(0).addr.to_string())
        .start();
    let a = lab.host(0).connect_x(server.display_number());
    let b = lab.host(1).connect_x(server.display_number());
    assert_eq!(host_scope_watch(&a), Ok(()));
    assert_eq!(
        host_scope_watch(&b),
        Err(x11rb::protocol::ErrorKind::Access)
    );
    // The refused request changed nothing: B keeps the server's policy (no NoOperation
    // expected), A has the one it asked for.
    let policy_of = |conn: &RustConnection| {
        lifesign::list_clients(&server.connect())
            .into_iter()
            .find(|e| e.client.id == id(conn))
            .map(|e| e.policy.expect_noop_ms)
    };
    assert_eq!(policy_of(&b), Some(0));
    assert_eq!(policy_of(&a), Some(1000));
}

/// A Unix listener run by `nobody` at the launcher's path: what the module sends it.
#[test]
fn a_launcher_socket_served_by_another_user_gets_no_events() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .expect("chmod");
    let socket = dir.path().join("launcher.sock");
    let received = dir.path().join("received");
    // Binds as nobody, accepts connections for a while, writes what they sent to a file.
    let script = format!(
        "import socket,time\n\
         s=socket.socket(socket.AF_UNIX)\ns.bind({socket:?})\ns.listen(8)\n\
         s.settimeout(0.2)\ngot=b''\nend=time.time()+8\n\
         while time.time()<end:\n\
         \x20 try:\n\
         \x20   c,_=s.accept(); c.settimeout(1)\n\
         \x20   try: got+=c.recv(65536)\n\
         \x20   except Exception: pass\n\
         \x20 except Exception: pass\n\
         open({received:?},'wb').write(got)\n",
        socket = socket.display().to_string(),
        received = received.display().to_string(),
    );
    let mut listener = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(["/usr/bin/python3", "-c", &script])
        .stdout(Stdio::null())
        .spawn()
        .expect("run a listener as nobody (setpriv, python3)");
    assert!(
        wait_until(Duration::from_secs(5), || socket.exists()).is_some(),
        "the listener binds"
    );
    let server = Xorg::new()
        .option("Watch", "all")
        .option("Launcher", socket.to_str().unwrap())
        .start();
    let _client = server.connect();
    assert!(
        server.wait_for_log("served by uid 65534", 1, WAIT),
        "a clear (EE) line says why no events go there:\n{}",
        server.log()
    );
    assert!(
        server
            .log_lines("served by uid 65534")
            .iter()
            .all(|l| l.contains("(EE)")),
        "it is an error line"
    );
    listener.wait().expect("the listener ends");
    let got = std::fs::read(&received).expect("what the listener received");
    assert!(
        got.is_empty(),
        "nothing was sent to it: {}",
        String::from_utf8_lossy(&got)
    );
    // The server went on serving.
    server.connect().sync().expect("the server answers");
}

/// The SECURITY extension's untrusted clients (ssh -X without -Y) cannot reach LIFESIGN at
/// all: the extension is hidden from them, so they learn nothing and change nothing.
#[test]
fn an_untrusted_client_cannot_use_lifesign() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server_auth = dir.path().join("server.auth");
    let trusted = dir.path().join("trusted.auth");
    let untrusted = dir.path().join("untrusted.auth");
    let cookie = "00112233445566778899aabbccddeeff";
    let xauth = |file: &std::path::Path, env: Option<&std::path::Path>, args: &[&str]| {
        let mut c = Command::new("xauth");
        c.arg("-f").arg(file).args(args);
        if let Some(e) = env {
            c.env("XAUTHORITY", e);
        }
        let out = c.output().expect("run xauth (Debian package xauth)");
        assert!(out.status.success(), "xauth {args:?}: {out:?}");
    };
    // The server reads every cookie of its -auth file, whatever display it names.
    xauth(&server_auth, None, &["add", ":99", ".", cookie]);
    let server = Xorg::new()
        .option("Watch", "all")
        .option("ListClients", "all")
        .args(&["-auth", server_auth.to_str().unwrap()])
        .start();
    let display = server.display();
    let number = server.display_number();
    let watched = connect_with_cookie(number, cookie);
    assert!(
        lifesign::major_opcode(&watched).is_some(),
        "trusted clients see LIFESIGN"
    );
    xauth(&trusted, None, &["add", &display, ".", cookie]);
    xauth(
        &untrusted,
        Some(&trusted),
        &["generate", &display, ".", "untrusted", "timeout", "0"],
    );
    let listed = Command::new("xauth")
        .arg("-f")
        .arg(&untrusted)
        .arg("list")
        .output()
        .expect("xauth list");
    let untrusted_cookie = String::from_utf8_lossy(&listed.stdout)
        .split_whitespace()
        .last()
        .expect("the generated cookie")
        .to_owned();
    assert_ne!(untrusted_cookie, cookie);
    let outsider = connect_with_cookie(number, &untrusted_cookie);
    assert!(
        outsider
            .extension_information(lifesign_proto::ext::EXTENSION_NAME)
            .expect("QueryExtension")
            .is_none(),
        "the SECURITY extension hides LIFESIGN from an untrusted client"
    );
    assert!(
        !lifesign::list_clients(&watched).is_empty(),
        "the trusted client is watched and listed"
    );
}

/// An X connection over the display's Unix socket with this MIT-MAGIC-COOKIE-1 (hex).
fn connect_with_cookie(display: u32, hex: &str) -> RustConnection {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("a hex cookie"))
        .collect();
    let stream = std::os::unix::net::UnixStream::connect(format!("/tmp/.X11-unix/X{display}"))
        .expect("the display's socket");
    let (stream, _) =
        x11rb::rust_connection::DefaultStream::from_unix_stream(stream).expect("a stream");
    RustConnection::connect_to_stream_with_auth_info(
        stream,
        0,
        b"MIT-MAGIC-COOKIE-1".to_vec(),
        bytes,
    )
    .expect("connect with the cookie")
}
