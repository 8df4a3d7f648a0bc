//! Splitting the byte stream into lines.
//!
//! Bytes are buffered until a line end arrives. The search for CR/LF resumes where the
//! previous one stopped (`scan`), so no byte is looked at twice however the stream is
//! chunked. A CR is a line end at once, even as the last buffered byte: if the next
//! chunk starts with LF, that LF is dropped (`after_cr`), so CRLF split across chunks is
//! still one line end and a live stream that uses bare CR is never held back.

/// The UTF-8 byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// What the splitter found next.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Line<'a> {
    /// A complete line, without its line end.
    Complete(&'a [u8]),
    /// The current line grew past the limit; its bytes are being dropped up to its end.
    TooLong,
}

#[derive(Debug)]
pub(super) struct Lines {
    buf: Vec<u8>,
    /// Start of the first unconsumed line in `buf`.
    pos: usize,
    /// `buf[pos..scan]` holds no CR or LF.
    scan: usize,
    /// The last line ended with a CR; an LF right after it belongs to that line end.
    after_cr: bool,
    /// Still at the very start of the stream, where one BOM may be.
    at_start: bool,
    /// Dropping the rest of a line that was too long.
    discarding: bool,
    max_line_len: usize,
}

impl Lines {
    pub(super) fn new(max_line_len: usize) -> Self {
        Lines {
            buf: Vec::new(),
            pos: 0,
            scan: 0,
            after_cr: false,
            at_start: true,
            discarding: false,
            max_line_len,
        }
    }

    /// Buffers `chunk`, first dropping the bytes of lines already returned.
    pub(super) fn extend(&mut self, chunk: &[u8]) {
        if self.pos > 0 {
            // Only the unfinished line (bounded by `max_line_len`) is moved.
            self.buf.drain(..self.pos);
            self.scan -= self.pos;
            self.pos = 0;
        }
        if self.discarding {
            // The bytes before the next line end are dropped anyway: don't keep them.
            if let Some(at) = memchr::memchr2(b'\r', b'\n', chunk) {
                self.buf.extend_from_slice(&chunk[at..]);
                self.scan = 0;
            }
        } else {
            self.buf.extend_from_slice(chunk);
        }
    }

    /// Forgets the stream so far: the unfinished line is dropped and a new stream, which
    /// may start with a BOM of its own, begins.
    pub(super) fn reset(&mut self) {
        self.buf.clear();
        self.pos = 0;
        self.scan = 0;
        self.after_cr = false;
        self.at_start = true;
        self.discarding = false;
    }

