//! Owns the fast path: for every regex of a filter, a set of literals of
//! which any match must contain at least one, found by walking the parsed
//! pattern; and one Aho-Corasick automaton over all of them that tells, in
//! a single pass over a line, which regexes can possibly match it. A line
//! none can match costs one scan and no allocation.
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use fancy_regex::Expr;

use super::pattern::{ascii_syntax, starts_at_text_start};

/// Shortest literal worth scanning for; shorter ones make a regex "always try".
const MIN_LITERAL: usize = 3;

/// Literals any match of the (translated, Rust-syntax) pattern contains at
/// least one of, or None when there is no such useful set.
pub fn required_literals(pattern: &str) -> Option<Vec<String>> {
    let tree = Expr::parse_tree(pattern).ok()?;
    let set = required(&tree.expr)?;
    if set.iter().any(|s| s.len() < MIN_LITERAL) || set.len() > 64 {
        return None;
    }
    Some(set)
}

fn lit(e: &Expr) -> Option<String> {
    match e {
        // Case-insensitive literals are fine (the automaton ignores ASCII
        // case); non-ASCII ones are not, their other cases are not ASCII.
        Expr::Literal { val, casei } if !*casei || val.is_ascii() => Some(val.clone()),
        _ => None,
    }
}

fn score(set: &[String]) -> usize {
    // Prefer long literals and few alternatives.
    let min = set.iter().map(String::len).min().unwrap_or(0);
    min * 16 / set.len().max(1)
}

fn required(e: &Expr) -> Option<Vec<String>> {
    match e {
        Expr::Literal { .. } => lit(e).map(|s| vec![s]),
        Expr::Group(c) | Expr::AtomicGroup(c) => required(c),
        Expr::Repeat { child, lo, .. } if *lo >= 1 => required(child),
        Expr::Alt(children) => {
            let mut all = Vec::new();
            for c in children {
                all.extend(required(c)?);
            }
            all.sort();
            all.dedup();
            Some(all)
        }
        Expr::Conditional {
            true_branch,
            false_branch,
            ..
        } => {
            let mut a = required(true_branch)?;
            a.extend(required(false_branch)?);
            a.sort();
            a.dedup();
            Some(a)
        }
        Expr::Concat(children) => {
            let mut best: Option<Vec<String>> = None;
            let mut consider = |cand: Vec<String>| {
                if best.as_ref().is_none_or(|b| score(&cand) > score(b)) {
                    best = Some(cand);
                }
            };
            let mut run = String::new();
            for c in children {
                if let Some(s) = lit(c) {
                    run.push_str(&s);
                    continue;
                }
                if !run.is_empty() {
                    consider(vec![std::mem::take(&mut run)]);
                }
                if let Some(set) = required(c) {
                    consider(set);
                }
            }
            if !run.is_empty() {
                consider(vec![run]);
            }
            best
        }
        _ => None,
    }
}

/// Which of a filter's regexes may match an ASCII text, for the matcher to
/// try only those (a regex left out does not match; a rewritten one's
/// superset does).
#[derive(Debug, Clone)]
pub struct Which {
    mode: Mode,
    len: usize,
}

#[derive(Debug, Clone)]
enum Mode {
    /// Every regex is anchored at the text's start and only the first
    /// that matches counts: one anchored leftmost-first search of all
    /// their ASCII builds finds it (the regexes are in priority order),
    /// and stops where the DFA dies. Exact.
    First(regex_automata::meta::Regex),
    /// Every regex is anchored and each one that matches counts
    /// (`checkAllRegex`): `table[b]` has bit i when regex i can match a
    /// text that starts with byte b (its anchored DFA does not die on b).
    /// A superset: the regexes tried are mostly the ones that match (a
    /// failregex mostly starts with its own words), and a tried regex
    /// that does not match mostly fails in its first bytes. Beside it,
    /// each regex's literal prefixes where it has a finite set of them
    /// (any match starts with one): a regex whose text starts with none
    /// is not tried either, nor one whose text holds none of the literals
    /// any match of it holds ([`required_literals`], where they are not
    /// its prefixes; looked for in the candidates only), nor one without
    /// a prefix set whose DFA dies in the text's first `WALK` bytes.
    FirstByte(Box<[u64; 256]>, Vec<ByFirst>),
    /// One overlapping search of all their ASCII builds. Exact.
    All(regex_automata::meta::Regex, regex_automata::PatternSet),
}

