//! Owns what spans lines: the buffered lines (fail2ban's tuple lines: text
//! before the date, the date, text after), which of them a multi-line match
//! covers (minus `<SKIPLINES>`), the failure data a match accumulates, and
//! fail2ban's NOFAIL / MLFFORGET / MLFGAINED merge rules
//! (`Filter._mergeFailure`) over the bounded F-MLFID cache ([`cache`]).
mod cache;

use std::sync::Arc;

pub use cache::MlfidCache;
use cache::SlotId;

use crate::filter::fields::{Slots, Special};

/// A log line split around its date.
#[derive(Debug, Default, PartialEq)]
pub struct TLine {
    pub pre: String,
    pub date: String,
    pub post: String,
}

/// By hand for `clone_from`: a derived one would allocate three new
/// strings where a hit's line is copied into last line's buffers.
impl Clone for TLine {
    fn clone(&self) -> TLine {
        TLine {
            pre: self.pre.clone(),
            date: self.date.clone(),
            post: self.post.clone(),
        }
    }

    fn clone_from(&mut self, src: &TLine) {
        self.pre.clone_from(&src.pre);
        self.date.clone_from(&src.date);
        self.post.clone_from(&src.post);
    }
}

impl TLine {
    /// The line without its date (what regexes see).
    pub fn text(&self) -> String {
        let mut s = String::with_capacity(self.pre.len() + self.post.len());
        s.push_str(&self.pre);
        s.push_str(&self.post);
        s
    }
    /// The line as it was.
    pub fn full(&self) -> String {
        let mut s = String::with_capacity(self.pre.len() + self.date.len() + self.post.len());
        s.push_str(&self.pre);
        s.push_str(&self.date);
        s.push_str(&self.post);
        s
    }
}

/// The regex-visible text of a buffer: fail2ban's `_tupleLinesBuf`, the
/// lines joined by `\n` and a `\n` after the last.
pub fn buffer_text(lines: &[TLine]) -> String {
    let mut s = String::new();
    buffer_text_into(lines, &mut s);
    s
}

/// [`buffer_text`] into `s` (its allocation reused).
pub fn buffer_text_into(lines: &[TLine], s: &mut String) {
    s.clear();
    for (i, l) in lines.iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        s.push_str(&l.pre);
        s.push_str(&l.post);
    }
    s.push('\n');
}

/// Splits `org` into (matched, unmatched) lines for a match at
/// `start..end` of `buf` (fail2ban's `Regex.search` bookkeeping).
pub fn split_matched(
    buf: &str,
    start: usize,
    end: usize,
    org: &[TLine],
    skipped: &[String],
) -> (Vec<TLine>, Vec<TLine>) {
    if org.len() <= 1 {
        return (org.to_vec(), Vec::new());
    }
    let b = buf.as_bytes();
    let count = |to: usize| b[..to.min(b.len())].iter().filter(|&&c| c == b'\n').count();
    let l1 = count(start + 1);
    let from = end.saturating_sub(1);
    let l2 = match b
        .get(from..)
        .and_then(|r| r.iter().position(|&c| c == b'\n'))
    {
        Some(p) => count(from + p) + 1,
        None => count(b.len()) + 1,
    };
    let l1 = l1.min(org.len());
    let l2 = l2.clamp(l1, org.len());
    let mut matched: Vec<TLine> = org[l1..l2].to_vec();
    let mut unmatched: Vec<TLine> = org[..l1].to_vec();
    let mut n = 0;
    for sk in skipped {
        if let Some(m) = matched[n.min(matched.len())..]
            .iter()
            .position(|l| l.text() == *sk)
        {
            unmatched.push(matched.remove(n + m));
            n += m;
        }
    }
    unmatched.extend_from_slice(&org[l2..]);
    (matched, unmatched)
}

/// fail2ban's failure dict: the groups (by slot of the filter's
/// [`crate::filter::fields::Names`], shared with the failures made from
/// it) and the special keys kept apart.
#[derive(Debug, Clone, Default)]
pub struct FailData {
    pub g: Arc<Slots>,
    pub users: Option<Vec<String>>,
    pub matches: Option<Vec<Arc<str>>>,
    pub nofail_matches: Option<Vec<Arc<str>>>,
    /// Set when the id is complex: the address next to it (`fail['ip']`).
    pub ip: Option<String>,
}

impl FailData {
    /// Its groups become a copy of `g`.
    fn set_groups(&mut self, g: &Slots) {
        match Arc::get_mut(&mut self.g) {
            Some(s) if s.len() == g.len() => s.assign(g),
            _ => self.g = Arc::new(g.clone()),
        }
    }
}

/// Adds a non-empty user not seen yet; the number of users, if any were.
fn add_user(users: &mut Option<Vec<String>>, user: Option<&str>) -> Option<usize> {
    if let Some(u) = user.filter(|u| !u.is_empty()) {
        let users = users.get_or_insert_with(Vec::new);
        if !users.iter().any(|x| x == u) {
            users.push(u.to_string());
        }
    }
    users.as_ref().map(Vec::len)
}

