//! Owns the reading of a log for `enforcer regex`: its lines, handed out
//! of the reader's buffer, with the progress bar.
use std::io::BufRead;

use anyhow::Context;

/// Calls `each(lineno, line)` for every line of the log that is not empty
/// or a comment, until it returns false; draws the progress bar. Lines are
/// handed out of the reader's buffer where they lie whole in it (a line
/// cut by the buffer's end is put together first).
pub(super) fn read_lines(
    reader: &mut dyn BufRead,
    (size, progress): (u64, bool),
    mut each: impl FnMut(usize, &[u8]) -> bool,
) -> anyhow::Result<()> {
    let mut lineno = 0usize;
    let mut done_bytes = 0u64;
    // the start of a line the buffer's end cut
    let mut carry: Vec<u8> = Vec::new();
    let mut one = |raw: &[u8]| -> bool {
        lineno += 1;
        done_bytes += raw.len() as u64;
        let mut l = raw;
        while let [rest @ .., b'\n' | b'\r'] = l {
            l = rest;
        }
        if l.is_empty() || l[0] == b'#' {
            return true;
        }
        if !each(lineno, l) {
            return false;
        }
        if progress && lineno.is_multiple_of(1 << 16) {
            let pct = done_bytes as f64 * 100.0 / size.max(1) as f64;
            eprint!("\r[{:<50}] {pct:5.1}%", "#".repeat((pct / 2.0) as usize));
        }
        true
    };
    loop {
        let buf = reader.fill_buf().context("reading the log")?;
        if buf.is_empty() {
            // the last line, without a newline
            if !carry.is_empty() {
                one(&carry);
            }
            return Ok(());
        }
        let n = buf.len();
        let mut at = 0;
        if !carry.is_empty() {
            match memchr::memchr(b'\n', buf) {
                Some(i) => {
                    carry.extend_from_slice(&buf[..=i]);
                    at = i + 1;
                    let go = one(&carry);
                    carry.clear();
                    if !go {
                        return Ok(());
                    }
                }
                None => {
                    carry.extend_from_slice(buf);
                    reader.consume(n);
                    continue;
                }
            }
        }
        while let Some(i) = memchr::memchr(b'\n', &buf[at..]) {
            let line = &buf[at..at + i + 1];
            at += i + 1;
            if !one(line) {
                return Ok(());
            }
        }
        carry.extend_from_slice(&buf[at..]);
        reader.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use super::read_lines;

    /// Lines handed out of the reader's buffer are the lines `lines()`
    /// gives, also where a buffer shorter than a line cuts it (once or
    /// many times), with CRLF ends, blank and comment lines skipped, and a
    /// last line without a newline.
    #[test]
    fn read_lines_across_buffer_ends() {
        let text = "first\nsecond line\r\n\n# comment\nlong line long line long line\nx\nlast";
        for cap in [1, 2, 3, 7, 64, 4096] {
            let mut r = std::io::BufReader::with_capacity(cap, text.as_bytes());
            let mut got = Vec::new();
            read_lines(&mut r, (0, false), |n, l| {
                got.push((n, String::from_utf8(l.to_vec()).unwrap()));
                true
            })
            .unwrap();
            let want: Vec<(usize, String)> = text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
                .map(|(i, l)| (i + 1, l.to_string()))
                .collect();
            assert_eq!(got, want, "buffer of {cap}");
        }
        // stops when asked to
        let mut r = std::io::BufReader::with_capacity(3, text.as_bytes());
        let mut seen = 0;
        read_lines(&mut r, (0, false), |_, _| {
            seen += 1;
            seen < 2
        })
        .unwrap();
        assert_eq!(seen, 2);
    }
}
