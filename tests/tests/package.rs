//! The Debian package: built by scripts/package.sh, installed with apt on this machine, the
//! installed module loaded by Xorg from its default module path, the man pages, the unit.
//! The package is removed again at the end.

use lifesign_tests::{Xorg, lifesign};
use std::path::Path;
use std::process::Command;

struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("apt-get")
            .args(["remove", "-y", "-q", "lifesign"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output();
    }
}

fn run(program: &str, args: &[&str]) -> std::process::Output {
    let out = Command::new(program)
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {out:?}");
    out
}

#[test]
fn the_package_installs_and_xorg_loads_the_installed_module_from_its_default_path() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = root.join("scripts/package.sh");
    let built = run("bash", &[script.to_str().unwrap(), "--debug"]);
    let deb = String::from_utf8_lossy(&built.stdout)
        .trim()
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let deb = root.join(deb);
    let _installed = Installed;
    run(
        "apt-get",
        &["install", "-y", "-q", "--reinstall", deb.to_str().unwrap()],
    );

    for file in [
        "/usr/lib/xorg/modules/extensions/liblifesign.so",
        "/usr/bin/lifesign-launcher",
        "/usr/bin/lifesign",
        "/lib/systemd/system/lifesign-launcher.service",
        "/lib/systemd/system/lifesign-launcher@.service",
        "/usr/share/doc/lifesign/examples/launcher.toml",
    ] {
        assert!(Path::new(file).exists(), "{file}");
    }
    // The xorg.conf.d snippet is there, and commented out: it changes nothing by itself.
    let snippet = std::fs::read_to_string("/usr/share/X11/xorg.conf.d/50-lifesign.conf").unwrap();
    assert!(
        snippet
            .lines()
            .all(|l| l.trim().is_empty() || l.starts_with('#')),
        "{snippet}"
    );
    for (section, page, needle) in [
        ("4", "lifesign", "TransportTimeout"),
        ("8", "lifesign-launcher", "allow_uids"),
        ("1", "lifesign", "pulse"),
    ] {
        let out = run("man", &["-P", "cat", section, page]);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(needle),
            "man {section} {page}"
        );
    }
    run(
        "/usr/bin/lifesign-launcher",
        &[
            "--check",
            "--config",
            "/usr/share/doc/lifesign/examples/launcher.toml",
        ],
    );
    let verify = run(
        "systemd-analyze",
        &[
            "verify",
            "--man=no",
            "/lib/systemd/system/lifesign-launcher.service",
        ],
    );
    let complaints = String::from_utf8_lossy(&verify.stderr).into_owned();
    assert!(
        !complaints.contains("lifesign-launcher.service"),
        "{complaints}"
    );

    let server = Xorg::new().installed().option("Watch", "all").start();
    assert!(
        server
            .log()
            .contains("/usr/lib/xorg/modules/extensions/liblifesign.so"),
        "loaded from the default path:\n{}",
        server.log()
    );
    let conn = server.connect();
    assert!(lifesign::major_opcode(&conn).is_some(), "LIFESIGN is there");
}
