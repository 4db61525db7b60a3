//! Owns [`Matcher`], the part of a filter that runs its regexes: the last
//! `maxlines` lines are buffered, prefregex must match and its F-CONTENT
//! replaces the buffer, failregexes are tried in order (first match wins
//! unless `check_all`) and ignoreregex vetoes. It takes each line as
//! [`super::Splitter`] prepared it ([`Prepared`]) and leaves what it finds
//! in [`Matches`], which [`super::Tracker`] turns into failures. Nothing
//! here depends on the tracker's state (the F-MLFID cache, resolver,
//! counts), so the parts can run on their own threads.
use super::rx::Rx;
use crate::filter::multiline::{TLine, buffer_text, buffer_text_into, split_matched};
use crate::filter::prefilter::Prefilter;

use super::splitter::may_match;
pub use super::splitter::{Prepared, Spans};

/// One failregex match of a line, before the tracker merges it.
#[derive(Debug, Clone, Default)]
pub struct Hit {
    /// Index of the failregex.
    pub regex: usize,
    /// Its spans over the buffer text it ran on.
    pub spans: Spans,
    /// The buffered lines it covers (none when the filter keeps no
    /// matches).
    pub matched: Vec<TLine>,
}

/// What matching one line gave (reused from line to line, buffers and all).
#[derive(Debug, Clone, Default)]
pub struct Matches {
    /// The line's time (its date, the last one, or now).
    pub date: f64,
    /// The wall clock when the line was read ([`Prepared::wall`]).
    pub wall: f64,
    /// An ignoreregex vetoed the line or a match of it.
    pub ignored: bool,
    /// Prefregex's match (its groups go under every hit's).
    pub pref: Option<Spans>,
    /// What prefregex said of the line, when the matcher ran it (the
    /// [`super::Tracker`] counts its matches, in line order).
    pub pref_said: Option<bool>,
    /// The early ignoreregex pass kept prefregex from the line, which
    /// fail2ban-regex then counts as what prefregex last said: a question
    /// of line order, answered by the [`super::Tracker`] (the matcher of
    /// the line before may be another clone).
    pub pref_as_last: bool,
    /// The failregex matches, in order (at most one unless `check_all`):
    /// the first `len` of `hits`.
    hits: Vec<Hit>,
    len: usize,
    spare: Spans,
    /// The earlier lines of a multi-line buffer that this line's match
    /// took out of it, as they were read (fail2ban-regex counts them
    /// matched now).
    taken: Vec<String>,
}

impl Matches {
    fn reset(&mut self) {
        self.date = 0.0;
        self.ignored = false;
        self.pref_said = None;
        self.pref_as_last = false;
        Spans::clear(&mut self.pref, &mut self.spare);
        self.len = 0;
        self.taken.clear();
    }

    /// The earlier buffered lines this line's match took out of the
    /// buffer, as they were read.
    pub fn taken(&self) -> &[String] {
        &self.taken
    }

    /// The failregex matches.
    pub fn hits(&self) -> &[Hit] {
        &self.hits[..self.len]
    }

    /// A hit slot to fill (its buffers reused).
    fn push(&mut self) -> &mut Hit {
        if self.len == self.hits.len() {
            self.hits.push(Hit::default());
        }
        self.len += 1;
        &mut self.hits[self.len - 1]
    }
}

