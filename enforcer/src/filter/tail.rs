//! Owns a shortcut for patterns ending in `(?P<name>.+)$` (every stock
//! prefregex ends in `<F-CONTENT>.+</F-CONTENT>$`): the captures of the
//! pattern without that tail, the tail group then being the rest of the
//! line. Capture extraction costs in the length it walks, and the tail is
//! most of the line.
//!
//! Exact: a greedy `.+$` after the head matches iff what is left is
//! non-empty and has no newline, with one path; `.+(?m:$)` (a filter's
//! `$` on its line and newline) iff the rest of the line up to the first
//! newline is non-empty. So when the head's first match leaves such a
//! rest, that path is the whole pattern's first match; otherwise the whole
//! pattern decides.
//!
//! A head `^(?P<g>X)Y` whose only group is `g` (every stock prefregex:
//! `^<F-MLFID>…</F-MLFID>…<F-CONTENT>.+</F-CONTENT>$`) needs no capture
//! engine at all ([`Split`]): by the same argument, X's first match (the
//! end a leftmost-first DFA reports) then Y's first match from there is
//! the whole pattern's path when it leaves a rest, so two lazy-DFA scans
//! give every span.
use fancy_regex::{Assertion, Expr};
use regex_automata::MatchKind;
use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::util::syntax;

use super::pattern::ascii_syntax;
use super::plan::{First, scan_from};
use super::translate::ascii_build;

/// Cap of a [`Split`] DFA's cache: beyond it the DFA gives up and the
/// capture engine decides.
const SPLIT_CACHE: usize = 1 << 18;

/// `^(?P<g>X)Y` as two anchored lazy DFAs, for ASCII haystacks.
#[derive(Debug)]
struct Split {
    x: DFA,
    y: DFA,
    /// What X's and Y's matches start with (Y is mostly empty: a line
    /// that cannot start it needs no scan).
    firsts: (Option<First>, Option<First>),
    /// Group index of `g`.
    group: usize,
}

impl Split {
    /// For a head source `^(?P<name>X)Y` whose only group is the first;
    /// `head_groups`: the head's group count, group 0 included.
    fn new(head: &str, head_groups: usize) -> Option<Split> {
        let rest = head.strip_prefix("^(?P<")?;
        let open = head.len() - rest.len() - 4;
        let name_end = rest.find('>')?;
        let close = group_end(head, open)?;
        let x = &head[open + 5 + name_end..close];
        let y = &head[close + 1..];
        let build = |p: &str| {
            DFA::builder()
                .configure(
                    DFA::config()
                        .match_kind(MatchKind::LeftmostFirst)
                        .cache_capacity(SPLIT_CACHE)
                        .minimum_cache_clear_count(Some(0)),
                )
                .syntax(ascii_syntax())
                .build(p)
                .ok()
        };
        // X and Y must hold no group, the head only `g` (with group 0).
        let parse = |p: &str| syntax::parse_with(p, &ascii_syntax()).ok();
        let (xh, yh) = (parse(x)?, parse(y)?);
        let groups = |h: &regex_syntax::hir::Hir| h.properties().explicit_captures_len();
        if head_groups != 2 || groups(&xh) != 0 || groups(&yh) != 0 {
            return None;
        }
        let (xd, yd) = (build(x)?, build(y)?);
        Some(Split {
            x: xd,
            y: yd,
            firsts: (First::of(&xh), First::of(&yh)),
            group: 1,
        })
    }

    fn caches(&self) -> (Cache, Cache) {
        (self.x.create_cache(), self.y.create_cache())
    }

    /// The end of X's then Y's first match (None: a DFA gave up, or no match
    /// where the whole pattern might still find one).
    fn ends(&self, hay: &[u8], c: &mut (Cache, Cache)) -> Option<Option<(usize, usize)>> {
        let (fx, fy) = (self.firsts.0.as_ref(), self.firsts.1.as_ref());
        let Some(e1) = scan_from(&self.x, &mut c.0, fx, hay, 0).ok()? else {
            // no X at the start: no whole match either
            return Some(None);
        };
        let e2 = scan_from(&self.y, &mut c.1, fy, hay, e1).ok()??;
        Some(Some((e1, e2)))
    }
}

