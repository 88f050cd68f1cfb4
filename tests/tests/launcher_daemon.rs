//! The real `lifesign-launcher` binary on its socket, without an X server: configuration
//! errors, the socket's mode and peer check, protocol breaches, systemd notification.
//! (With a real Xorg and real clients: failover.rs.)

use lifesign_tests::Launcher;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn bin() -> std::path::PathBuf {
    lifesign_tests::launcher::binary()
}

/// `lifesign-launcher --check --config <config>`.
fn check(config: &Path) -> std::process::Output {
    Command::new(bin())
        .args(["--check", "--config"])
        .arg(config)
        .output()
        .unwrap()
}

fn connect(launcher: &Launcher) -> UnixStream {
    let s = UnixStream::connect(launcher.socket()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn wait_for_log(launcher: &Launcher, needle: &str) -> bool {
    launcher.wait_for_log(needle, 1, Duration::from_secs(5))
}

/// `connect` done by a thread that runs as `uid` (credentials are per thread in Linux;
/// the raw syscall changes only the calling thread's).
fn connect_as(uid: u32, path: &Path) -> std::io::Result<UnixStream> {
    let path = path.to_owned();
    std::thread::spawn(move || {
        rustix::thread::set_thread_uid(rustix::process::Uid::from_raw(uid))?;
        UnixStream::connect(path)
    })
    .join()
    .unwrap()
}

fn ended_by_peer(mut s: UnixStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(0) | Err(_))
}

const HELLO: &str =
    r#"{"v":1,"seq":1,"at_ms":1,"type":"hello","server":{"display":":9","pid":1,"started_ms":5}}"#;

/// The end of the (here empty) replay that follows [`HELLO`]: the launcher has the server's
/// whole view.
const REPLAYED: &str = r#"{"v":1,"seq":2,"at_ms":1,"type":"replayed","count":0}"#;

/// A service `view` of class `view` whose candidates are `sleep`s, told apart by their
/// argument (30 for the primary, 31 for the backup).
const VIEW: &str = "[[service]]\nname = \"view\"\nmatch = { wm_class = \"view\" }\n\
                    start = [[\"sleep\", \"30\"], [\"sleep\", \"31\"]]\nstart_primary = true\n";

#[test]
fn check_accepts_a_good_config_and_names_file_line_and_key_of_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[[service]]\nname = \"view\"\nmatch = { wm_class = \"xclock\" }\nstart = [[\"xclock\"]]\n",
    )
    .unwrap();
    let out = check(&good);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("view"));

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[service]]\nname = \"view\"\nmatch = { wm_class = \"xclock\" }\nstart = [[\"xclock\"]]\nmax_failovers = -1\n",
    )
    .unwrap();
    for args in [&["--check"][..], &[]] {
        let out = Command::new(bin())
            .args(args)
            .arg("--config")
            .arg(&bad)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {out:?}");
        assert!(err.contains(&format!("{}: line 5", bad.display())), "{err}");
        assert!(err.contains("key `max_failovers`"), "{err}");
    }
}

#[test]
fn the_socket_is_0600_and_other_uids_cannot_connect() {
    let launcher = Launcher::new("").start();
    let mode = std::fs::metadata(launcher.socket())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let e = connect_as(65534, launcher.socket()).expect_err("0600 keeps uid 65534 out");
    assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
}

#[test]
fn a_peer_whose_uid_is_not_allowed_is_refused_by_its_credentials() {
    let launcher = Launcher::new("socket_mode = \"0666\"\nallow_uids = [0]").start();
    let stranger = connect_as(65534, launcher.socket()).expect("0666 lets it connect");
    assert!(ended_by_peer(stranger));
    assert!(wait_for_log(&launcher, "uid=65534"), "{}", launcher.log());
    assert!(
        launcher.log().contains("refused a peer"),
        "{}",
        launcher.log()
    );
    // An allowed one is served.
    let mut ok = connect(&launcher);
    writeln!(ok, "{HELLO}").unwrap();
    assert!(wait_for_log(&launcher, "server said hello"));
}

