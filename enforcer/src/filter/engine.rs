//! Owns [`Filter`]: a compiled filter and its matching pipeline, a port of
//! fail2ban's `Filter.processLine` / `findFailure`, in three parts that
//! each line goes through in order: [`Splitter`] (the date detector, the
//! literal prefilter), [`Matcher`] (buffer of `maxlines`, prefregex,
//! failregex, ignoreregex) and [`Tracker`] (F-MLFID merging, failure ids,
//! counts). Each depends only on its own state and the lines, so a
//! [`Filter`] runs all three on each line and `enforcer regex` runs them on
//! their own threads ([`Filter::split`]), lines passed in order.
//!
//! The fast path: a failregex runs only on a line it may match. For a
//! single-line filter on ASCII text [`super::prefilter::Which`] says which:
//! where every failregex is anchored, by the text's first byte and each
//! one's literal prefixes (with `checkAllRegex`), or one leftmost-first
//! DFA search (without); else one DFA search over all of them. Otherwise a
//! line that contains none of the literals a failregex needs skips it (one
//! Aho-Corasick scan). When none can match, the line costs the date match
//! and that check.
use super::date::DateDetector;
use super::date::strptime::zone_offset;
use super::pattern::group_may_take_newline;
use super::prefilter::{Prefilter, Which, required_literals};
use super::tags;
use super::translate;
use super::{Failure, FilterError, FilterOptions, UseDns};
pub use ids::ntoa;
pub use matcher::{Hit, Matcher, Matches};
use rx::{Runs, Rx};
pub use splitter::{Prepared, Splitter};
pub use tracker::{Found, Sink, Tracker};

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
    /// Lines prefregex matched (fail2ban-regex's "Prefregex: N total").
    pub pref_hits: u64,
}

