//! Hostile log lines against every stock fail2ban filter and our own: a
//! 1 MB line, NUL bytes, invalid UTF-8, and long runs built from each
//! filter's own sample lines (its words repeated thousands of times, the
//! shapes that make backtracking regexes run away). Every filter must stay
//! under 50 ms for its slowest line (`enforcer regex -v` measures each line).
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

const LIMIT_MS: f64 = 50.0;

/// Lines built to hurt: generic ones plus runs crafted from `samples`.
fn hostile_lines(samples: &[String]) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = vec![
        vec![b'a'; 1 << 20],
        b" ".repeat(1 << 20),
        {
            let mut l = b"Aug 14 11:59:59 host sshd[1]: ".to_vec();
            l.extend(std::iter::repeat_n(b"\0from 192.0.2.1 ", 20_000).flatten());
            l
        },
        {
            let mut l = b"Aug 14 11:59:59 host sshd[1]: Failed password for ".to_vec();
            l.extend(std::iter::repeat_n(&b"\xff\xfe invalid user \xc3("[..], 20_000).flatten());
            l
        },
        "1.2.3.".repeat(100_000).into_bytes(),
        "::".repeat(200_000).into_bytes(),
        "[".repeat(300_000).into_bytes(),
    ];
    for s in samples.iter().take(12) {
        let words: Vec<&str> = s.split(' ').collect();
        if words.len() < 3 {
            continue;
        }
        let mid = words.len() / 2;
        // the middle of the line repeated: "... for for for ... from ..."
        let mut a = words[..mid].join(" ");
        for _ in 0..5_000 {
            a.push(' ');
            a.push_str(words[mid]);
        }
        a.push(' ');
        a.push_str(&words[mid..].join(" "));
        v.push(a.into_bytes());
        // the tail repeated: the line followed by itself many times over
        let tail = words[1..].join(" ");
        let mut b = s.clone();
        while b.len() < 200_000 {
            b.push(' ');
            b.push_str(&tail);
        }
        v.push(b.into_bytes());
        // every space a long run of spaces
        v.push(s.replace(' ', &" ".repeat(2_000)).into_bytes());
    }
    v
}

fn samples_of(logs: &Path, name: &str) -> Vec<String> {
    std::fs::read_to_string(logs.join(name))
        .map(|t| {
            t.lines()
                .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Runs one filter over the hostile lines; returns its slowest line in ms.
fn slowest_ms(
    config: &Path,
    filter: &str,
    lines: &[Vec<u8>],
    scratch: &Path,
) -> Result<(f64, String), String> {
    let path = scratch.join(format!("{filter}.log"));
    let mut f = std::fs::File::create(&path).expect("scratch log");
    for l in lines {
        f.write_all(l).expect("write");
        f.write_all(b"\n").expect("write");
    }
    drop(f);
    // The machine is shared: a line counts as slow only if it is slow in
    // each of three runs.
    let mut best: Option<(f64, String)> = None;
    for _ in 0..3 {
        let r = run_once(config, filter, &path)?;
        if best.as_ref().is_none_or(|b| r.0 < b.0) {
            best = Some(r);
        }
        if best.as_ref().is_some_and(|b| b.0 < LIMIT_MS) {
            break;
        }
    }
    let (ms, what) = best.expect("at least one run");
    if ms < LIMIT_MS || std::env::var_os("ENFORCER_KEEP_HOSTILE").is_none() {
        let _ = std::fs::remove_file(&path);
    }
    Ok((ms, what))
}

fn run_once(config: &Path, filter: &str, path: &Path) -> Result<(f64, String), String> {
    let out = Command::new(tests::enforcer_bin())
        .args(["regex", "-v", "--print-no-missed", "--print-no-ignored"])
        .args(["--now", "1124013600", "--config"])
        .arg(config)
        .arg(path)
        .arg(filter)
        .env("TZ", "UTC")
        .output()
        .expect("running enforcer regex");
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let line = text
        .lines()
        .find(|l| l.starts_with("[slowest line: "))
        .ok_or_else(|| format!("no timing in output:\n{text}"))?;
    let ms: f64 = line["[slowest line: ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("unparsable timing {line:?}"))?;
    Ok((ms, format!("{line} in {}", path.display())))
}

fn filters_in(config: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(config.join("filter.d"))
        .expect("filter.d")
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter_map(|n| n.strip_suffix(".conf").map(str::to_string))
        .filter(|n| n != "common")
        .collect();
    v.sort();
    v
}

fn check_all(config: &Path, logs: &Path, min_filters: usize) {
    // One scratch directory per check: the two tests run in one process,
    // in parallel unless told otherwise.
    let tag = config.file_name().unwrap_or_default().to_string_lossy();
    let scratch: PathBuf =
        std::env::temp_dir().join(format!("enforcer-hostile-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let mut slow = Vec::new();
    let mut checked = 0;
    let mut tried = 0u64;
    let mut worst = (0.0, String::new());
    for name in filters_in(config) {
        let lines = hostile_lines(&samples_of(logs, &name));
        match slowest_ms(config, &name, &lines, &scratch) {
            Ok((ms, what)) => {
                checked += 1;
                tried += lines.len() as u64;
                if ms > worst.0 {
                    worst = (ms, name.clone());
                }
                if ms >= LIMIT_MS {
                    slow.push(format!("{name}: {what}"));
                }
            }
            // A filter that needs jail-provided parameters does not load on
            // its own; that is not what this test is about.
            Err(e) => eprintln!(
                "{name}: not loadable alone: {}",
                e.lines().next().unwrap_or("")
            ),
        }
    }
    if std::env::var_os("ENFORCER_KEEP_HOSTILE").is_none() {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    eprintln!(
        "{checked} filters, slowest: {:.2} ms ({})",
        worst.0, worst.1
    );
    let name = format!(
        "filter_hostile {}",
        config.file_name().unwrap_or_default().to_string_lossy()
    );
    let tally = tests::suite::Tally {
        payloads: tried,
        ..Default::default()
    };
    tests::suite::report(&name, tally);
    assert!(
        checked >= min_filters,
        "only {checked} filters could be checked"
    );
    assert!(slow.is_empty(), "lines slower than {LIMIT_MS} ms: {slow:?}");
}

#[test]
fn stock_filters_stay_fast_on_hostile_lines() {
    let shared = tests::shared_dir().join("fail2ban");
    check_all(
        &shared.join("config"),
        &shared.join("fail2ban/tests/files/logs"),
        80,
    );
}

#[test]
fn default_filters_stay_fast_on_hostile_lines() {
    let root = tests::workspace_root();
    check_all(
        &root.join("enforcer/defaults"),
        &root.join("tests/samples/filters"),
        5,
    );
}