#[test]
fn malformed_lines_close_their_connection_with_a_reason_and_nothing_else() {
    let launcher = Launcher::new("").start();
    // A server that behaves, connected all along.
    let good = connect(&launcher);
    let mut good_w = good.try_clone().unwrap();
    writeln!(good_w, "{HELLO}\n{REPLAYED}").unwrap();

    let lost = r#"{"v":1,"seq":3,"at_ms":1,"type":"lost","reason":"reset","silent_ms":1,"client":{"id":"0x00200000","index":1,"transport":"local","peer":null,"pid":null,"command":null,"service":null,"wm_class":null}}"#;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![b'x'; 70 * 1024], "line longer than"),
        (b"{not json\n".to_vec(), "invalid JSON"),
        (
            format!("{}\n", HELLO.replace(r#""v":1"#, r#""v":2"#)).into_bytes(),
            "version 2",
        ),
        (
            format!(
                "{}\n",
                HELLO.replace(r#""type":"hello""#, r#""type":"bye""#)
            )
            .into_bytes(),
            "unknown type",
        ),
        (format!("{lost}\n").into_bytes(), "not hello"),
        (b"\xff\xfe\n".to_vec(), "not UTF-8"),
    ];
    for (bytes, reason) in cases {
        let mut s = connect(&launcher);
        let _ = s.write_all(&bytes);
        assert!(ended_by_peer(s), "{reason}: the connection is closed");
        assert!(
            wait_for_log(&launcher, reason),
            "{reason}: {}",
            launcher.log()
        );
    }
    // Nothing of them was acted on, and the good connection is still served.
    assert!(!launcher.log().contains("event lost"), "{}", launcher.log());
    writeln!(good_w, "{lost}").unwrap();
    let mut reader = BufReader::new(good);
    let mut ack = String::new();
    reader.read_line(&mut ack).unwrap();
    assert_eq!(ack.trim(), r#"{"v":1,"type":"ack","seq":3}"#);
}

#[test]
fn it_tells_systemd_it_is_ready_and_pings_the_watchdog() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _launcher = Launcher::new("")
        .env("NOTIFY_SOCKET", path.to_str().unwrap())
        .env("WATCHDOG_USEC", "400000")
        .start();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    let start = Instant::now();
    while seen
        .iter()
        .filter(|m: &&String| m.contains("WATCHDOG=1"))
        .count()
        < 3
    {
        let n = notify.recv(&mut buf).expect("a notification");
        seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(seen[0].contains("READY=1"), "{seen:?}");
    // Three pings at half of 400 ms take about 400 ms, not seconds.
    assert!(start.elapsed() < Duration::from_secs(5), "{seen:?}");
}

#[test]
fn the_shipped_example_config_is_valid() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../launcher/launcher.example.toml");
    let out = check(&example);
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn the_shipped_systemd_units_verify() {
    // The unit, and the template for several displays as one of its instances.
    for (file, as_name) in [
        ("lifesign-launcher.service", "lifesign-launcher.service"),
        (
            "lifesign-launcher@.service",
            "lifesign-launcher@display0.service",
        ),
    ] {
        let unit = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../launcher")
                .join(file),
        )
        .unwrap();
        for needle in [
            "Type=notify",
            "WatchdogSec=",
            "Restart=always",
            "KillMode=process",
        ] {
            assert!(unit.contains(needle), "{file}: {needle}");
        }
        // systemd-analyze checks that ExecStart exists: point it at the built binary.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(as_name);
        std::fs::write(
            &path,
            unit.replace("/usr/bin/lifesign-launcher", bin().to_str().unwrap()),
        )
        .unwrap();
        let out = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&path)
            .output()
            .expect("systemd-analyze (package systemd)");
        let err = String::from_utf8_lossy(&out.stderr);
        let complaints: Vec<&str> = err.lines().filter(|l| l.contains(as_name)).collect();
        assert!(
            out.status.success() && complaints.is_empty(),
            "{file}: {err}"
        );
    }
}

#[test]
fn connections_are_capped_and_a_freed_place_is_taken_again() {
    let launcher = Launcher::new("").start();
    let mut open: Vec<UnixStream> = (0..16)
        .map(|_| {
            let mut s = connect(&launcher);
            writeln!(s, "{HELLO}").unwrap();
            s
        })
        .collect();
    assert!(launcher.wait_for_log("server said hello", 16, Duration::from_secs(10)));
    let extra = connect(&launcher);
    assert!(ended_by_peer(extra), "the 17th is refused");
    assert!(
        wait_for_log(&launcher, "16 connections are open"),
        "{}",
        launcher.log()
    );
    drop(open.pop());
    assert!(launcher.wait_for_log("server disconnected", 1, Duration::from_secs(5)));
    let mut again = connect(&launcher);
    writeln!(again, "{HELLO}").unwrap();
    assert!(launcher.wait_for_log("server said hello", 17, Duration::from_secs(5)));
}

#[test]
fn a_service_with_a_user_starts_its_candidates_as_that_user() {
    let launcher = Launcher::new(
        "[[service]]\nname = \"view\"\nmatch = { wm_class = \"view\" }\n\
         start = [[\"sleep\", \"30\"]]\nstart_primary = true\nuser = \"nobody\"\n",
    )
    .start();
    let mut server = connect(&launcher);
    writeln!(server, "{HELLO}\n{REPLAYED}").unwrap();
    assert!(
        launcher.wait_for_log("started candidate", 1, Duration::from_secs(10)),
        "{}",
        launcher.log()
    );
    let pid = launcher.started_pids()[0];
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.split_whitespace().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert_eq!(field("Uid:"), ["65534"; 4], "{status}");
    assert_eq!(field("Gid:"), ["65534"; 4], "{status}");
    assert!(
        field("Groups:").is_empty(),
        "no supplementary groups: {status}"
    );
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    assert!(environ.split('\0').any(|v| v == "USER=nobody"), "{environ}");
    // A user that is not an account is an error of the file, with its line.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("launcher.toml");
    std::fs::write(
        &config,
        "[[service]]\nname = \"v\"\nmatch = { wm_class = \"v\" }\nstart = [[\"true\"]]\n\
         user = \"no-such-account\"\n",
    )
    .unwrap();
    let out = check(&config);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no-such-account") && err.contains("line 5"),
        "{err}"
    );
}