/// A compiled filter with its run-time state (buffer, F-MLFID cache, dates).
pub struct Filter {
    pub name: String,
    splitter: Splitter,
    matcher: Matcher,
    tracker: Tracker,
    prepared: Prepared,
    matches: Matches,
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
            Some(r) => Some(Rx::new(
                r,
                use_dns,
                Runs::on(p.maxlines, false),
                "prefregex",
                0,
            )?),
            None => None,
        };
        // The failregexes and ignoreregexes of a single-line filter run on
        // its line or its F-CONTENT, each and a final newline. Content that
        // can take the line's own newline leaves two: `$` then needs the
        // look-ahead of a buffer of several lines.
        let content_newline = p.maxlines <= 1
            && pref
                .as_ref()
                .is_some_and(|r| group_may_take_newline(&r.pat, "content"));
        let runs = |failregex| match content_newline {
            true => Runs::Lines { multiline: false },
            false => Runs::on(p.maxlines, failregex),
        };
        let mut fail = Vec::new();
        for (i, r) in p.failregex.iter().enumerate() {
            if r.trim().is_empty() {
                return Err(FilterError::Empty(i));
            }
            let rx = Rx::new(r, use_dns, runs(true), "failregex", i)?;
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
            ignore.push(Rx::new(r, use_dns, runs(false), "ignoreregex", i)?);
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
        let tracker = Tracker::new(
            &p.name,
            pref.as_ref().map(|r| r.groups.clone()),
            fail.iter().map(|r| r.groups.clone()).collect(),
            opts,
        );
        let content = pref.as_ref().and_then(|r| r.groups.index("content"));
        let maxlines = p.maxlines.max(1);
        // Prefregex runs in the splitter unless fail2ban's order puts the
        // early ignoreregex pass (or a multi-line buffer) before it.
        let early_ignore = !ignore.is_empty() && (ignore.len() as isize) < fail.len() as isize - 2;
        let mut pref = pref;
        let split_pref = if maxlines == 1 && !early_ignore {
            pref.take()
        } else {
            None
        };
        // Only where the splitter runs the candidates' regexes' own text
        // (a single line, no early ignoreregex pass).
        let which = (maxlines == 1 && !early_ignore)
            .then(|| {
                let ascii: Vec<_> = fail.iter().map(|r| r.pat.ascii_source()).collect();
                Which::new(&ascii, !opts.check_all)
            })
            .flatten();
        // Counting prefregex on every line: the splitter lets through the
        // lines whose prefregex the matcher runs (see `count_prefregex`).
        let count_later = opts.count_prefregex && pref.is_some();
        let splitter = Splitter {
            count_later,
            which,
            pref: split_pref,
            dd,
            opts: opts.clone(),
            maxlines,
            prefilter: prefilter.clone(),
            pref_filter: pref_filter.clone(),
            spare: Default::default(),
            content,
            pref_hits: 0,
            scratch: String::new(),
            content_text: String::new(),
            last_date: None,
            last_time_text: String::new(),
        };
        let matcher = Matcher {
            ignore_hits: vec![0; ignore.len()],
            count_pref: opts.count_prefregex,
            keep_matches: opts.keep_matches,
            pref,
            fail,
            ignore,
            maxlines,
            check_all: opts.check_all,
            prefilter,
            pref_filter,
            cand: Vec::new(),
            buffer: Vec::new(),
            text: String::new(),
            content,
            spare: Vec::new(),
        };
        Ok(Filter::join(p.name.clone(), splitter, matcher, tracker))
    }

    /// Number of failregexes.
    pub fn failregex_count(&self) -> usize {
        self.matcher.fail.len()
    }

    /// The failregexes (Python source, tags expanded) and the engine each
    /// runs on ([`engine_of`]).
    pub fn failregex_info(&self) -> Vec<(String, &'static str)> {
        self.matcher
            .fail
            .iter()
            .map(|r| (r.pat.source.clone(), engine_of(r)))
            .collect()
    }

    /// The failregexes as the Rust engines see them (tags expanded, translated).
    pub fn failregex_rust(&self) -> Vec<String> {
        self.matcher
            .fail
            .iter()
            .map(|r| r.pat.rust_source())
            .collect()
    }

    /// Prefregex, wherever it runs (the matcher or the splitter).
    fn pref_rx(&self) -> Option<&Rx> {
        (self.matcher.pref.as_ref()).or(self.splitter.pref.as_ref())
    }

    /// Prefregex (Python source, tags expanded) and the engine it runs on
    /// ([`engine_of`]), if the filter has one.
    pub fn prefregex_info(&self) -> Option<(&str, &'static str)> {
        self.pref_rx()
            .map(|r| (r.pat.source.as_str(), engine_of(r)))
    }

    /// Prefregex as the Rust engines see it (tags expanded, translated).
    pub fn prefregex_rust(&self) -> Option<String> {
        self.pref_rx().map(|r| r.pat.rust_source())
    }

    /// Date templates by name with their hits.
    pub fn date_stats(&self) -> Vec<(String, u64)> {
        self.splitter.dd.stats()
    }

    /// Feed one raw log line (bytes, no trailing newline); returns failures found.
    pub fn process_line(&mut self, line: &[u8], out: &mut Vec<Failure>) {
        self.splitter.split_line(line, &mut self.prepared);
        self.matcher
            .match_prepared(&mut self.prepared, &mut self.matches);
        self.tracker.apply(&self.matches, out);
    }

    /// Feed a journal entry whose time is known (no date detection).
    pub fn process_entry(&mut self, line: &[u8], time: f64, out: &mut Vec<Failure>) {
        self.splitter.split_entry(line, time, &mut self.prepared);
        self.matcher
            .match_prepared(&mut self.prepared, &mut self.matches);
        self.tracker.apply(&self.matches, out);
    }

    /// Hit counts of the failregexes and ignoreregexes.
    pub fn stats(&self) -> RegexStats {
        RegexStats {
            fail_hits: self.tracker.fail_hits.clone(),
            ignore_hits: self.matcher.ignore_hits.clone(),
            pref_hits: self.splitter.pref_hits + self.tracker.pref_hits,
        }
    }

    /// Whether an ignoreregex vetoed the last line.
    pub fn last_ignored(&self) -> bool {
        self.tracker.last_ignored
    }

    /// See [`Tracker::last_pending`].
    pub fn last_pending(&self) -> (u32, u32) {
        self.tracker.last_pending
    }

    /// The three parts, to run on their own threads: every line goes
    /// through [`Splitter::split_line`] (or `split_entry`), then
    /// [`Matcher::match_prepared`], then [`Tracker::apply`], in line order
    /// at each part.
    pub fn split(self) -> (Splitter, Matcher, Tracker) {
        (self.splitter, self.matcher, self.tracker)
    }

    /// A filter from its parts ([`Filter::split`] gives them).
    pub fn join(name: String, splitter: Splitter, matcher: Matcher, tracker: Tracker) -> Filter {
        Filter {
            name,
            splitter,
            matcher,
            tracker,
            prepared: Prepared::default(),
            matches: Matches::default(),
        }
    }
}

/// The engine a regex runs on: "" (regex), "regex + checks" (rewritten,
/// see [`super::linear`]) or "fancy-regex".
fn engine_of(r: &Rx) -> &'static str {
    match (r.pat.is_fancy(), r.pat.is_linear()) {
        (true, _) => "fancy-regex",
        (_, true) => "regex + checks",
        _ => "",
    }
}

mod ids;
mod matcher;
mod rx;
mod splitter;
#[cfg(test)]
mod tests;
mod tracker;
