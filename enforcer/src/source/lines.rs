//! Owns splitting a byte stream into lines, with bounded memory.
//!
//! A line ends at `\n`; a `\r` before it is dropped too. A line longer than
//! the cap keeps its first `max` bytes (cut back to a UTF-8 character
//! boundary) and is delivered once its end arrives, flagged `truncated`;
//! everything after the cap up to the newline is dropped, never buffered.
//! Truncating rather than splitting is deliberate: a split would turn the
//! attacker-controlled tail of a long line into a line of its own, with a
//! start (date, host) of the attacker's choosing.
//! Bytes after the last newline are held until the newline arrives (or the
//! file is retired, see [`LineSplitter::flush`]).
pub struct LineSplitter {
    buf: Vec<u8>,
    max: usize,
    /// Bytes of the current line seen so far, including dropped ones.
    raw: usize,
    truncated: bool,
}

/// One complete line.
pub struct Split<'a> {
    /// The line without its line end (at most the cap).
    pub bytes: &'a [u8],
    pub truncated: bool,
    /// How many bytes of the stream the line took, line end included.
    pub raw_len: usize,
}

impl LineSplitter {
    pub fn new(max: usize) -> Self {
        LineSplitter {
            buf: Vec::new(),
            max: max.max(1),
            raw: 0,
            truncated: false,
        }
    }

    /// Bytes of an unfinished line seen so far.
    pub fn pending(&self) -> usize {
        self.raw
    }

    /// Forgets an unfinished line (its file was truncated).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.raw = 0;
        self.truncated = false;
    }

    /// Feeds a chunk, calling `f` for every line it completes.
    pub fn feed(&mut self, mut chunk: &[u8], mut f: impl FnMut(Split<'_>)) {
        while !chunk.is_empty() {
            match memchr::memchr(b'\n', chunk) {
                Some(i) => {
                    self.push(&chunk[..i]);
                    self.raw += 1;
                    chunk = &chunk[i + 1..];
                    self.emit(&mut f);
                }
                None => {
                    self.push(chunk);
                    break;
                }
            }
        }
    }

    /// At the end of a file that will not grow again: delivers the
    /// unfinished line, if any.
    pub fn flush(&mut self, mut f: impl FnMut(Split<'_>)) {
        if self.raw > 0 {
            self.emit(&mut f);
        }
    }

    fn push(&mut self, part: &[u8]) {
        self.raw += part.len();
        let room = self.max.saturating_sub(self.buf.len());
        if part.len() <= room {
            self.buf.extend_from_slice(part);
        } else {
            self.buf.extend_from_slice(&part[..room]);
            self.truncated = true;
        }
    }

    fn emit(&mut self, f: &mut impl FnMut(Split<'_>)) {
        let mut end = self.buf.len();
        if self.truncated {
            // Cut back to a character boundary (at most 3 continuation bytes).
            let mut back = end;
            while back > 0 && end - back < 4 && self.buf[back - 1] & 0xc0 == 0x80 {
                back -= 1;
            }
            if back > 0 && end - back < 4 && self.buf[back - 1] >= 0xc0 {
                let lead = self.buf[back - 1];
                let need = if lead >= 0xf0 {
                    4
                } else if lead >= 0xe0 {
                    3
                } else {
                    2
                };
                if end - (back - 1) < need {
                    end = back - 1;
                }
            }
        } else if end > 0 && self.buf[end - 1] == b'\r' {
            end -= 1;
        }
        f(Split {
            bytes: &self.buf[..end],
            truncated: self.truncated,
            raw_len: self.raw,
        });
        self.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(max: usize, chunks: &[&[u8]], flush: bool) -> Vec<(String, bool, usize)> {
        let mut s = LineSplitter::new(max);
        let mut out = Vec::new();
        let mut push = |l: Split<'_>| {
            out.push((
                String::from_utf8_lossy(l.bytes).into_owned(),
                l.truncated,
                l.raw_len,
            ))
        };
        for c in chunks {
            s.feed(c, &mut push);
        }
        if flush {
            s.flush(&mut push);
        }
        out
    }

    #[test]
    fn splits_across_chunks_and_strips_crlf() {
        let got = run(100, &[b"ab", b"c\nde\r\n", b"f"], false);
        assert_eq!(got, [("abc".into(), false, 4), ("de".into(), false, 4)]);
        let got = run(100, &[b"x\nlast"], true);
        assert_eq!(got[1], ("last".into(), false, 4));
        assert_eq!(run(100, &[b"\n\n"], false).len(), 2);
    }

    #[test]
    fn long_lines_are_truncated_not_split_and_memory_stays_bounded() {
        let mut s = LineSplitter::new(8);
        let mut n = 0;
        for _ in 0..1000 {
            s.feed(&[b'a'; 1000], |_| n += 1);
            assert!(s.buf.len() <= 8);
        }
        let mut got = None;
        s.feed(b"b\nnext\n", |l| {
            got.get_or_insert((l.bytes.to_vec(), l.truncated, l.raw_len));
            n += 1;
        });
        assert_eq!(n, 2);
        assert_eq!(got.unwrap(), (b"aaaaaaaa".to_vec(), true, 1_000_002));
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        // "é" is 2 bytes: a cap of 5 over "abcdé…" must not keep half of it.
        let got = run(5, &["abcdéé\n".as_bytes()], false);
        assert_eq!(got[0].0, "abcd");
        let got = run(6, &["abcdéé\n".as_bytes()], false);
        assert_eq!(got[0].0, "abcdé");
    }
}
