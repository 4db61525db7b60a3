//! Owns what spans lines: the buffered lines (fail2ban's tuple lines: text
//! before the date, the date, text after), which of them a multi-line match
//! covers (minus `<SKIPLINES>`), the failure data a match accumulates, and
//! the bounded F-MLFID cache with fail2ban's NOFAIL / MLFFORGET /
//! MLFGAINED merge rules (`Filter._mergeFailure`).
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A log line split around its date.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TLine {
    pub pre: String,
    pub date: String,
    pub post: String,
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

/// The regex-visible text of a buffer: lines joined by `\n`.
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

/// fail2ban's failure dict: groups by name (only those with a value) and
/// the special keys kept apart. Names are shared with the pattern that
/// captured them (no allocation per group and line).
#[derive(Debug, Clone, Default)]
pub struct FailData {
    pub g: BTreeMap<Arc<str>, String>,
    pub users: Option<Vec<String>>,
    pub matches: Option<Vec<TLine>>,
    pub nofail_matches: Option<Vec<TLine>>,
    /// Set when the id is complex: the address next to it (`fail['ip']`).
    pub ip: Option<String>,
}

impl FailData {
    /// Python truthiness of a group value.
    pub fn truthy(&self, k: &str) -> bool {
        self.g.get(k).is_some_and(|v| !v.is_empty())
    }
    fn pop_truthy(&mut self, k: &str) -> bool {
        self.g.remove(k).is_some_and(|v| !v.is_empty())
    }
    fn add_user(&mut self, user: Option<&str>) -> Option<usize> {
        if let Some(u) = user.filter(|u| !u.is_empty()) {
            let users = self.users.get_or_insert_with(Vec::new);
            if !users.iter().any(|x| x == u) {
                users.push(u.to_string());
            }
        }
        self.users.as_ref().map(Vec::len)
    }
}

/// The bounded F-MLFID cache (FIFO eviction, entries expire after 5 minutes).
#[derive(Debug)]
pub struct MlfidCache {
    map: HashMap<String, (FailData, Instant)>,
    order: VecDeque<String>,
    max: usize,
    ttl: Duration,
}

impl MlfidCache {
    pub fn new(max: usize) -> MlfidCache {
        MlfidCache {
            map: HashMap::new(),
            order: VecDeque::new(),
            max: max.max(1),
            ttl: Duration::from_secs(300),
        }
    }

    /// Takes the entry out (callers put it back with [`Self::put`]).
    fn take(&mut self, k: &str) -> Option<FailData> {
        let (v, exp) = self.map.remove(k)?;
        (exp > Instant::now()).then_some(v)
    }

    /// Stores (or refreshes) an entry.
    pub fn put(&mut self, k: &str, v: FailData) {
        let now = Instant::now();
        if !self.map.contains_key(k) {
            if self.map.len() >= self.max {
                while let Some(old) = self.order.pop_front() {
                    if let Some((_, exp)) = self.map.remove(&old)
                        && exp > now
                        && self.map.len() < self.max
                    {
                        break;
                    }
                }
            }
            if self.order.len() > 2 * self.max {
                // drop keys that were taken out (forgotten) since
                self.order.retain(|x| self.map.contains_key(x));
            }
            self.order.push_back(k.to_string());
        }
        self.map.insert(k.to_string(), (v, now + self.ttl));
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Result of merging a match into the F-MLFID state.
pub struct Merged {
    pub fail: FailData,
    /// Whether `fail` is (still) the cached entry: the caller stores it
    /// back after its own last changes.
    pub cached: bool,
}

/// fail2ban's `_mergeFailure`.
pub fn merge(cache: &mut MlfidCache, mlfid: &str, mut fail: FailData, matched: &[TLine]) -> Merged {
    let prev = cache.take(mlfid);
    let mut fl = 0u8;
    if fail.truthy("mlfgained") {
        fl |= 8 | 1;
        if !fail.truthy("nofail") {
            let g = fail.g.get("mlfgained").cloned().unwrap_or_default();
            fail.g.insert("nofail".into(), g);
        }
    } else if fail.truthy("nofail") {
        fl |= 1;
    }
    if fail.pop_truthy("mlfforget") {
        fl |= 2;
    }
    let users;
    let cached;
    let mut fail = match prev {
        Some(mut g) => {
            users = g.add_user(fail.g.get("user").map(String::as_str));
            if g.pop_truthy("nofail") {
                fl |= 4;
            }
            if g.pop_truthy("mlfgained") {
                fl |= 4;
            }
            if fl & 8 != 0 {
                g.g.remove("mlfpending");
            }
            if fl & 4 == 0 && !g.truthy("mlfpending") {
                g.matches = None;
            }
            for (k, v) in fail.g {
                g.g.insert(k, v);
            }
            cached = fl & 2 == 0;
            g
        }
        None if fl & 2 == 0 => {
            users = fail.add_user(fail.g.get("user").cloned().as_deref());
            cached = true;
            fail
        }
        None => {
            users = None;
            cached = false;
            fail
        }
    };
    if fail.pop_truthy("mlfpending") || users.is_some_and(|n| n > 1) {
        fail.g.remove("nofail");
        fail.g.remove("mlfgained");
        fl &= !(8 | 1);
    }
    if fl & 1 == 0 {
        let mut m = fail.nofail_matches.take().unwrap_or_default();
        m.extend(fail.matches.take().unwrap_or_default());
        if fl & 8 == 0 {
            m.extend_from_slice(matched);
        }
        fail.matches = Some(m);
    } else if fl & 3 == 1 {
        fail.nofail_matches
            .get_or_insert_with(Vec::new)
            .extend_from_slice(matched);
    }
    Merged { fail, cached }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> TLine {
        TLine {
            post: s.into(),
            ..Default::default()
        }
    }

    fn fd(pairs: &[(&str, &str)]) -> FailData {
        FailData {
            g: pairs
                .iter()
                .map(|(k, v)| (Arc::from(*k), v.to_string()))
                .collect(),
            ..Default::default()
        }
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
        let mut c = MlfidCache::new(10);
        let m1 = merge(
            &mut c,
            "c1",
            fd(&[("mlfid", "c1"), ("nofail", "x"), ("ip4", "192.0.2.1")]),
            &[line("l1")],
        );
        assert!(m1.cached && m1.fail.truthy("nofail"));
        c.put("c1", m1.fail);
        let m2 = merge(
            &mut c,
            "c1",
            fd(&[("mlfid", "c1"), ("user", "root")]),
            &[line("l2")],
        );
        assert!(!m2.fail.truthy("nofail"));
        assert_eq!(m2.fail.g.get("ip4").map(String::as_str), Some("192.0.2.1"));
        assert_eq!(
            m2.fail.matches.as_ref().unwrap(),
            &vec![line("l1"), line("l2")]
        );
    }

    #[test]
    fn forget_drops_the_entry_and_cache_is_bounded() {
        let mut c = MlfidCache::new(2);
        let m = merge(&mut c, "a", fd(&[("nofail", "x")]), &[]);
        c.put("a", m.fail);
        let m = merge(&mut c, "a", fd(&[("mlfforget", "y")]), &[]);
        assert!(!m.cached);
        assert!(c.is_empty());
        for k in ["x", "y", "z"] {
            c.put(k, FailData::default());
        }
        assert_eq!(c.len(), 2);
    }
}
