//! The regex bench's floor: what one DFA pass over every line costs, the
//! least any DFA-based filter has to do per line. The stock sshd filter's
//! prefregex (as enforcer translates it, from `enforcer regex -v`), after
//! the syslog stamp every line of gen_authlog.py starts with, is compiled
//! to a dense DFA (built ahead, the fastest search regex-automata has; no
//! capture groups, ASCII classes) and matched, anchored, against each line
//! of the file, already in memory, on every core. A filter needs more
//! than this: the date parsed, prefregex's F-CONTENT and F-MLFID groups,
//! a second pass for the failregexes and their groups, the failure
//! itself. So this row says how close to `wc -l` any such engine could
//! get on this machine.
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use regex_automata::dfa::{Automaton, dense};
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, nfa::thompson};

/// gen_authlog.py's stamp, "Mar  1 00:00:00" (the date the detector cuts).
const SYSLOG_STAMP: &str = "[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}";

pub struct Floor {
    /// The pattern the DFA was built from.
    pub pattern: String,
    pub threads: usize,
    /// Median wall seconds of the runs, and every run's.
    pub secs: f64,
    pub runs_secs: Vec<f64>,
    /// Lines the DFA matched (every line prefregex matches).
    pub matched: u64,
}

/// sshd's prefregex as enforcer runs it: the `rust:` line of the
/// Prefregex section of `enforcer regex -v`.
fn prefregex(bin: &Path, config: &Path, line: &str) -> Result<String> {
    let out = Command::new(bin)
        .args(["regex", "-v", "--config"])
        .arg(config)
        .args([line, "sshd"])
        .output()
        .context("running enforcer regex -v")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines().skip_while(|l| !l.starts_with("Prefregex:"));
    lines
        .find_map(|l| l.strip_prefix("|  rust: "))
        .map(str::to_string)
        .with_context(|| format!("no prefregex in `enforcer regex -v` output: {text}"))
}

fn count(dfa: &dense::DFA<Vec<u32>>, buf: &[u8]) -> Result<u64> {
    let mut n = 0;
    for line in buf.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let input = Input::new(line).anchored(Anchored::Yes);
        if dfa
            .try_search_fwd(&input)
            .context("the floor DFA gave up")?
            .is_some()
        {
            n += 1;
        }
    }
    Ok(n)
}

/// `buf` cut into `n` runs of whole lines.
fn chunks(buf: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    for k in 1..=n {
        let mut end = (buf.len() * k / n).max(start);
        while end > 0 && end < buf.len() && buf[end - 1] != b'\n' {
            end += 1;
        }
        out.push(&buf[start..end]);
        start = end;
    }
    out
}

pub fn measure(bin: &Path, config: &Path, log: &Path, runs: usize) -> Result<Floor> {
    let buf = std::fs::read(log).with_context(|| format!("reading {}", log.display()))?;
    let first = buf.split(|&b| b == b'\n').next().unwrap_or_default();
    let pref = prefregex(bin, config, &String::from_utf8_lossy(first))?;
    let Some(rest) = pref.strip_prefix('^') else {
        bail!("sshd's prefregex is not anchored: {pref}");
    };
    let pattern = format!("^{SYSLOG_STAMP}{rest}");
    let dfa = dense::Builder::new()
        .syntax(syntax::Config::new().unicode(false).utf8(false))
        .thompson(thompson::Config::new().which_captures(thompson::WhichCaptures::None))
        .build(&pattern)
        .with_context(|| format!("building the floor DFA of {pattern}"))?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let parts = chunks(&buf, threads);
    let mut runs_secs = Vec::new();
    let mut matched = 0;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        matched = std::thread::scope(|s| -> Result<u64> {
            let hs: Vec<_> = parts.iter().map(|p| s.spawn(|| count(&dfa, p))).collect();
            let mut total = 0;
            for h in hs {
                total += h
                    .join()
                    .map_err(|_| anyhow::anyhow!("a floor thread panicked"))??;
            }
            Ok(total)
        })?;
        runs_secs.push(t.elapsed().as_secs_f64());
    }
    let mut sorted = runs_secs.clone();
    sorted.sort_by(f64::total_cmp);
    Ok(Floor {
        pattern,
        threads,
        secs: sorted[(sorted.len() - 1) / 2],
        runs_secs,
        matched,
    })
}

#[cfg(test)]
mod tests {
    use super::chunks;

    #[test]
    fn chunks_end_at_line_ends_and_cover_all() {
        let buf = b"aa\nbbbb\nc\ndddddd\n";
        for n in 1..6 {
            let c = chunks(buf, n);
            assert_eq!(c.len(), n);
            assert_eq!(c.concat(), buf.to_vec());
            assert!(c.iter().all(|p| p.is_empty() || p.ends_with(b"\n")));
        }
    }
}
