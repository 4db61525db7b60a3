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
//!
//! A stamp's digits cycle through a few dozen class patterns within a
//! minute (the classes split digits where the template's ranges do, as
//! `[0-5]\d`), so a [`Memo`] keeps one entry per pattern it has seen, up
//! to [`ENTRIES`], found by a hash of the classes: a second whose pattern
//! came before is answered with that entry's spans.
use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::nfa::thompson;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, MatchKind};

use hashbrown::HashTable;

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

/// Leading bytes, alike to a [`Memo`] entry's, may be at most this many
/// class patterns: a stamp's seconds cycle through a few dozen (a digit
/// class per digit place), and each gets its own entry.
pub const ENTRIES: usize = 64;

/// The capture slots of a template's match (see `Caps::slots`).
pub type Slots = Vec<Option<(usize, usize)>>;

/// One real search of one template from position 0.
#[derive(Debug, Default)]
struct Entry {
    /// The bytes that decided it (the whole haystack when `whole`).
    key: Vec<u8>,
    whole: bool,
    /// Its outcome and capture slots.
    result: Option<DateMatch>,
    slots: Slots,
    /// [`Memo::signature`] of `key` (not kept for `whole` keys).
    sig: u64,
}

/// The real searches of one template from position 0, by the byte
/// classes of the leading bytes that decided them; the current one is
/// the last used, and the template's capture buffers hold its slots.
#[derive(Debug)]
pub struct Memo {
    /// Entry 0 and the indexed ones (the first with the memo's first search).
    entries: Vec<Entry>,
    cur: usize,
    /// Entries with a prefix key, by signature.
    index: HashTable<usize>,
    /// The key lengths among them (a stamp has one or two).
    lens: Vec<usize>,
    /// The DFA's byte classes ([`Extent::classes`]).
    classes: Box<[u8; 256]>,
}

/// How a haystack stands to a [`Memo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cover {
    /// It starts with the current entry's very bytes: same outcome, same
    /// fields.
    Same,
    /// It starts with bytes alike (module doc) to the current entry's:
    /// same outcome, other fields.
    Alike,
    /// It starts with bytes alike to another entry's, now the current one:
    /// its outcome, other fields, and its slots ([`Memo::slots`]).
    Other,
    No,
}

/// Most lengths a memo keeps entries for.
const LENS: usize = 4;

impl Memo {
    pub fn new(classes: Box<[u8; 256]>) -> Memo {
        Memo {
            entries: vec![Entry {
                whole: true,
                ..Entry::default()
            }],
            cur: 0,
            index: HashTable::new(),
            lens: Vec::new(),
            classes,
        }
    }

    /// The current entry's outcome.
    pub fn result(&self) -> Option<DateMatch> {
        self.entries[self.cur].result
    }

    /// The current entry's capture slots.
    pub fn slots(&self) -> &Slots {
        &self.entries[self.cur].slots
    }

    /// Whether a search of `hay` from 0 has the current entry's outcome.
    pub fn covers(&self, hay: &[u8]) -> Cover {
        let e = &self.entries[self.cur];
        let key = e.key.as_slice();
        if e.whole {
            return if hay == key { Cover::Same } else { Cover::No };
        }
        if hay.starts_with(key) {
            return Cover::Same;
        }
        if self.alike(key, hay) {
            Cover::Alike
        } else {
            Cover::No
        }
    }

    /// [`Memo::covers`], then the other entries: one that `hay` starts
    /// alike to becomes the current one ([`Cover::Other`]).
    pub fn find(&mut self, hay: &[u8]) -> Cover {
        let c = self.covers(hay);
        if c != Cover::No {
            return c;
        }
        for &n in &self.lens {
            let Some(sig) = hay.get(..n).and_then(|k| self.signature(k)) else {
                continue;
            };
            let entries = &self.entries;
            if let Some(&i) = self.index.find(sig, |&i| {
                let e = &entries[i];
                e.sig == sig && e.key.len() == n
            }) && self.alike(&self.entries[i].key, hay)
            {
                self.cur = i;
                return Cover::Other;
            }
        }
        Cover::No
    }

