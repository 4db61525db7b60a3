//! Owns the per-template memo that lets a line starting like the last one
//! skip the template's regex: consecutive log lines mostly share their
//! stamp (a busy sshd writes several lines a second), and a line-anchored
//! template's outcome depends only on the leading bytes its automaton
//! reads before it can no longer change its mind.
//!
//! [`Extent`] is the lazy DFA of a start-anchored template regex, walked
//! byte by byte on a line whose search really ran: the walk stops where the
//! DFA dies (every thread failed; in leftmost-first mode a found match also
//! ends the walk once nothing longer can win), so those bytes decide the
//! match span, and the captures of a span are a function of its bytes and
//! of the look-around bytes next to it, which the walk also read (a match is
//! reported one byte late). A later haystack with the same leading bytes
//! therefore gets the same match and the same capture slots. When the walk
//! reaches the end of the haystack, the end itself mattered (`$`, `\b`)
//! and only an identical haystack may reuse the result.
//!
//! Nor need the leading bytes be the same, only alike: bytes of one of the
//! DFA's byte classes are told apart by no transition of the regex and no
//! look-around (regex-automata splits the classes at word bytes and line
//! terminators where the regex has such assertions), so ASCII bytes of the
//! same classes, in the same places, take every engine down the same path
//! to the same spans. The stamp of the next second mostly is such a
//! prefix; its fields are then parsed anew from the same spans.
use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::nfa::thompson;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, MatchKind};

use super::template::DateMatch;

/// Bytes a template's DFA cache may hold before it starts over (a date
/// template needs a few dozen KB; one per matched template and filter).
pub const CACHE_CAPACITY: usize = 256 << 10;

/// The lazy DFA of a start-anchored regex (see the module doc).
#[derive(Debug)]
pub struct Extent {
    dfa: DFA,
}

/// How much of a searched haystack decided a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dep {
    /// The first `n` bytes: any haystack starting with them.
    Prefix(usize),
    /// All of it, its end included.
    Whole,
}

impl Extent {
    /// The DFA for `pattern` (regex crate syntax, as [`regex::Regex`]
    /// compiles it by default), or None when the pattern can match away
    /// from the start of a haystack or does not build.
    pub fn new(pattern: &str) -> Option<Extent> {
        let nfa = thompson::Compiler::new()
            .syntax(syntax::Config::new())
            .build(pattern)
            .ok()?;
        if !nfa.is_always_start_anchored() {
            return None;
        }
        let dfa = DFA::builder()
            .configure(
                DFA::config()
                    .match_kind(MatchKind::LeftmostFirst)
                    .unicode_word_boundary(true)
                    .cache_capacity(CACHE_CAPACITY),
            )
            .build_from_nfa(nfa)
            .ok()?;
        Some(Extent { dfa })
    }

    pub fn cache(&self) -> Cache {
        self.dfa.create_cache()
    }

    /// Each byte's class in the DFA.
    pub fn classes(&self) -> Box<[u8; 256]> {
        let bc = self.dfa.byte_classes();
        let mut t = Box::new([0u8; 256]);
        for (b, c) in (0..=255u8).zip(t.iter_mut()) {
            *c = bc.get(b);
        }
        t
    }

    /// How many leading bytes of `hay` decide a search of it from 0; None
    /// when the DFA cannot tell (a quit byte: Unicode word boundary next to
    /// non-ASCII text; a cache that gave up).
    pub fn dep(&self, cache: &mut Cache, hay: &[u8]) -> Option<Dep> {
        let input = Input::new(hay).anchored(Anchored::Yes);
        let mut sid = self.dfa.start_state_forward(cache, &input).ok()?;
        if sid.is_dead() {
            return Some(Dep::Prefix(0));
        }
        for (i, &b) in hay.iter().enumerate() {
            sid = self.dfa.next_state(cache, sid, b).ok()?;
            if sid.is_tagged() {
                if sid.is_dead() {
                    return Some(Dep::Prefix(i + 1));
                }
                if sid.is_quit() {
                    return None;
                }
            }
        }
        Some(Dep::Whole)
    }
}

/// The last real search of one template from position 0.
#[derive(Debug)]
pub struct Memo {
    /// The bytes that decided it (the whole haystack when `whole`).
    key: Vec<u8>,
    whole: bool,
    /// Its outcome; the template's capture buffers still hold its slots.
    pub result: Option<DateMatch>,
    /// The DFA's byte classes ([`Extent::classes`]).
    classes: Box<[u8; 256]>,
}

