//! Owns the date detector: the list of date templates a filter tries on
//! each line (fail2ban's defaults with their line-anchored forms, or the
//! filter's `datepattern` lines: strptime patterns, `{^LN-BEG}`, `{DATE}`,
//! `EPOCH`/`LEPOCH`, `TAI64N`, `{NONE}`, `{UNB}`), tried the way fail2ban's
//! `DateDetector.matchTime` does: last template first within its last
//! boundaries, then all, templates bubbling up by hits. A line that starts
//! like the last one searched gets the template's memoised match (see
//! `memo.rs`) and the stamp's parsed fields, with the same outcome and state
//! changes as a real search.
mod chars;
mod memo;
pub mod strptime;
mod syslog;
pub mod template;

use std::sync::{Arc, OnceLock};

use chars::{byte_index, char_at, char_before, char_index, char_span, py_char, py_char_before};
use memo::{Cover, Memo};
use strptime::Parsed;
use template::{DateMatch, LINE_BEGIN, LINE_END, Template};

use crate::filter::translate::Caps;

/// How far into a line a template that is not line-anchored may find its
/// date. fail2ban searches the whole line; a stamp beyond the first few KB
/// does not occur in real logs, and the bound keeps a hostile 1 MB line
/// from costing every template a full scan.
pub const SEARCH_WINDOW: usize = 4096;

/// A bad `datepattern` or time zone.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct DateError(pub String);

/// fail2ban's default date patterns, in its order.
const DEFAULT_TEMPLATES: [&str; 17] = [
    r"%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T|  ?)%H:%M:%S(?:[.,]%f)?(?:\s*%z)?",
    r"(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    r"(?:%a )?%b %d %ExY %k:%M:%S(?:\.%f)?",
    r"%d(?P<_sep>[-/])%m(?P=_sep)(?:%ExY|%Exy) %k:%M:%S",
    r"%d(?P<_sep>[-/])%b(?P=_sep)%ExY[ :]?%H:%M:%S(?:\.%f)?(?: %z)?",
    r"%m/%d/%ExY:%H:%M:%S",
    r"%m-%d-%ExY %k:%M:%S(?:\.%f)?",
    r"EPOCH",
    r"{^LN-BEG}%H:%M:%S",
    r"^<%m/%d/%Exy@%H:%M:%S>",
    r"%Exy%Exm%Exd  ?%H:%M:%S",
    r"%b %d, %ExY %I:%M:%S %p",
    r"^%b-%d-%Exy %k:%M:%S",
    r"%ExY%Exm%Exd(?:T|  ?)%ExH%ExM%ExS(?:[.,]%f)?(?:\s*%z)?",
    r"(?:%Z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    r"(?:%z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    r"TAI64N",
];

struct Defaults {
    /// The 17 defaults as written.
    plain: Vec<Arc<Template>>,
    /// Anchored forms (weight 100) first, then the plain ones.
    all: Vec<Arc<Template>>,
}

fn defaults() -> &'static Defaults {
    static D: OnceLock<Defaults> = OnceLock::new();
    D.get_or_init(|| {
        let plain: Vec<Arc<Template>> = DEFAULT_TEMPLATES
            .iter()
            .map(|p| Arc::new(Template::from_pattern(p).expect("default date template")))
            .collect();
        let mut anchored = Vec::new();
        for t in &plain {
            if !t.name.starts_with("{^LN-BEG}") && !t.name.starts_with('^') {
                let mut a = t.anchored().expect("anchored default template");
                if a.name != t.name {
                    a.weight = 100.0;
                    anchored.push(Arc::new(a));
                }
            }
        }
        let mut all = anchored;
        all.extend(plain.iter().cloned());
        Defaults { plain, all }
    })
}

