//! Owns fail2ban-regex's line counts and lists: how a line counts
//! (ignored, matched or missed), the recount of the earlier lines a
//! multi-line match takes out of the buffer (missed before, matched now),
//! which lines are kept to print (`--print-all-matched`, and the first
//! ignored and missed lines unless `--print-no-*`, all of them with
//! `--print-all-*`), and how the lists print after the summary. It also
//! tells the reading thread when no line's text can be printed any more,
//! so that a large log's lines are not copied for nothing.
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::cli::RegexArgs;

/// fail2ban-regex's `maxlines` of a list: it keeps one more than it
/// prints, and prints a list only when it has fewer lines than this.
const SHOWN: u64 = 20;

#[derive(Default)]
pub(super) struct Counts {
    pub read: u64,
    pub matched: u64,
    /// (signed as fail2ban-regex's: a recount takes one off even from
    /// a line counted as ignored)
    pub missed: i64,
    pub ignored: u64,
    /// (seconds, line number) of the slowest line (measured with --verbose).
    pub slowest: (f64, usize),
}

/// How one line counts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Ignored,
    Matched,
    Missed,
}

/// Which lists to keep and print.
#[derive(Clone, Copy)]
struct Wanted {
    all_matched: bool,
    all_ignored: bool,
    all_missed: bool,
    no_ignored: bool,
    no_missed: bool,
}

/// The counts and the lines kept to print.
pub(super) struct Lines {
    pub counts: Counts,
    matched: Vec<String>,
    ignored: Vec<String>,
    missed: Vec<String>,
    wanted: Wanted,
    /// Whether a later line can take earlier ones back from the missed
    /// (a multi-line filter): the missed count may then go down again.
    recounts: bool,
    /// Whether the reader should still keep each line's text.
    want_text: Arc<AtomicBool>,
}

impl Lines {
    pub fn new(args: &RegexArgs, recounts: bool) -> Lines {
        let wanted = Wanted {
            all_matched: args.print_all_matched,
            all_ignored: args.print_all_ignored,
            all_missed: args.print_all_missed,
            no_ignored: args.print_no_ignored,
            no_missed: args.print_no_missed,
        };
        let some = !args.json && (wanted.all_matched || !wanted.no_ignored || !wanted.no_missed);
        Lines {
            counts: Counts::default(),
            matched: Vec::new(),
            ignored: Vec::new(),
            missed: Vec::new(),
            wanted,
            recounts,
            want_text: Arc::new(AtomicBool::new(some)),
        }
    }

    /// Read by the reading thread: whether to keep the line's text.
    pub fn want_text(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.want_text)
    }

    /// Counts a line of `kind` (its text in `text`, if kept), after the
    /// earlier lines its match `taken` out of the buffer, as
    /// fail2ban-regex's `testRegex` and `process` do.
    #[inline]
    pub fn add(&mut self, kind: Kind, text: &mut String, taken: &[String]) {
        let w = self.wanted;
        let c = &mut self.counts;
        if !self.want_text.load(Ordering::Relaxed) {
            // (no list can take a line any more: a single-line filter)
            match kind {
                Kind::Ignored => c.ignored += 1,
                Kind::Matched => c.matched += 1,
                Kind::Missed => c.missed += 1,
            }
            return;
        }
        for t in taken {
            if let Some(i) = self.missed.iter().position(|m| m == t) {
                self.missed.remove(i);
            }
            if w.all_matched {
                self.matched.push(t.clone());
            }
            c.matched += 1;
            c.missed -= 1;
        }
        let keep = match kind {
            Kind::Ignored => {
                c.ignored += 1;
                !w.no_ignored && (w.all_ignored || c.ignored <= SHOWN + 1)
            }
            Kind::Matched => {
                c.matched += 1;
                w.all_matched
            }
            Kind::Missed => {
                c.missed += 1;
                !w.no_missed && (w.all_missed || c.missed <= SHOWN as i64 + 1)
            }
        };
        if keep {
            let list = match kind {
                Kind::Ignored => &mut self.ignored,
                Kind::Matched => &mut self.matched,
                Kind::Missed => &mut self.missed,
            };
            list.push(std::mem::take(text));
        }
        let done = |all: bool, no: bool, n: i64| no || (!all && n > SHOWN as i64 + 1);
        if !self.recounts
            && !w.all_matched
            && done(w.all_ignored, w.no_ignored, c.ignored as i64)
            && done(w.all_missed, w.no_missed, c.missed)
        {
            self.want_text.store(false, Ordering::Relaxed);
        }
    }

    /// The lists, after the summary (fail2ban-regex's `printLines`).
    pub fn print(&self, out: &mut impl Write) -> std::io::Result<()> {
        let w = self.wanted;
        let c = &self.counts;
        writeln!(out)?;
        if w.all_matched {
            print_list(out, "Matched", c.matched as i64, &self.matched, true)?;
        }
        if !w.no_ignored {
            print_list(
                out,
                "Ignored",
                c.ignored as i64,
                &self.ignored,
                w.all_ignored,
            )?;
        }
        if !w.no_missed {
            print_list(out, "Missed", c.missed, &self.missed, w.all_missed)?;
        }
        Ok(())
    }
}

