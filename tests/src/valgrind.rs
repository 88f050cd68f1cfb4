//! valgrind memcheck around Xvfb in preload mode; what its XML report says about the module
//! (an error or leak with a frame in liblifesign.so) and about the server (the rest) is
//! [`Report`]'s.
//!
//! Why the tool binary is started directly: `valgrind` itself is only a launcher, an
//! ordinary dynamically linked program that picks the tool and execs it (on Debian a shell
//! script, `/usr/bin/valgrind`, that execs the launcher `valgrind.bin`). With `LD_PRELOAD`
//! naming liblifesign.so in its environment, the dynamic loader loads the module into the
//! launcher as well, where the server's symbols the module imports do not exist: "symbol
//! lookup error: liblifesign.so: undefined symbol: serverGeneration". `--trace-children=yes`
//! does not help, since valgrind execs its launcher again for a traced child. The tool
//! (`/usr/libexec/valgrind/memcheck-amd64-linux`) is statically linked: no dynamic loader
//! runs for it, so `LD_PRELOAD` passes through it to the program it loads (Xvfb), where
//! valgrind puts its own preloads (vgpreload_core, vgpreload_memcheck) in front of ours. Of
//! what the launcher does, the tool needs two variables: `VALGRIND_LIB`, its directory (its
//! preloads and default suppressions are there), and `VALGRIND_LAUNCHER`, without which it
//! refuses to start ("You cannot run ... directly"; it is what a traced child would be run
//! with); the harness sets both, and `GLIBCXX_FORCE_NEW` as Debian's wrapper does (so that
//! libstdc++ in the server's GL stack does not pool memory memcheck would call leaked).

mod report;
pub mod xml;

pub use report::{Error, Frame, Report};

use crate::server::{Xvfb, target_dir};
use std::path::{Path, PathBuf};

/// The module's file name, as valgrind's frames name their object.
pub const MODULE: &str = "liblifesign.so";

/// Options for every run. Full leak check with every kind shown, so the report can tell
/// ours from the server's and definite from reachable; origins tracked, since an
/// uninitialised byte the server writes to a client may have come from the module (a
/// reply or event it made), and only the origin's stack says so; suppression text with
/// each error, to copy into `tests/valgrind.supp` when it is the server's; children
/// (xkbcomp between Xvfb's fork and exec) silent, or they would write into the same XML file.
const OPTIONS: &[&str] = &[
    "--xml=yes",
    "--track-origins=yes",
    "--leak-check=full",
    "--show-leak-kinds=all",
    "--errors-for-leak-kinds=definite",
    "--num-callers=40",
    "--gen-suppressions=all",
    "--child-silent-after-fork=yes",
];

/// A memcheck run's files: `target/memcheck/<name>.xml` (the report) and `<name>.log`
/// (valgrind's commentary), kept after the test for a person to read.
pub struct Memcheck {
    xml: PathBuf,
    log: PathBuf,
    extra: Vec<String>,
}

impl Memcheck {
    /// More valgrind options can come from `$LIFESIGN_MEMCHECK_ARGS` (split at blanks, after
    /// the harness's own, so they win: e.g. `--num-callers=100`).
    pub fn new(name: &str) -> Self {
        let dir = target_dir().join("memcheck");
        std::fs::create_dir_all(&dir).expect("create target/memcheck");
        let extra = std::env::var("LIFESIGN_MEMCHECK_ARGS")
            .map(|a| a.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        Self {
            xml: dir.join(format!("{name}.xml")),
            log: dir.join(format!("{name}.log")),
            extra,
        }
    }

    pub fn xml_path(&self) -> &Path {
        &self.xml
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// `xvfb` under memcheck, with the server's known errors suppressed
    /// (`tests/valgrind.supp`).
    pub fn wrap(&self, xvfb: Xvfb) -> Xvfb {
        let lib = tool_dir();
        let tool = lib.join(format!("memcheck-{}-linux", valgrind_arch()));
        assert!(
            tool.is_file(),
            "{} is missing: apt-get install valgrind (or set VALGRIND_LIB)",
            tool.display()
        );
        let _ = std::fs::remove_file(&self.xml);
        let supp = Path::new(env!("CARGO_MANIFEST_DIR")).join("valgrind.supp");
        let mut wrapper = vec![tool.display().to_string()];
        wrapper.extend(OPTIONS.iter().map(|s| (*s).to_owned()));
        wrapper.push(format!("--xml-file={}", self.xml.display()));
        wrapper.push(format!("--log-file={}", self.log.display()));
        wrapper.push(format!("--suppressions={}", supp.display()));
        wrapper.extend(self.extra.iter().cloned());
        let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
        let launcher = ["/usr/bin/valgrind.bin", "/usr/bin/valgrind"]
            .into_iter()
            .find(|l| Path::new(l).is_file())
            .unwrap_or("valgrind");
        xvfb.wrapped(&wrapper)
            .env("VALGRIND_LIB", &lib.display().to_string())
            .env("VALGRIND_LAUNCHER", launcher)
            .env("GLIBCXX_FORCE_NEW", "1")
    }

    /// The report, once the server has exited; an error if valgrind did not finish it.
    pub fn report(&self) -> Result<Report, String> {
        let text = std::fs::read_to_string(&self.xml)
            .map_err(|e| format!("{}: {e}", self.xml.display()))?;
        Report::parse(&text).map_err(|e| format!("{}: {e}", self.xml.display()))
    }
}

/// Loss records of the running memcheck process `pid` (the server's pid: the tool runs in
/// it) that grew since the previous call, reachable ones included, and only those whose
/// stack names the module: what the module keeps and lets grow while the server runs, which
/// the leak check at exit cannot see (the module's state is dropped at exit). Asked through
/// valgrind's gdbserver (`vgdb ... leak_check full reachable increased`); the first call
/// sets the baseline. Valgrind answers in text, where a frame with debug information names
/// its function and source file, not its object: a frame is the module's if its object is
/// liblifesign.so or its function is in one of the module's crates (`lifesign*`).
pub fn grown_since_last_check(pid: u32) -> Result<Vec<String>, String> {
    let output = std::process::Command::new("vgdb")
        .arg(format!("--pid={pid}"))
        .args(["leak_check", "full", "reachable", "increased"])
        .output()
        .map_err(|e| format!("cannot run vgdb: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "vgdb failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let prefix = format!("=={pid}==");
    let mut records = Vec::new();
    let mut record = String::new();
    for line in text.lines().filter_map(|l| l.strip_prefix(&prefix)) {
        if line.trim().is_empty() {
            if record.lines().skip(1).any(is_module_frame) {
                records.push(std::mem::take(&mut record));
            }
            record.clear();
        } else if record.is_empty() && !line.contains("in loss record") {
            continue; // the summary, not a record
        } else {
            record.push_str(line);
            record.push('\n');
        }
    }
    Ok(records)
}

/// `   by 0x4891EBC: function (file:line)` or `(in /path/object)`.
fn is_module_frame(line: &str) -> bool {
    let Some((_, frame)) = line.split_once(": ") else {
        return false;
    };
    frame.contains(MODULE) || frame.starts_with("lifesign") || frame.starts_with("<lifesign")
}

/// Where the tools are: `$VALGRIND_LIB`, or Debian's directory.
fn tool_dir() -> PathBuf {
    std::env::var_os("VALGRIND_LIB").map_or_else(|| "/usr/libexec/valgrind".into(), PathBuf::from)
}

/// Valgrind's name for this machine in its tools' file names.
fn valgrind_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "x86",
        other => other,
    }
}