/// Compiles, on a thread of its own and last first, the default templates
/// a detector for `datepattern` holds (none, `{DEFAULT}`, `{^LN-BEG}`;
/// for any other pattern there is nothing to start). They are shared and
/// each compiled once: a detector that gets to one still compiling waits
/// for it. `enforcer regex` starts it before it compiles the filter, so
/// that the second core takes its part of start-up.
pub fn warm_defaults(datepattern: Option<&str>) -> Option<std::thread::JoinHandle<()>> {
    let line_begin = match datepattern.map(|p| p.trim().to_uppercase()) {
        None => false,
        Some(p) if p == "{DEFAULT}" => false,
        Some(p) if p == "{^LN-BEG}" => true,
        Some(_) => return None,
    };
    std::thread::Builder::new()
        .name("date-templates".into())
        .spawn(move || {
            let all = &defaults().all;
            for t in all.iter().rev() {
                if !line_begin || t.flags & LINE_BEGIN != 0 {
                    // an error is the detector's to report when it pushes it
                    let _ = t.check();
                }
            }
        })
        .ok()
}

struct Slot {
    t: Arc<Template>,
    hits: u64,
    /// Successful searches of the template itself (fail2ban's template.hits).
    tpl_hits: u64,
    last_used: f64,
    distance: usize,
    /// This template's capture buffers (locations belong to one regex).
    caps: Caps,
    /// Its searches from the line start; `caps` hold the current one's slots.
    memo: Option<Memo>,
    dfa_cache: Option<regex_automata::hybrid::dfa::Cache>,
    /// Searches the memo could have answered, and did (see [`Slot::remember`]).
    memo_tries: u32,
    memo_hits: u32,
    /// The fields of the match in `caps`, parsed (None: not yet).
    parsed: Option<Option<Parsed>>,
    /// The stamp of the last match when [`Template::match_syslog`] found
    /// it (else empty): the same stamp has the same `parsed`.
    last_stamp: Vec<u8>,
}

impl Slot {
    fn new(t: Arc<Template>) -> Slot {
        // The buffers are made for the regex by its first search.
        let caps = Caps::default();
        Slot {
            t,
            hits: 0,
            tpl_hits: 0,
            last_used: 0.0,
            distance: 0x7fff_ffff,
            caps,
            memo: None,
            dfa_cache: None,
            memo_tries: 0,
            memo_hits: 0,
            parsed: None,
            last_stamp: Vec::new(),
        }
    }

    /// Records a real search of `hay` from 0 that found `m`: later
    /// haystacks starting with the bytes that decided it reuse it.
    fn remember(&mut self, hay: &[u8], m: Option<DateMatch>) {
        // A log whose lines rarely start alike (a stamp deep in the line
        // behind varying text) is not worth the walk; probe again now and
        // then.
        if self.memo_tries >= 256 && self.memo_hits < self.memo_tries / 8 {
            if self.memo_tries >= 4096 {
                (self.memo_tries, self.memo_hits) = (0, 0);
            }
            self.memo = None;
            return;
        }
        // Only templates that have matched are worth a DFA walk.
        let dep = match self.t.extent() {
            Some(ex) if self.tpl_hits > 0 => {
                let cache = self.dfa_cache.get_or_insert_with(|| ex.cache());
                ex.dep(cache, hay).map(|d| (d, ex))
            }
            _ => None,
        };
        match dep {
            Some((dep, ex)) => self
                .memo
                .get_or_insert_with(|| Memo::new(ex.classes()))
                .set(hay, dep, m, &self.caps.slots),
            None => self.memo = None,
        }
    }
    fn weight(&self) -> f64 {
        self.hits as f64 * self.t.weight / self.distance.max(1) as f64
    }
}

/// A found date: where its text is in the line and which template found it.
#[derive(Debug, Clone, Copy)]
pub struct Found {
    pub m: DateMatch,
    /// Index of the template in the detector's order at match time.
    pub template: usize,
}

