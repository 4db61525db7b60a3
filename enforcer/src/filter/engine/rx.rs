//! Owns [`Rx`]: one compiled filter regex (failregex, prefregex or
//! ignoreregex) with its reusable capture buffer, [`Groups`], its named
//! groups (shared so that the thread that keeps the failure data builds
//! it), and [`SlotPlan`]: turning a match's spans into fail2ban's groups
//! (alt/tuple merging) in the filter's slots.
use std::sync::Arc;

use crate::filter::FilterError;
use crate::filter::fields::{Names, Slots};
use crate::filter::tags::{self, Complex};
use crate::filter::translate::{Caps, Dollar, Pattern};

/// A named group's span in a match (compact: it crosses threads).
pub type Span = Option<(u32, u32)>;

/// A regex's named groups (what [`SlotPlan`] is made from).
#[derive(Debug)]
pub struct Groups {
    /// (group index, name) of the named groups.
    named: Vec<(usize, Arc<str>)>,
    complex: Vec<Complex>,
}

impl Groups {
    /// Every name a match of this regex can set (its groups, the targets
    /// of its alt/tuple groups).
    pub(super) fn names(&self) -> impl Iterator<Item = &str> {
        let targets = self.complex.iter().map(|c| match c {
            Complex::Alt { target, .. } | Complex::Tuple { target, .. } => target.as_str(),
        });
        self.named.iter().map(|(_, n)| &**n).chain(targets)
    }

    /// How this regex's spans fill the slots of `names` (which has all of
    /// [`Self::names`]).
    pub(super) fn plan(&self, names: &Names) -> SlotPlan {
        let id = |n: &str| names.id(n).expect("the filter's names include every group");
        SlotPlan {
            named: self.named.iter().map(|(_, n)| id(n)).collect(),
            complex: (self.complex.iter())
                .map(|c| match c {
                    Complex::Alt { group, target } => (true, id(group), id(target)),
                    Complex::Tuple { group, target } => (false, id(group), id(target)),
                })
                .collect(),
        }
    }

    /// Position of a named group among the spans [`Rx::spans`] gives.
    pub(super) fn index(&self, name: &str) -> Option<usize> {
        self.named.iter().position(|(_, n)| &**n == name)
    }
}

/// A regex's groups as slots of its filter's [`Names`]: fail2ban's
/// `getGroups` with alt/tuple merging, into reused strings.
#[derive(Debug)]
pub(super) struct SlotPlan {
    /// The slot of the k-th named group.
    named: Vec<usize>,
    /// (alt or tuple, group slot, target slot), in fail2ban's order.
    complex: Vec<(bool, usize, usize)>,
}

impl SlotPlan {
    /// Without the named group of slot `k` (a value that is dropped).
    pub(super) fn without(mut self, k: usize) -> SlotPlan {
        self.named
            .iter_mut()
            .filter(|id| **id == k)
            .for_each(|id| *id = usize::MAX);
        self
    }

    /// The groups of a match into `out` (every other slot unset);
    /// `spans[k]` is the k-th named group's.
    pub(super) fn fill(&self, spans: &[Span], hay: &str, out: &mut Slots) {
        out.clear();
        for (&id, s) in self.named.iter().zip(spans) {
            if let Some((s, e)) = s
                && id != usize::MAX
            {
                out.set(id, &hay[*s as usize..*e as usize]);
            }
        }
        for &(alt, group, target) in &self.complex {
            if alt {
                if out.truthy(group) && !out.truthy(target) {
                    out.copy(group, target);
                }
            } else {
                out.push_tuple(group, target);
            }
        }
    }
}

/// (cloned for another thread: the compiled pattern is shared, the
/// capture buffers are its own)
#[derive(Debug, Clone)]
pub(super) struct Rx {
    pub(super) pat: Arc<Pattern>,
    pub(super) groups: Arc<Groups>,
    caps: Caps,
    skiplines: Vec<usize>,
}

/// What a regex of a filter runs on: fail2ban's buffer, the last
/// `maxlines` lines joined by `\n` with a `\n` after the last.
#[derive(Debug, Clone, Copy)]
pub(super) enum Runs {
    /// One line and its newline.
    Line,
    /// Several lines; `multiline`: `^`/`$` match at every line (fail2ban
    /// compiles failregexes, not prefregex or ignoreregex, with
    /// re.MULTILINE when maxlines > 1).
    Lines { multiline: bool },
}