/// The full text of `matched` onto `out` (`buf`: scratch).
pub fn push_lines(out: &mut Vec<Arc<str>>, matched: &[TLine], buf: &mut String) {
    for l in matched {
        buf.clear();
        buf.push_str(&l.pre);
        buf.push_str(&l.date);
        buf.push_str(&l.post);
        out.push(Arc::from(buf.as_str()));
    }
}

/// Where a match's merged failure data is.
#[derive(Debug)]
pub enum Merged {
    /// The cache's entry (in that slot), changed in place.
    Cached(SlotId),
    /// A new entry for the cache.
    New(FailData),
    /// The cache's entry, forgotten: taken out of the cache.
    Gone(FailData),
    /// The match's own data, not for the cache.
    Own(FailData),
}

impl Merged {
    /// The merged data.
    pub fn fail<'a>(&'a mut self, cache: &'a mut MlfidCache) -> &'a mut FailData {
        match self {
            Merged::Cached(i) => cache.at(*i),
            Merged::New(f) | Merged::Gone(f) | Merged::Own(f) => f,
        }
    }

    /// Stores it in the cache (after the caller's last changes), as
    /// fail2ban's cache holds it.
    pub fn store(self, cache: &mut MlfidCache, mlfid: &str) {
        match self {
            // changed in place: fail2ban stores an entry only once
            Merged::Cached(_) => {}
            Merged::New(f) => cache.put(mlfid, f),
            Merged::Gone(f) => cache.recycle(f),
            Merged::Own(_) => {}
        }
    }
}

/// fail2ban's `_mergeFailure` of a match's groups `cur` (changed: they
/// are the match's own data when nothing is cached); `line`: scratch.
pub fn merge(
    cache: &mut MlfidCache,
    sp: &Special,
    mlfid: &str,
    cur: &mut Arc<Slots>,
    matched: &[TLine],
    line: &mut String,
) -> Merged {
    let new = Arc::make_mut(cur);
    let mut fl = 0u8;
    if new.truthy(sp.mlfgained) {
        fl |= 8 | 1;
        if !new.truthy(sp.nofail) {
            new.copy(sp.mlfgained, sp.nofail);
        }
    } else if new.truthy(sp.nofail) {
        fl |= 1;
    }
    if new.pop_truthy(sp.mlfforget) {
        fl |= 2;
    }
    let new: &Slots = new;
    if let Some(i) = cache.live(mlfid) {
        let g = cache.at(i);
        let users = add_user(&mut g.users, new.get(sp.user));
        let s = Arc::make_mut(&mut g.g);
        if s.pop_truthy(sp.nofail) {
            fl |= 4;
        }
        if s.pop_truthy(sp.mlfgained) {
            fl |= 4;
        }
        if fl & 8 != 0 {
            s.unset(sp.mlfpending);
        }
        if fl & 4 == 0 && !s.truthy(sp.mlfpending) {
            g.matches = None;
        }
        s.update(new);
        reset_nofail(s, sp, &mut fl, users);
        merge_matches(g, fl, matched, line);
        if fl & 2 == 0 {
            return Merged::Cached(i);
        }
        return Merged::Gone(cache.take(i));
    }
    let new = Arc::make_mut(cur);
    if fl & 2 == 0 {
        let mut f = cache.fresh();
        let n = add_user(&mut f.users, new.get(sp.user));
        reset_nofail(new, sp, &mut fl, n);
        f.set_groups(new);
        merge_matches(&mut f, fl, matched, line);
        Merged::New(f)
    } else {
        reset_nofail(new, sp, &mut fl, None);
        let mut f = FailData {
            g: Arc::clone(cur),
            ..FailData::default()
        };
        merge_matches(&mut f, fl, matched, line);
        Merged::Own(f)
    }
}

/// Pending failures or another user reset the NOFAIL state.
fn reset_nofail(s: &mut Slots, sp: &Special, fl: &mut u8, users: Option<usize>) {
    if s.pop_truthy(sp.mlfpending) || users.is_some_and(|n| n > 1) {
        s.unset(sp.nofail);
        s.unset(sp.mlfgained);
        *fl &= !(8 | 1);
    }
}

