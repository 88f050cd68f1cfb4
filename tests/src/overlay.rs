//! A release's chroot that a test may change (install a package in, break), thrown away at
//! the end: an overlay filesystem over the cached chroot (`scripts/releases.sh`), whose
//! changes go to a directory of the test's own. The cache is never written, so tests run side
//! by side and the next run finds it as it was made.
//!
//! The overlay is mounted in this machine's mount namespace, where [`Release::command`]'s
//! private namespaces copy it from; it is unmounted when the [`Overlay`] is dropped. Drop the
//! servers started from it first (declare them after it).

use crate::release::Release;
use std::path::Path;
use std::process::Command;
use tempfile::TempDir;

pub struct Overlay {
    release: Release,
    /// Where the copy is mounted: `'static` (leaked, a few bytes a test) for
    /// [`Release::with_root`].
    root: &'static Path,
    /// upper/, work/ and root/: removed after the unmount.
    _dir: TempDir,
}

impl Overlay {
    /// A writable copy of `release`'s cached chroot.
    pub fn new(release: Release) -> Self {
        let lower = release
            .root()
            .unwrap_or_else(|| panic!("{} is this machine: it has no chroot", release.label()));
        // Not under /tmp: every chroot command binds /tmp into the root, which would then be
        // inside itself.
        let dir = tempfile::Builder::new()
            .prefix("lifesign-overlay-")
            .tempdir_in("/var/tmp")
            .expect("overlay dir");
        let (upper, work, root) = (
            dir.path().join("upper"),
            dir.path().join("work"),
            dir.path().join("root"),
        );
        for d in [&upper, &work, &root] {
            std::fs::create_dir(d).expect("overlay dir");
        }
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.display(),
            upper.display(),
            work.display()
        );
        let out = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &options])
            .arg(&root)
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "mount an overlay over {}: {}",
            lower.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            release,
            root: Box::leak(root.into_boxed_path()),
            _dir: dir,
        }
    }

    /// The release, in this copy.
    pub fn release(&self) -> Release {
        self.release.with_root(self.root)
    }

    /// The copy's root directory.
    pub fn root(&self) -> &Path {
        self.root
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let umount = |lazy: bool| {
            let mut c = Command::new("umount");
            if lazy {
                c.arg("--lazy");
            }
            c.arg(self.root).status().is_ok_and(|s| s.success())
        };
        // Busy if a process started in it still runs: detached then, gone with its last user.
        if !umount(false) && !umount(true) {
            eprintln!("could not unmount {}", self.root.display());
        }
    }
}
