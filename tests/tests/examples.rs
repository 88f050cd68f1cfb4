//! The heartbeat examples of `examples/` (C with Xlib and XCB, Python with python-xlib), built
//! and run against Xvfb with the module expecting NoOperation: they keep their client alive,
//! and stop doing so when they are stopped.

use lifesign_proto::event::{Body, LostReason};
use lifesign_tests::net::Proc;
use lifesign_tests::windows::wait_until;
use lifesign_tests::{LOAD_MARGIN, Xvfb, lifesign};
use rustix::process::Signal;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// `source` built with `cc` and `lib` into `dir`.
fn build_c(dir: &Path, source: &str, lib: &str) -> Command {
    let out = dir.join(source.trim_end_matches(".c"));
    let built = Command::new("cc")
        .arg("-Wall")
        .arg("-Werror")
        .arg("-o")
        .arg(&out)
        .arg(examples().join(source))
        .arg(lib)
        .output()
        .expect("run cc (package gcc)");
    assert!(built.status.success(), "{source}: {built:?}");
    Command::new(out)
}

fn keeps_alive_until_stopped(name: &str, mut command: Command) {
    let server = Xvfb::with_options("Watch=all;ExpectNoOperation=1s;Grace=0;Launcher=none").start();
    let conn = server.connect();
    lifesign::unwatch(&conn); // the test's own connection sends no NoOperation
    let example = Proc(
        command
            .arg("200")
            .env("DISPLAY", server.display())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: {e}")),
    );
    let watched = wait_until(Duration::from_secs(15), || {
        lifesign::list_clients(&conn)
            .iter()
            .any(|e| e.client.pid == Some(example.pid()))
    });
    assert!(watched.is_some(), "{name} is watched");
    let lost = || {
        server
            .events()
            .into_iter()
            .filter(|e| {
                matches!(&e.body, Body::Lost { client, reason: LostReason::NoopMissed, .. }
                    if client.pid == Some(example.pid()))
            })
            .count()
    };
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(lost(), 0, "{name} keeps its client alive");
    let stopped = Instant::now();
    example.signal(Signal::STOP);
    let at = wait_until(Duration::from_secs(5), || lost() == 1)
        .unwrap_or_else(|| panic!("{name} stopped is lost"));
    assert!(
        at - stopped <= Duration::from_secs(1) + LOAD_MARGIN,
        "{name}: {:?}",
        at - stopped
    );
    example.signal(Signal::CONT);
}

#[test]
fn the_xlib_example_keeps_its_client_alive_until_stopped() {
    let dir = tempfile::tempdir().unwrap();
    keeps_alive_until_stopped("xlib", build_c(dir.path(), "heartbeat-xlib.c", "-lX11"));
}

#[test]
fn the_xcb_example_keeps_its_client_alive_until_stopped() {
    let dir = tempfile::tempdir().unwrap();
    keeps_alive_until_stopped("xcb", build_c(dir.path(), "heartbeat-xcb.c", "-lxcb"));
}

#[test]
fn the_python_example_keeps_its_client_alive_until_stopped() {
    // Debian's Python, which python3-xlib is installed for (a python3 earlier in PATH, from
    // pyenv say, would not have it).
    let mut python = Command::new("/usr/bin/python3");
    python.arg(examples().join("heartbeat.py"));
    keeps_alive_until_stopped("python", python);
}
