//! `enforcer regex`: fail2ban-regex. Tests a filter (a name in
//! CONFIG/filter.d, a filter file, or a literal regex) against a log file
//! or a single line; prints fail2ban-regex's summary, or with `--json` one
//! object per failure (the contract of ../shared/conformance/f2b_samples.py).
mod json;
mod lines;
mod listing;

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Context;

use crate::cli::RegexArgs;
use crate::filter::engine::{Found, Matcher, Matches, Prepared, Splitter, Tracker};
use crate::filter::{Filter, FilterOptions, FilterParts, UseDns};
use json::write_json;
use lines::read_lines;
use listing::{Kind, Lines};

/// Whether FILTER names a filter file (else it is a literal regex).
fn filter_file(config: &Path, spec: &str) -> bool {
    let name = spec.split('[').next().unwrap_or(spec);
    if name.is_empty() {
        return false;
    }
    let p = Path::new(name);
    if p.is_file() {
        return true;
    }
    let d = config.join("filter.d");
    !name.contains(['\\', '^', '$', '(', '*', ' '])
        && (d.join(format!("{name}.conf")).is_file()
            || d.join(format!("{name}.local")).is_file()
            || d.join(name).is_file())
}

fn parse_set(set: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    set.iter()
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("--set {kv:?}: expected KEY=VALUE"))?;
            Ok((k.trim().to_string(), v.to_string()))
        })
        .collect()
}

struct Loaded {
    parts: FilterParts,
    description: String,
}

