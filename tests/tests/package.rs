//! The Debian packages, one per X.Org series (scripts/package.sh, decision 63): each installs
//! with apt in the releases of its series, where Xorg loads the installed module from its
//! default module path, and is refused by the others for their xserver-xorg-core.
//!
//! On this machine (Debian 12) the 21.1 package is installed for real and removed at the end.
//! Debian 11 and 13 install into throwaway copies of their chroots (overlays over the cache,
//! [`Overlay`]), where a refused package is then forced in with dpkg, to show the module's own
//! check (decision 62) refusing that server too.

use lifesign_tests::overlay::Overlay;
use lifesign_tests::release::{BOOKWORM, BULLSEYE, TRIXIE};
use lifesign_tests::{Release, Xorg, lifesign};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MODULE: &str = "/usr/lib/xorg/modules/extensions/liblifesign.so";

/// Removes the package from this machine at the end, installed or not.
struct Installed;

impl Installed {
    fn remove() {
        let _ = Command::new("apt-get")
            .args(["remove", "-y", "-q", "lifesign"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output();
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        Self::remove();
    }
}

fn run(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {out:?}");
    out
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A package, freshly built (debug builds), copied to a directory under /tmp, which every
/// release's chroot shares.
struct Package {
    path: PathBuf,
    version: String,
    _dir: tempfile::TempDir,
}

/// The packages of these series, from one run of scripts/package.sh.
fn packages<const N: usize>(series: [&str; N]) -> [Package; N] {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = root.join("scripts/package.sh");
    let built = run("bash", &[script.to_str().unwrap(), "--debug"]);
    let listed = String::from_utf8_lossy(&built.stdout).into_owned();
    series.map(|series| {
        let suffix = format!("+xorg{series}_");
        let built: Vec<&str> = listed.lines().filter(|l| l.contains(&suffix)).collect();
        assert_eq!(built.len(), 1, "one package for X.Org {series}: {listed}");
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(Path::new(built[0]).file_name().unwrap());
        std::fs::copy(root.join(built[0]), &path).expect("copy the package");
        let version = run("dpkg-deb", &["--field", path.to_str().unwrap(), "Version"]);
        let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
        assert!(version.ends_with(&format!("+xorg{series}")), "{version}");
        Package {
            path,
            version,
            _dir: dir,
        }
    })
}

/// `program` of `release` (this machine's, or in its chroot) as the operator runs it.
fn command(release: Release, program: &str) -> Command {
    let mut c = release.command(program, None, None);
    c.env("DEBIAN_FRONTEND", "noninteractive")
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    c
}

/// `apt-get install` of the package file. (Not `--no-download`: apt then takes the file's path
/// for a relative one and fails, 2.2 to 3.0; the installs below show that nothing else came.)
fn apt_install(release: Release, package: &Package) -> Output {
    command(release, "apt-get")
        .args(["install", "-y", "-q"])
        .arg(&package.path)
        .output()
        .expect("apt-get")
}

/// dpkg's state of the package in `release` ("ii" installed, "iU" unpacked only), or None if
/// dpkg knows nothing of it.
fn dpkg_state(release: Release, package: &str) -> Option<String> {
    let out = command(release, "dpkg-query")
        .args(["-W", "-f=${db:Status-Abbrev}|${Version}", package])
        .output()
        .expect("dpkg-query");
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success() && !listed.starts_with("un"))
        .then(|| listed.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The upstream release of a Debian version: 2:1.20.11-1+deb11u18 is 1.20.11.
fn upstream(version: &str) -> &str {
    let without_epoch = version.split_once(':').map_or(version, |(_, v)| v);
    without_epoch
        .rsplit_once('-')
        .map_or(without_epoch, |(v, _)| v)
}

fn server_release(release: Release) -> String {
    let core = release
        .package_version("xserver-xorg-core")
        .unwrap_or_else(|| panic!("{} has no xserver-xorg-core", release.label()));
    upstream(&core).to_owned()
}

/// A file of `release`'s filesystem, by its path there.
fn in_release(release: Release, path: &str) -> PathBuf {
    match release.root() {
        Some(root) => root.join(path.trim_start_matches('/')),
        None => PathBuf::from(path),
    }
}

/// apt refuses the package for the release's xserver-xorg-core, and installs nothing.
fn assert_refused(release: Release, package: &Package) {
    let out = apt_install(release, package);
    let said = text(&out);
    assert!(!out.status.success(), "{}: {said}", release.label());
    let core = release.package_version("xserver-xorg-core").unwrap();
    assert!(
        said.contains("lifesign : Depends: xserver-xorg-core")
            && said.contains(&format!("but {core} is to be installed")),
        "{} refuses the package for its xserver-xorg-core {core}: {said}",
        release.label()
    );
    assert_eq!(dpkg_state(release, "lifesign"), None, "{said}");
    assert!(!in_release(release, MODULE).exists());
}

/// apt installs the package, and the release's Xorg loads the installed module from its
/// default module path.
fn assert_installs_and_xorg_loads_it(release: Release, package: &Package) {
    let out = apt_install(release, package);
    let said = text(&out);
    assert!(out.status.success(), "{}: {said}", release.label());
    // Every dependency is there already, on every release of the series.
    assert!(
        said.contains("0 upgraded, 1 newly installed, 0 to remove"),
        "{said}"
    );
    assert_eq!(
        dpkg_state(release, "lifesign"),
        Some(format!("ii |{}", package.version))
    );
    // The programs of the package run on the release's C library.
    let check = command(release, "lifesign-launcher")
        .args([
            "--check",
            "--config",
            "/usr/share/doc/lifesign/examples/launcher.toml",
        ])
        .output()
        .expect("lifesign-launcher");
    assert!(check.status.success(), "{}", text(&check));

    let server = Xorg::new()
        .release(release)
        .installed()
        .option("Watch", "all")
        .start();
    let log = server.log();
    assert!(log.contains(MODULE), "loaded from the default path:\n{log}");
    let found = format!("(II) lifesign: in X.Org {}", server_release(release));
    assert!(log.contains(&found), "{found}:\n{log}");
    let conn = server.connect();
    assert!(lifesign::major_opcode(&conn).is_some(), "LIFESIGN is there");
}

#[test]
fn this_machine_refuses_the_1_20_package_and_installs_the_21_1_one_which_xorg_loads_from_its_default_path()
 {
    let [old, current] = packages(["1.20", "21.1"]);
    // One left by an earlier run would make the refusal untestable.
    Installed::remove();
    let _installed = Installed;
    assert_refused(BOOKWORM, &old);
    assert_installs_and_xorg_loads_it(BOOKWORM, &current);

    for file in [
        MODULE,
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
}

#[test]
fn debian_11_installs_the_1_20_package_and_its_xorg_loads_it() {
    let [package] = packages(["1.20"]);
    let copy = Overlay::new(BULLSEYE);
    assert_installs_and_xorg_loads_it(copy.release(), &package);
}

#[test]
fn debian_13_installs_the_21_1_package_and_its_xorg_loads_it() {
    let [package] = packages(["21.1"]);
    let copy = Overlay::new(TRIXIE);
    assert_installs_and_xorg_loads_it(copy.release(), &package);
}

/// apt refuses the package of the other series; dpkg alone unpacks it but will not configure
/// it; and the module so forced in refuses the server, which runs without LIFESIGN.
fn refuses_the_other_series(release: Release, series: &str) {
    assert_ne!(release.series, series);
    let [package] = packages([series]);
    let copy = Overlay::new(release);
    let release = copy.release();
    assert_refused(release, &package);

    let out = command(release, "dpkg")
        .arg("-i")
        .arg(&package.path)
        .output()
        .expect("dpkg");
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    let core = release.package_version("xserver-xorg-core").unwrap();
    assert!(
        said.contains("dependency problems prevent configuration of lifesign")
            && said.contains(&format!("Version of xserver-xorg-core on system is {core}")),
        "{said}"
    );
    assert_eq!(
        dpkg_state(release, "lifesign"),
        Some(format!("iU |{}", package.version)),
        "unpacked, not configured"
    );
    assert!(copy.root().join(MODULE.trim_start_matches('/')).exists());

    let server = Xorg::new()
        .release(release)
        .installed()
        .option("Watch", "all")
        .start();
    let log = server.log();
    let refusal = format!(
        "(EE) lifesign: this server is X.Org {}",
        server_release(release)
    );
    assert!(
        log.contains(&refusal)
            && log.contains(&format!("this build of lifesign is for X.Org {series}")),
        "{refusal}:\n{log}"
    );
    let conn = server.connect();
    assert!(lifesign::major_opcode(&conn).is_none(), "no LIFESIGN");
}

#[test]
fn debian_11_refuses_the_21_1_package_and_its_xorg_the_module_forced_in() {
    refuses_the_other_series(BULLSEYE, "21.1");
}

#[test]
fn debian_13_refuses_the_1_20_package_and_its_xorg_the_module_forced_in() {
    refuses_the_other_series(TRIXIE, "1.20");
}
