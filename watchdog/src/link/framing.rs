//! The launcher's lines: what it sent, cut at each newline, and the bound on a line.
//!
//! A line is the bytes before a `\n`, exactly as sent: a `\r` before the newline stays in the
//! line (JSON takes it as whitespace), and an empty line is a line. A line over
//! [`LINE_BOUND`] bytes, complete or not yet, ends the link: nothing the launcher sends may
//! make the module keep more than that of it.

/// The longest line a launcher may send, bytes, its newline not counted.
pub const LINE_BOUND: usize = 4096;

/// The launcher sent a line over [`LINE_BOUND`] bytes, or more than that without a newline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLong;

/// What was read and not yet cut into lines: at most the start of one line.
#[derive(Clone, Debug, Default)]
pub struct Framing {
    input: Vec<u8>,
}

impl Framing {
    /// Keeps what was read, to be cut by [`lines`](Self::lines).
    pub fn push(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
    }

    /// Hands every complete line to `each` (without its newline), oldest first, and keeps
    /// the incomplete rest. `TooLong` at the first complete line over the bound (the lines
    /// before it were handed over; it and what follows are not), or when the rest is over
    /// the bound; then nothing is kept.
    pub fn lines(&mut self, mut each: impl FnMut(&[u8])) -> Result<(), TooLong> {
        let mut start = 0;
        while let Some(len) = self.input[start..].iter().position(|&b| b == b'\n') {
            let line = &self.input[start..start + len];
            if line.len() > LINE_BOUND {
                self.input.clear();
                return Err(TooLong);
            }
            each(line);
            start += len + 1;
        }
        self.input.drain(..start);
        if self.input.len() > LINE_BOUND {
            self.input.clear();
            return Err(TooLong);
        }
        Ok(())
    }

    /// Bytes kept of a line not yet complete.
    pub fn pending(&self) -> usize {
        self.input.len()
    }

    /// Forgets what was read (the connection ended).
    pub fn clear(&mut self) {
        self.input.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(framing: &mut Framing, bytes: &[u8]) -> Result<Vec<Vec<u8>>, TooLong> {
        framing.push(bytes);
        let mut got = Vec::new();
        framing.lines(|line| got.push(line.to_vec()))?;
        Ok(got)
    }

    fn line_of(len: usize) -> Vec<u8> {
        let mut line = vec![b'x'; len];
        line.push(b'\n');
        line
    }

    #[test]
    fn several_lines_in_one_read_come_out_in_order() {
        let mut framing = Framing::default();
        let got = lines(&mut framing, b"one\ntwo\nthree\n").unwrap();
        assert_eq!(got, [&b"one"[..], b"two", b"three"]);
        assert_eq!(framing.pending(), 0);
    }

    #[test]
    fn a_line_split_across_reads_comes_out_once_complete() {
        let mut framing = Framing::default();
        assert_eq!(lines(&mut framing, b"first\nsec").unwrap(), [b"first"]);
        assert_eq!(framing.pending(), 3);
        assert!(lines(&mut framing, b"o").unwrap().is_empty());
        assert_eq!(lines(&mut framing, b"nd\nthi").unwrap(), [b"second"]);
        assert_eq!(lines(&mut framing, b"rd\n").unwrap(), [b"third"]);
        assert_eq!(framing.pending(), 0);
    }

    #[test]
    fn carriage_returns_and_empty_lines_are_kept_as_sent() {
        let mut framing = Framing::default();
        let got = lines(&mut framing, b"a\r\n\n\r\nb\n").unwrap();
        assert_eq!(got, [&b"a\r"[..], b"", b"\r", b"b"]);
    }

    #[test]
    fn a_line_of_exactly_the_bound_is_taken_and_one_byte_more_is_refused() {
        let mut framing = Framing::default();
        let got = lines(&mut framing, &line_of(LINE_BOUND)).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].len(), LINE_BOUND);

        let mut framing = Framing::default();
        assert_eq!(lines(&mut framing, &line_of(LINE_BOUND + 1)), Err(TooLong));
        assert_eq!(framing.pending(), 0, "nothing is kept");
    }

    #[test]
    fn a_carriage_return_counts_toward_the_bound() {
        let mut framing = Framing::default();
        let mut line = vec![b'x'; LINE_BOUND];
        line.extend(b"\r\n");
        assert_eq!(lines(&mut framing, &line), Err(TooLong));
    }

    #[test]
    fn the_lines_before_an_over_long_one_are_handed_over_and_none_after() {
        let mut framing = Framing::default();
        let mut bytes = b"before\n".to_vec();
        bytes.extend(line_of(LINE_BOUND + 1));
        bytes.extend(b"after\n");
        framing.push(&bytes);
        let mut got = Vec::new();
        assert_eq!(framing.lines(|l| got.push(l.to_vec())), Err(TooLong));
        assert_eq!(got, [b"before"]);
        assert_eq!(framing.pending(), 0);
    }

    #[test]
    fn an_incomplete_line_over_the_bound_is_refused() {
        let mut framing = Framing::default();
        // Exactly the bound and no newline yet: kept, it may still end in time.
        assert!(
            lines(&mut framing, &vec![b'x'; LINE_BOUND])
                .unwrap()
                .is_empty()
        );
        assert_eq!(framing.pending(), LINE_BOUND);
        // One byte more with no newline: refused, though no line is complete.
        assert_eq!(lines(&mut framing, b"x"), Err(TooLong));
        assert_eq!(framing.pending(), 0);
    }

    #[test]
    fn an_incomplete_line_over_the_bound_after_complete_ones_is_refused_after_them() {
        let mut framing = Framing::default();
        let mut bytes = b"ok\n".to_vec();
        bytes.extend(vec![b'x'; LINE_BOUND + 1]);
        framing.push(&bytes);
        let mut got = Vec::new();
        assert_eq!(framing.lines(|l| got.push(l.to_vec())), Err(TooLong));
        assert_eq!(got, [b"ok"]);
    }

    #[test]
    fn an_over_long_line_split_across_reads_is_refused_once_over_the_bound() {
        let mut framing = Framing::default();
        assert!(lines(&mut framing, &vec![b'x'; 3000]).unwrap().is_empty());
        assert_eq!(lines(&mut framing, &vec![b'x'; 1097]), Err(TooLong));
    }

    #[test]
    fn a_line_reaching_the_bound_across_reads_is_taken() {
        let mut framing = Framing::default();
        assert!(lines(&mut framing, &vec![b'x'; 3000]).unwrap().is_empty());
        let mut rest = vec![b'x'; LINE_BOUND - 3000];
        rest.push(b'\n');
        let got = lines(&mut framing, &rest).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].len(), LINE_BOUND);
    }

    #[test]
    fn pushed_bytes_wait_for_the_cut() {
        // The module reads all there is before it cuts: a push alone hands nothing over and
        // refuses nothing.
        let mut framing = Framing::default();
        framing.push(&vec![b'x'; 2 * LINE_BOUND]);
        assert_eq!(framing.pending(), 2 * LINE_BOUND);
        framing.clear();
        assert_eq!(framing.pending(), 0);
        assert_eq!(framing.lines(|_| unreachable!()), Ok(()));
    }
}
