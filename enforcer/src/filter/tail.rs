//! Owns a shortcut for patterns ending in `(?P<name>.+)$` (every stock
//! prefregex ends in `<F-CONTENT>.+</F-CONTENT>$`): the captures of the
//! pattern without that tail, the tail group then being the rest of the
//! line. Capture extraction costs in the length it walks, and the tail is
//! most of the line.
//!
//! Exact: a greedy `.+$` after the head matches iff what is left is
//! non-empty and has no newline, with one path. So when the head's first
//! match leaves such a rest, that path is the whole pattern's first match;
//! otherwise the whole pattern decides.
use fancy_regex::{Assertion, Expr};

use super::translate::ascii_build;

const TAIL: &str = ".+)$";

#[derive(Debug)]
pub struct Tail {
    head: regex::Regex,
    head_ascii: Option<regex::bytes::Regex>,
    /// Group index of the tail group (the last group).
    group: usize,
}

/// Reusable capture buffers of a [`Tail`].
#[derive(Debug, Clone)]
pub struct TailLocs {
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
        let [.., Expr::Group(g), Expr::Assertion(Assertion::EndText)] = v.as_slice() else {
            return None;
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
        let open = pattern.strip_suffix(TAIL)?.rfind("(?P<")?;
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
            head_ascii: ascii_build(head_src),
            group: groups - 1,
            head,
        })
    }

    pub fn locs(&self) -> TailLocs {
        TailLocs {
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
        let rest = &hay[e..];
        if rest.is_empty() || rest.contains('\n') {
            return None;
        }
        slots[0] = Some((s, hay.len()));
        slots[self.group] = Some((e, hay.len()));
        Some(true)
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
    use crate::filter::translate::Pattern;

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
        assert!(!Pattern::new(r"^a(?P<c>.+?)$").unwrap().has_tail());
    }
}
