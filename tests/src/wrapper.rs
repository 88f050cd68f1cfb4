//! The small C server modules some tests preload beside lifesign (`tests/wrapper/`), built by
//! the test that needs one against this machine's server SDK.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds `tests/wrapper/<source>` into `lib<name>.so` in a fresh directory, which lives as
/// long as the returned handle.
pub fn build(source: &str, name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("wrapper")
        .join(source);
    let out = dir.path().join(format!("lib{name}.so"));
    let cflags = Command::new("pkg-config")
        .args(["--cflags", "xorg-server"])
        .output()
        .expect("pkg-config");
    let cflags = String::from_utf8(cflags.stdout).expect("utf-8");
    let status = Command::new("gcc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&out)
        .arg(&source)
        .args(cflags.split_whitespace())
        .status()
        .expect("gcc");
    assert!(status.success(), "cannot build {}", source.display());
    (dir, out)
}
