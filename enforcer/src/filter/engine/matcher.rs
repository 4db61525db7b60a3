//! Owns [`Matcher`], the part of a filter that runs its regexes: the last
//! `maxlines` lines are buffered, prefregex must match and its F-CONTENT
//! replaces the buffer, failregexes are tried in order (first match wins
//! unless `check_all`) and ignoreregex vetoes. It takes each line as
//! [`super::Splitter`] prepared it ([`Prepared`]) and leaves what it finds
//! in [`Matches`], which [`super::Tracker`] turns into failures. Nothing
//! here depends on the tracker's state (the F-MLFID cache, resolver,
//! counts), so the parts can run on their own threads.
use super::rx::Rx;
use crate::filter::multiline::{FailData, TLine, buffer_text, buffer_text_into, split_matched};
use crate::filter::prefilter::Prefilter;

pub use super::splitter::Prepared;
use super::splitter::may_match;

/// One failregex match of a line, before the tracker merges it.
#[derive(Debug, Clone, Default)]
pub struct Hit {
    /// Index of the failregex.
    pub regex: usize,
    /// Its groups, over prefregex's.
    pub fd: FailData,
    /// The buffered lines it covers.
    pub matched: Vec<TLine>,
}

/// What matching one line gave (reused from line to line).
#[derive(Debug, Clone, Default)]
pub struct Matches {
    /// The line's time (its date, the last one, or now).
    pub date: f64,
    /// An ignoreregex vetoed the line or a match of it.
    pub ignored: bool,
    /// The failregex matches, in order (at most one unless `check_all`).
    pub hits: Vec<Hit>,
}

impl Matches {
    fn reset(&mut self) {
        self.date = 0.0;
        self.ignored = false;
        self.hits.clear();
    }
}

/// The regex part of a filter, with its buffer of `maxlines`.
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
    /// Hits per ignoreregex (for `enforcer regex`).
    pub ignore_hits: Vec<u64>,
}

impl Matcher {
    /// Matches one prepared line into `out`.
    pub fn match_prepared(&mut self, p: &mut Prepared, out: &mut Matches) {
        out.reset();
        if !p.may {
            return;
        }
        out.date = p.date;
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
                return;
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
    /// `pref`: prefregex's groups when the splitter ran it.
    fn find(&mut self, out: &mut Matches, pref: Option<FailData>) {
        let mut text = std::mem::take(&mut self.text);
        let org = self.find_in(out, &mut text, pref);
        self.text = text;
        // A single line's buffer is rebuilt for the next line: what is
        // given back is the line's own strings, to be reused.
        if self.maxlines == 1
            && let Some(org) = org
        {
            self.buffer = org;
        }
    }

    /// Returns the buffer as it was on entry when it was replaced.
    fn find_in(
        &mut self,
        out: &mut Matches,
        text: &mut String,
        pref: Option<FailData>,
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
            out.ignored = true;
            return None;
        }
        let pref = match (pref, self.pref.as_mut()) {
            (Some(g), _) => Some(g),
            (None, Some(p)) => {
                if !p.search(text) {
                    return None;
                }
                Some(p.groups(text))
            }
            (None, None) => None,
        };
        let mut pre = FailData::default();
        if let Some(g) = pref {
            pre = g;
            if let Some(content) = pre.g.remove("content").filter(|c| !c.is_empty()) {
                org_saved = Some(std::mem::replace(
                    &mut self.buffer,
                    vec![TLine {
                        post: content,
                        ..Default::default()
                    }],
                ));
                fresh = false;
            }
        }
        let first = out.hits.len();
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
            let (ms, me) = rx.span();
            let fd = rx.groups(b);
            let skipped = rx.skipped(b);
            let org = org_saved.as_deref().unwrap_or(&self.buffer);
            let lines = split_matched(b, ms, me, org, &skipped);
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
            let (matched, unmatched) = lines;
            if !self.check_all || self.maxlines > 1 {
                let old = std::mem::replace(&mut self.buffer, unmatched);
                if org_saved.is_none() {
                    org_saved = Some(old);
                }
                fresh = false;
            }
            out.hits.push(Hit {
                regex: i,
                fd,
                matched,
            });
            if !self.check_all {
                break;
            }
        }
        if !pre.g.is_empty() {
            // The failregex's groups win, but (as in fail2ban 1.1) one that
            // did not take part leaves prefregex's value alone. The last
            // hit takes prefregex's groups, the others a copy.
            let n = out.hits.len();
            for (j, h) in out.hits[first..].iter_mut().enumerate() {
                let mut f = if first + j + 1 == n {
                    std::mem::take(&mut pre)
                } else {
                    pre.clone()
                };
                f.g.append(&mut h.fd.g);
                h.fd.g = f.g;
            }
        }
        org_saved
    }
}