impl Runs {
    pub(super) fn on(maxlines: usize, failregex: bool) -> Runs {
        match maxlines {
            0 | 1 => Runs::Line,
            _ => Runs::Lines {
                multiline: failregex,
            },
        }
    }
}

impl Rx {
    pub(super) fn new(
        py: &str,
        use_dns: bool,
        runs: Runs,
        what: &'static str,
        index: usize,
    ) -> Result<Rx, FilterError> {
        let mut expanded = tags::expand(py, use_dns);
        let dollar = match runs {
            Runs::Line => Dollar::LineEnd,
            Runs::Lines { multiline: true } => {
                expanded.insert_str(0, "(?m)");
                Dollar::Keep
            }
            Runs::Lines { multiline: false } => Dollar::Lookahead,
        };
        let pat =
            Pattern::new_linear_for(&expanded, dollar).map_err(|source| FilterError::Regex {
                what,
                index,
                source,
            })?;
        let complex = tags::complex_groups(pat.names.iter().flatten().map(String::as_str));
        let skiplines = pat
            .names
            .iter()
            .enumerate()
            .filter(|(_, n)| n.as_deref().is_some_and(|n| n.starts_with("skiplines")))
            .map(|(i, _)| i)
            .collect();
        let caps = pat.caps();
        let named = pat
            .names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| Some((i, Arc::from(n.as_deref()?))))
            .collect();
        Ok(Rx {
            groups: Arc::new(Groups { named, complex }),
            pat: Arc::new(pat),
            caps,
            skiplines,
        })
    }

    pub(super) fn search(&mut self, hay: &str) -> bool {
        self.pat.captures(hay, &mut self.caps)
    }

    pub(super) fn span(&self) -> (usize, usize) {
        self.caps.get(0).unwrap_or((0, 0))
    }

    /// The named groups' spans of the last match, into `out`.
    pub(super) fn spans(&self, out: &mut Vec<Span>) {
        out.clear();
        out.extend(
            self.groups
                .named
                .iter()
                .map(|&(i, _)| self.caps.get(i).map(|(s, e)| (s as u32, e as u32))),
        );
    }

    pub(super) fn skipped(&self, hay: &str) -> Vec<String> {
        let mut s = String::new();
        for &g in &self.skiplines {
            if let Some((a, b)) = self.caps.get(g) {
                s.push_str(&hay[a..b]);
            }
        }
        py_splitlines(&s)
    }

    pub(super) fn has_id_group(&self) -> bool {
        ["fid", "ip4", "ip6", "dns", "mlfid"]
            .iter()
            .any(|g| self.pat.has_group(g))
    }
}

/// Python's `str.splitlines()`: lines end at `\n`, `\r`, `\r\n`, `\v`,
/// `\f`, U+001C..U+001E, U+0085, U+2028 and U+2029 (a skipped line with a
/// lone `\r` in it is two lines to fail2ban); a final terminator ends the
/// last line and starts none.
pub(super) fn py_splitlines(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if matches!(
            c,
            '\n' | '\r' | '\x0b' | '\x0c' | '\x1c'..='\x1e' | '\u{85}' | '\u{2028}' | '\u{2029}'
        ) {
            out.push(s[start..i].to_string());
            let mut end = i + c.len_utf8();
            if c == '\r' && it.peek().is_some_and(|&(_, n)| n == '\n') {
                it.next();
                end += 1;
            }
            start = end;
        }
    }
    if start < s.len() {
        out.push(s[start..].to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::py_splitlines;

    #[test]
    fn lines_split_as_python_splits_them() {
        let v = |s: &str| py_splitlines(s);
        assert_eq!(
            v("a\rb\x1cc\x0bd\u{85}e\u{2028}f\n"),
            ["a", "b", "c", "d", "e", "f"]
        );
        assert_eq!(v("a\r\nb"), ["a", "b"]);
        assert_eq!(v("a\n\nb\n"), ["a", "", "b"]);
        assert!(v("").is_empty());
        assert_eq!(v("\n"), [""]);
        assert_eq!(v("x\x1f"), ["x\x1f"]);
    }
}