fn load(args: &RegexArgs, set: &[(String, String)]) -> anyhow::Result<Loaded> {
    let mut parts = if filter_file(&args.config, &args.filter) {
        let def = crate::config::load_filter(&args.config, &args.filter, set)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        FilterParts::from(&def)
    } else {
        let opt = |k: &str| {
            set.iter()
                .rev()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        FilterParts {
            name: "regex".into(),
            prefregex: opt("prefregex"),
            failregex: vec![args.filter.clone()],
            ignoreregex: Vec::new(),
            maxlines: opt("maxlines")
                .and_then(|m| m.trim().parse().ok())
                .unwrap_or(1),
            datepattern: opt("datepattern"),
        }
    };
    if let Some(ig) = &args.ignoreregex {
        if filter_file(&args.config, ig) {
            let def = crate::config::load_filter(&args.config, ig, set)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            parts.ignoreregex.extend(def.ignoreregex);
        } else {
            parts.ignoreregex.push(ig.clone());
        }
    }
    let description = if parts.name == "regex" {
        format!("failregex : {}", args.filter)
    } else {
        format!(
            "filter file : {}, basedir: {}",
            args.filter,
            args.config.display()
        )
    };
    Ok(Loaded { parts, description })
}

/// Lines per hand-over between the threads.
const BATCH: usize = 64;

/// The wall clock as the reader gives it to lines: read once for every
/// `BATCH` lines (tens of microseconds apart), not once a line.
#[derive(Default)]
struct Clock {
    wall: f64,
    left: usize,
}

impl Clock {
    fn read(&mut self) -> f64 {
        if self.left == 0 {
            self.wall = crate::filter::date::wall_now();
            self.left = BATCH;
        }
        self.left -= 1;
        self.wall
    }
}

/// One line on its way through the threads.
#[derive(Default)]
struct Item {
    lineno: usize,
    prep: Prepared,
    m: Matches,
    /// Seconds spent on it (measured with --verbose).
    secs: f64,
    /// The line, while a list may print it.
    text: String,
}

#[derive(Default)]
struct Batch {
    items: Vec<Item>,
    /// How many of `items` hold lines.
    len: usize,
    /// Whether the reading thread ran the regexes on it already.
    matched: bool,
}

pub fn run(args: RegexArgs) -> anyhow::Result<ExitCode> {
    let mut set = parse_set(&args.set)?;
    if args.journal && !set.iter().any(|(k, _)| k == "logtype") {
        set.push(("logtype".into(), "journal".into()));
    }
    let loaded = load(&args, &set)?;
    let opt = |k: &str| {
        set.iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    let usedns = match opt("usedns") {
        Some(v) => v.parse::<UseDns>()?,
        None => UseDns::Warn,
    };
    let opts = FilterOptions {
        usedns,
        logtimezone: opt("logtimezone"),
        check_all: !args.no_check_all,
        raw_host: true,
        now: args.now,
        // (the summary reports it; --json does not)
        count_prefregex: !args.json,
        // (--json prints how many lines a failure has)
        keep_matches: args.json,
        ..FilterOptions::default()
    };
    let warming = crate::filter::date::warm_defaults(loaded.parts.datepattern.as_deref());
    // (the error's own text has its cause: as context, `{:#}` would print
    // the cause twice)
    let filter = Filter::from_parts(&loaded.parts, &opts)
        .map_err(|e| anyhow::anyhow!("filter {}: {e}", args.filter))?;
    if let Some(w) = warming {
        let _ = w.join();
    }
    let now = args.now.unwrap_or_else(crate::filter::date::wall_now);

    let is_file = Path::new(&args.log).is_file();
    let (reader, size): (Box<dyn BufRead>, u64) = if is_file {
        let f = File::open(&args.log).with_context(|| format!("opening {}", args.log))?;
        let size = f.metadata().map(|m| m.len()).unwrap_or(0);
        (Box::new(BufReader::with_capacity(1 << 20, f)), size)
    } else {
        // Not a file: the argument is a log line (as in fail2ban-regex).
        let line = args.log.clone().into_bytes();
        (Box::new(std::io::Cursor::new(line)), 0)
    };

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout);
    let progress = is_file && size > (64 << 20) && std::io::stderr().is_terminal() && !args.json;
    let started = Instant::now();
    let name = filter.name.clone();
    let parts = filter.split();
    let mut lines = Lines::new(&args, !parts.1.is_per_line());
    let parts = run_lines(
        &args,
        reader,
        (size, progress),
        now,
        parts,
        &mut lines,
        &mut out,
    )?;
    if progress {
        eprintln!("\r[{:<50}] 100.0%", "#".repeat(50));
    }
    let filter = Filter::join(name, parts.0, parts.1, parts.2);
    let elapsed = started.elapsed().as_secs_f64();
    if args.json {
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    report(&mut out, &args, &loaded, &filter, &lines, elapsed)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Runs the log through the filter's three parts: this thread reads and
/// splits lines (date detector, prefregex, which failregexes match), one
/// runs the regexes and one merges, counts and prints (on two cores, one
/// thread does both, and for a single-line filter this one also runs the
/// regexes of a batch whenever the other is behind: it would wait
/// otherwise). Lines go in batches, in order, and the batches come back
/// to be reused. Returns the parts for the report.
#[allow(clippy::too_many_arguments)]
fn run_lines(
    args: &RegexArgs,
    mut reader: Box<dyn BufRead>,
    (size, progress): (u64, bool),
    now: f64,
    (mut splitter, mut matcher, mut tracker): (Splitter, Matcher, Tracker),
    lines: &mut Lines,
    out: &mut (impl Write + Send),
) -> anyhow::Result<(Splitter, Matcher, Tracker)> {
    let keep_text = lines.want_text();
    if args.single_thread {
        let mut it = Item::default();
        let mut found = found_for(args);
        let mut written = Ok(());
        let mut clock = Clock::default();
        read_lines(&mut reader, (size, progress), |lineno, l| {
            let wall = clock.read();
            prepare(
                args,
                &mut splitter,
                (now, wall),
                lineno,
                l,
                &mut it,
                &keep_text,
            );
            let t0 = args.verbose.then(Instant::now);
            matcher.match_prepared(&mut it.prep, &mut it.m);
            found.clear();
            tracker.apply(&it.m, &mut found);
            if let Some(t0) = t0 {
                it.secs += t0.elapsed().as_secs_f64();
            }
            written = count(args, lines, &tracker, &mut it, &found, out);
            written.is_ok()
        })?;
        written?;
        return Ok((splitter, matcher, tracker));
    }
    // Three threads (read and split | regexes | merge and count) where
    // there are cores for them; on two cores the regexes run with the
    // merging, so that lines change cores once, and on the reading thread
    // for the batches the merging thread is behind on.
    let three = std::thread::available_parallelism().map_or(1, |n| n.get()) >= 3;
    let (to_match, matching) = std::sync::mpsc::sync_channel::<Batch>(2);
    let (to_track, tracking) = std::sync::mpsc::sync_channel::<Batch>(2);
    let (to_reuse, reusable) = std::sync::mpsc::channel::<Batch>();
    let verbose = args.verbose;
    let match_one = move |m: &mut Matcher, it: &mut Item| {
        let t0 = verbose.then(Instant::now);
        m.match_prepared(&mut it.prep, &mut it.m);
        if let Some(t0) = t0 {
            it.secs += t0.elapsed().as_secs_f64();
        }
    };
    // On two cores, the reading thread's own matcher (single-line
    // filters: a line's matches depend on that line only).
    let mut helper = (!three && matcher.is_per_line()).then(|| matcher.clone());
    std::thread::scope(|s| -> anyhow::Result<()> {
        // `here`: the matcher when the counting thread runs it too.
        let (counted_from, regexes, mut here) = if three {
            let m = &mut matcher;
            let regexes = std::thread::Builder::new()
                .name("regex-match".into())
                .spawn_scoped(s, move || {
                    for mut batch in matching {
                        for it in &mut batch.items[..batch.len] {
                            match_one(m, it);
                        }
                        if to_track.send(batch).is_err() {
                            return;
                        }
                    }
                })
                .context("starting a thread")?;
            (tracking, Some(regexes), None)
        } else {
            (matching, None, Some(&mut matcher))
        };
        let t = &mut tracker;
        let counting = std::thread::Builder::new()
            .name("regex-count".into())
            .spawn_scoped(s, move || -> std::io::Result<()> {
                let mut found = found_for(args);
                for mut batch in counted_from {
                    let matched = batch.matched;
                    for it in &mut batch.items[..batch.len] {
                        if let Some(m) = here.as_deref_mut().filter(|_| !matched) {
                            match_one(m, it);
                        }
                        found.clear();
                        t.apply(&it.m, &mut found);
                        count(args, lines, t, it, &found, out)?;
                    }
                    // the reader may be done already
                    let _ = to_reuse.send(batch);
                }
                Ok(())
            })
            .context("starting a thread")?;
        let mut batch = Batch::default();
        let mut clock = Clock::default();
        let read = read_lines(&mut reader, (size, progress), |lineno, l| {
            let wall = clock.read();
            if batch.len == batch.items.len() {
                batch.items.push(Item::default());
            }
            let it = &mut batch.items[batch.len];
            batch.len += 1;
            prepare(args, &mut splitter, (now, wall), lineno, l, it, &keep_text);
            if batch.len == BATCH {
                let mut next = reusable.try_recv().unwrap_or_default();
                next.len = 0;
                next.matched = false;
                let full = std::mem::replace(&mut batch, next);
                return hand_over(&to_match, full, helper.as_mut(), &match_one);
            }
            true
        });
        if batch.len > 0 {
            let _ = to_match.send(batch);
        }
        drop(to_match);
        let panicked = || anyhow::anyhow!("a matching thread panicked");
        if let Some(r) = regexes {
            r.join().map_err(|_| panicked())?;
        }
        let written = counting.join().map_err(|_| panicked())?;
        read?;
        written?;
        Ok(())
    })?;
    if let Some(h) = helper {
        matcher.add_counts(&h);
    }
    Ok((splitter, matcher, tracker))
}

/// Sends a full batch on; while the channel is full (the other thread is
/// behind), runs the batch's regexes here first with `helper`, if any.
/// False when the other side is gone.
fn hand_over(
    to: &std::sync::mpsc::SyncSender<Batch>,
    mut batch: Batch,
    helper: Option<&mut Matcher>,
    match_one: &impl Fn(&mut Matcher, &mut Item),
) -> bool {
    use std::sync::mpsc::TrySendError;
    match to.try_send(batch) {
        Ok(()) => return true,
        Err(TrySendError::Disconnected(_)) => return false,
        Err(TrySendError::Full(b)) => batch = b,
    }
    if let Some(m) = helper {
        for it in &mut batch.items[..batch.len] {
            match_one(m, it);
        }
        batch.matched = true;
    }
    to.send(batch).is_ok()
}

/// The splitter's part of one line, into `it`.
fn prepare(
    args: &RegexArgs,
    splitter: &mut Splitter,
    (now, wall): (f64, f64),
    lineno: usize,
    l: &[u8],
    it: &mut Item,
    keep_text: &AtomicBool,
) {
    it.lineno = lineno;
    let t0 = args.verbose.then(Instant::now);
    if args.journal {
        splitter.split_entry_at(l, now, wall, &mut it.prep);
    } else {
        splitter.split_line_at(l, wall, &mut it.prep);
    }
    it.secs = t0.map_or(0.0, |t0| t0.elapsed().as_secs_f64());
    it.text.clear();
    if keep_text.load(Ordering::Relaxed) {
        it.text.push_str(&String::from_utf8_lossy(l));
    }
}

/// Where a line's failures go: only --json prints them, a summary
/// counts them.
fn found_for(args: &RegexArgs) -> Found {
    if args.json {
        Found::default()
    } else {
        Found::tallying()
    }
}

/// Counts one line as fail2ban-regex does (and prints its failures with --json).
fn count(
    args: &RegexArgs,
    lines: &mut Lines,
    t: &Tracker,
    it: &mut Item,
    found: &Found,
    out: &mut impl Write,
) -> std::io::Result<()> {
    if args.json {
        let mut fields = Vec::new();
        for f in found.as_slice() {
            write_json(out, it.lineno, f, &mut fields)?;
        }
    }
    let c = &mut lines.counts;
    c.read += 1;
    if it.secs > c.slowest.0 {
        c.slowest = (it.secs, it.lineno);
    }
    let nofail = found.any_nofail() || t.last_pending.1 > 0;
    let hits = found.any_fail() || t.last_pending.0 > 0;
    let kind = if t.last_ignored || nofail {
        Kind::Ignored
    } else if hits {
        Kind::Matched
    } else {
        Kind::Missed
    };
    lines.add(kind, &mut it.text, it.m.taken());
    Ok(())
}

fn report(
    out: &mut impl Write,
    args: &RegexArgs,
    loaded: &Loaded,
    filter: &Filter,
    lines: &Lines,
    elapsed: f64,
) -> std::io::Result<()> {
    let c = &lines.counts;
    writeln!(out, "\nRunning tests\n=============\n")?;
    writeln!(out, "Use   {}", loaded.description)?;
    if Path::new(&args.log).is_file() {
        writeln!(out, "Use         log file : {}", args.log)?;
    } else {
        writeln!(out, "Use      single line : {}", args.log)?;
    }
    writeln!(out, "\n\nResults\n=======\n")?;
    let stats = filter.stats();
    // " (fancy-regex)" after a regex that does not run on `regex` alone
    let label = |engine: &str| {
        if engine.is_empty() {
            String::new()
        } else {
            format!(" ({engine})")
        }
    };
    if let Some((pref, engine)) = filter.prefregex_info() {
        writeln!(out, "Prefregex: {} total", stats.pref_hits)?;
        writeln!(out, "|  {pref}{}", label(engine))?;
        if args.verbose
            && let Some(r) = filter.prefregex_rust()
        {
            writeln!(out, "|  rust: {r}")?;
        }
        writeln!(out, "`-\n")?;
    }
    let total: u64 = stats.fail_hits.iter().sum();
    writeln!(out, "Failregex: {total} total")?;
    writeln!(out, "|-  #) [# of hits] regular expression")?;
    for (i, ((re, engine), hits)) in filter
        .failregex_info()
        .iter()
        .zip(&stats.fail_hits)
        .enumerate()
    {
        if *hits > 0 || args.verbose {
            writeln!(out, "|  {:>2}) [{hits}] {re}{}", i + 1, label(engine))?;
        }
    }
    writeln!(out, "`-\n")?;
    if args.verbose {
        for (i, r) in filter.failregex_rust().iter().enumerate() {
            writeln!(out, "|  {:>2}) rust: {r}", i + 1)?;
        }
    }
    let itotal: u64 = stats.ignore_hits.iter().sum();
    writeln!(out, "Ignoreregex: {itotal} total\n")?;
    writeln!(out, "Date template hits:")?;
    writeln!(out, "|- [# of hits] date format")?;
    for (name, hits) in filter.date_stats() {
        if hits > 0 {
            writeln!(out, "|  [{hits}] {name}")?;
        }
    }
    writeln!(out, "`-\n")?;
    writeln!(
        out,
        "Lines: {} lines, {} ignored, {} matched, {} missed",
        c.read, c.ignored, c.matched, c.missed
    )?;
    let rate = if elapsed > 0.0 {
        c.read as f64 / elapsed
    } else {
        0.0
    };
    writeln!(out, "[processed in {elapsed:.2} sec, {rate:.0} lines/s]")?;
    if args.verbose {
        writeln!(
            out,
            "[slowest line: {:.3} ms (line {})]",
            c.slowest.0 * 1e3,
            c.slowest.1
        )?;
    }
    lines.print(out)
}
