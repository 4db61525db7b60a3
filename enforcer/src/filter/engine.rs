//! Owns [`Filter`]: a compiled filter and its matching pipeline, a port of
//! fail2ban's `Filter.processLine` / `findFailure`: the date detector splits
//! the line, the last `maxlines` lines are buffered, prefregex must match
//! and its F-CONTENT replaces the buffer, failregexes are tried in order
//! (first match wins unless `check_all`), ignoreregex vetoes, F-MLFID
//! merges lines, and the failure id comes from F-ID / ip4 / ip6 / dns.
//!
//! The fast path: when a line contains none of the literals a failregex
//! needs, that regex is not run; when no regex can match (and `maxlines`
//! is 1) the line costs the date match and one Aho-Corasick scan.
use std::borrow::Cow;

use super::date::DateDetector;
use super::date::strptime::zone_offset;
use super::dns::Resolver;
use super::multiline::{FailData, MlfidCache, TLine, buffer_text, merge, split_matched};
use super::prefilter::{Prefilter, required_literals};
use super::tags;
use super::translate;
use super::{Failure, FilterError, FilterOptions, UseDns};
use ids::make_failure;
use rx::Rx;

/// What a filter is built from (the config's `FilterDef` maps onto it).
#[derive(Debug, Clone, Default)]
pub struct FilterParts {
    pub name: String,
    pub prefregex: Option<String>,
    pub failregex: Vec<String>,
    pub ignoreregex: Vec<String>,
    pub maxlines: usize,
    pub datepattern: Option<String>,
}

impl From<&crate::config::FilterDef> for FilterParts {
    fn from(def: &crate::config::FilterDef) -> FilterParts {
        FilterParts {
            name: def.name.clone(),
            prefregex: def.prefregex.clone(),
            failregex: def.failregex.clone(),
            ignoreregex: def.ignoreregex.clone(),
            maxlines: def.maxlines,
            datepattern: def.datepattern.clone(),
        }
    }
}

/// Counters for `enforcer regex`.
#[derive(Debug, Clone, Default)]
pub struct RegexStats {
    pub fail_hits: Vec<u64>,
    pub ignore_hits: Vec<u64>,
}

/// How the current line was split around its date.
enum Split {
    Parts(usize, usize),
    LastDate,
    Whole,
}

/// A compiled filter with its run-time state (buffer, F-MLFID cache, dates).
pub struct Filter {
    pub name: String,
    pref: Option<Rx>,
    fail: Vec<Rx>,
    ignore: Vec<Rx>,
    maxlines: usize,
    dd: DateDetector,
    opts: FilterOptions,
    prefilter: Prefilter,
    pref_filter: Option<Prefilter>,
    cand: Vec<bool>,
    scratch: String,
    buffer: Vec<TLine>,
    cache: MlfidCache,
    last_date: Option<f64>,
    last_time_text: String,
    resolver: Option<Resolver>,
    dns_warned: bool,
    pub stats: RegexStats,
    /// Whether an ignoreregex vetoed the last line.
    pub last_ignored: bool,
    /// Matches of the last line that named no one yet (F-MLFID pending):
    /// (without F-NOFAIL, with F-NOFAIL). fail2ban-regex counts the first
    /// kind as matched lines, the second as ignored.
    pub last_pending: (u32, u32),
}

impl Filter {
    /// Compiles a filter resolved by the config room.
    pub fn new(
        def: &crate::config::FilterDef,
        opts: &FilterOptions,
    ) -> Result<Filter, FilterError> {
        Self::from_parts(&FilterParts::from(def), opts)
    }

