//! The launcher's log: lines on stderr (the journal under systemd, or a file). A log that
//! cannot be written (its disk full, a closed pipe) must not stop the launcher, since the
//! failover matters more than the line about it: the line is dropped. (tracing-subscriber's
//! own fallback for a failed write is an `eprintln!` to the same stderr, and `eprintln!`
//! panics when that write fails too: a launcher logging to a full disk died at its first
//! line.)

use std::io::{self, Write};

/// A writer that drops what its inner writer cannot take.
pub struct Lossy<W>(pub W);

impl<W: Write> Write for Lossy<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.0.write(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(_) => Ok(buf.len()),
            written => written,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = self.0.flush();
        Ok(())
    }
}

/// Logs to stderr from now on: decisions in detail with `verbose`.
pub fn init(verbose: bool) {
    tracing_subscriber::fmt()
        .with_writer(|| Lossy(io::stderr()))
        .with_ansi(false)
        .with_target(false)
        .with_max_level(if verbose {
            tracing::Level::DEBUG
        } else {
            tracing::Level::INFO
        })
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A disk with no room left.
    struct Full;

    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(28)) // ENOSPC
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::from_raw_os_error(28))
        }
    }

    #[test]
    fn a_line_that_does_not_fit_is_dropped_not_an_error() {
        let mut log = Lossy(Full);
        assert!(log.write_all(b"INFO started candidate\n").is_ok());
        assert!(log.flush().is_ok());
    }

    #[test]
    fn what_fits_is_written() {
        let mut log = Lossy(Vec::new());
        log.write_all(b"a line\n").unwrap();
        assert_eq!(log.0, b"a line\n");
    }

    #[test]
    fn logging_to_a_full_disk_goes_on() {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| Lossy(Full))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!("cannot save the state");
            tracing::info!("started candidate");
        });
    }
}
