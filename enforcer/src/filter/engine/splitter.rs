//! Owns [`Splitter`], the first part of a filter's pipeline: a raw line is
//! cut to `max_line`, decoded, split around its date by the date detector
//! (or given the last date, or now), and, for single-line filters, run
//! through the literal prefilter and prefregex, into a [`Prepared`] line
//! for [`super::Matcher`]. It keeps the date state (the detector's template
//! order, the last date) and nothing else, so it can run on its own thread.
//! Prefregex runs here when nothing comes before it in fail2ban's order
//! (a single-line filter without the early ignoreregex pass).
use super::rx::{Rx, Span};
use crate::filter::FilterOptions;
use crate::filter::date::{DateDetector, wall_now};
use crate::filter::multiline::TLine;
use crate::filter::prefilter::{Prefilter, Which};

/// A line split around its date, ready for the regexes (reused from line
/// to line).
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// The line in its parts.
    pub tl: TLine,
    /// Its time (its date, the last one, or now).
    pub date: f64,
    /// The wall clock when it was read (seconds; see
    /// [`crate::filter::multiline::MlfidCache::set_now`]).
    pub wall: f64,
    /// Whether any failregex can match it (false: the prefilter rules it out).
    pub may: bool,
    /// Which failregexes can (single-line filters).
    pub cand: Vec<bool>,
    /// Prefregex's match, when it ran here (and matched).
    pub pref: Option<Spans>,
}

/// A match as capture spans over the text it ran on (reused from line to
/// line: the thread that keeps the groups makes the strings).
#[derive(Debug, Clone, Default)]
pub struct Spans {
    /// The named groups' spans (see [`super::rx::Groups::of`]).
    pub slots: Vec<Span>,
    pub text: String,
}

impl Spans {
    /// `into` (or, when empty, `spare`'s buffers) with the spans of
    /// `rx`'s last match; its text is the caller's to set.
    fn spans_of<'a>(into: &'a mut Option<Spans>, spare: &mut Spans, rx: &Rx) -> &'a mut Spans {
        let mut s = into.take().unwrap_or_else(|| std::mem::take(spare));
        rx.spans(&mut s.slots);
        into.insert(s)
    }

    /// The last match of `rx` over `text`, into `into` (its buffers reused).
    pub(super) fn set(into: &mut Option<Spans>, spare: &mut Spans, rx: &Rx, text: &str) {
        let s = Self::spans_of(into, spare, rx);
        s.text.clear();
        s.text.push_str(text);
    }

    /// [`Spans::set`] over `text`, whose buffer it takes: `text` gets the
    /// last match's text buffer in exchange (a scratch its caller fills
    /// anew for each line).
    pub(super) fn set_taking(
        into: &mut Option<Spans>,
        spare: &mut Spans,
        rx: &Rx,
        text: &mut String,
    ) {
        std::mem::swap(&mut Self::spans_of(into, spare, rx).text, text);
    }

    /// Sets `slot` aside into `spare` (keeping its buffers).
    pub(super) fn clear(slot: &mut Option<Spans>, spare: &mut Spans) {
        if let Some(s) = slot.take() {
            *spare = s;
        }
    }
}

/// How the current line was split around its date.
enum Split {
    Parts(usize, usize),
    LastDate,
    Whole,
}

/// The date and prefilter part of a filter.
pub struct Splitter {
    /// Prefregex's matches are counted on every line and it runs in the
    /// matcher: no line is held back here.
    pub(super) count_later: bool,
    pub(super) dd: DateDetector,
    pub(super) opts: FilterOptions,
    pub(super) maxlines: usize,
    pub(super) prefilter: Prefilter,
    pub(super) pref_filter: Option<Prefilter>,
    /// Which failregexes match an ASCII text (instead of `prefilter`).
    pub(super) which: Option<Which>,
    /// Prefregex, when it runs here rather than in the matcher.
    pub(super) pref: Option<Rx>,
    /// Buffers of a `Prepared::pref` that was not needed.
    pub(super) spare: Spans,
    /// Prefregex's F-CONTENT group (among its spans).
    pub(super) content: Option<usize>,
    /// Lines prefregex matched here.
    pub(super) pref_hits: u64,
    pub(super) scratch: String,
    /// F-CONTENT and a newline, when it does not end the line.
    pub(super) content_text: String,
    pub(super) last_date: Option<f64>,
    pub(super) last_time_text: String,
}

/// Whether `hay` may match prefregex (when it has a prefilter) and any
/// failregex; `cand` gets which failregexes.
pub(super) fn may_match(
    pref_filter: Option<&Prefilter>,
    prefilter: &Prefilter,
    hay: &[u8],
    cand: &mut Vec<bool>,
) -> bool {
    if let Some(pf) = pref_filter
        && !pf.candidates(hay, cand)
    {
        return false;
    }
    prefilter.candidates(hay, cand)
}

impl Splitter {
    /// Prepares one raw log line (bytes, no trailing newline).
    pub fn split_line(&mut self, line: &[u8], out: &mut Prepared) {
        // one clock read: the line's time unless --now, and the matching
        // date template's last use
        self.split_line_at(line, wall_now(), out);
    }

