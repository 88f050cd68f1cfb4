//! Output waiting for the launcher, and its bound.
//!
//! A launcher that does not read may keep [`OUTPUT_BOUND`] bytes waiting beyond the opening
//! burst of a connection (`hello`, the replay of what is watched, the kept events), past
//! which the connection is dropped (its events stay in the outbox). The burst itself does not
//! count: 4096 long kept events would otherwise drop every connection before the launcher
//! could catch up. What of the burst is written stops being exempt, byte for byte.

/// Output waiting for a launcher that does not read, at most, beyond the opening burst.
pub const OUTPUT_BOUND: usize = 1 << 20;

#[derive(Clone, Debug, Default)]
pub struct Output {
    bytes: Vec<u8>,
    /// Bytes of the opening burst not yet written.
    opening: usize,
}

impl Output {
    /// Queues one line and its newline.
    pub fn queue(&mut self, line: &str) {
        self.bytes.extend_from_slice(line.as_bytes());
        self.bytes.push(b'\n');
    }

    /// All that is queued now is the opening burst.
    pub fn opening_queued(&mut self) {
        self.opening = self.bytes.len();
    }

    /// What waits to be written, oldest first.
    pub fn unwritten(&self) -> &[u8] {
        &self.bytes
    }

    /// `n` bytes of [`unwritten`](Self::unwritten) were written: the burst's first.
    pub fn wrote(&mut self, n: usize) {
        let n = n.min(self.bytes.len());
        self.bytes.drain(..n);
        self.opening = self.opening.saturating_sub(n);
    }

    /// Bytes of the opening burst not yet written.
    pub fn opening(&self) -> usize {
        self.opening
    }

    /// More waits than the bound allows beyond what is left of the opening burst.
    pub fn over_bound(&self) -> bool {
        self.bytes.len() > OUTPUT_BOUND + self.opening
    }

    /// Forgets everything (the connection ended).
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.opening = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line that takes `len` bytes with its newline.
    fn line(len: usize) -> String {
        "x".repeat(len - 1)
    }

    #[test]
    fn lines_are_queued_with_their_newlines_and_written_in_parts() {
        let mut out = Output::default();
        out.queue("one");
        out.queue("two");
        assert_eq!(out.unwritten(), b"one\ntwo\n");
        out.wrote(2);
        assert_eq!(out.unwritten(), b"e\ntwo\n");
        out.wrote(6);
        assert!(out.unwritten().is_empty());
        out.wrote(1);
        assert!(
            out.unwritten().is_empty(),
            "more than was queued writes nothing more"
        );
    }

    #[test]
    fn the_bound_is_reached_one_byte_past_1_mib() {
        let mut out = Output::default();
        out.queue(&line(OUTPUT_BOUND));
        assert!(!out.over_bound(), "exactly the bound waits");
        out.queue("");
        assert!(out.over_bound());
        out.wrote(1);
        assert!(!out.over_bound());
    }

    #[test]
    fn the_opening_burst_does_not_count_against_the_bound() {
        let mut out = Output::default();
        out.queue(&line(3 * OUTPUT_BOUND));
        out.opening_queued();
        assert_eq!(out.opening(), 3 * OUTPUT_BOUND);
        assert!(!out.over_bound());
        // A whole bound's worth more after the burst still waits; a byte more does not.
        out.queue(&line(OUTPUT_BOUND));
        assert!(!out.over_bound());
        out.queue("");
        assert!(out.over_bound());
    }

    #[test]
    fn the_opening_burst_shrinks_as_it_is_written() {
        let mut out = Output::default();
        out.queue(&line(1000));
        out.opening_queued();
        out.queue(&line(OUTPUT_BOUND));
        assert!(!out.over_bound());
        // What of the burst is written is no longer exempt: the next byte queued is over.
        out.wrote(400);
        assert_eq!(out.opening(), 600);
        out.queue("");
        assert!(out.over_bound());
        // Writing past the burst leaves none of it, never less than none.
        out.wrote(700);
        assert_eq!(out.opening(), 0);
        assert!(!out.over_bound());
        out.wrote(usize::MAX);
        assert_eq!(out.opening(), 0);
    }

    #[test]
    fn a_later_opening_replaces_the_earlier() {
        let mut out = Output::default();
        out.queue(&line(10));
        out.opening_queued();
        out.queue(&line(5));
        out.opening_queued();
        assert_eq!(out.opening(), 15);
    }

    #[test]
    fn clearing_forgets_the_bytes_and_the_burst() {
        let mut out = Output::default();
        out.queue(&line(100));
        out.opening_queued();
        out.clear();
        assert!(out.unwritten().is_empty());
        assert_eq!(out.opening(), 0);
    }
}
