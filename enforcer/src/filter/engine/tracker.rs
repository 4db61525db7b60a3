//! Owns [`Tracker`], the half of a filter that remembers across lines what
//! matching alone cannot know: F-MLFID merging (its bounded cache, NOFAIL /
//! MLFFORGET / MLFGAINED), the failure ids of a match and the
//! [`Failure`]s they make, pending matches, and the hit counts (with
//! prefregex's for lines the early ignoreregex pass kept from it, which
//! depend on the line before). It takes the [`Matches`] of each line from
//! [`super::Matcher`], in line order.
//!
//! A match's groups go into slots of the filter's [`Names`] whose strings
//! are reused from line to line, a cached F-MLFID entry is changed in
//! place, and a failure shares its groups and lines with the filter's
//! state: a hit costs a few copies of short strings, not a map.
use std::sync::Arc;

use super::ids::{IdList, Ids, fill_failure, make_failure};
use super::matcher::Matches;
use super::rx::{Groups, SlotPlan};
use crate::filter::fields::{Names, Slots};
use crate::filter::multiline::{FailData, Merged, MlfidCache, merge, push_lines};
use crate::filter::{Failure, FilterOptions};

/// Where [`Tracker::apply`] puts failures: a `Vec` takes new ones (the
/// daemon hands them on), a [`Found`] refills last line's.
pub trait Sink {
    /// A failure of an earlier line to overwrite, if any (it then counts).
    fn reuse(&mut self) -> Option<&mut Failure>;
    fn push(&mut self, f: Failure);
    /// Counts a failure (with F-NOFAIL or not) instead of making it;
    /// false: the sink wants the failure itself.
    fn tally(&mut self, _nofail: bool) -> bool {
        false
    }
}

impl Sink for Vec<Failure> {
    fn reuse(&mut self) -> Option<&mut Failure> {
        None
    }
    fn push(&mut self, f: Failure) {
        Vec::push(self, f);
    }
}

/// One line's failures whose strings are kept for the next line's
/// (`enforcer regex` looks at them and moves on), or, made by
/// [`Found::tallying`], only how many there were of each kind.
#[derive(Default)]
pub struct Found {
    items: Vec<Failure>,
    len: usize,
    blank: Arc<Slots>,
    tally_only: bool,
    /// Failures counted, not made: (without F-NOFAIL, with it).
    tallied: (u32, u32),
}

impl Found {
    /// One that counts failures and makes none (a summary needs no more).
    pub fn tallying() -> Found {
        Found {
            tally_only: true,
            ..Found::default()
        }
    }

    /// The failures made (none when tallying).
    pub fn as_slice(&self) -> &[Failure] {
        &self.items[..self.len]
    }

    /// Whether the line had a failure with F-NOFAIL.
    pub fn any_nofail(&self) -> bool {
        self.tallied.1 > 0 || self.as_slice().iter().any(|f| f.nofail)
    }

    /// Whether the line had a failure without F-NOFAIL.
    pub fn any_fail(&self) -> bool {
        self.tallied.0 > 0 || self.as_slice().iter().any(|f| !f.nofail)
    }

    /// Empties it; the failures let go of the filter's groups and lines.
    pub fn clear(&mut self) {
        for f in &mut self.items[..self.len] {
            f.fields.release(&self.blank);
            f.matches.clear();
        }
        self.len = 0;
        self.tallied = (0, 0);
    }
}

impl Sink for Found {
    fn reuse(&mut self) -> Option<&mut Failure> {
        let f = self.items.get_mut(self.len)?;
        self.len += 1;
        Some(f)
    }
    fn push(&mut self, f: Failure) {
        self.items.push(f);
        self.len = self.items.len();
    }
    fn tally(&mut self, nofail: bool) -> bool {
        if self.tally_only {
            if nofail {
                self.tallied.1 += 1;
            } else {
                self.tallied.0 += 1;
            }
        }
        self.tally_only
    }
}

/// The stateful half of a filter.
pub struct Tracker {
    /// Every group name of the filter.
    names: Arc<Names>,
    /// How prefregex's and each failregex's spans make groups.
    pref: Option<SlotPlan>,
    fail: Vec<SlotPlan>,
    check_all: bool,
    cache: MlfidCache,
    ids: Ids,
    /// Prefregex's groups of the line, and which slots they set.
    pre: Slots,
    pre_set: Vec<usize>,
    /// The groups of the hit (shared with the failures made from it
    /// while they live).
    cur: Arc<Slots>,
    /// Scratch: the hit's F-MLFID, a line's text, the hit's ids.
    key: String,
    line: String,
    found: IdList,
    /// Failures counted per failregex (for `enforcer regex`).
    pub fail_hits: Vec<u64>,
    /// Whether an ignoreregex vetoed the last line.
    pub last_ignored: bool,
    /// What prefregex said of the last line the matcher ran it on.
    pref_last: bool,
    /// Lines prefregex matched in the matcher, and those counted as what
    /// it last said ([`Matches::pref_as_last`]).
    pub pref_hits: u64,
    /// Matches of the last line that named no one yet (F-MLFID pending):
    /// (without F-NOFAIL, with F-NOFAIL). fail2ban-regex counts the first
    /// kind as matched lines, the second as ignored.
    pub last_pending: (u32, u32),
}

