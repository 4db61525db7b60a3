//! `cargo xtask difffuzz`: differential fuzzing of `enforcer regex`
//! against fail2ban-regex. For every stock filter with a sample log in
//! ../shared, a copy of the log is mutated line by line (bytes replaced,
//! cut, repeated; separators, invalid UTF-8, NULs, addresses and stamps
//! spliced in), both tools count it, and where their `Lines:` summaries
//! differ the log is cut down (delta debugging) to the fewest lines that
//! still differ, kept under target/difffuzz/ for a look. With `--rows`
//! the failures themselves are compared instead (fail2ban-regex's `-o row`
//! against `enforcer regex --json`: id, time and every field), which
//! catches a wrong address, user or stamp that leaves the counts alone.
//!
//! Not part of CI: the reference is Debian's fail2ban (1.0.2), while the
//! sample logs and our conformance follow fail2ban 1.1, which differs in
//! a few places (a failregex group that did not take part leaves
//! prefregex's value alone in 1.1: dovecot's `sql(…)` lines). A difference
//! found here is a lead to check against fail2ban's source, not a verdict.
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

mod rows;

/// Options of `cargo xtask difffuzz`.
#[derive(Debug, clap::Args)]
pub struct DiffFuzzArgs {
    /// The first seed; one mutated log per filter and seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How many seeds from the first.
    #[arg(long, default_value_t = 1)]
    pub seeds: u64,
    /// Lines per mutated log.
    #[arg(long, default_value_t = 400)]
    pub lines: usize,
    /// Only these filters (repeatable; default: every one with a sample log).
    #[arg(long)]
    pub filter: Vec<String>,
    /// The enforcer binary (default: target/release/enforcer).
    #[arg(long)]
    pub enforcer: Option<PathBuf>,
    /// Compare the failures (id, time, fields) instead of the line counts.
    #[arg(long)]
    pub rows: bool,
    /// A filter option for both tools, e.g. `mode=aggressive` (repeatable;
    /// fail2ban-regex gets it as `filter[mode=aggressive]`).
    #[arg(long, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// Most predicate runs one minimisation may take (two processes each).
const MAX_TRIES: usize = 400;

pub fn difffuzz(args: &DiffFuzzArgs) -> Result<()> {
    let root = crate::build_ebpf::workspace_root();
    let shared = root.join("../shared/fail2ban");
    let config = shared.join("config");
    let logs = shared.join("fail2ban/tests/files/logs");
    let bin = args
        .enforcer
        .clone()
        .unwrap_or_else(|| root.join("target/release/enforcer"));
    if !bin.is_file() {
        bail!("{} not found: run `cargo xtask build` first", bin.display());
    }
    crate::bench::sys::ensure_package("fail2ban-regex", "fail2ban")?;
    let out_dir = root.join("target/difffuzz");
    std::fs::create_dir_all(&out_dir)?;
    let tools = Tools {
        bin,
        config,
        rows: args.rows,
        sets: args.set.clone(),
    };

    let mut names: Vec<String> = std::fs::read_dir(tools.config.join("filter.d"))
        .context("reading filter.d")?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".conf").map(str::to_string)
        })
        .filter(|n| logs.join(n).is_file())
        .filter(|n| args.filter.is_empty() || args.filter.contains(n))
        .collect();
    names.sort();
    let (mut runs, mut differ, mut crashed) = (0, 0, 0);
    for name in &names {
        let sample = read_lines(&logs.join(name))?;
        for seed in args.seed..args.seed + args.seeds {
            runs += 1;
            let log = mutate(&sample, seed, args.lines);
            let path = out_dir.join(format!("{name}-{seed}.log"));
            let (ours, theirs) = tools.compare(&path, name, &log)?;
            match theirs {
                None => crashed += 1,
                Some(t) if !tools.same(&ours, &t) => {
                    differ += 1;
                    let small = minimise(&tools, &path, name, log);
                    write_log(&path, &small)?;
                    let (ours, theirs) = tools.compare(&path, name, &small)?;
                    let theirs = theirs.unwrap_or_default();
                    let (ours, theirs) = first_difference(&ours, &theirs);
                    println!(
                        "{name} seed {seed}: {} line(s) in {}\n  enforcer:       {ours}\n  fail2ban-regex: {theirs}",
                        small.len(),
                        path.display(),
                    );
                    continue;
                }
                Some(_) => {}
            }
            let _ = std::fs::remove_file(&path);
        }
    }
    println!(
        "difffuzz: {runs} logs ({} filters), {differ} differ, fail2ban-regex failed on {crashed}",
        names.len()
    );
    Ok(())
}