/// The per-filter date detector.
pub struct DateDetector {
    slots: Vec<Slot>,
    names: std::collections::HashSet<String>,
    last_pos: (usize, Option<char>, Option<char>),
    last_end: (usize, Option<char>, Option<char>),
    last_idx: usize,
    first_unused: usize,
    /// Minutes east of UTC for stamps without a zone (`logtimezone`).
    pub default_tz: Option<i32>,
    /// Capture slots of the last successful match (for [`DateDetector::get_time`]).
    best: Vec<Option<(usize, usize)>>,
    /// Template index and parsed fields of the last successful match.
    best_parsed: Option<(usize, Option<Parsed>)>,
    /// Whether searches may be answered from [`Slot::memo`] and times from
    /// parsed fields (off only to test against the plain path).
    memo: bool,
    /// Whether syslog stamps of the common shape skip the template's regex
    /// (`syslog.rs`; off only to test against the plain path).
    syslog: bool,
}

pub(crate) fn wall_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl DateDetector {
    /// A detector with fail2ban's default templates.
    pub fn with_defaults() -> DateDetector {
        let mut d = Self::empty();
        d.add_defaults(None, None).expect("defaults");
        d
    }

    fn empty() -> DateDetector {
        DateDetector {
            slots: Vec::new(),
            names: Default::default(),
            last_pos: (1, None, None),
            last_end: (0x7fff_ffff, None, None),
            last_idx: 0x7fff_ffff,
            first_unused: 0,
            default_tz: None,
            best: Vec::new(),
            best_parsed: None,
            memo: true,
            syslog: true,
        }
    }

    /// A detector for a filter's `datepattern` (one pattern per line).
    pub fn from_datepattern(dp: &str) -> Result<DateDetector, DateError> {
        let mut d = Self::empty();
        for p in dp.split('\n').map(str::trim).filter(|p| !p.is_empty()) {
            d.append(p)?;
        }
        Ok(d)
    }

    fn push(&mut self, t: Arc<Template>, ignore_dup: bool) -> Result<(), DateError> {
        if !self.names.insert(t.name.clone()) {
            if ignore_dup {
                return Ok(());
            }
            return Err(DateError(format!(
                "there is already a date template named {}",
                t.name
            )));
        }
        // Compiled here, not on first use: the filter loads, or names its
        // bad pattern, and no line pays for a compile. Default templates a
        // detector does not hold (a `{^LN-BEG}` one) are never compiled.
        t.check()?;
        self.slots.push(Slot::new(t));
        Ok(())
    }

    fn append(&mut self, pattern: &str) -> Result<(), DateError> {
        let key = if pattern.contains('%') {
            pattern.to_string()
        } else {
            pattern.to_uppercase()
        };
        if key == "{^LN-BEG}" || key == "{DEFAULT}" {
            return self.add_defaults(Some(key == "{^LN-BEG}"), None);
        }
        if key.contains("{DATE}") {
            return self.add_defaults(None, Some(pattern));
        }
        let t = if key == "{NONE}" {
            let mut t = Template::from_pattern("{UNB}^")?;
            t.name = "{NONE}".into();
            t
        } else {
            Template::from_pattern(pattern)?
        };
        self.push(Arc::new(t), false)
    }

    fn add_defaults(
        &mut self,
        line_begin_only: Option<bool>,
        pre_match: Option<&str>,
    ) -> Result<(), DateError> {
        let ignore_dup = !self.slots.is_empty();
        let d = defaults();
        let list = if pre_match.is_some() {
            &d.plain
        } else {
            &d.all
        };
        for t in list {
            if line_begin_only == Some(true) && t.flags & LINE_BEGIN == 0 {
                continue;
            }
            let t = match pre_match {
                Some(pm) => {
                    Arc::new(t.wrapped(|s| replace_date(pm, &template::unbound_pattern(s)))?)
                }
                None => t.clone(),
            };
            self.push(t, ignore_dup)?;
        }
        Ok(())
    }

    /// Names of the templates and their hits, in current order.
    pub fn stats(&self) -> Vec<(String, u64)> {
        self.slots
            .iter()
            .map(|s| (s.t.name.clone(), s.hits))
            .collect()
    }

    /// fail2ban's `matchTime`: finds the date in `line`.
    pub fn match_time(&mut self, line: &str) -> Option<Found> {
        self.match_time_at(line, wall_now())
    }

    /// [`DateDetector::match_time`] at wall-clock time `wall` (when the
    /// template that matches was last used: the caller read the clock).
    pub fn match_time_at(&mut self, line: &str, wall: f64) -> Option<Found> {
        if self.slots.is_empty() {
            self.add_defaults(None, None).ok()?;
        }
        self.match_inner(line, wall)
    }

    fn try_slot(&mut self, i: usize, line: &str, pos: usize, end: usize) -> Option<DateMatch> {
        let (mut pos, mut end) = (pos, end);
        if end - pos > SEARCH_WINDOW {
            if self.slots[i].t.flags & LINE_END == 0 {
                end = pos + SEARCH_WINDOW;
                while !line.is_char_boundary(end) {
                    end -= 1;
                }
            } else {
                // `$`-anchored: the date is at the end.
                pos = end - SEARCH_WINDOW;
                while !line.is_char_boundary(pos) {
                    pos += 1;
                }
            }
        }
        let memo = self.memo && pos == 0;
        let s = &mut self.slots[i];
        if pos == 0
            && self.syslog
            && let Some(m) = s.t.match_syslog(line, end, &mut s.caps)
        {
            let stamp = &line.as_bytes()[..m.end];
            if s.last_stamp != stamp {
                s.last_stamp.clear();
                s.last_stamp.extend_from_slice(stamp);
                s.parsed = None;
            }
            // (the memo's entry no longer has its slots in `caps`)
            s.memo = None;
            s.tpl_hits += 1;
            return Some(m);
        }
        s.last_stamp.clear();
        let hay = &line.as_bytes()[..end];
        if memo {
            s.memo_tries = s.memo_tries.saturating_add(1);
        }
        if memo
            && let Some(mm) = &mut s.memo
            && let cover = mm.find(hay)
            && cover != Cover::No
        {
            if cover != Cover::Same {
                // same spans over other bytes: their fields are parsed anew
                mm.rekey(hay);
                s.parsed = None;
            }
            if cover == Cover::Other {
                s.caps.slots.clone_from(mm.slots());
            }
            s.memo_hits = s.memo_hits.saturating_add(1);
            let m = mm.result();
            if m.is_some() {
                s.tpl_hits += 1;
            }
            return m;
        }
        let m = s.t.match_date(line, pos, end, &mut s.caps);
        s.parsed = None;
        if m.is_some() {
            s.tpl_hits += 1;
        }
        if memo {
            s.remember(hay, m);
        } else {
            s.memo = None;
        }
        m
    }

    fn match_inner(&mut self, line: &str, wall: f64) -> Option<Found> {
        let n = self.slots.len();
        // (the match, its template, its start as a character index)
        let mut found: Option<(DateMatch, usize, usize)> = None;
        let mut ignore_by_search = usize::MAX;
        let mut matched: Option<(DateMatch, usize)> = None;
        let i = self.last_idx;
        if i < n {
            let flags = self.slots[i].t.flags;
            let m = if flags & (LINE_BEGIN | LINE_END) != 0 {
                ignore_by_search = i;
                self.try_slot(i, line, 0, line.len())
            } else {
                let (d, e) = (self.last_pos.0, self.last_end.0);
                let ok_bounds = (py_char_before(line, d) == self.last_pos.1
                    || (py_char(line, d) == self.last_pos.2
                        && !self.last_pos.2.is_some_and(char::is_alphanumeric)))
                    && (py_char(line, e) == self.last_end.2
                        || (py_char_before(line, e) == self.last_end.1
                            && !self.last_end.1.is_some_and(char::is_alphanumeric)));
                if ok_bounds {
                    // (Python's search bounds clamp to the line)
                    let (db, eb) = (byte_index(line, d), byte_index(line, e));
                    if db <= eb {
                        self.try_slot(i, line, db, eb)
                    } else {
                        None
                    }
                } else {
                    ignore_by_search = i;
                    self.try_slot(i, line, 0, line.len())
                }
            };
            if let Some(m) = m {
                if n == 1 || flags & (LINE_BEGIN | LINE_END) != 0 {
                    matched = Some((m, i));
                } else {
                    let (start, end) = char_span(line, &m);
                    if (start, end) == (self.last_pos.0, self.last_end.0) {
                        matched = Some((m, i));
                    } else {
                        found = Some((m, i, start));
                    }
                }
            }
        }
        if matched.is_none() {
            let mut i = 0;
            while i < n {
                if i == ignore_by_search {
                    i += 1;
                    continue;
                }
                if let Some(m) = self.try_slot(i, line, 0, line.len()) {
                    let distance = char_index(line, m.start);
                    if i + 1 >= n || self.slots[i].t.flags & (LINE_BEGIN | LINE_END) != 0 {
                        matched = Some((m, i));
                        break;
                    }
                    if distance == 0 && self.slots[i].hits > 0 && self.slots[i + 1].tpl_hits == 0 {
                        matched = Some((m, i));
                        break;
                    }
                    if distance > self.slots[i].distance || distance > self.last_pos.0 {
                        if found.as_ref().is_none_or(|f| distance < f.2) {
                            found = Some((m, i, distance));
                        }
                        i += 1;
                        continue;
                    }
                    matched = Some((m, i));
                    break;
                }
                i += 1;
            }
            if matched.is_none() {
                matched = found.map(|(m, i, _)| (m, i));
            }
        }
        let (m, mut i) = matched?;
        let s = &mut self.slots[i];
        s.hits += 1;
        s.last_used = wall;
        let (start, end) = char_span(line, &m);
        s.distance = start;
        if self.first_unused == i {
            self.first_unused += 1;
        }
        self.last_pos = (start, char_before(line, m.start), char_at(line, m.start));
        self.last_end = (end, char_before(line, m.end), char_at(line, m.end));
        if i != 0 && i != self.last_idx {
            i = self.reorder(i);
        }
        self.last_idx = i;
        let s = &mut self.slots[i];
        self.best.clone_from(&s.caps.slots);
        if self.memo && s.t.has_fields() {
            let p = *s
                .parsed
                .get_or_insert_with(|| s.t.parse(line, &s.caps.slots));
            self.best_parsed = Some((i, p));
        } else {
            self.best_parsed = None;
        }
        Some(Found { m, template: i })
    }

    fn reorder(&mut self, num: usize) -> usize {
        let untime = self.slots[num].last_used - 300.0;
        let weight = self.slots[num].weight();
        let mut pos = if self.first_unused < num {
            self.first_unused
        } else {
            num / 2
        };
        let moveable = |slots: &[Slot], pos: usize| {
            weight > slots[pos].weight() || untime > slots[pos].last_used
        };
        if !moveable(&self.slots, pos) {
            if pos == num - 1 {
                return num;
            }
            pos = num - 1;
            if !moveable(&self.slots, pos) {
                return num;
            }
        }
        let s = self.slots.remove(num);
        self.slots.insert(pos, s);
        while self.first_unused < self.slots.len() && self.slots[self.first_unused].hits > 0 {
            self.first_unused += 1;
        }
        pos
    }

    /// The time of the date last found by [`Self::match_time`] in `line`.
    pub fn get_time(&self, line: &str, found: &Found, now: f64) -> Option<f64> {
        let t = &self.slots.get(found.template)?.t;
        if let Some((i, p)) = self.best_parsed
            && i == found.template
        {
            return p?.epoch(now, self.default_tz);
        }
        t.get_date(line, &self.best, now, self.default_tz)
    }
}

fn replace_date(pre_match: &str, with: &str) -> String {
    // Case-insensitive `{DATE}` not preceded by a backslash.
    let mut out = String::new();
    let mut rest = pre_match;
    loop {
        let lower = rest.to_ascii_lowercase();
        match lower.find("{date}") {
            Some(p) if p == 0 || !rest[..p].ends_with('\\') => {
                out.push_str(&rest[..p]);
                out.push_str(with);
                rest = &rest[p + 6..];
            }
            Some(p) => {
                out.push_str(&rest[..p + 6]);
                rest = &rest[p + 6..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod memo_tests;
#[cfg(test)]
mod tests;
