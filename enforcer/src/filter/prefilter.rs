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

/// Which of a filter's regexes match an ASCII text, from one overlapping
/// DFA scan of the ASCII builds of them all (exact: a regex left out does
/// not match; a rewritten one's superset does).
#[derive(Debug, Clone)]
pub struct Which {
    re: regex_automata::meta::Regex,
    set: regex_automata::PatternSet,
    /// Every regex is anchored at the text's start and only the first
    /// that matches counts: one anchored leftmost-first search finds it
    /// (the regexes are in priority order), and stops where the DFA dies.
    first: bool,
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
        let anchored = |p: &str| {
            regex_automata::util::syntax::parse_with(p, &syntax)
                .is_ok_and(|h| starts_at_text_start(&h))
        };
        let first = first_only && pats.iter().all(|p| anchored(p));
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
        let set = regex_automata::PatternSet::new(re.pattern_len());
        Some(Which { re, set, first })
    }

    /// `cand[i]`: regex i matches `hay`; None when `hay` is not ASCII.
    pub fn candidates(&mut self, hay: &[u8], cand: &mut Vec<bool>) -> Option<bool> {
        if !hay.is_ascii() {
            return None;
        }
        let n = self.re.pattern_len();
        if self.first {
            let input = regex_automata::Input::new(hay).anchored(regex_automata::Anchored::Yes);
            let won = self.re.search(&input).map_or(n, |m| m.pattern().as_usize());
            // before the first match: none matches; after it: tried only
            // if it is a rewritten regex whose exact engine says no
            cand.clear();
            cand.extend((0..n).map(|i| i >= won));
            return Some(won < n);
        }
        self.set.clear();
        self.re
            .which_overlapping_matches(&regex_automata::Input::new(hay), &mut self.set);
        cand.clear();
        cand.extend((0..n).map(|i| {
            self.set
                .contains(regex_automata::PatternID::new_unchecked(i))
        }));
        Some(!self.set.is_empty())
    }
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