struct Tools {
    bin: PathBuf,
    config: PathBuf,
    rows: bool,
    sets: Vec<String>,
}

impl Tools {
    /// What both tools make of `lines` (written to `path`): their `Lines:`
    /// summaries, or with `rows` their failures one per line; None for
    /// fail2ban-regex when it gave nothing (it crashed).
    fn compare(
        &self,
        path: &Path,
        filter: &str,
        lines: &[Vec<u8>],
    ) -> Result<(String, Option<String>)> {
        write_log(path, lines)?;
        let mut ours = Command::new("timeout");
        ours.arg("120").arg(&self.bin).arg("regex");
        if self.rows {
            // (fail2ban-regex -o stops at a line's first failregex)
            ours.args(["--json", "--no-check-all"]);
        }
        for kv in &self.sets {
            ours.arg("--set").arg(kv);
        }
        ours.arg("--config").arg(&self.config).arg(path).arg(filter);
        let their_filter = match self.sets.is_empty() {
            true => filter.to_string(),
            false => format!("{filter}[{}]", self.sets.join(",")),
        };
        let mut theirs = Command::new("timeout");
        theirs.args(["600", "fail2ban-regex", "--raw"]);
        if self.rows {
            theirs.args(["-o", "row"]);
        }
        theirs
            .arg("--config")
            .arg(&self.config)
            .arg(path)
            .arg(&their_filter);
        if self.rows {
            let ours = rows::ours(
                &run(&mut ours)?
                    .with_context(|| format!("enforcer regex failed on {}", path.display()))?,
            )?;
            let theirs = run(&mut theirs)?.map(|t| rows::theirs(&t)).transpose()?;
            return Ok((ours, theirs));
        }
        let ours = run(&mut ours)?
            .as_deref()
            .and_then(summary)
            .with_context(|| format!("enforcer regex gave no summary for {}", path.display()))?;
        let theirs = run(&mut theirs)?.as_deref().and_then(summary);
        Ok((ours, theirs))
    }

    fn differs(&self, path: &Path, filter: &str, lines: &[Vec<u8>]) -> bool {
        matches!(self.compare(path, filter, lines), Ok((a, Some(b))) if !self.same(&a, &b))
    }

    fn same(&self, ours: &str, theirs: &str) -> bool {
        if self.rows {
            rows::same(ours, theirs)
        } else {
            ours == theirs
        }
    }
}

/// The first line where two outcomes differ ("-" where one has no more).
fn first_difference<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    let (mut a, mut b) = (a.lines(), b.lines());
    loop {
        match (a.next(), b.next()) {
            (x, y) if x == y && x.is_some() => continue,
            (x, y) => return (x.unwrap_or("-"), y.unwrap_or("-")),
        }
    }
}

/// A command's stdout, None when it failed.
fn run(cmd: &mut Command) -> Result<Option<String>> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned()))
}

fn summary(stdout: &str) -> Option<String> {
    stdout
        .lines()
        .find(|l| l.starts_with("Lines: "))
        .map(str::to_string)
}