/// One list under its `head` ("Missed": "Missed line(s):").
fn print_list(
    out: &mut impl Write,
    head: &str,
    count: i64,
    lines: &[String],
    all: bool,
) -> std::io::Result<()> {
    if count <= 0 {
        return Ok(());
    }
    let header = format!("{head} line(s):");
    if count < SHOWN as i64 || all {
        if lines.is_empty() {
            return Ok(());
        }
        writeln!(out, "|- {header}")?;
        for l in lines {
            writeln!(out, "|  {}", l.trim_end())?;
        }
        writeln!(out, "`-")
    } else {
        let kind = head.to_ascii_lowercase();
        writeln!(
            out,
            "{header} too many to print.  Use --print-all-{kind} to print all {count} lines"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(recounts: bool) -> Lines {
        Lines {
            counts: Counts::default(),
            matched: Vec::new(),
            ignored: Vec::new(),
            missed: Vec::new(),
            wanted: Wanted {
                all_matched: false,
                all_ignored: false,
                all_missed: false,
                no_ignored: false,
                no_missed: false,
            },
            recounts,
            want_text: Arc::new(AtomicBool::new(true)),
        }
    }

    fn printed(l: &Lines) -> String {
        let mut v = Vec::new();
        l.print(&mut v).unwrap();
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn few_missed_lines_print_and_many_do_not() {
        let mut l = lines(false);
        for i in 0..3 {
            l.add(Kind::Missed, &mut format!("line {i}  "), &[]);
        }
        l.add(Kind::Ignored, &mut "quiet".to_string(), &[]);
        assert_eq!(
            printed(&l),
            "\n|- Ignored line(s):\n|  quiet\n`-\n|- Missed line(s):\n|  line 0\n|  line 1\n|  line 2\n`-\n"
        );
        assert!(l.want_text.load(Ordering::Relaxed));
        for i in 3..30 {
            l.add(Kind::Missed, &mut format!("line {i}"), &[]);
        }
        assert_eq!(l.missed.len(), 21, "one more kept than printed");
        assert!(printed(&l).ends_with(
            "Missed line(s): too many to print.  Use --print-all-missed to print all 30 lines\n"
        ));
        // ignored lines may still print: the reader keeps the texts
        assert!(l.want_text.load(Ordering::Relaxed));
        for _ in 0..21 {
            l.add(Kind::Ignored, &mut String::new(), &[]);
        }
        assert!(!l.want_text.load(Ordering::Relaxed));
    }

    #[test]
    fn a_multi_line_match_takes_its_earlier_lines_from_the_missed() {
        let mut l = lines(true);
        l.wanted.all_matched = true;
        l.add(Kind::Missed, &mut "first".to_string(), &[]);
        l.add(Kind::Missed, &mut "other".to_string(), &[]);
        l.add(
            Kind::Matched,
            &mut "second".to_string(),
            &["first".to_string()],
        );
        let c = &l.counts;
        assert_eq!((c.matched, c.missed), (2, 1));
        assert_eq!(l.matched, ["first", "second"]);
        assert_eq!(l.missed, ["other"]);
        for _ in 0..40 {
            l.add(Kind::Missed, &mut String::new(), &[]);
        }
        // the missed count may go down again: texts are still wanted
        assert!(l.want_text.load(Ordering::Relaxed));
    }
}