impl Which {
    /// From every regex's ASCII build (None when one has none, or the set
    /// does not build).
    /// `first_only`: only the first regex that matches counts (fail2ban's
    /// default, without `checkAllRegex`).
    pub fn new(ascii: &[Option<&str>], first_only: bool) -> Option<Which> {
        let pats: Vec<&str> = ascii.iter().copied().collect::<Option<_>>()?;
        if pats.is_empty() {
            return None;
        }
        let syntax = ascii_syntax();
        let hirs: Option<Vec<_>> = pats
            .iter()
            .map(|p| regex_automata::util::syntax::parse_with(p, &syntax).ok())
            .collect();
        let all_anchored = hirs
            .as_ref()
            .is_some_and(|h| h.iter().all(starts_at_text_start));
        if all_anchored
            && !first_only
            && let Some(hirs) = &hirs
            && let Some(dfas) = pats
                .iter()
                .map(|p| anchored_dfa(p))
                .collect::<Option<Vec<_>>>()
            && let Some(t) = first_byte_table(&dfas)
        {
            let each = pats
                .iter()
                .zip(hirs)
                .zip(dfas)
                .map(|((p, h), d)| ByFirst::new(p, h, d))
                .collect();
            return Some(Which {
                mode: Mode::FirstByte(t, each),
                len: pats.len(),
            });
        }
        let first = first_only && all_anchored;
        let kind = match first {
            true => regex_automata::MatchKind::LeftmostFirst,
            false => regex_automata::MatchKind::All,
        };
        let re = regex_automata::meta::Regex::builder()
            .syntax(syntax)
            .configure(
                regex_automata::meta::Config::new()
                    .match_kind(kind)
                    .nfa_size_limit(Some(64 << 20))
                    .hybrid_cache_capacity(16 << 20),
            )
            .build_many(&pats)
            .ok()?;
        let mode = match first {
            true => Mode::First(re),
            false => {
                let set = regex_automata::PatternSet::new(re.pattern_len());
                Mode::All(re, set)
            }
        };
        Some(Which {
            mode,
            len: pats.len(),
        })
    }

    /// `cand[i]`: regex i may match `hay`; None when `hay` is not ASCII.
    pub fn candidates(&mut self, hay: &[u8], cand: &mut Vec<bool>) -> Option<bool> {
        if !hay.is_ascii() {
            return None;
        }
        let n = self.len;
        cand.clear();
        match &mut self.mode {
            Mode::First(re) => {
                let input = regex_automata::Input::new(hay).anchored(regex_automata::Anchored::Yes);
                let won = re.search(&input).map_or(n, |m| m.pattern().as_usize());
                // before the first match: none matches; after it: tried only
                // if it is a rewritten regex whose exact engine says no
                cand.extend((0..n).map(|i| i >= won));
                Some(won < n)
            }
            Mode::FirstByte(t, each) => {
                // (an empty text: every regex is tried)
                let mut bits = hay.first().map_or(u64::MAX, |&b| t[b as usize]);
                cand.resize(n, false);
                let mut any = false;
                while bits != 0 {
                    let i = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    let Some(e) = each.get_mut(i) else { break };
                    if e.may_match(hay) {
                        cand[i] = true;
                        any = true;
                    }
                }
                Some(any)
            }
            Mode::All(re, set) => {
                set.clear();
                re.which_overlapping_matches(&regex_automata::Input::new(hay), set);
                cand.extend(
                    (0..n).map(|i| set.contains(regex_automata::PatternID::new_unchecked(i))),
                );
                Some(!set.is_empty())
            }
        }
    }
}

/// What else a [`Mode::FirstByte`] candidate must have.
#[derive(Debug, Clone)]
struct ByFirst {
    /// Its literal prefixes (see [`literal_prefixes`]).
    prefixes: Option<Vec<Box<[u8]>>>,
    /// Its required literals, when they are not its prefixes.
    inner: Option<Inner>,
    /// Without a prefix set: its DFA, walked over the text's first
    /// `WALK` bytes (a regex whose words diverge early, as sshd's
    /// "Connection closed|Disconnected..." one).
    walk: Option<(
        regex_automata::hybrid::dfa::DFA,
        regex_automata::hybrid::dfa::Cache,
    )>,
}

/// Bytes a candidate's DFA walks before it counts as one.
const WALK: usize = 32;