    /// Compiles a filter from its parts.
    pub fn from_parts(p: &FilterParts, opts: &FilterOptions) -> Result<Filter, FilterError> {
        let use_dns = opts.usedns != UseDns::No;
        let pref = match p.prefregex.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(r) => Some(Rx::new(r, use_dns, false, "prefregex", 0)?),
            None => None,
        };
        let mut fail = Vec::new();
        for (i, r) in p.failregex.iter().enumerate() {
            if r.trim().is_empty() {
                return Err(FilterError::Empty(i));
            }
            let rx = Rx::new(r, use_dns, p.maxlines > 1, "failregex", i)?;
            if !rx.has_id_group() && !pref.as_ref().is_some_and(Rx::has_id_group) {
                return Err(FilterError::NoFailureId {
                    index: i,
                    regex: r.clone(),
                });
            }
            fail.push(rx);
        }
        let mut ignore = Vec::new();
        for (i, r) in p
            .ignoreregex
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.trim().is_empty())
        {
            ignore.push(Rx::new(r, use_dns, false, "ignoreregex", i)?);
        }
        let lits = |rx: &Rx| {
            let t = translate::translate(&tags::expand(&rx.pat.source, use_dns));
            required_literals(&t.pattern)
        };
        let prefilter = Prefilter::new(&fail.iter().map(lits).collect::<Vec<_>>());
        let pref_filter = pref
            .as_ref()
            .map(|r| Prefilter::new(&[lits(r)]))
            .filter(|p| !p.is_trivial());
        let mut dd = match p.datepattern.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(dp) => DateDetector::from_datepattern(dp)?,
            None => DateDetector::with_defaults(),
        };
        if let Some(tz) = &opts.logtimezone {
            dd.default_tz = Some(zone_offset(tz)?);
        }
        let stats = RegexStats {
            fail_hits: vec![0; fail.len()],
            ignore_hits: vec![0; ignore.len()],
        };
        Ok(Filter {
            name: p.name.clone(),
            pref,
            fail,
            ignore,
            maxlines: p.maxlines.max(1),
            dd,
            opts: opts.clone(),
            prefilter,
            pref_filter,
            cand: Vec::new(),
            scratch: String::new(),
            buffer: Vec::new(),
            cache: MlfidCache::new(opts.mlfid_cache),
            last_date: None,
            last_time_text: String::new(),
            resolver: (opts.usedns == UseDns::Yes && !opts.raw_host).then(Resolver::default),
            dns_warned: false,
            stats,
            last_ignored: false,
            last_pending: (0, 0),
        })
    }

    /// Number of failregexes.
    pub fn failregex_count(&self) -> usize {
        self.fail.len()
    }

    /// The failregexes (Python source, tags expanded) and the engine each
    /// runs on: "" (regex), "regex + checks" (rewritten, see
    /// [`super::linear`]) or "fancy-regex".
    pub fn failregex_info(&self) -> Vec<(String, &'static str)> {
        self.fail
            .iter()
            .map(|r| {
                let engine = match (r.pat.is_fancy(), r.pat.is_linear()) {
                    (true, _) => "fancy-regex",
                    (_, true) => "regex + checks",
                    _ => "",
                };
                (r.pat.source.clone(), engine)
            })
            .collect()
    }

    /// The failregexes as the Rust engines see them (tags expanded, translated).
    pub fn failregex_rust(&self) -> Vec<String> {
        self.fail
            .iter()
            .map(|r| translate::translate(&r.pat.source).pattern)
            .collect()
    }

    /// Whether prefregex runs on fancy-regex.
    pub fn prefregex_fancy(&self) -> bool {
        self.pref.as_ref().is_some_and(|r| r.pat.is_fancy())
    }

    /// Date templates by name with their hits.
    pub fn date_stats(&self) -> Vec<(String, u64)> {
        self.dd.stats()
    }

    fn now(&self) -> f64 {
        self.opts.now.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0)
        })
    }

    /// Feed one raw log line (bytes, no trailing newline); returns failures found.
    pub fn process_line(&mut self, line: &[u8], out: &mut Vec<Failure>) {
        let line = self.cut(strip_eol(line));
        let text = String::from_utf8_lossy(line);
        self.last_ignored = false;
        self.last_pending = (0, 0);
        let now = self.now();
        let mut date = None;
        let mut split = Split::Whole;
        if let Some(f) = self.dd.match_time(&text) {
            let (s, e) = (f.m.dstart, f.m.dend);
            split = Split::Parts(s, e);
            if s < e {
                date = self.dd.get_time(&text, &f, now);
                if let Some(d) = date {
                    self.last_time_text.clear();
                    self.last_time_text.push_str(&text[s..e]);
                    self.last_date = Some(d);
                }
            } else if let Some(ld) = self.last_date.filter(|&d| d > now - 60.0) {
                split = Split::LastDate;
                date = Some(ld);
            } else {
                date = Some(now);
            }
        }
        if date.is_none()
            && let Some(ld) = self.last_date.filter(|&d| d > now - 60.0)
        {
            split = Split::LastDate;
            date = Some(ld);
        }
        if self.maxlines == 1 {
            // The prefilter sees what the regexes see: the line without its
            // date (a literal like `[] "` may span the cut).
            let mut scratch = std::mem::take(&mut self.scratch);
            scratch.clear();
            match split {
                Split::Parts(s, e) => {
                    scratch.push_str(&text[..s]);
                    scratch.push_str(&text[e..]);
                }
                Split::LastDate | Split::Whole => scratch.push_str(&text),
            }
            let may = self.may_match(scratch.as_bytes());
            self.scratch = scratch;
            if !may {
                return;
            }
        }
        let tl = match split {
            Split::Parts(s, e) => TLine {
                pre: text[..s].to_string(),
                date: text[s..e].to_string(),
                post: text[e..].to_string(),
            },
            Split::LastDate => TLine {
                pre: String::new(),
                date: self.last_time_text.clone(),
                post: text.to_string(),
            },
            Split::Whole => TLine {
                post: text.to_string(),
                ..Default::default()
            },
        };
        self.feed(tl, date, now, out);
    }

    /// Feed a journal entry whose time is known (no date detection).
    pub fn process_entry(&mut self, line: &[u8], time: f64, out: &mut Vec<Failure>) {
        let line = self.cut(strip_eol(line));
        self.last_ignored = false;
        self.last_pending = (0, 0);
        if self.maxlines == 1 && !self.may_match(line) {
            return;
        }
        let text: Cow<str> = String::from_utf8_lossy(line);
        let now = self.now();
        self.last_date = Some(time);
        self.feed(
            TLine {
                post: text.into_owned(),
                ..Default::default()
            },
            Some(time),
            now,
            out,
        );
    }

    /// A line cut to `max_line` bytes (at a UTF-8 boundary when it is UTF-8).
    fn cut<'a>(&self, line: &'a [u8]) -> &'a [u8] {
        let max = self.opts.max_line.max(1);
        if line.len() <= max {
            return line;
        }
        let mut end = max;
        // step back over UTF-8 continuation bytes
        while end > 0 && end > max - 3 && (line[end] & 0xC0) == 0x80 {
            end -= 1;
        }
        &line[..end]
    }

    /// The prefilter: can any failregex (and prefregex) match this text?
    fn may_match(&mut self, hay: &[u8]) -> bool {
        let mut scratch = std::mem::take(&mut self.cand);
        if let Some(pf) = &self.pref_filter
            && !pf.candidates(hay, &mut scratch)
        {
            self.cand = scratch;
            return false;
        }
        let any = self.prefilter.candidates(hay, &mut scratch);
        self.cand = scratch;
        any
    }

    fn feed(&mut self, tl: TLine, date: Option<f64>, now: f64, out: &mut Vec<Failure>) {
        if self.maxlines > 1 {
            self.buffer.push(tl);
            if self.buffer.len() > self.maxlines {
                let cut = self.buffer.len() - self.maxlines;
                self.buffer.drain(..cut);
            }
            let text = buffer_text(&self.buffer);
            if !self.may_match(text.as_bytes()) {
                return;
            }
        } else {
            self.buffer.clear();
            self.buffer.push(tl);
        }
        self.find_failure(date.unwrap_or(now), out);
    }

    /// fail2ban's `_ignoreLine`; `matched` = the failregex's (matched, unmatched) lines.
    fn ignore_line(&mut self, buf: &str, matched: Option<&(Vec<TLine>, Vec<TLine>)>) -> bool {
        let own;
        let b = match matched {
            Some((m, _)) if self.maxlines > 1 => {
                own = buffer_text(m);
                own.as_str()
            }
            _ => buf,
        };
        let mut found = false;
        for i in 0..self.ignore.len() {
            if self.ignore[i].search(b) {
                found = true;
                self.stats.ignore_hits[i] += 1;
                if (!self.opts.check_all || self.maxlines > 1)
                    && let Some((_, unmatched)) = matched
                {
                    self.buffer = unmatched.clone();
                }
                if !self.opts.check_all {
                    break;
                }
            }
        }
        found
    }

    fn find_failure(&mut self, date: f64, out: &mut Vec<Failure>) {
        // The buffer as it was on entry (`org`), kept aside only once
        // `self.buffer` is replaced: cloning it for every line cost an
        // allocation per line for the common case where it never changes.
        let mut org_saved: Option<Vec<TLine>> = None;
        let mut buf: Option<String> = Some(buffer_text(&self.buffer));
        let nfail = self.fail.len();
        if !self.ignore.is_empty()
            && (self.ignore.len() as isize) < nfail as isize - 2
            && self.ignore_line(buf.as_deref().unwrap_or(""), None)
        {
            self.last_ignored = true;
            return;
        }
        let mut pre = FailData::default();
        if let Some(p) = self.pref.as_mut() {
            let b = buf.as_deref().unwrap_or("");
            if !p.search(b) {
                return;
            }
            pre = p.groups(b);
            if let Some(content) = pre.g.remove("content").filter(|c| !c.is_empty()) {
                org_saved = Some(std::mem::replace(
                    &mut self.buffer,
                    vec![TLine {
                        post: content,
                        ..Default::default()
                    }],
                ));
                buf = None;
            }
        }
        for i in 0..nfail {
            if self.cand.get(i) == Some(&false) {
                continue;
            }
            let b: &str = buf.get_or_insert_with(|| buffer_text(&self.buffer));
            if !self.fail[i].search(b) {
                continue;
            }
            let rx = &self.fail[i];
            let (ms, me) = rx.span();
            let mut fd = rx.groups(b);
            let skipped = rx.skipped(b);
            let org = org_saved.as_deref().unwrap_or(&self.buffer);
            let lines = split_matched(b, ms, me, org, &skipped);
            if !self.ignore.is_empty() {
                // ignore_line may replace the buffer: keep the original.
                if org_saved.is_none() {
                    org_saved = Some(self.buffer.clone());
                }
            }
            if !self.ignore.is_empty() && self.ignore_line(b, Some(&lines)) {
                self.last_ignored = true;
                buf = None;
                if !self.opts.check_all {
                    break;
                }
                continue;
            }
            let (matched, unmatched) = lines;
            if !self.opts.check_all || self.maxlines > 1 {
                let old = std::mem::replace(&mut self.buffer, unmatched);
                if org_saved.is_none() {
                    org_saved = Some(old);
                }
                buf = None;
            }
            if !pre.g.is_empty() {
                // The failregex's groups win, but (as in fail2ban 1.1) one
                // that did not take part leaves prefregex's value alone.
                let mut f = pre.clone();
                f.g.append(&mut fd.g);
                fd = f;
            }
            let mlfid = fd.g.get("mlfid").cloned();
            let mut cached = false;
            if let Some(id) = &mlfid {
                let m = merge(&mut self.cache, id, fd, &matched);
                fd = m.fail;
                cached = m.cached;
                if fd.truthy("nofail") && !self.opts.check_all {
                    if cached {
                        self.cache.put(id, fd);
                    }
                    return;
                }
            } else {
                fd.matches.get_or_insert_with(Vec::new).extend(matched);
            }
            let found = self.failure_ids(i, &mut fd, mlfid.is_some());
            if cached && let Some(id) = &mlfid {
                self.cache.put(id, fd.clone());
            }
            let Some(ids) = found else {
                // pending: an F-MLFID line that names no one yet
                if fd.truthy("nofail") {
                    self.last_pending.1 += 1;
                } else {
                    self.last_pending.0 += 1;
                }
                if !self.opts.check_all {
                    break;
                }
                continue;
            };
            for (fid, addr) in ids {
                self.stats.fail_hits[i] += 1;
                out.push(make_failure(i, fid, addr, &fd, date));
            }
            if !self.opts.check_all {
                break;
            }
        }
    }
}

fn strip_eol(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r' | b'\n'] = line {
        line = rest;
    }
    line
}

mod ids;
mod rx;
#[cfg(test)]
mod tests;