#[test]
fn the_primary_is_started_when_the_replay_is_whole_and_not_on_half_of_one() {
    let launcher = Launcher::new(VIEW).start();
    // A server's connection that ends in the middle of its replay: however long it took,
    // nothing is started on half a view.
    let mut half = connect(&launcher);
    writeln!(half, "{HELLO}").unwrap();
    assert!(wait_for_log(&launcher, "server said hello"));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        launcher.log_lines("started candidate").is_empty(),
        "{}",
        launcher.log()
    );
    drop(half);
    assert!(
        wait_for_log(&launcher, "ended before its replay was complete"),
        "{}",
        launcher.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(launcher.log_lines("started candidate").is_empty());
    // The next connection's replay is whole: the primary starts.
    let mut whole = connect(&launcher);
    writeln!(whole, "{HELLO}\n{REPLAYED}").unwrap();
    assert!(
        launcher.wait_for_log("started candidate", 1, Duration::from_secs(5)),
        "{}",
        launcher.log()
    );
    assert!(launcher.log_lines("started candidate")[0].contains("candidate=0"));
}

#[test]
fn a_stray_hello_that_ends_before_its_replay_has_the_server_connect_again() {
    let launcher = Launcher::new("").start();
    let server = connect(&launcher);
    writeln!(&server, "{HELLO}\n{REPLAYED}").unwrap();
    assert!(wait_for_log(&launcher, "event replayed"));
    // Another program says hello (as another server start) and goes before its replay.
    let mut stray = connect(&launcher);
    writeln!(
        stray,
        "{}",
        HELLO.replace("\"started_ms\":5", "\"started_ms\":6")
    )
    .unwrap();
    assert!(launcher.wait_for_log("server said hello", 2, Duration::from_secs(5)));
    drop(stray);
    // The server's connection is closed, for its module to connect again and replay.
    let mut buf = [0u8; 64];
    assert_eq!(
        (&server).read(&mut buf).map_err(|e| e.kind()),
        Ok(0),
        "{}",
        launcher.log()
    );
    assert!(
        wait_for_log(&launcher, "its server is to send its whole view again"),
        "{}",
        launcher.log()
    );
}

#[test]
fn a_kept_loss_sent_before_replayed_is_a_failover_not_a_restart_of_the_lost_candidate() {
    // A launcher restarted while its primary was up; the primary was lost meanwhile. The
    // module's opening burst: hello, an empty replay, the loss it kept (numbered before
    // them, stamped before them), `replayed`. Split on its way (a full socket): the launcher
    // reads the first part long before the rest.
    let launcher = Launcher::new(VIEW);
    std::fs::write(
        launcher.state_file(),
        r#"{"services":{"view":{"active":0}},"handled":{"server_started_ms":5,"seqs":[]}}"#,
    )
    .unwrap();
    let launcher = launcher.start();
    let hello = r#"{"v":1,"seq":10,"at_ms":5000,"type":"hello","server":{"display":":9","pid":1,"started_ms":5}}"#;
    let replayed = r#"{"v":1,"seq":11,"at_ms":5000,"type":"replayed","count":0}"#;
    let lost = r#"{"v":1,"seq":3,"at_ms":4000,"type":"lost","reason":"idle-timeout","silent_ms":500,"client":{"id":"0x00200000","index":1,"transport":"local","peer":null,"pid":null,"command":null,"service":null,"wm_class":["view","View"]}}"#;
    let server = connect(&launcher);
    (&server)
        .write_all(format!("{hello}\n{lost}\n").as_bytes())
        .unwrap();
    let mut ack = String::new();
    BufReader::new(&server).read_line(&mut ack).unwrap();
    assert_eq!(ack.trim(), r#"{"v":1,"type":"ack","seq":3}"#);
    std::thread::sleep(Duration::from_millis(300));
    (&server)
        .write_all(format!("{replayed}\n").as_bytes())
        .unwrap();
    assert!(
        wait_for_log(&launcher, "event replayed"),
        "{}",
        launcher.log()
    );
    // Time for a second start to show, if there were one.
    std::thread::sleep(Duration::from_millis(500));
    let started = launcher.log_lines("started candidate");
    assert_eq!(started.len(), 1, "{}", launcher.log());
    assert!(started[0].contains("candidate=1"), "{}", started[0]);
    assert_eq!(
        launcher.log_lines("failing over").len(),
        1,
        "{}",
        launcher.log()
    );
}

/// The lines an overlay of [`overlay_launcher`] wrote: `DISPLAY`, `LIFESIGN_LAUNCHER_STATE`
/// and its pid, one line per start.
fn overlay_starts(file: &Path) -> Vec<(String, String, u32)> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut words = l.split(' ');
            let (display, state, pid) = (words.next()?, words.next()?, words.next()?);
            Some((display.to_owned(), state.to_owned(), pid.parse().ok()?))
        })
        .collect()
}