/// Delta debugging over lines: the fewest (in order) that still differ.
fn minimise(tools: &Tools, path: &Path, filter: &str, mut lines: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut tries = 0;
    let mut n = 2;
    while lines.len() >= 2 && tries < MAX_TRIES {
        let chunk = lines.len().div_ceil(n);
        let mut cut = false;
        let mut at = 0;
        while at < lines.len() && tries < MAX_TRIES {
            let mut rest = lines[..at].to_vec();
            rest.extend_from_slice(&lines[(at + chunk).min(lines.len())..]);
            tries += 1;
            if !rest.is_empty() && tools.differs(path, filter, &rest) {
                lines = rest;
                n = (n - 1).max(2);
                cut = true;
                break;
            }
            at += chunk;
        }
        if !cut {
            if chunk == 1 {
                break;
            }
            n = (n * 2).min(lines.len());
        }
    }
    lines
}

fn read_lines(path: &Path) -> Result<Vec<Vec<u8>>> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let lines: Vec<Vec<u8>> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
        .map(<[u8]>::to_vec)
        .collect();
    Ok(if lines.is_empty() {
        vec![b"x".to_vec()]
    } else {
        lines
    })
}

fn write_log(path: &Path, lines: &[Vec<u8>]) -> Result<()> {
    let mut text = lines.join(&b'\n');
    text.push(b'\n');
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// What mutations splice in: separators and brackets regexes key on,
/// bytes that are not UTF-8 or are whitespace to Python only, addresses
/// (of the test ranges), stamp pieces.
const TOKENS: &[&[u8]] = &[
    b"\0",
    b"\xff",
    b"\xc3",
    b"\xe2\x82",
    b"[",
    b"]",
    b"(",
    b")",
    b"\\",
    b"%",
    b"::ffff:",
    b"198.18.0.1",
    b"2001:db8::1",
    b"::",
    b"\r",
    b"\x1c",
    b"\x0b",
    b" ",
    b"\t",
    b"<HOST>",
    b"%(",
    b"$",
    b"{",
    b"\"",
    b"'",
    b"user=",
    b"rhost=",
    b"from ",
    b"port ",
    b"1970",
    b"9999",
    b"-",
    b"+0000",
    b"T",
    b"Z",
    b".",
    b":",
    b"/",
    b"@",
    b"\xc3\xa9",
];

/// `lines` mutated lines from `sample`, the same for the same seed.
fn mutate(sample: &[Vec<u8>], seed: u64, lines: usize) -> Vec<Vec<u8>> {
    let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    (0..lines)
        .map(|_| {
            let mut l = sample[r.below(sample.len())].clone();
            for _ in 0..1 + r.below(6) {
                let p = r.below(l.len() + 1);
                let tok = TOKENS[r.below(TOKENS.len())];
                match r.below(20) {
                    0..=5 => {
                        l.splice(p..p, tok.iter().copied());
                    }
                    6..=9 if !l.is_empty() => {
                        let end = (p + 1 + r.below(8)).min(l.len());
                        l.drain(p.min(end)..end);
                    }
                    10..=12 => {
                        let other = &sample[r.below(sample.len())];
                        let from = r.below(other.len().min(20) + 1);
                        let to = (from + r.below(60)).min(other.len());
                        l.splice(p..p, other[from..to].iter().copied());
                    }
                    13 | 14 if p < l.len() => l[p] = r.below(256) as u8,
                    15 | 16 => {
                        let times = 2 + r.below(199);
                        let run: Vec<u8> = tok.repeat(times);
                        l.splice(p..p, run);
                    }
                    _ => l.truncate(p),
                }
            }
            // (a newline would make two lines of one)
            l.iter_mut()
                .filter(|b| **b == b'\n')
                .for_each(|b| *b = b' ');
            l
        })
        .collect()
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_deterministic_and_single_lines() {
        let sample = vec![b"Aug 14 11:59:59 host sshd[1]: Failed password for root".to_vec()];
        let a = mutate(&sample, 7, 50);
        assert_eq!(a, mutate(&sample, 7, 50));
        assert_ne!(a, mutate(&sample, 8, 50));
        assert!(a.iter().flatten().all(|&b| b != b'\n'));
        assert!(a.iter().any(|l| l != &sample[0]));
    }
}
