//! Owns [`Rx`]: one compiled filter regex (failregex, prefregex or
//! ignoreregex) with its reusable capture buffer, and [`Groups`]: turning
//! a match's capture slots into fail2ban's group map (alt/tuple merging,
//! SKIPLINES), shared so that the thread that keeps the map builds it.
use std::sync::Arc;

use crate::filter::FilterError;
use crate::filter::multiline::FailData;
use crate::filter::tags::{self, Complex};
use crate::filter::translate::{Caps, Pattern};

/// A named group's span in a match (compact: it crosses threads).
pub type Span = Option<(u32, u32)>;

/// What turns a regex's named-group spans into its group map.
#[derive(Debug)]
pub struct Groups {
    /// (group index, name) of the named groups, names shared with the
    /// [`FailData`] of each match.
    named: Vec<(usize, Arc<str>)>,
    complex: Vec<Complex>,
}

impl Groups {
    /// Named groups of a match (fail2ban's `getGroups` with alt/tuple
    /// merging); `spans[k]` is the k-th named group's.
    pub(super) fn of(&self, spans: &[Span], hay: &str) -> FailData {
        let mut f = FailData::default();
        for ((_, n), s) in self.named.iter().zip(spans) {
            if let Some((s, e)) = s {
                f.g.insert(n.clone(), hay[*s as usize..*e as usize].to_string());
            }
        }
        for c in &self.complex {
            match c {
                Complex::Alt { group, target } => {
                    if let Some(v) = f.g.get(group.as_str()).filter(|v| !v.is_empty()).cloned()
                        && !f.truthy(target)
                    {
                        f.g.insert(target.as_str().into(), v);
                    }
                }
                Complex::Tuple { group, target } => {
                    let v = f.g.get(group.as_str()).cloned().unwrap_or_default();
                    let t = f.g.get(target.as_str()).cloned().unwrap_or_default();
                    f.g.insert(target.as_str().into(), format!("{t}\t{v}"));
                }
            }
        }
        f
    }

    /// Position of a named group among the spans [`Rx::spans`] gives.
    pub(super) fn index(&self, name: &str) -> Option<usize> {
        self.named.iter().position(|(_, n)| &**n == name)
    }
}

#[derive(Debug)]
pub(super) struct Rx {
    pub(super) pat: Pattern,
    pub(super) groups: Arc<Groups>,
    caps: Caps,
    skiplines: Vec<usize>,
}

impl Rx {
    /// `multiline`: `^`/`$` match at every line of the buffer (fail2ban
    /// compiles failregexes with re.MULTILINE when maxlines > 1).
    pub(super) fn new(
        py: &str,
        use_dns: bool,
        multiline: bool,
        what: &'static str,
        index: usize,
    ) -> Result<Rx, FilterError> {
        let mut expanded = tags::expand(py, use_dns);
        if multiline {
            expanded.insert_str(0, "(?m)");
        }
        let pat = Pattern::new_linear(&expanded).map_err(|source| FilterError::Regex {
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
            pat,
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
        s.lines().map(str::to_string).collect()
    }

    pub(super) fn has_id_group(&self) -> bool {
        ["fid", "ip4", "ip6", "dns", "mlfid"]
            .iter()
            .any(|g| self.pat.has_group(g))
    }
}