/// The regex part of a filter, with its buffer of `maxlines`. A clone
/// shares the compiled regexes and has its own buffers: for a single-line
/// filter (whose matches depend on nothing but the line) it may match
/// other lines on another thread.
#[derive(Clone)]
pub struct Matcher {
    pub(super) pref: Option<Rx>,
    pub(super) fail: Vec<Rx>,
    pub(super) ignore: Vec<Rx>,
    pub(super) maxlines: usize,
    pub(super) check_all: bool,
    /// The literal prefilter of a multi-line buffer (single lines are
    /// prefiltered by the splitter).
    pub(super) prefilter: Prefilter,
    pub(super) pref_filter: Option<Prefilter>,
    pub(super) cand: Vec<bool>,
    pub(super) buffer: Vec<TLine>,
    /// The buffer's text (reused from line to line).
    pub(super) text: String,
    /// Prefregex's F-CONTENT group.
    pub(super) content: Option<usize>,
    /// A buffer set aside, reused for the next line's content.
    pub(super) spare: Vec<TLine>,
    /// Hits per ignoreregex (for `enforcer regex`).
    pub ignore_hits: Vec<u64>,
    /// See [`crate::filter::FilterOptions::count_prefregex`].
    pub(super) count_pref: bool,
    /// See [`crate::filter::FilterOptions::keep_matches`]: without them
    /// a hit carries no lines (the tracker then has none to copy).
    pub(super) keep_matches: bool,
}

impl Matcher {
    /// Whether a line's matches depend on that line only (a buffer of one
    /// line), so that clones may match lines apart.
    pub fn is_per_line(&self) -> bool {
        self.maxlines == 1
    }

    /// Adds the counts of a clone that matched other lines.
    pub fn add_counts(&mut self, other: &Matcher) {
        for (a, b) in self.ignore_hits.iter_mut().zip(&other.ignore_hits) {
            *a += b;
        }
    }