/// A search for any of a few literals.
#[derive(Debug, Clone)]
enum Inner {
    /// Case-sensitive ones (a pattern without `(?i`).
    Exact(Vec<memchr::memmem::Finder<'static>>),
    /// Any case (ASCII).
    Caseless(AhoCorasick),
}

impl ByFirst {
    /// For pattern `p` (`hir` parsed, `dfa` its [`anchored_dfa`]).
    fn new(
        p: &str,
        hir: &regex_syntax::hir::Hir,
        dfa: regex_automata::hybrid::dfa::DFA,
    ) -> ByFirst {
        let prefixes = literal_prefixes(hir);
        let inner = required_literals(p)
            .filter(|set| {
                // (literals that are prefixes are checked as prefixes)
                prefixes.as_ref().is_none_or(|pre| {
                    !set.iter().all(|l| {
                        pre.iter().all(|x| {
                            x.len() >= l.len() && x[..l.len()].eq_ignore_ascii_case(l.as_bytes())
                        })
                    })
                })
            })
            .and_then(|set| match may_ignore_case(p) {
                false => Some(Inner::Exact(
                    set.iter()
                        .map(|l| memchr::memmem::Finder::new(l.as_bytes()).into_owned())
                        .collect(),
                )),
                true => AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(&set)
                    .ok()
                    .map(Inner::Caseless),
            });
        let walk = match prefixes {
            Some(_) => None,
            None => {
                let c = dfa.create_cache();
                Some((dfa, c))
            }
        };
        ByFirst {
            prefixes,
            inner,
            walk,
        }
    }

    /// Whether the DFA lives through the first `WALK` bytes (or matches,
    /// or cannot tell).
    fn walks(&mut self, hay: &[u8]) -> bool {
        let Some((dfa, cache)) = self.walk.as_mut() else {
            return true;
        };
        let config =
            regex_automata::util::start::Config::new().anchored(regex_automata::Anchored::Yes);
        let Ok(mut sid) = dfa.start_state(cache, &config) else {
            return true;
        };
        for &b in hay.iter().take(WALK) {
            match dfa.next_state(cache, sid, b) {
                Ok(n) if n.is_dead() => return false,
                Ok(n) if n.is_match() || n.is_quit() => return true,
                Ok(n) => sid = n,
                Err(_) => return true,
            }
        }
        if hay.len() > WALK {
            return true;
        }
        dfa.next_eoi_state(cache, sid).is_ok_and(|n| n.is_match())
    }

    fn may_match(&mut self, hay: &[u8]) -> bool {
        self.prefixes
            .as_ref()
            .is_none_or(|p| p.iter().any(|l| hay.starts_with(l)))
            && self.inner.as_ref().is_none_or(|i| match i {
                Inner::Exact(fs) => fs.iter().any(|f| f.find(hay).is_some()),
                Inner::Caseless(ac) => ac.is_match(hay),
            })
            && self.walks(hay)
    }
}

/// Whether a pattern may turn on case-insensitive matching: an inline
/// flag group (`(?i)`, `(?mi:`, …) with an `i` (a flag turned off, or an
/// escaped `\(?i`, counts too: only a pattern without any is certain to
/// match its literals case-sensitively).
fn may_ignore_case(p: &str) -> bool {
    p.match_indices("(?").any(|(i, _)| {
        p[i + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphabetic() || *c == '-')
            .any(|c| c == 'i')
    })
}

/// The literals any match of an anchored pattern starts with, when they
/// are a finite set of a few non-empty ones.
fn literal_prefixes(hir: &regex_syntax::hir::Hir) -> Option<Vec<Box<[u8]>>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(hir);
    let lits = seq.literals()?;
    if lits.is_empty() || lits.len() > 32 || lits.iter().any(|l| l.is_empty()) {
        return None;
    }
    Some(lits.iter().map(|l| Box::from(l.as_bytes())).collect())
}

/// The lazy DFA of a pattern's ASCII build (its `(?u)\b` quits on a
/// non-ASCII byte).
fn anchored_dfa(p: &str) -> Option<regex_automata::hybrid::dfa::DFA> {
    regex_automata::hybrid::dfa::DFA::builder()
        .syntax(ascii_syntax())
        .configure(
            regex_automata::hybrid::dfa::DFA::config()
                .unicode_word_boundary(true)
                .cache_capacity(1 << 18),
        )
        .build(p)
        .ok()
}