/// A launcher started with `config` and, as its `[overlay]`, a stand-in for `lifesign
/// overlay` that writes what it got to `file` (see [`overlay_starts`]), then stays.
fn with_overlay_stand_in(file: &Path, config: &str) -> Launcher {
    let script = format!(
        "echo \"$DISPLAY $LIFESIGN_LAUNCHER_STATE $$\" >> {}; exec sleep 100",
        file.display()
    );
    Launcher::new(&format!(
        "{config}[overlay]\ncommand = [\"sh\", \"-c\", {script:?}]\n"
    ))
    .start()
}

fn wait_overlay_starts(file: &Path, count: usize) -> Vec<(String, String, u32)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let starts = overlay_starts(file);
        if starts.len() >= count || Instant::now() > deadline {
            return starts;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_overlay_runs_with_the_display_and_state_is_restarted_and_stops_with_the_launcher() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("overlay.starts");
    let mut launcher = with_overlay_stand_in(&file, "display = \":77\"\n");
    let starts = wait_overlay_starts(&file, 1);
    assert_eq!(
        starts.len(),
        1,
        "started with the launcher:\n{}",
        launcher.log()
    );
    let (display, state, first) = starts[0].clone();
    assert_eq!(display, ":77");
    assert_eq!(Path::new(&state), launcher.state_file());

    // It dies: started again, after a pause, without a server or any event.
    let pid = rustix::process::Pid::from_raw(first as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
    let starts = wait_overlay_starts(&file, 2);
    assert_eq!(starts.len(), 2, "started again:\n{}", launcher.log());
    let second = starts[1].2;
    assert_ne!(second, first);
    assert_eq!(launcher.log_lines("the overlay exited").len(), 1);

    // The launcher stops: so does the overlay, though the candidates would not.
    launcher.signal(rustix::process::Signal::TERM);
    assert!(
        launcher.wait_exit(Duration::from_secs(10)).is_some(),
        "{}",
        launcher.log()
    );
    assert!(
        !Path::new(&format!("/proc/{second}")).exists(),
        "the overlay outlived the launcher:\n{}",
        launcher.log()
    );
    assert_eq!(overlay_starts(&file).len(), 2);
}

/// `pid` runs: its process exists and is no zombie (a process whose parent died is reaped by
/// whoever adopts it, maybe late).
fn runs(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
        !matches!(state.and_then(|s| s.chars().next()), Some('Z' | 'X') | None)
    })
}

#[test]
fn a_launcher_killed_outright_takes_its_overlay_with_it() {
    // SIGKILL: no orderly stop, nothing unwinds. Left running, the overlay would be a second
    // one beside the next launcher's.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("overlay.starts");
    let mut launcher = with_overlay_stand_in(&file, "");
    let starts = wait_overlay_starts(&file, 1);
    assert_eq!(starts.len(), 1, "{}", launcher.log());
    let overlay = starts[0].2;
    assert!(runs(overlay));
    launcher.kill();
    let deadline = Instant::now() + Duration::from_secs(5);
    while runs(overlay) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !runs(overlay),
        "the overlay outlived a killed launcher:\n{}",
        launcher.log()
    );
}

#[test]
fn check_validates_the_overlay() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[overlay]\ncommand = [\"lifesign\", \"overlay\"]\n").unwrap();
    let out = check(&good);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("overlay"));
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "display = \":0\"\n\n[overlay]\ncommand = []\n").unwrap();
    let out = check(&bad);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        err.contains("line 4") && err.contains("key `command`"),
        "{err}"
    );
}
