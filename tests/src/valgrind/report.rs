//! What one memcheck run found, read from valgrind's XML report: each error context and
//! leak loss record with its stacks, whether it is the module's (a frame in liblifesign.so
//! in any of its stacks, the origin's included) or the server's, and a summary of both.

use super::{MODULE, xml};
use std::fmt::Write as _;
use std::path::Path;

#[derive(Debug, Clone, Default)]
pub struct Frame {
    /// The object (executable or library) the frame's code is in.
    pub obj: String,
    pub func: String,
    /// `file:line`, when valgrind has debug information for it.
    pub place: String,
}

/// One error context (or leak loss record) of the report.
#[derive(Debug, Clone, Default)]
pub struct Error {
    /// `InvalidRead`, `UninitCondition`, `SyscallParam`, `Leak_DefinitelyLost`, ...
    pub kind: String,
    pub what: String,
    /// How often valgrind saw it (1 for a leak's loss record).
    pub count: u64,
    /// What valgrind says about the other stacks (where the block was allocated, where
    /// the uninitialised value came from).
    pub notes: Vec<String>,
    /// The error's stack first, then any other (where a block was allocated or freed,
    /// where an uninitialised value came from).
    pub stacks: Vec<Vec<Frame>>,
    /// For leaks.
    pub bytes: u64,
    pub blocks: u64,
    /// What to put in a suppressions file to silence it.
    pub suppression: String,
}

impl Error {
    pub fn is_leak(&self) -> bool {
        self.kind.starts_with("Leak_")
    }

    /// Whether any of its stacks has a frame in the object `file_name` (e.g. [`MODULE`]).
    pub fn touches(&self, file_name: &str) -> bool {
        self.stacks.iter().flatten().any(|f| {
            Path::new(&f.obj)
                .file_name()
                .is_some_and(|n| n == file_name)
        })
    }

    pub fn is_ours(&self) -> bool {
        self.touches(MODULE)
    }

    /// Kind, message, stacks and the suppression, for a person.
    pub fn describe(&self) -> String {
        let mut out = format!("{} (x{}): {}\n", self.kind, self.count, self.what);
        for note in &self.notes {
            let _ = writeln!(out, "  ({note})");
        }
        for (i, stack) in self.stacks.iter().enumerate() {
            if i > 0 {
                out.push_str("  --\n");
            }
            for f in stack {
                let at = if f.place.is_empty() { &f.obj } else { &f.place };
                let _ = writeln!(out, "  {} ({at})", f.func);
            }
        }
        out.push_str(&self.suppression);
        out.push('\n');
        out
    }
}

/// What memcheck found in one run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub errors: Vec<Error>,
    /// Suppressions that matched, with how many errors each hid.
    pub suppressed: Vec<(String, u64)>,
}

impl Report {
    pub fn parse(text: &str) -> Result<Self, String> {
        let root = xml::parse(text)?;
        let finished = root.all("status").last().and_then(|s| s.text_of("state"));
        if finished != Some("FINISHED") {
            return Err(format!("valgrind did not finish (state {finished:?})"));
        }
        let counts: Vec<(String, u64)> = pairs(&root, "errorcounts", "unique");
        let errors = root
            .all("error")
            .map(|e| {
                let unique = e.text_of("unique").unwrap_or_default();
                let count = counts.iter().find(|(u, _)| u == unique).map_or(1, |c| c.1);
                error(e, count)
            })
            .collect();
        Ok(Self {
            errors,
            suppressed: pairs(&root, "suppcounts", "name"),
        })
    }

    /// Everything that is not a leak, ours (`true`) or the server's (`false`).
    pub fn errors(&self, ours: bool) -> impl Iterator<Item = &Error> {
        self.errors
            .iter()
            .filter(move |e| !e.is_leak() && e.is_ours() == ours)
    }

    /// Loss records of `kind` (`Leak_DefinitelyLost`, ...), ours or the server's.
    pub fn leaks<'a>(&'a self, kind: &'a str, ours: bool) -> impl Iterator<Item = &'a Error> {
        self.errors
            .iter()
            .filter(move |e| e.kind == kind && e.is_ours() == ours)
    }

    /// Bytes and blocks of leak `kind`, ours or the server's.
    pub fn leaked(&self, kind: &str, ours: bool) -> (u64, u64) {
        self.leaks(kind, ours)
            .fold((0, 0), |(b, n), e| (b + e.bytes, n + e.blocks))
    }

