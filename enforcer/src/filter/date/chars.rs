//! Owns the date detector's character arithmetic. fail2ban's positions
//! (the last match's boundaries, a template's distance) count characters,
//! as Python's str indices do: a line with a multi-byte character before
//! its date has them at other byte offsets than here.
use super::template::DateMatch;

pub(super) fn char_before(s: &str, i: usize) -> Option<char> {
    s.get(..i).and_then(|p| p.chars().next_back())
}
pub(super) fn char_at(s: &str, i: usize) -> Option<char> {
    s.get(i..).and_then(|p| p.chars().next())
}

/// Whether `b` is ASCII, by words (a stamp's 15-25 bytes: `is_ascii`
/// goes byte by byte below two words).
fn ascii_prefix(b: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let word = |c: &[u8]| u64::from_ne_bytes(c.try_into().expect("8 bytes")) & HIGH == 0;
    if b.len() < 8 {
        return b.is_ascii();
    }
    // (the last word overlaps the one before it)
    b.chunks_exact(8).all(word) && word(&b[b.len() - 8..])
}

/// The character index of byte offset `b` of `s` (a char boundary).
pub(super) fn char_index(s: &str, b: usize) -> usize {
    if ascii_prefix(&s.as_bytes()[..b]) {
        b
    } else {
        s[..b].chars().count()
    }
}

/// A match's start and end as character indices (one check for the
/// common ASCII line).
pub(super) fn char_span(s: &str, m: &DateMatch) -> (usize, usize) {
    if ascii_prefix(&s.as_bytes()[..m.end]) {
        (m.start, m.end)
    } else {
        (char_index(s, m.start), char_index(s, m.end))
    }
}

/// The byte offset of character index `i` of `s`, clamped to its end (as
/// Python's slices and search bounds are).
pub(super) fn byte_index(s: &str, i: usize) -> usize {
    if i <= s.len() && ascii_prefix(&s.as_bytes()[..i]) {
        return i;
    }
    s.char_indices().nth(i).map_or(s.len(), |(b, _)| b)
}

/// Python's `s[i:i+1]` for character index `i` (None: empty).
pub(super) fn py_char(s: &str, i: usize) -> Option<char> {
    s[byte_index(s, i)..].chars().next()
}

/// Python's `s[i-1:i]` (None: empty, also for `i == 0`).
pub(super) fn py_char_before(s: &str, i: usize) -> Option<char> {
    i.checked_sub(1).and_then(|j| py_char(s, j))
}