/// Byte index of the `)` closing the group opened at `open`.
fn group_end(p: &str, open: usize) -> Option<usize> {
    let b = p.as_bytes();
    let (mut depth, mut i, mut class) = (0usize, open, false);
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'[' if !class => {
                class = true;
                // a `]` first in a class is a member
                if b.get(i + 1) == Some(&b']') {
                    i += 1;
                } else if b.get(i + 1) == Some(&b'^') && b.get(i + 2) == Some(&b']') {
                    i += 2;
                }
            }
            b']' if class => class = false,
            b'(' if !class => depth += 1,
            b')' if !class => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The textual tail, with `$` or (a pattern run on a line and its
/// newline, see [`super::translate::Dollar`]) `(?m:$)`.
const TAILS: [&str; 2] = [".+)$", ".+)(?m:$)"];

#[derive(Debug)]
pub struct Tail {
    split: Option<Split>,
    /// The tail ends at the first newline (`(?m:$)`), not only at the
    /// text's end.
    to_newline: bool,
    head: regex::Regex,
    head_ascii: Option<regex::bytes::Regex>,
    /// Group index of the tail group (the last group).
    group: usize,
}

/// Reusable capture buffers of a [`Tail`].
#[derive(Debug, Clone)]
pub struct TailLocs {
    split: Option<(Cache, Cache)>,
    locs: regex::CaptureLocations,
    alocs: Option<regex::bytes::CaptureLocations>,
}

impl Tail {
    /// For a Rust-syntax pattern whose top level is `HEAD(?P<x>.+)$`.
    pub fn new(pattern: &str, groups: usize) -> Option<Tail> {
        let tree = Expr::parse_tree(pattern).ok()?;
        let Expr::Concat(v) = &tree.expr else {
            return None;
        };
        let (g, to_newline) = match v.as_slice() {
            [.., Expr::Group(g), Expr::Assertion(Assertion::EndText)] => (g, false),
            [
                ..,
                Expr::Group(g),
                Expr::Assertion(Assertion::EndLine { crlf: false }),
            ] => (g, true),
            _ => return None,
        };
        let Expr::Repeat {
            child,
            lo: 1,
            hi: usize::MAX,
            greedy: true,
        } = g.as_ref()
        else {
            return None;
        };
        if !matches!(child.as_ref(), Expr::Any { newline: false }) {
            return None;
        }
        // the textual tail: `(?P<name>.+)$`
        let open = pattern
            .strip_suffix(TAILS[usize::from(to_newline)])?
            .rfind("(?P<")?;
        let head_src = &pattern[..open];
        let head = regex::RegexBuilder::new(head_src)
            .size_limit(64 << 20)
            .dfa_size_limit(16 << 20)
            .build()
            .ok()?;
        // the head must hold every group but the tail's
        if head.captures_len() + 1 != groups {
            return None;
        }
        Some(Tail {
            split: Split::new(head_src, head.captures_len()),
            to_newline,
            head_ascii: ascii_build(head_src),
            group: groups - 1,
            head,
        })
    }

    pub fn locs(&self) -> TailLocs {
        TailLocs {
            split: self.split.as_ref().map(Split::caches),
            locs: self.head.capture_locations(),
            alocs: self.head_ascii.as_ref().map(|a| a.capture_locations()),
        }
    }

    /// Some(matched) when the head decides, None when the whole pattern
    /// must (the slots are then overwritten by it).
    pub fn captures(
        &self,
        hay: &str,
        tl: &mut TailLocs,
        slots: &mut [Option<(usize, usize)>],
    ) -> Option<bool> {
        let ascii = hay.is_ascii();
        if let (true, Some(sp), Some(c)) = (ascii, &self.split, tl.split.as_mut())
            && let Some(ends) = sp.ends(hay.as_bytes(), c)
        {
            let Some((e1, e2)) = ends else {
                return Some(false);
            };
            if let Some(end) = self.tail_end(hay, e2) {
                slots.iter_mut().for_each(|s| *s = None);
                slots[0] = Some((0, end));
                slots[sp.group] = Some((0, e1));
                slots[self.group] = Some((e2, end));
                return Some(true);
            }
        }
        let got = match (&self.head_ascii, tl.alocs.as_mut()) {
            (Some(a), Some(al)) if ascii => a
                .captures_read(al, hay.as_bytes())
                .and_then(|_| fill(slots, |i| al.get(i))),
            _ => self
                .head
                .captures_read(&mut tl.locs, hay)
                .and_then(|_| fill(slots, |i| tl.locs.get(i))),
        };
        // no head, no whole match
        let Some((s, e)) = got else {
            return Some(false);
        };
        let end = self.tail_end(hay, e)?;
        slots[0] = Some((s, end));
        slots[self.group] = Some((e, end));
        Some(true)
    }

    /// Where the tail `.+$` from `from` ends when the head's match leaves
    /// it a path (None: the whole pattern decides). `.+` takes the rest of
    /// the line, and must take something; `$` then needs the text's end,
    /// `(?m:$)` only a newline or the end.
    fn tail_end(&self, hay: &str, from: usize) -> Option<usize> {
        let rest = &hay.as_bytes()[from..];
        let end = match memchr::memchr(b'\n', rest) {
            None => hay.len(),
            Some(n) if self.to_newline => from + n,
            Some(_) => return None,
        };
        (end > from).then_some(end)
    }
}

fn fill(
    slots: &mut [Option<(usize, usize)>],
    get: impl Fn(usize) -> Option<(usize, usize)>,
) -> Option<(usize, usize)> {
    for (i, s) in slots.iter_mut().enumerate() {
        *s = get(i);
    }
    get(0)
}

#[cfg(test)]
mod tests {
    use crate::filter::translate::{Dollar, Pattern, translate, translate_for};

    fn groups(p: &Pattern, hay: &str) -> Option<Vec<Option<(usize, usize)>>> {
        let mut c = p.caps();
        p.captures(hay, &mut c).then(|| c.slots.clone())
    }

    #[test]
    fn tail_shortcut_agrees_with_the_whole_pattern() {
        let py = r"^(?P<mlfid>\s*(?:\S+\s+)?(?:sshd(?:\[\d+\])?:\s+)?)(?:error: )?(?P<content>.+)$";
        let p = Pattern::new(py).unwrap();
        assert!(p.has_tail());
        let whole = regex::Regex::new(py).unwrap();
        for hay in [
            " host sshd[1]: Failed password",
            " host sshd[1]: ",
            " host sshd[1]:",
            "",
            " ",
            "x\ny",
            " host sshd[1]: a\nb",
            " héllo sshd: ünïcode",
            "error: x",
        ] {
            let want = whole.captures(hay).map(|c| {
                (0..c.len())
                    .map(|i| c.get(i).map(|m| (m.start(), m.end())))
                    .collect::<Vec<_>>()
            });
            assert_eq!(groups(&p, hay), want, "{hay:?}");
        }
        assert!(!Pattern::new(r"^a|(?P<c>.+)$").unwrap().has_tail());
    }

    #[test]
    fn split_head_agrees_with_the_whole_pattern() {
        // shapes of stock prefregexes: ^(?P<mlfid>X)Y(?P<content>.+)$
        let pats = [
            r"^(?P<mlfid>\s*(?:\S+\s+)?(?:sshd(?:\[\d+\])?:\s+)?)(?:error: )?(?P<content>.+)$",
            r"^(?P<mlfid>(?:\[\])?\s*(?:<[^.]+\.[^.]+>\s+)?(?:\S+\s+)?(?:[\[\(]?sshd(?:\(\S+\))?[\]\)]?:?\s+)?)(?:(?:error|fatal): (?:PAM: )?)?(?P<content>.+)$",
            r"^(?P<mlfid>a+)\ba*b?(?P<content>.+)$",
            r"^(?P<mlfid>[])x(]+)(?:\))?(?P<content>.+)$",
        ];
        let hays = [
            " host sshd[1]: Failed password",
            "host sshd[1]: error: ",
            "host sshd[1]: error: x",
            "host sshd[1]: fatal: PAM: ",
            "host sshd: ",
            "<a.b> host sshd(x): y",
            "",
            "x\ny",
            "aaa",
            "aaab",
            "aaabc",
            "])x(])",
            ")x",
            "][",
        ];
        for py in pats {
            let t = translate(py);
            let tail = super::Tail::new(&t.pattern, Pattern::new(py).unwrap().names.len());
            assert!(tail.is_some_and(|t| t.split.is_some()), "{py}");
            let p = Pattern::new(py).unwrap();
            let whole = regex::Regex::new(&t.pattern).unwrap();
            for hay in hays {
                let want = whole.captures(hay).map(|c| {
                    (0..c.len())
                        .map(|i| c.get(i).map(|m| (m.start(), m.end())))
                        .collect::<Vec<_>>()
                });
                assert_eq!(groups(&p, hay), want, "{py} on {hay:?}");
            }
        }
        // ... and as a filter's line and its newline (`$` as `(?m:$)`)
        for py in pats {
            let t = translate_for(py, Dollar::LineEnd);
            let p = Pattern::new_linear_for(py, Dollar::LineEnd).unwrap();
            assert!(p.has_tail(), "{py}");
            let whole = regex::Regex::new(&t.pattern).unwrap();
            for hay in hays.iter().flat_map(|h| [h.to_string(), format!("{h}\n")]) {
                let want = whole.captures(&hay).map(|c| {
                    (0..c.len())
                        .map(|i| c.get(i).map(|m| (m.start(), m.end())))
                        .collect::<Vec<_>>()
                });
                assert_eq!(groups(&p, &hay), want, "{py} on {hay:?}");
            }
        }
        // a second group in the head: no split
        let t = translate(r"^(?P<a>x)(?P<b>y)(?P<c>.+)$");
        assert!(super::Tail::new(&t.pattern, 4).is_some_and(|t| t.split.is_none()));
        assert!(!Pattern::new(r"^a(?P<c>.+?)$").unwrap().has_tail());
    }
}