impl Tracker {
    pub(super) fn new(
        name: &str,
        pref: Option<Arc<Groups>>,
        fail: Vec<Arc<Groups>>,
        opts: &FilterOptions,
    ) -> Tracker {
        let names = Arc::new(Names::new(pref.iter().chain(&fail).flat_map(|g| g.names())));
        Tracker {
            // prefregex's F-CONTENT is the text the failregexes ran on
            pref: pref.map(|g| g.plan(&names).without(names.sp.content)),
            fail_hits: vec![0; fail.len()],
            fail: fail.iter().map(|g| g.plan(&names)).collect(),
            check_all: opts.check_all,
            cache: MlfidCache::new(opts.mlfid_cache),
            ids: Ids::new(name, opts),
            pre: names.slots(),
            pre_set: Vec::new(),
            cur: Arc::new(names.slots()),
            names,
            key: String::new(),
            line: String::new(),
            found: IdList::default(),
            last_ignored: false,
            pref_last: false,
            pref_hits: 0,
            last_pending: (0, 0),
        }
    }

    /// The rest of fail2ban's `findFailure` for one line's matches:
    /// groups, merging, ids, failures into `out`.
    pub fn apply(&mut self, m: &Matches, out: &mut impl Sink) {
        if m.pref_as_last && self.pref_last {
            self.pref_hits += 1;
        }
        if let Some(said) = m.pref_said {
            self.pref_last = said;
            self.pref_hits += u64::from(said);
        }
        self.last_ignored = m.ignored;
        self.last_pending = (0, 0);
        let hits = m.hits();
        if hits.is_empty() {
            return;
        }
        self.cache.set_now(m.wall);
        let sp = self.names.sp;
        self.pre_set.clear();
        if let (Some(g), Some(s)) = (&self.pref, &m.pref) {
            g.fill(&s.slots, &s.text, &mut self.pre);
            self.pre.unset(sp.content);
            self.pre_set
                .extend((0..self.names.len()).filter(|&k| self.pre.is_set(k)));
        }
        for hit in hits {
            let i = hit.regex;
            let cur = Arc::make_mut(&mut self.cur);
            self.fail[i].fill(&hit.spans.slots, &hit.spans.text, cur);
            // The failregex's groups win, but (as in fail2ban 1.1) one
            // that did not take part leaves prefregex's value alone.
            cur.fill_from(&self.pre, &self.pre_set);
            let has_mlfid = match cur.get(sp.mlfid) {
                Some(id) => {
                    self.key.clear();
                    self.key.push_str(id);
                    true
                }
                None => false,
            };
            let mut place = if has_mlfid {
                let (cache, key) = (&mut self.cache, self.key.as_str());
                let mut mg = merge(cache, &sp, key, &mut self.cur, &hit.matched, &mut self.line);
                if !self.check_all && mg.fail(cache).g.truthy(sp.nofail) {
                    mg.store(cache, key);
                    return;
                }
                mg
            } else {
                let mut matches = Vec::with_capacity(hit.matched.len());
                push_lines(&mut matches, &hit.matched, &mut self.line);
                Merged::Own(FailData {
                    g: Arc::clone(&self.cur),
                    matches: Some(matches),
                    ..FailData::default()
                })
            };
            let fd = place.fail(&mut self.cache);
            self.found.clear();
            if !self.ids.of(fd, &sp, has_mlfid, &mut self.found) {
                // pending: an F-MLFID line that names no one yet
                if fd.g.truthy(sp.nofail) {
                    self.last_pending.1 += 1;
                } else {
                    self.last_pending.0 += 1;
                }
            }
            for id in self.found.as_slice() {
                self.fail_hits[i] += 1;
                if out.tally(fd.g.truthy(sp.nofail)) {
                    continue;
                }
                match out.reuse() {
                    Some(f) => fill_failure(f, &self.names, i, id, fd, m.date),
                    None => out.push(make_failure(&self.names, i, id, fd, m.date)),
                }
            }
            place.store(&mut self.cache, &self.key);
        }
    }
}
