//! The Debian releases whose X servers the tests run: this machine's (Debian 12), and the
//! chroots of the others (`scripts/releases.sh`), each with the module built for its X.Org
//! series (`scripts/series.sh`). The test command makes both before the tests run.
//!
//! A server of another release runs in its chroot in a mount namespace of its own, with this
//! machine's /proc, /dev, /sys and /tmp: its Unix socket and lock file are in the same /tmp
//! as everyone's (display numbers stay unique, clients of this machine connect as usual), and
//! the test's temporary files (config, module copy, launcher socket) are where the test put
//! them. The namespace ends with the server, so nothing stays mounted.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A Debian release and the X.Org series its servers are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Release {
    /// "Debian 11".
    pub name: &'static str,
    pub codename: &'static str,
    /// The X.Org series of its servers, and of the module build they need.
    pub series: &'static str,
    /// Another root for the release's chroot than the cached one ([`Release::with_root`]).
    root: Option<&'static Path>,
}

pub const BULLSEYE: Release = Release {
    name: "Debian 11",
    codename: "bullseye",
    series: "1.20",
    root: None,
};
pub const BOOKWORM: Release = Release {
    name: "Debian 12",
    codename: "bookworm",
    series: "21.1",
    root: None,
};
pub const TRIXIE: Release = Release {
    name: "Debian 13",
    codename: "trixie",
    series: "21.1",
    root: None,
};

impl Default for Release {
    fn default() -> Self {
        BOOKWORM
    }
}

/// Mounts what a server needs into its chroot, then runs it there; `LIFESIGN_CHROOT_PRELOAD`
/// becomes `LD_PRELOAD` for the server alone (this machine's unshare and chroot must not load
/// a module built for another release).
const IN_CHROOT: &str = r#"
root=$1; shift
mount -t proc proc "$root/proc" && mount --rbind /dev "$root/dev" &&
    mount --rbind /sys "$root/sys" && mount --rbind /tmp "$root/tmp" || exit 1
if [ -n "${LIFESIGN_CHROOT_PRELOAD:-}" ]; then
    exec chroot "$root" /usr/bin/env LD_PRELOAD="$LIFESIGN_CHROOT_PRELOAD" "$@"
fi
exec chroot "$root" "$@"
"#;

impl Release {
    /// This machine's own release.
    pub fn is_this_machine(&self) -> bool {
        *self == BOOKWORM
    }

    /// "Debian 11 (bullseye)".
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.codename)
    }

    /// The same release in the chroot at `root` (a copy of its cached one, such as a
    /// [`crate::overlay::Overlay`]), whose servers and packages the tests then run and query.
    /// `'static` keeps a `Release` `Copy`, as the server builders take it.
    pub fn with_root(self, root: &'static Path) -> Self {
        Self {
            root: Some(root),
            ..self
        }
    }

    /// The release's chroot; `None` for this machine's.
    pub fn root(&self) -> Option<PathBuf> {
        if let Some(root) = self.root {
            return Some(root.to_owned());
        }
        if self.is_this_machine() {
            return None;
        }
        let base = std::env::var_os("LIFESIGN_RELEASES").map_or_else(
            || PathBuf::from("/var/cache/lifesign/releases"),
            PathBuf::from,
        );
        let root = base.join(self.codename);
        assert!(
            root.join(".lifesign-release").is_file(),
            "{} has no chroot at {}: run scripts/releases.sh (the test command does)",
            self.label(),
            root.display()
        );
        Some(root)
    }

    /// The module these servers load: this workspace's build for this machine, the series
    /// build (linked against Debian 11's C library) for the others.
    pub fn module(&self) -> PathBuf {
        if self.is_this_machine() {
            crate::server::module_path()
        } else {
            series_module(self.series)
        }
    }

    /// A command running `program` of this release (in `netns`, if given), with `preload`
    /// as its `LD_PRELOAD`. The preloaded file must be where the chroot sees it (under /tmp).
    pub fn command(&self, program: &str, netns: Option<&str>, preload: Option<&Path>) -> Command {
        let Some(root) = self.root() else {
            return match (netns, preload) {
                // `ip` must not load the module: only the server gets LD_PRELOAD.
                (Some(ns), Some(preload)) => {
                    let mut c = Command::new("ip");
                    c.args(["netns", "exec", ns, "/usr/bin/env"])
                        .arg(format!("LD_PRELOAD={}", preload.display()))
                        .arg(program);
                    c
                }
                (Some(ns), None) => {
                    let mut c = Command::new("ip");
                    c.args(["netns", "exec", ns, program])
                        .env_remove("LD_PRELOAD");
                    c
                }
                (None, Some(preload)) => {
                    let mut c = Command::new(program);
                    c.env("LD_PRELOAD", preload);
                    c
                }
                (None, None) => {
                    let mut c = Command::new(program);
                    c.env_remove("LD_PRELOAD");
                    c
                }
            };
        };
        let mut c = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "unshare"]);
                c
            }
            None => Command::new("unshare"),
        };
        c.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(IN_CHROOT)
            .arg("sh")
            .arg(root)
            .arg(program)
            .env_remove("LD_PRELOAD");
        if let Some(preload) = preload {
            assert!(
                preload.starts_with("/tmp"),
                "{} is not under /tmp, which the chroot shares",
                preload.display()
            );
            c.env("LIFESIGN_CHROOT_PRELOAD", preload);
        }
        c
    }

    /// The version of one of the release's packages (`xserver-xorg-core`), from its dpkg.
    pub fn package_version(&self, package: &str) -> Option<String> {
        let mut c = match self.root() {
            Some(root) => {
                let mut c = Command::new("dpkg-query");
                c.arg(format!(
                    "--admindir={}",
                    root.join("var/lib/dpkg").display()
                ));
                c
            }
            None => Command::new("dpkg-query"),
        };
        let out = c.args(["-W", "-f=${Version}", package]).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// The module built for `series` in Debian 11's chroot (`scripts/series.sh`), or
/// `$LIFESIGN_SERIES_DIR/<series>/liblifesign.so`.
pub fn series_module(series: &str) -> PathBuf {
    let path = match std::env::var_os("LIFESIGN_SERIES_DIR") {
        Some(dir) => PathBuf::from(dir).join(series).join("liblifesign.so"),
        None => crate::server::scripts_target_dir()
            .join("series")
            .join(series)
            .join("debug/liblifesign.so"),
    };
    assert!(
        path.is_file(),
        "{} is missing: scripts/series.sh --module-only (the test command does this)",
        path.display()
    );
    path
}
