//! Owns [`Rx`]: one compiled filter regex (failregex, prefregex or
//! ignoreregex) with its reusable capture buffer, and [`Groups`]: turning
//! a match's capture slots into fail2ban's group map (alt/tuple merging,
//! SKIPLINES), shared so that the thread that keeps the map builds it.
use std::sync::Arc;

use crate::filter::FilterError;
use crate::filter::multiline::FailData;
use crate::filter::tags::{self, Complex};
use crate::filter::translate::{Caps, Pattern};

/// What turns a regex's capture slots into its group map.
#[derive(Debug)]
pub struct Groups {
    /// Group index -> name, shared with the [`FailData`] of each match.
    names: Vec<Option<Arc<str>>>,
    complex: Vec<Complex>,
}

impl Groups {
    /// Named groups of a match (fail2ban's `getGroups` with alt/tuple merging).
    pub(super) fn of(&self, slots: &[Option<(usize, usize)>], hay: &str) -> FailData {
        let mut f = FailData::default();
        for (n, s) in self.names.iter().zip(slots) {
            if let (Some(n), Some((s, e))) = (n, s) {
                f.g.insert(n.clone(), hay[*s..*e].to_string());
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

    /// Index of a named group.
    pub(super) fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n.as_deref() == Some(name))
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
        let names = pat
            .names
            .iter()
            .map(|n| n.as_deref().map(Arc::from))
            .collect();
        Ok(Rx {
            groups: Arc::new(Groups { names, complex }),
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

    /// The capture slots of the last match.
    pub(super) fn slots(&self) -> &[Option<(usize, usize)>] {
        &self.caps.slots
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