    /// The class pattern of `key`, hashed with its length; None when it
    /// has a non-ASCII byte (never alike).
    fn signature(&self, key: &[u8]) -> Option<u64> {
        let mut h = 0xcbf2_9ce4_8422_2325u64 ^ key.len() as u64;
        for &b in key {
            if !b.is_ascii() {
                return None;
            }
            h = (h ^ u64::from(self.classes[b as usize])).wrapping_mul(0x0100_0000_01b3);
        }
        Some(h ^ (h >> 29))
    }

    /// Whether `hay` starts with bytes alike to `key` (module doc).
    fn alike(&self, key: &[u8], hay: &[u8]) -> bool {
        hay.len() >= key.len()
            && key.iter().zip(hay).all(|(&a, &b)| {
                a.is_ascii() && b.is_ascii() && self.classes[a as usize] == self.classes[b as usize]
            })
    }

    /// Takes the leading bytes of `hay`, alike to the current entry's, as
    /// its key (the next line is most likely the same as this one).
    pub fn rekey(&mut self, hay: &[u8]) {
        let e = &mut self.entries[self.cur];
        let n = e.key.len();
        e.key.clear();
        e.key.extend_from_slice(&hay[..n]);
    }

    /// Records a real search of `hay`, decided by `dep`, that found
    /// `result` with capture `slots`, as the current entry. A prefix key
    /// gets an entry of its own, kept for later haystacks alike to it (no
    /// other entry can be alike: [`Memo::find`] found none).
    pub fn set(&mut self, hay: &[u8], dep: Dep, result: Option<DateMatch>, slots: &Slots) {
        let (key, sig) = match dep {
            Dep::Prefix(n) => {
                let key = &hay[..n];
                (key, self.signature(key))
            }
            Dep::Whole => (hay, None),
        };
        let keep = sig.is_some() && (self.lens.contains(&key.len()) || self.lens.len() < LENS);
        // Entry 0 is never indexed: it takes a whole key, or one not kept.
        let i = if !keep {
            0
        } else {
            if self.entries.len() >= ENTRIES {
                self.entries.truncate(1);
                self.index.clear();
                self.lens.clear();
            }
            self.entries.push(Entry::default());
            self.entries.len() - 1
        };
        let e = &mut self.entries[i];
        e.key.clear();
        e.key.extend_from_slice(key);
        e.whole = dep == Dep::Whole;
        e.result = result;
        e.slots.clone_from(slots);
        e.sig = sig.unwrap_or(0);
        self.cur = i;
        if keep && let Some(sig) = sig {
            if !self.lens.contains(&key.len()) {
                self.lens.push(key.len());
            }
            let entries = &self.entries;
            self.index.insert_unique(sig, i, |&j| entries[j].sig);
        }
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
        m.set(b"abcdef", Dep::Prefix(3), None, &vec![]);
        assert_eq!(m.covers(b"abcxyz"), Cover::Same);
        assert_eq!(m.covers(b"abc"), Cover::Same);
        assert_eq!(m.covers(b"abd"), Cover::Alike, "c and d: one class");
        assert_eq!(m.covers(b"abe"), Cover::No);
        assert_eq!(m.covers(b"ab"), Cover::No);
        m.set(b"abc", Dep::Whole, None, &vec![]);
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
        m.set(b"12x", Dep::Prefix(3), None, &vec![]);
        assert_eq!(m.covers(b"34y"), Cover::Alike);
        assert_eq!(m.covers(b"34-"), Cover::No);
        let mut m = Memo::new(Box::new([0; 256]));
        m.set(b"a", Dep::Prefix(1), None, &vec![]);
        assert_eq!(m.covers("\u{e9}".as_bytes()), Cover::No, "not ASCII");
    }
}
