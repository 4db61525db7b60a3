//! `enforcer regex`: fail2ban-regex. Tests a filter (a name in
//! CONFIG/filter.d, a filter file, or a literal regex) against a log file
//! or a single line; prints fail2ban-regex's summary, or with `--json` one
//! object per failure (the contract of ../shared/conformance/f2b_samples.py).
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

use crate::cli::RegexArgs;
use crate::filter::{Failure, Filter, FilterOptions, FilterParts, UseDns};

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

fn json_line(line: usize, f: &Failure) -> String {
    let mut fields = serde_json::Map::new();
    for (k, v) in &f.fields {
        fields.insert(k.clone(), serde_json::Value::String(v.clone()));
    }
    if !f.users.is_empty() {
        fields.insert("users".into(), serde_json::json!(f.users));
    }
    serde_json::json!({
        "line": line,
        "fid": f.fid,
        "host": f.host,
        "time": f.time,
        "fields": fields,
        "matches": f.matches.len(),
        "nofail": f.nofail,
    })
    .to_string()
}

#[derive(Default)]
struct Counts {
    read: u64,
    matched: u64,
    missed: u64,
    ignored: u64,
    /// (seconds, line number) of the slowest line (measured with --verbose).
    slowest: (f64, usize),
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
        check_all: true,
        raw_host: true,
        now: args.now,
        ..FilterOptions::default()
    };
    let mut filter = Filter::from_parts(&loaded.parts, &opts)
        .with_context(|| format!("filter {}", args.filter))?;
    let now = args.now.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    });

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
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let progress = is_file && size > (64 << 20) && std::io::stderr().is_terminal() && !args.json;
    let started = Instant::now();
    let mut counts = Counts::default();
    let mut matched_lines: Vec<String> = Vec::new();
    let mut missed_lines: Vec<String> = Vec::new();
    let mut found: Vec<Failure> = Vec::new();
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut reader = reader;
    let mut lineno = 0usize;
    let mut done_bytes = 0u64;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .context("reading the log")?;
        if n == 0 {
            break;
        }
        done_bytes += n as u64;
        lineno += 1;
        let mut l: &[u8] = &buf;
        while let [rest @ .., b'\n' | b'\r'] = l {
            l = rest;
        }
        if l.is_empty() || l[0] == b'#' {
            continue;
        }
        found.clear();
        let t0 = args.verbose.then(Instant::now);
        if args.journal {
            filter.process_entry(l, now, &mut found);
        } else {
            filter.process_line(l, &mut found);
        }
        if let Some(t0) = t0 {
            let dt = t0.elapsed().as_secs_f64();
            if dt > counts.slowest.0 {
                counts.slowest = (dt, lineno);
            }
        }
        counts.read += 1;
        if args.json {
            for f in &found {
                writeln!(out, "{}", json_line(lineno, f))?;
            }
        }
        let nofail = found.iter().any(|f| f.nofail) || filter.last_pending.1 > 0;
        let hits = found.iter().any(|f| !f.nofail) || filter.last_pending.0 > 0;
        if filter.last_ignored || nofail {
            counts.ignored += 1;
        } else if hits {
            counts.matched += 1;
            if args.print_all_matched {
                matched_lines.push(String::from_utf8_lossy(l).into_owned());
            }
        } else {
            counts.missed += 1;
            if args.print_all_missed {
                missed_lines.push(String::from_utf8_lossy(l).into_owned());
            }
        }
        if progress && counts.read % (1 << 16) == 0 {
            let pct = done_bytes as f64 * 100.0 / size.max(1) as f64;
            eprint!("\r[{:<50}] {pct:5.1}%", "#".repeat((pct / 2.0) as usize));
        }
    }
    if progress {
        eprintln!("\r[{:<50}] 100.0%", "#".repeat(50));
    }
    let elapsed = started.elapsed().as_secs_f64();
    if args.json {
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    report(
        &mut out,
        &args,
        &loaded,
        &filter,
        &counts,
        elapsed,
        &matched_lines,
        &missed_lines,
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::too_many_arguments)]
fn report(
    out: &mut impl Write,
    args: &RegexArgs,
    loaded: &Loaded,
    filter: &Filter,
    c: &Counts,
    elapsed: f64,
    matched: &[String],
    missed: &[String],
) -> std::io::Result<()> {
    writeln!(out, "\nRunning tests\n=============\n")?;
    writeln!(out, "Use   {}", loaded.description)?;
    if Path::new(&args.log).is_file() {
        writeln!(out, "Use         log file : {}", args.log)?;
    } else {
        writeln!(out, "Use      single line : {}", args.log)?;
    }
    writeln!(out, "\n\nResults\n=======\n")?;
    let total: u64 = filter.stats.fail_hits.iter().sum();
    writeln!(out, "Failregex: {total} total")?;
    writeln!(out, "|-  #) [# of hits] regular expression")?;
    for (i, ((re, engine), hits)) in filter
        .failregex_info()
        .iter()
        .zip(&filter.stats.fail_hits)
        .enumerate()
    {
        if *hits > 0 || args.verbose {
            let engine = if engine.is_empty() {
                String::new()
            } else {
                format!(" ({engine})")
            };
            writeln!(out, "|  {:>2}) [{hits}] {re}{engine}", i + 1)?;
        }
    }
    writeln!(out, "`-\n")?;
    if args.verbose {
        for (i, r) in filter.failregex_rust().iter().enumerate() {
            writeln!(out, "|  {:>2}) rust: {r}", i + 1)?;
        }
    }
    let itotal: u64 = filter.stats.ignore_hits.iter().sum();
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
    if !matched.is_empty() {
        writeln!(out, "\n|- Matched line(s):")?;
        for l in matched {
            writeln!(out, "|  {l}")?;
        }
        writeln!(out, "`-")?;
    }
    if !missed.is_empty() {
        writeln!(out, "\n|- Missed line(s):")?;
        for l in missed {
            writeln!(out, "|  {l}")?;
        }
        writeln!(out, "`-")?;
    }
    Ok(())
}
