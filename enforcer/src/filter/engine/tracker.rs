//! Owns [`Tracker`], the half of a filter that remembers across lines what
//! matching alone cannot know: F-MLFID merging (its bounded cache, NOFAIL /
//! MLFFORGET / MLFGAINED), the failure ids of a match and the
//! [`Failure`]s they make, pending matches, and the hit counts. It takes
//! the [`Matches`] of each line from [`super::Matcher`], in line order.
use std::sync::Arc;

use super::ids::make_failure;
use super::matcher::Matches;
use super::rx::Groups;
use crate::filter::dns::Resolver;
use crate::filter::multiline::{FailData, MlfidCache, merge};
use crate::filter::{Failure, FilterOptions, UseDns};

/// The stateful half of a filter.
pub struct Tracker {
    pub(super) name: String,
    /// How prefregex's and each failregex's spans make groups.
    pref: Option<Arc<Groups>>,
    fail: Vec<Arc<Groups>>,
    pub(super) opts: FilterOptions,
    pub(super) cache: MlfidCache,
    pub(super) resolver: Option<Resolver>,
    pub(super) dns_warned: bool,
    /// Failures counted per failregex (for `enforcer regex`).
    pub fail_hits: Vec<u64>,
    /// Whether an ignoreregex vetoed the last line.
    pub last_ignored: bool,
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
        let nfail = fail.len();
        Tracker {
            name: name.to_string(),
            pref,
            fail,
            opts: opts.clone(),
            cache: MlfidCache::new(opts.mlfid_cache),
            resolver: (opts.usedns == UseDns::Yes && !opts.raw_host).then(Resolver::default),
            dns_warned: false,
            fail_hits: vec![0; nfail],
            last_ignored: false,
            last_pending: (0, 0),
        }
    }

    /// The rest of fail2ban's `findFailure` for one line's matches:
    /// groups, merging, ids, failures into `out`.
    pub fn apply(&mut self, m: &Matches, out: &mut Vec<Failure>) {
        self.last_ignored = m.ignored;
        self.last_pending = (0, 0);
        let date = m.date;
        let hits = m.hits();
        // prefregex's groups are only wanted under a hit
        let mut pre = match (&self.pref, &m.pref) {
            (Some(g), Some(sp)) if !hits.is_empty() => g.of(&sp.slots, &sp.text),
            _ => FailData::default(),
        };
        pre.g.remove("content");
        for (n, hit) in hits.iter().enumerate() {
            let i = hit.regex;
            let mut fd = self.fail[i].of(&hit.spans.slots, &hit.spans.text);
            if !pre.g.is_empty() {
                // The failregex's groups win, but (as in fail2ban 1.1) one
                // that did not take part leaves prefregex's value alone.
                let mut f = if n + 1 == hits.len() {
                    std::mem::take(&mut pre)
                } else {
                    pre.clone()
                };
                f.g.append(&mut fd.g);
                fd = f;
            }
            let mlfid = fd.g.get("mlfid").cloned();
            let mut cached = false;
            if let Some(id) = &mlfid {
                let mg = merge(&mut self.cache, id, fd, &hit.matched);
                fd = mg.fail;
                cached = mg.cached;
                if fd.truthy("nofail") && !self.opts.check_all {
                    if cached {
                        self.cache.put(id, fd);
                    }
                    return;
                }
            } else {
                fd.matches
                    .get_or_insert_with(Vec::new)
                    .extend_from_slice(&hit.matched);
            }
            match self.failure_ids(i, &mut fd, mlfid.is_some()) {
                // pending: an F-MLFID line that names no one yet
                None if fd.truthy("nofail") => self.last_pending.1 += 1,
                None => self.last_pending.0 += 1,
                Some(ids) => {
                    for (fid, addr) in ids {
                        self.fail_hits[i] += 1;
                        out.push(make_failure(i, fid, addr, &fd, date));
                    }
                }
            }
            if cached && let Some(id) = &mlfid {
                self.cache.put(id, fd);
            }
        }
    }
}