fn merge_matches(f: &mut FailData, fl: u8, matched: &[TLine], line: &mut String) {
    if fl & 1 == 0 {
        let mut m = match f.nofail_matches.take() {
            Some(mut m) => {
                m.extend(f.matches.take().unwrap_or_default());
                m
            }
            None => f.matches.take().unwrap_or_default(),
        };
        if fl & 8 == 0 {
            push_lines(&mut m, matched, line);
        }
        f.matches = Some(m);
    } else if fl & 3 == 1 {
        push_lines(f.nofail_matches.get_or_insert_with(Vec::new), matched, line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::fields::Names;

    fn line(s: &str) -> TLine {
        TLine {
            post: s.into(),
            ..Default::default()
        }
    }

    fn names() -> Names {
        Names::new(["mlfid", "nofail", "ip4", "user"])
    }

    fn slots(n: &Names, pairs: &[(&str, &str)]) -> Arc<Slots> {
        let mut s = n.slots();
        for (k, v) in pairs {
            s.set(n.id(k).unwrap(), v);
        }
        Arc::new(s)
    }

    #[test]
    fn matched_lines_of_a_buffer() {
        let org = vec![line("a"), line("b x"), line("c"), line("d")];
        let buf = buffer_text(&org);
        let s = buf.find("b x").unwrap();
        let e = buf.find('c').unwrap() + 1;
        let (m, u) = split_matched(&buf, s, e, &org, &[]);
        assert_eq!(m, vec![line("b x"), line("c")]);
        assert_eq!(u, vec![line("a"), line("d")]);
        let (m, u) = split_matched(&buf, s, buf.len(), &org, &["c".into()]);
        assert_eq!(m, vec![line("b x"), line("d")]);
        assert_eq!(u, vec![line("a"), line("c")]);
    }

    #[test]
    fn nofail_then_failure_carries_both_lines() {
        let n = names();
        let sp = n.sp;
        let mut c = MlfidCache::new(10);
        let mut buf = String::new();
        let mut cur = slots(
            &n,
            &[("mlfid", "c1"), ("nofail", "x"), ("ip4", "192.0.2.1")],
        );
        let mut m1 = merge(&mut c, &sp, "c1", &mut cur, &[line("l1")], &mut buf);
        assert!(matches!(m1, Merged::New(_)));
        assert!(m1.fail(&mut c).g.truthy(sp.nofail));
        m1.store(&mut c, "c1");
        let mut cur = slots(&n, &[("mlfid", "c1"), ("user", "root")]);
        let mut m2 = merge(&mut c, &sp, "c1", &mut cur, &[line("l2")], &mut buf);
        assert!(matches!(m2, Merged::Cached(_)));
        let f = m2.fail(&mut c);
        assert!(!f.g.truthy(sp.nofail));
        assert_eq!(f.g.get(sp.ip4), Some("192.0.2.1"));
        let want: Vec<Arc<str>> = vec!["l1".into(), "l2".into()];
        assert_eq!(f.matches.as_ref(), Some(&want));
    }

    /// Merges a match of `pairs` for `k` and stores what it gives.
    fn merge_store(c: &mut MlfidCache, n: &Names, k: &str, pairs: &[(&str, &str)]) -> bool {
        let mut buf = String::new();
        let m = merge(c, &n.sp, k, &mut slots(n, pairs), &[], &mut buf);
        let gone = matches!(m, Merged::Gone(_));
        m.store(c, k);
        gone
    }

    #[test]
    fn forget_drops_the_entry_and_cache_is_bounded() {
        let n = Names::new(["mlfforget"]);
        let mut c = MlfidCache::new(2);
        assert!(!merge_store(&mut c, &n, "a", &[("nofail", "x")]));
        assert_eq!(c.len(), 1);
        assert!(merge_store(&mut c, &n, "a", &[("mlfforget", "y")]));
        assert!(c.is_empty());
        for k in ["x", "y", "z"] {
            c.put(k, FailData::default());
        }
        assert_eq!(c.len(), 2);
    }

    /// As fail2ban's cache: an entry changed in place keeps its place, so
    /// it is evicted first; one forgotten and stored again is new.
    #[test]
    fn eviction_is_by_first_store() {
        let n = Names::new(["mlfforget"]);
        let mut c = MlfidCache::new(2);
        for k in ["a", "b", "a"] {
            merge_store(&mut c, &n, k, &[("nofail", "x")]);
        }
        c.put("c", FailData::default());
        assert!(c.get_mut("a").is_none() && c.get_mut("b").is_some());
        // forgotten, then stored again: now the newest
        assert!(merge_store(&mut c, &n, "b", &[("mlfforget", "y")]));
        c.put("b", FailData::default());
        c.put("d", FailData::default());
        assert!(c.get_mut("c").is_none() && c.get_mut("b").is_some() && c.get_mut("d").is_some());
    }

    #[test]
    fn an_id_stored_again_is_evicted_by_its_first_store() {
        let n = names();
        let sp = n.sp;
        let mut c = MlfidCache::new(2);
        let mut buf = String::new();
        for k in ["a", "a", "b", "c"] {
            let m = merge(
                &mut c,
                &sp,
                k,
                &mut slots(&n, &[("nofail", "x")]),
                &[],
                &mut buf,
            );
            m.store(&mut c, k);
        }
        assert!(c.get_mut("a").is_none());
        assert!(c.get_mut("b").is_some() && c.get_mut("c").is_some());
    }
}