    /// Matches one prepared line into `out`.
    pub fn match_prepared(&mut self, p: &mut Prepared, out: &mut Matches) {
        out.reset();
        if !p.may {
            return;
        }
        out.date = p.date;
        out.wall = p.wall;
        if self.maxlines > 1 {
            self.buffer.push(std::mem::take(&mut p.tl));
            if self.buffer.len() > self.maxlines {
                let cut = self.buffer.len() - self.maxlines;
                self.buffer.drain(..cut);
            }
            let text = buffer_text(&self.buffer);
            if !may_match(
                self.pref_filter.as_ref(),
                &self.prefilter,
                text.as_bytes(),
                &mut self.cand,
            ) {
                if !(self.count_pref && self.pref.is_some()) {
                    return;
                }
                // prefregex runs (and counts); every failregex is tried
                // (they cannot match)
                self.cand.clear();
            }
        } else {
            if let [only] = self.buffer.as_mut_slice() {
                std::mem::swap(only, &mut p.tl);
            } else {
                self.buffer.clear();
                self.buffer.push(std::mem::take(&mut p.tl));
            }
            std::mem::swap(&mut self.cand, &mut p.cand);
        }
        let pref = p.pref.take();
        if pref.is_some() {
            // The last line's spans go back with `p`, for the splitter's
            // next prefregex match to reuse (it sets aside what it finds
            // in `p.pref` before a line).
            p.pref = Some(std::mem::take(&mut out.spare));
        }
        self.find(out, pref);
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
                self.ignore_hits[i] += 1;
                if (!self.check_all || self.maxlines > 1)
                    && let Some((_, unmatched)) = matched
                {
                    self.buffer = unmatched.clone();
                }
                if !self.check_all {
                    break;
                }
            }
        }
        found
    }

    /// The matching part of fail2ban's `findFailure`.
    /// `pref`: prefregex's match when the splitter ran it.
    fn find(&mut self, out: &mut Matches, pref: Option<Spans>) {
        let mut text = std::mem::take(&mut self.text);
        let org = self.find_in(out, &mut text, pref);
        self.text = text;
        // A single line's buffer is rebuilt for the next line: what is
        // given back is the line's own strings, to be reused.
        match org {
            Some(org) if self.maxlines == 1 => {
                self.spare = std::mem::replace(&mut self.buffer, org);
            }
            // The buffer as it was on entry: the earlier lines (all but
            // this one) that are no longer in it were taken by the match.
            Some(org) => {
                if let Some((_, earlier)) = org.split_last() {
                    for l in earlier {
                        if !self.buffer.contains(l) {
                            out.taken.push(l.full());
                        }
                    }
                }
            }
            None => {}
        }
    }

    /// Returns the buffer as it was on entry when it was replaced.
    fn find_in(
        &mut self,
        out: &mut Matches,
        text: &mut String,
        pref: Option<Spans>,
    ) -> Option<Vec<TLine>> {
        // The buffer as it was on entry (`org`), kept aside only once
        // `self.buffer` is replaced: cloning it for every line cost an
        // allocation per line for the common case where it never changes.
        let mut org_saved: Option<Vec<TLine>> = None;
        // `text` holds the buffer's text while `fresh`.
        buffer_text_into(&self.buffer, text);
        let mut fresh = true;
        let nfail = self.fail.len();
        if !self.ignore.is_empty()
            && (self.ignore.len() as isize) < nfail as isize - 2
            && self.ignore_line(text, None)
        {
            // (fail2ban-regex asks prefregex whether it matched, and it
            // answers for the last line it ran on)
            out.pref_as_last = self.pref.is_some();
            out.ignored = true;
            return None;
        }
        match (pref, self.pref.as_mut()) {
            (Some(sp), _) => out.pref = Some(sp),
            (None, Some(p)) => {
                let said = p.search(text);
                out.pref_said = Some(said);
                if !said {
                    return None;
                }
                Spans::set(&mut out.pref, &mut out.spare, p, text);
            }
            (None, None) => {}
        }
        if let Some(sp) = &out.pref
            && let Some((s, e)) = self
                .content
                .and_then(|g| sp.slots.get(g).copied().flatten())
            && s < e
        {
            let mut content = std::mem::take(&mut self.spare);
            content.resize_with(1, TLine::default);
            let c = &mut content[0];
            c.pre.clear();
            c.date.clear();
            c.post.clear();
            c.post.push_str(&sp.text[s as usize..e as usize]);
            org_saved = Some(std::mem::replace(&mut self.buffer, content));
            fresh = false;
        }
        for i in 0..nfail {
            if self.cand.get(i) == Some(&false) {
                continue;
            }
            if !fresh {
                buffer_text_into(&self.buffer, text);
                fresh = true;
            }
            let b: &str = text;
            if !self.fail[i].search(b) {
                continue;
            }
            let rx = &self.fail[i];
            let org = org_saved.as_deref().unwrap_or(&self.buffer);
            let lines = if org.len() <= 1 {
                // A single line: all of it matched (copied into the hit
                // below; here only when ignoreregex needs it).
                let m = if self.ignore.is_empty() {
                    Vec::new()
                } else {
                    org.to_vec()
                };
                (m, Vec::new())
            } else {
                let (ms, me) = rx.span();
                split_matched(b, ms, me, org, &rx.skipped(b))
            };
            if !self.ignore.is_empty() {
                // ignore_line may replace the buffer: keep the original.
                if org_saved.is_none() {
                    org_saved = Some(self.buffer.clone());
                }
            }
            if !self.ignore.is_empty() && self.ignore_line(text, Some(&lines)) {
                out.ignored = true;
                fresh = false;
                if !self.check_all {
                    break;
                }
                continue;
            }
            let hit = out.push();
            hit.regex = i;
            self.fail[i].spans(&mut hit.spans.slots);
            hit.spans.text.clear();
            hit.spans.text.push_str(text);
            let (matched, unmatched) = lines;
            let org = org_saved.as_deref().unwrap_or(&self.buffer);
            if !self.keep_matches {
                hit.matched.clear();
            } else if org.len() > 1 {
                hit.matched = matched;
            } else {
                org.clone_into(&mut hit.matched);
            }
            if !self.check_all || self.maxlines > 1 {
                let old = std::mem::replace(&mut self.buffer, unmatched);
                if org_saved.is_none() {
                    org_saved = Some(old);
                }
                fresh = false;
            }
            if !self.check_all {
                break;
            }
        }
        org_saved
    }
}