    /// A few lines: errors and every leak kind, ours against the server's; suppressions.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let errors = |ours| {
            let contexts: Vec<&Error> = self.errors(ours).collect();
            let seen: u64 = contexts.iter().map(|e| e.count).sum();
            format!("{seen} ({} contexts)", contexts.len())
        };
        let _ = writeln!(
            out,
            "memcheck errors:  liblifesign {}, server {}",
            errors(true),
            errors(false)
        );
        for (kind, label) in [
            ("Leak_DefinitelyLost", "definitely lost"),
            ("Leak_IndirectlyLost", "indirectly lost"),
            ("Leak_PossiblyLost", "possibly lost"),
            ("Leak_StillReachable", "still reachable"),
        ] {
            let ((ob, on), (sb, sn)) = (self.leaked(kind, true), self.leaked(kind, false));
            let _ = writeln!(
                out,
                "{label:>16}: liblifesign {ob} bytes in {on} blocks, server {sb} bytes in {sn} blocks"
            );
        }
        let hidden: Vec<String> = self
            .suppressed
            .iter()
            .map(|(name, n)| format!("{name} x{n}"))
            .collect();
        let _ = writeln!(out, "      suppressed: {}", hidden.join(", "));
        out
    }
}

/// `<errorcounts>`/`<suppcounts>`: (key, count) pairs.
fn pairs(root: &xml::Element, list: &str, key: &str) -> Vec<(String, u64)> {
    root.all(list)
        .flat_map(|l| l.all("pair"))
        .map(|p| {
            let count = p.text_of("count").and_then(|c| c.parse().ok());
            (
                p.text_of(key).unwrap_or_default().to_owned(),
                count.unwrap_or(0),
            )
        })
        .collect()
}

fn error(e: &xml::Element, count: u64) -> Error {
    let xwhat = e.child("xwhat");
    let number = |name| {
        xwhat
            .and_then(|x| x.text_of(name))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let what = e
        .text_of("what")
        .or_else(|| xwhat.and_then(|x| x.text_of("text")))
        .unwrap_or_default();
    // The error's own stack, then those of auxwhat (alloc/free) and of the origin.
    let origin = e.child("origin");
    let notes = e.all("auxwhat").chain(origin.and_then(|o| o.child("what")));
    let origin = origin.into_iter().flat_map(|o| o.all("stack"));
    let stacks = e.all("stack").chain(origin).map(|s| {
        s.all("frame")
            .map(|f| Frame {
                obj: f.text_of("obj").unwrap_or_default().to_owned(),
                func: f.text_of("fn").unwrap_or("???").to_owned(),
                place: match (f.text_of("file"), f.text_of("line")) {
                    (Some(file), Some(line)) => format!("{file}:{line}"),
                    _ => String::new(),
                },
            })
            .collect()
    });
    Error {
        kind: e.text_of("kind").unwrap_or_default().to_owned(),
        what: what.to_owned(),
        count,
        notes: notes.map(|n| n.text.trim().to_owned()).collect(),
        stacks: stacks.collect(),
        bytes: number("leakedbytes"),
        blocks: number("leakedblocks"),
        suppression: e
            .child("suppression")
            .and_then(|s| s.text_of("rawtext"))
            .unwrap_or_default()
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(obj: &str, func: &str) -> String {
        format!("<frame><obj>{obj}</obj><fn>{func}</fn></frame>")
    }

    /// An error whose origin alone is in the module is the module's; a leak wholly in the
    /// server is the server's; counts come from errorcounts; an unfinished run is an error.
    #[test]
    fn attributes_by_any_frame_and_counts() {
        let ours = format!(
            "<error><unique>0x1</unique><kind>SyscallParam</kind><what>writev</what>\
             <stack>{}{}</stack><origin><what>created</what><stack>{}</stack></origin></error>",
            frame("/usr/lib/libc.so.6", "writev"),
            frame("/usr/bin/Xvfb", "FlushClient"),
            frame("/x/target/debug/liblifesign.so", "lifesign::reply"),
        );
        let theirs = format!(
            "<error><unique>0x2</unique><kind>Leak_DefinitelyLost</kind>\
             <xwhat><text>8 bytes</text><leakedbytes>8</leakedbytes>\
             <leakedblocks>1</leakedblocks></xwhat><stack>{}</stack></error>",
            frame("/usr/bin/Xvfb", "InitExtensions"),
        );
        let counts = "<errorcounts><pair><count>3</count><unique>0x1</unique></pair></errorcounts>";
        let status = "<status><state>RUNNING</state></status>";
        let done = "<status><state>FINISHED</state></status>";
        let report = Report::parse(&format!(
            "<valgrindoutput>{status}{ours}{theirs}{counts}{done}</valgrindoutput>"
        ))
        .unwrap();
        let mine: Vec<&Error> = report.errors(true).collect();
        assert_eq!((mine.len(), mine[0].count), (1, 3));
        assert_eq!(report.errors(false).count(), 0);
        assert_eq!(report.leaked("Leak_DefinitelyLost", false), (8, 1));
        assert_eq!(report.leaked("Leak_DefinitelyLost", true), (0, 0));
        let unfinished = format!("<valgrindoutput>{status}{ours}</valgrindoutput>");
        assert!(Report::parse(&unfinished).is_err());
    }
}
