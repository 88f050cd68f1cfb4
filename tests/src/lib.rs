//! The harness of lifesign's integration tests: real X servers with the real module.
//!
//! - [`server`]: starts Xorg (dummy driver, module from the build tree), or Xvfb and Xephyr
//!   (preload mode), waits until it answers, kills it on drop and prints its log if the test failed.
//! - [`release`]: the servers of other Debian releases, from their chroots.
//! - [`malformed`]: malformed LIFESIGN requests, and the server still serving.
//! - [`overlay`]: a copy of a release's chroot that a test may change (install packages in).
//! - [`raw`]: a raw X connection for what a real client library will not send (malformed
//!   requests, the other byte order).
//! - [`lifesign`]: the extension's requests over x11rb, through `lifesign-proto`.
//! - [`net`]: test hosts in network namespaces, with cables to pull.
//! - [`launcher`]: the real `lifesign-launcher` binary with a config of the test's.
//! - [`listener`]: a launcher end of the test's own, to see every line the module sends.
//! - [`prober`]: a healthy client's round trips, timed from a thread.
//! - [`usage`]: a server's memory, fds and CPU time, from /proc.
//! - [`valgrind`]: Xvfb under valgrind memcheck, and its report: the module's errors and leaks
//!   apart from the server's.
//! - [`wrapper`]: the small C server modules some tests preload beside lifesign.

#![forbid(unsafe_code)]

pub mod launcher;
pub mod lifesign;
pub mod listener;
pub mod logfile;
pub mod malformed;
pub mod net;
pub mod overlay;
pub mod prober;
pub mod raw;
pub mod release;
pub mod server;
pub mod usage;
pub mod valgrind;
pub mod windows;
pub mod wrapper;

pub use launcher::Launcher;
pub use release::Release;
pub use server::{Server, Xephyr, Xorg, Xtigervnc, Xvfb};

/// What timing assertions allow on top of a deadline: generous on purpose, since the tests
/// must hold on a loaded 2-core machine. The benchmark reports the real figures.
pub const LOAD_MARGIN: std::time::Duration = std::time::Duration::from_millis(600);

/// Now, in Unix milliseconds (the clock of the module's events' `at_ms`).
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