    /// The next line, or `None` when no complete line is buffered.
    pub(super) fn next_line(&mut self) -> Option<Line<'_>> {
        loop {
            if self.after_cr {
                // "a single U+000D CARRIAGE RETURN (CR) character not followed by a
                // U+000A LINE FEED (LF) character" ends a line; CRLF is one line end.
                let &next = self.buf.get(self.pos)?;
                if next == b'\n' {
                    self.pos += 1;
                    self.scan = self.scan.max(self.pos);
                }
                self.after_cr = false;
            }
            if self.at_start {
                // "The UTF-8 decode algorithm strips one leading UTF-8 Byte Order Mark
                // (BOM), if any." Only at the very start of the stream.
                let head = &self.buf[self.pos..];
                if head.len() < BOM.len() && BOM.starts_with(head) {
                    return None;
                }
                if head.starts_with(BOM) {
                    self.pos += BOM.len();
                    self.scan = self.scan.max(self.pos);
                }
                self.at_start = false;
            }
            // "a U+000D CARRIAGE RETURN U+000A LINE FEED (CRLF) character pair, a single
            // U+000A LINE FEED (LF) character not preceded by a U+000D CARRIAGE RETURN (CR)
            // character, and a single U+000D CARRIAGE RETURN (CR) character not followed by
            // a U+000A LINE FEED (LF) character being the ways in which a line can end."
            let Some(found) = memchr::memchr2(b'\r', b'\n', &self.buf[self.scan..]) else {
                self.scan = self.buf.len();
                return self.unfinished_line();
            };
            let end = self.scan + found;
            let start = self.pos;
            self.after_cr = self.buf[end] == b'\r';
            self.pos = end + 1;
            self.scan = self.pos;
            if self.discarding {
                // The end of the line that was too long: nothing of it is returned.
                self.discarding = false;
                continue;
            }
            if end - start > self.max_line_len {
                return Some(Line::TooLong);
            }
            return Some(Line::Complete(&self.buf[start..end]));
        }
    }

    /// No line end is buffered: report a line that is already too long, and stop
    /// keeping its bytes.
    fn unfinished_line(&mut self) -> Option<Line<'_>> {
        if self.discarding {
            self.buf.truncate(self.pos);
            self.scan = self.pos;
            return None;
        }
        if self.buf.len() - self.pos > self.max_line_len {
            self.buf.truncate(self.pos);
            self.scan = self.pos;
            self.discarding = true;
            return Some(Line::TooLong);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(chunks: &[&[u8]], max: usize) -> Vec<Result<Vec<u8>, ()>> {
        let mut lines = Lines::new(max);
        let mut out = Vec::new();
        for chunk in chunks {
            lines.extend(chunk);
            while let Some(line) = lines.next_line() {
                out.push(match line {
                    Line::Complete(l) => Ok(l.to_vec()),
                    Line::TooLong => Err(()),
                });
            }
        }
        out
    }

    fn ok(l: &str) -> Result<Vec<u8>, ()> {
        Ok(l.as_bytes().to_vec())
    }

    #[test]
    fn all_three_line_ends() {
        let want = vec![ok("a"), ok("b"), ok("c"), ok("")];
        assert_eq!(lines(&[b"a\rb\nc\r\n\n"], 100), want);
        assert_eq!(lines(&[b"a\r", b"b\n", b"c\r", b"\n", b"\n"], 100), want);
    }

    #[test]
    fn cr_at_chunk_end_is_a_line_end_at_once() {
        let mut l = Lines::new(100);
        l.extend(b"a\r");
        assert_eq!(l.next_line(), Some(Line::Complete(b"a")));
        assert_eq!(l.next_line(), None);
        l.extend(b"");
        assert_eq!(l.next_line(), None);
        l.extend(b"\nb\n");
        assert_eq!(l.next_line(), Some(Line::Complete(b"b")));
    }

    #[test]
    fn bom_only_at_start() {
        assert_eq!(
            lines(&[b"\xEF\xBB\xBFa\n\xEF\xBB\xBFb\n"], 100),
            vec![ok("a"), Ok(b"\xEF\xBB\xBFb".to_vec())]
        );
        assert_eq!(lines(&[b"\xEF", b"\xBB", b"\xBFa\n"], 100), vec![ok("a")]);
        assert_eq!(
            lines(&[b"\xEF\xBBa\n"], 100),
            vec![Ok(b"\xEF\xBBa".to_vec())]
        );
    }

    #[test]
    fn too_long_once_then_resumes() {
        assert_eq!(lines(&[b"abcdef\nab\n"], 3), vec![Err(()), ok("ab")]);
        assert_eq!(
            lines(&[b"ab", b"cd", b"ef", b"\nab\n"], 3),
            vec![Err(()), ok("ab")]
        );
        assert_eq!(lines(&[b"abcd", b"\n"], 3), vec![Err(()),]);
        assert_eq!(lines(&[b"abc\n"], 3), vec![ok("abc")]);
    }

    #[test]
    fn discarding_keeps_no_bytes() {
        let mut l = Lines::new(4);
        l.extend(b"0123456789");
        assert_eq!(l.next_line(), Some(Line::TooLong));
        for _ in 0..100 {
            l.extend(&[b'x'; 1000]);
            assert_eq!(l.next_line(), None);
        }
        assert!(l.buf.capacity() < 100);
        l.extend(b"yy\nok\n");
        assert_eq!(l.next_line(), Some(Line::Complete(b"ok")));
    }
}
