//! The README's main job: the failover demo, run twice (no leftovers in between), and
//! interrupted with Ctrl-C (everything it started is gone).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn demo() -> PathBuf {
    lifesign_tests::server::built_binary("lifesign-demo", "LIFESIGN_DEMO")
}

fn netns() -> String {
    String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned()
}

#[test]
fn the_demo_tells_the_story_with_screenshots_and_runs_again() {
    for run in 0..2 {
        let out_dir = tempfile::tempdir().unwrap();
        let start = Instant::now();
        let out = Command::new(demo())
            .env("LIFESIGN_DEMO_OUT", out_dir.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "run {run}: {out:?}");
        assert!(start.elapsed() < Duration::from_secs(60), "under a minute");
        for line in [
            "host A's cable pulled",
            "lost 0x",
            "(idle-timeout",
            "launcher started xclock on host B",
            "backup window mapped: xclock from host B",
            "(wm-ping-timeout",
            "launcher started zenity on host A",
        ] {
            assert!(text.contains(line), "run {run}: {line:?} in\n{text}");
        }
        for shot in [
            "1-before-cut.png",
            "2-after-loss.png",
            "3-after-failover.png",
        ] {
            let path = out_dir.path().join(shot);
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{shot}: {e}"));
            assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{shot} is a PNG");
            assert!(
                text.contains(&path.display().to_string()),
                "it says where {shot} is"
            );
        }
    }
}

#[test]
fn ctrl_c_stops_the_demo_and_leaves_nothing_behind() {
    let out_dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(demo())
        .env("LIFESIGN_DEMO_OUT", out_dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let tag = format!("ls{}x", child.id());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !netns().contains(&tag) {
        assert!(Instant::now() < deadline, "the demo made its hosts");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2)); // in the middle of it
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "interrupted: {status}");
    assert!(
        !netns().contains(&tag),
        "its namespaces are gone: {}",
        netns()
    );
}