/// How a haystack stands to a [`Memo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cover {
    /// It starts with the very bytes: same outcome, same fields.
    Same,
    /// It starts with bytes alike (module doc): same outcome, other fields.
    Alike,
    No,
}

impl Memo {
    pub fn new(classes: Box<[u8; 256]>) -> Memo {
        Memo {
            key: Vec::new(),
            whole: true,
            result: None,
            classes,
        }
    }

    /// Whether a search of `hay` from 0 has the memoised outcome.
    pub fn covers(&self, hay: &[u8]) -> Cover {
        let key = self.key.as_slice();
        if self.whole {
            return if hay == key { Cover::Same } else { Cover::No };
        }
        if hay.starts_with(key) {
            return Cover::Same;
        }
        let alike = hay.len() >= key.len()
            && key.iter().zip(hay).all(|(&a, &b)| {
                a.is_ascii() && b.is_ascii() && self.classes[a as usize] == self.classes[b as usize]
            });
        if alike { Cover::Alike } else { Cover::No }
    }

    /// Takes the leading bytes of `hay`, alike to its own, as its key (the
    /// next line is most likely the same as this one).
    pub fn rekey(&mut self, hay: &[u8]) {
        let n = self.key.len();
        self.key.clear();
        self.key.extend_from_slice(&hay[..n]);
    }

    pub fn set(&mut self, hay: &[u8], dep: Dep, result: Option<DateMatch>) {
        self.key.clear();
        match dep {
            Dep::Prefix(n) => {
                self.key.extend_from_slice(&hay[..n]);
                self.whole = false;
            }
            Dep::Whole => {
                self.key.extend_from_slice(hay);
                self.whole = true;
            }
        }
        self.result = result;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dep_stops_where_the_dfa_dies() {
        let e = Extent::new(r"^(?:a|ab)(?:\d+)?(?:\b{start-half}|\b{end-half})").unwrap();
        let mut c = e.cache();
        // "ab" then "1" then "x": the digits loop dies at 'x'.
        assert_eq!(e.dep(&mut c, b"ab1x yz"), Some(Dep::Prefix(4)));
        // Dies at once: 'z' cannot start a match.
        assert_eq!(e.dep(&mut c, b"zzz"), Some(Dep::Prefix(1)));
        // Runs off the end: the end mattered.
        assert_eq!(e.dep(&mut c, b"ab12"), Some(Dep::Whole));
        assert!(Extent::new(r"a").is_none(), "unanchored");
        assert!(Extent::new(r"(?m)^a").is_none(), "multi-line start");
    }

    #[test]
    fn memo_covers_prefix_or_whole() {
        let e = Extent::new(r"^ab[cd]").unwrap();
        let mut m = Memo::new(e.classes());
        m.set(b"abcdef", Dep::Prefix(3), None);
        assert_eq!(m.covers(b"abcxyz"), Cover::Same);
        assert_eq!(m.covers(b"abc"), Cover::Same);
        assert_eq!(m.covers(b"abd"), Cover::Alike, "c and d: one class");
        assert_eq!(m.covers(b"abe"), Cover::No);
        assert_eq!(m.covers(b"ab"), Cover::No);
        m.set(b"abc", Dep::Whole, None);
        assert_eq!(m.covers(b"abc"), Cover::Same);
        assert_eq!(
            m.covers(b"abd"),
            Cover::No,
            "the end mattered: only the same"
        );
        assert_eq!(m.covers(b"abcd"), Cover::No);
    }

    #[test]
    fn alike_needs_ascii_and_word_classes() {
        // \b splits the classes at word bytes: 'x' and '-' are not alike.
        let e = Extent::new(r"^\d+\b").unwrap();
        let mut m = Memo::new(e.classes());
        m.set(b"12x", Dep::Prefix(3), None);
        assert_eq!(m.covers(b"34y"), Cover::Alike);
        assert_eq!(m.covers(b"34-"), Cover::No);
        let mut m = Memo::new(Box::new([0; 256]));
        m.set(b"a", Dep::Prefix(1), None);
        assert_eq!(m.covers("\u{e9}".as_bytes()), Cover::No, "not ASCII");
    }
}