/// For anchored patterns (at most 64, by their DFAs), which can match a
/// text starting with each byte: bit i of `table[b]` unless pattern i's
/// DFA dies on `b` from the start of a text.
fn first_byte_table(dfas: &[regex_automata::hybrid::dfa::DFA]) -> Option<Box<[u64; 256]>> {
    use regex_automata::util::start;
    if dfas.len() > 64 {
        return None;
    }
    let mut table = Box::new([0u64; 256]);
    for (i, dfa) in dfas.iter().enumerate() {
        let mut cache = dfa.create_cache();
        let config = start::Config::new().anchored(regex_automata::Anchored::Yes);
        let s = dfa.start_state(&mut cache, &config).ok()?;
        for (b, bits) in table.iter_mut().enumerate() {
            // (a DFA that cannot tell, or quits on the byte: a candidate)
            let dies = dfa
                .next_state(&mut cache, s, b as u8)
                .is_ok_and(|n| n.is_dead());
            if !dies {
                *bits |= 1 << i;
            }
        }
    }
    Some(table)
}

/// Which of a filter's regexes a line may match.
#[derive(Debug, Clone)]
pub struct Prefilter {
    ac: Option<AhoCorasick>,
    /// Pattern id in `ac` -> regex indices it stands for.
    owners: Vec<Vec<usize>>,
    /// Regexes without a literal set: always candidates.
    always: Vec<usize>,
    count: usize,
}

impl Prefilter {
    /// `sets[i]` is regex i's required literal set.
    pub fn new(sets: &[Option<Vec<String>>]) -> Prefilter {
        let mut lits: Vec<String> = Vec::new();
        let mut owners: Vec<Vec<usize>> = Vec::new();
        let mut always = Vec::new();
        for (i, s) in sets.iter().enumerate() {
            match s {
                None => always.push(i),
                Some(set) => {
                    for l in set {
                        let key = l.to_ascii_lowercase();
                        match lits.iter().position(|x| *x == key) {
                            Some(p) => owners[p].push(i),
                            None => {
                                lits.push(key);
                                owners.push(vec![i]);
                            }
                        }
                    }
                }
            }
        }
        let ac = (!lits.is_empty()).then(|| {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .build(&lits)
                .expect("literal automaton")
        });
        Prefilter {
            ac,
            owners,
            always,
            count: sets.len(),
        }
    }

    /// Marks in `cand` (resized to the regex count) the regexes `hay` may
    /// match; returns whether any.
    pub fn candidates(&self, hay: &[u8], cand: &mut Vec<bool>) -> bool {
        cand.clear();
        cand.resize(self.count, false);
        let mut any = false;
        for &i in &self.always {
            cand[i] = true;
            any = true;
        }
        if let Some(ac) = &self.ac {
            for m in ac.find_overlapping_iter(hay) {
                for &i in &self.owners[m.pattern().as_usize()] {
                    cand[i] = true;
                    any = true;
                }
            }
        }
        any
    }

    /// Whether every regex is always a candidate (the prefilter is useless).
    pub fn is_trivial(&self) -> bool {
        self.always.len() == self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_required_literals() {
        assert_eq!(
            required_literals(r"^Failed (?:password|publickey) for (?P<u>\S+)"),
            Some(vec!["Failed ".to_string()])
        );
        assert_eq!(
            required_literals(r"^(?:Invalid|Illegal) user \S+"),
            Some(vec![" user ".to_string()])
        );
        assert_eq!(required_literals(r"^\S+ \d+$"), None);
        let alts = required_literals(r"^(?:abcd|efgh)\d").unwrap();
        assert_eq!(alts, vec!["abcd".to_string(), "efgh".to_string()]);
        assert_eq!(required_literals(r"(?:xyz)?\d+"), None);
    }

    #[test]
    fn case_flags_are_found() {
        assert!(may_ignore_case(r"^(?i)failed"));
        assert!(may_ignore_case(r"^x(?mi:y)"));
        assert!(may_ignore_case(r"^x(?s-i)y"));
        assert!(!may_ignore_case(r"^(?P<user>\S+) (?:from )?(?m)x"));
        assert!(!may_ignore_case(r"^Received disconnect: Auth fail"));
    }

    #[test]
    fn candidates_by_literal() {
        let sets = vec![
            required_literals("Failed password"),
            required_literals(r"(?i)invalid user"),
            None,
        ];
        let pf = Prefilter::new(&sets);
        let mut c = Vec::new();
        assert!(pf.candidates(b"xx INVALID USER yy", &mut c));
        assert_eq!(c, vec![false, true, true]);
        let pf = Prefilter::new(&sets[..2]);
        assert!(!pf.candidates(b"nothing here", &mut c));
        assert!(pf.candidates(b"Failed password for", &mut c));
        assert_eq!(c, vec![true, false]);
    }
}