    /// [`Splitter::split_line`] at `wall`, the wall clock (seconds) when
    /// the line was read: a reader of a whole file reads the clock once
    /// for a run of lines it reads within microseconds of each other
    /// (a read costs ~36 ns, a few percent of a line).
    pub fn split_line_at(&mut self, line: &[u8], wall: f64, out: &mut Prepared) {
        let line = self.cut(strip_eol(line));
        let text = lossy(line);
        let now = self.opts.now.unwrap_or(wall);
        let mut date = None;
        let mut split = Split::Whole;
        if let Some(f) = self.dd.match_time_at(&text, wall) {
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
        out.date = date.unwrap_or(now);
        out.wall = wall;
        out.may = true;
        Spans::clear(&mut out.pref, &mut self.spare);
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
            // fail2ban's buffer: the line and a newline
            scratch.push('\n');
            out.may = match self.pref.as_mut() {
                None => {
                    let b = scratch.as_bytes();
                    // (no prefregex at all: `which` is only built where
                    // prefregex, if any, runs here)
                    let may = self
                        .which
                        .as_mut()
                        .and_then(|w| w.candidates(b, &mut out.cand))
                        .unwrap_or_else(|| {
                            may_match(self.pref_filter.as_ref(), &self.prefilter, b, &mut out.cand)
                        });
                    if !may && self.count_later {
                        // every failregex is tried (they cannot match)
                        out.cand.clear();
                    }
                    may || self.count_later
                }
                // Prefregex first: its F-CONTENT is what the failregexes
                // run on, so their literals are looked for there only.
                Some(p) => {
                    let ok = self
                        .pref_filter
                        .as_ref()
                        .is_none_or(|pf| pf.candidates(scratch.as_bytes(), &mut out.cand))
                        && p.search(&scratch);
                    if ok {
                        self.pref_hits += 1;
                        Spans::set_taking(&mut out.pref, &mut self.spare, p, &mut scratch);
                    }
                    // (not ok: no match was set)
                    let Some(sp) = out.pref.as_ref() else {
                        out.may = false;
                        self.scratch = scratch;
                        return;
                    };
                    let text = sp.text.as_str();
                    // what the failregexes will run on: F-CONTENT and a
                    // newline (the text's own when content ends the line)
                    let mut own = std::mem::take(&mut self.content_text);
                    let hay = match self
                        .content
                        .and_then(|c| sp.slots.get(c).copied().flatten())
                        .filter(|&(s, e)| s < e)
                        .map(|(s, e)| (s as usize, e as usize))
                    {
                        Some((s, e)) if e + 1 == text.len() => &text[s..],
                        Some((s, e)) => {
                            own.clear();
                            own.push_str(&text[s..e]);
                            own.push('\n');
                            own.as_str()
                        }
                        None => text,
                    }
                    .as_bytes();
                    let may = self
                        .which
                        .as_mut()
                        .and_then(|w| w.candidates(hay, &mut out.cand))
                        .unwrap_or_else(|| self.prefilter.candidates(hay, &mut out.cand));
                    self.content_text = own;
                    may
                }
            };
            self.scratch = scratch;
            if !out.may {
                return;
            }
        }
        let tl = &mut out.tl;
        let set = |dst: &mut String, src: &str| {
            dst.clear();
            dst.push_str(src);
        };
        match split {
            Split::Parts(s, e) => {
                set(&mut tl.pre, &text[..s]);
                set(&mut tl.date, &text[s..e]);
                set(&mut tl.post, &text[e..]);
            }
            Split::LastDate => {
                tl.pre.clear();
                set(&mut tl.date, &self.last_time_text);
                set(&mut tl.post, &text);
            }
            Split::Whole => {
                tl.pre.clear();
                tl.date.clear();
                set(&mut tl.post, &text);
            }
        }
    }

    /// Prepares a journal entry whose time is known (no date detection).
    pub fn split_entry(&mut self, line: &[u8], time: f64, out: &mut Prepared) {
        self.split_entry_at(line, time, wall_now(), out);
    }

    /// [`Splitter::split_entry`] at `wall`, the wall clock when the entry
    /// was read (as [`Splitter::split_line_at`]).
    pub fn split_entry_at(&mut self, line: &[u8], time: f64, wall: f64, out: &mut Prepared) {
        let line = self.cut(strip_eol(line));
        out.may = self.maxlines > 1
            || may_match(
                self.pref_filter.as_ref(),
                &self.prefilter,
                line,
                &mut out.cand,
            );
        let pref_here = self.opts.count_prefregex && self.pref.is_some();
        if !out.may && (self.count_later || pref_here) {
            // prefregex runs (and counts) all the same; every failregex is
            // tried (they cannot match)
            out.may = true;
            out.cand.clear();
        }
        Spans::clear(&mut out.pref, &mut self.spare);
        if !out.may {
            return;
        }
        self.last_date = Some(time);
        out.date = time;
        out.wall = wall;
        out.tl.pre.clear();
        out.tl.date.clear();
        out.tl.post.clear();
        out.tl.post.push_str(&lossy(line));
        if let Some(p) = self.pref.as_mut() {
            out.may = p.search(&out.tl.post);
            if out.may {
                self.pref_hits += 1;
                Spans::set(&mut out.pref, &mut self.spare, p, &out.tl.post);
            }
        }
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
}

/// The line as text (invalid UTF-8 replaced); valid UTF-8, the common
/// case, is checked by the fast validator rather than chunk by chunk.
fn lossy(line: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(line) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(line),
    }
}

fn strip_eol(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r' | b'\n'] = line {
        line = rest;
    }
    line
}
