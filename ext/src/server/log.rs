//! Log lines through the server's own log, with its `(II)`/`(WW)`/`(EE)` markers and the
//! `lifesign:` prefix. The module logs with `tracing`; this is the subscriber's writer.
//!
//! Lines are rate-limited (`lifesign_watchdog::log_budget`): clients cause most of them, and
//! one connecting and leaving in a loop must not fill the log; the first line let through
//! after a drop says how many were dropped.
//!
//! Verbosity: errors at 0 (shown on stderr too), warnings and information at 1 under Xorg
//! (its log file shows them by default) and at 0 in preload mode (Xvfb has no log file and
//! shows only verbosity 0 on stderr), debug at 4 (Xorg's `-logverbose 4`).

use lifesign_sys as sys;
use lifesign_watchdog::log_budget::{self, LogBudget};
use std::ffi::CString;
use std::io;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::{self, ThreadId};
use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

static SERVER_THREAD: OnceLock<ThreadId> = OnceLock::new();
/// One budget for the lines the operator sees, one for debug lines (at verbosity 4, often not
/// shown), so that these never take the others' room.
static BUDGET: Mutex<LogBudget> = Mutex::new(LogBudget::new());
static DEBUG_BUDGET: Mutex<LogBudget> = Mutex::new(LogBudget::new());
static INFO_VERBOSITY: AtomicI32 = AtomicI32::new(1);

/// Where the server shows what we log.
#[derive(Clone, Copy)]
pub enum Sink {
    /// Xorg: its log file, at its default verbosity 3.
    LogFile,
    /// Xvfb and Xephyr: stderr only, at verbosity 0.
    Stderr,
}

/// Installs the subscriber; the first caller's thread is the server's. Later calls do nothing.
pub fn init(sink: Sink) {
    if SERVER_THREAD.set(thread::current().id()).is_err() {
        return;
    }
    let verbosity = match sink {
        Sink::LogFile => 1,
        Sink::Stderr => 0,
    };
    INFO_VERBOSITY.store(verbosity, Ordering::Relaxed);
    let subscriber = tracing_subscriber::fmt()
        .with_writer(ServerLog)
        .with_max_level(Level::DEBUG)
        .without_time()
        .with_level(false)
        .with_target(false)
        .with_ansi(false)
        .finish();
    // Another subscriber can only exist if the host process set one; keep it then.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// Makes one [`Line`] per event, at the event's level.
struct ServerLog;

impl<'a> MakeWriter<'a> for ServerLog {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line::new(Level::INFO)
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Line {
        Line::new(*meta.level())
    }
}

/// One formatted event, written to the server log when dropped.
struct Line {
    level: Level,
    text: Vec<u8>,
}

impl Line {
    fn new(level: Level) -> Self {
        let mut text = Vec::with_capacity(128);
        text.extend_from_slice(b"lifesign: ");
        Self { level, text }
    }
}

impl io::Write for Line {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if !self.text.ends_with(b"\n") {
            self.text.push(b'\n');
        }
        self.text.retain(|&b| b != 0);
        let info = INFO_VERBOSITY.load(Ordering::Relaxed);
        let debug = matches!(self.level, Level::DEBUG | Level::TRACE);
        let (kind, verb) = match self.level {
            Level::ERROR => (sys::X_ERROR, 0),
            Level::WARN => (sys::X_WARNING, info),
            Level::INFO => (sys::X_INFO, info),
            Level::DEBUG | Level::TRACE => (sys::X_INFO, 4),
        };
        let budget = if debug { &DEBUG_BUDGET } else { &BUDGET };
        // Never waits: a line from another thread while the server's holds the budget passes.
        let admitted = match budget.try_lock() {
            Ok(mut budget) => budget.admit(super::time::now_ms()),
            Err(_) => Some(0),
        };
        let Some(dropped) = admitted else { return };
        if dropped > 0 {
            let note = format!(
                "lifesign: {dropped} log lines were dropped (at most {} a second)\n",
                log_budget::PER_SECOND
            );
            // Said where the dropped lines would have been: among the debug lines for those.
            let (note_kind, note_verb) = if debug {
                (kind, verb)
            } else {
                (sys::X_WARNING, info)
            };
            write(note_kind, note_verb, note.into_bytes());
        }
        write(kind, verb, std::mem::take(&mut self.text));
    }
}

/// Writes one line to the server's log.
fn write(kind: sys::MessageType, verb: i32, text: Vec<u8>) {
    let text = CString::new(text).expect("NULs were removed");
    if Some(&thread::current().id()) == SERVER_THREAD.get() {
        // SAFETY: on the server thread; the format is a literal "%s" and its one argument a
        // NUL-terminated string that outlives the call.
        unsafe { sys::LogMessageVerb(kind, verb, c"%s".as_ptr(), text.as_ptr()) }
    } else {
        // LogMessageVerb is not thread-safe; the signal-safe variant formats on the stack and
        // writes with write(2), which any thread may do.
        // SAFETY: as above; LogMessageVerbSigSafe supports %s.
        unsafe { sys::LogMessageVerbSigSafe(kind, verb, c"%s".as_ptr(), text.as_ptr()) }
    }
}
