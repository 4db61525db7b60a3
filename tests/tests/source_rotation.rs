//! Rotation under write load: a writer thread appends sshd failure lines
//! (and noise) while rotating the log by rename, by copytruncate and by
//! delete+recreate; the file source must deliver every failure line exactly
//! once. Driven through the library (`enforcer::source`), bounded in line
//! count and time.
//!
//! A rotation waits until the reader has seen the file it rotates away
//! (rename, delete) or everything written (copytruncate): a reader that never
//! opened a file before it vanished, or content truncated before anyone read
//! it, is lost for any log reader, fail2ban's included.
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use enforcer::source::{FileBackend, FileSource, FileSourceConfig, SourceId, channel};

const LINES: u64 = 6000;
const ROTATE_EVERY: u64 = 1000;
const DEADLINE: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug)]
enum Rotation {
    Rename,
    CopyTruncate,
    DeleteRecreate,
}

fn line(seq: u64) -> String {
    if seq.is_multiple_of(3) {
        format!(
            "Dec  1 10:00:00 host sshd[42]: Connection closed by 198.18.0.1 port 22 seq={seq}\n"
        )
    } else {
        let (a, b) = ((seq / 250) % 250, seq % 250);
        format!(
            "Dec  1 10:00:00 host sshd[42]: Failed password for root from 198.18.{a}.{b} port 22 ssh2 seq={seq}\n"
        )
    }
}

fn open_append(p: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .unwrap()
}

/// Waits until `cond`, failing the test after the deadline.
fn wait_for(what: &str, start: Instant, cond: impl Fn() -> bool) {
    while !cond() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn writer(path: PathBuf, mode: Rotation, seen: Arc<AtomicU64>, start: Instant) {
    let mut f = open_append(&path);
    let mut generation = 0;
    let mut first_of_generation = 0;
    for seq in 0..LINES {
        if seq > 0 && seq.is_multiple_of(ROTATE_EVERY) {
            generation += 1;
            match mode {
                Rotation::Rename => {
                    wait_for("reader to open the file", start, || {
                        seen.load(Ordering::SeqCst) > first_of_generation
                    });
                    std::fs::rename(&path, path.with_extension(format!("log.{generation}")))
                        .unwrap();
                    // Like syslog before its HUP: a few more lines to the old file.
                    for s in seq..seq + 5 {
                        f.write_all(line(s).as_bytes()).unwrap();
                    }
                    f = open_append(&path);
                    for s in seq + 5..seq + 10 {
                        f.write_all(line(s).as_bytes()).unwrap();
                    }
                }
                Rotation::CopyTruncate => {
                    wait_for("reader to catch up", start, || {
                        seen.load(Ordering::SeqCst) >= seq
                    });
                    std::fs::copy(&path, path.with_extension(format!("log.{generation}"))).unwrap();
                    f.set_len(0).unwrap();
                }
                Rotation::DeleteRecreate => {
                    wait_for("reader to open the file", start, || {
                        seen.load(Ordering::SeqCst) > first_of_generation
                    });
                    std::fs::remove_file(&path).unwrap();
                    f = open_append(&path);
                }
            }
            // The first line that goes to the new file.
            first_of_generation = if matches!(mode, Rotation::Rename) {
                seq + 5
            } else {
                seq
            };
        }
        if matches!(mode, Rotation::Rename) && seq % ROTATE_EVERY < 10 && seq >= ROTATE_EVERY {
            continue; // written around the rename above
        }
        f.write_all(line(seq).as_bytes()).unwrap();
        if seq.is_multiple_of(97) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn run(mode: Rotation, backend: FileBackend) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log");
    File::create(&path).unwrap();
    let mut cfg = FileSourceConfig::new(SourceId(7), "sshd", vec![path.display().to_string()]);
    cfg.backend = backend;
    cfg.poll_interval = Duration::from_millis(100);
    // A small channel, so the reader runs into backpressure.
    let (tx, mut rx) = channel(8);
    let source = FileSource::spawn(cfg, tx).unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let w = {
        let (path, seen) = (path.clone(), seen.clone());
        std::thread::spawn(move || writer(path, mode, seen, start))
    };
    let mut failures: BTreeMap<u64, u32> = BTreeMap::new();
    let mut total = 0;
    while total < LINES && start.elapsed() < DEADLINE {
        let Ok(l) = rx.try_recv() else {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        };
        assert_eq!(l.source, SourceId(7));
        let text = l.text();
        let seq: u64 = text
            .rsplit("seq=")
            .next()
            .unwrap()
            .parse()
            .unwrap_or_else(|_| panic!("torn line {text:?}"));
        assert_eq!(
            format!("{text}\n"),
            line(seq),
            "{mode:?}: line {seq} altered"
        );
        if text.contains("Failed password") {
            *failures.entry(seq).or_default() += 1;
        }
        total += 1;
        seen.fetch_max(seq + 1, Ordering::SeqCst);
        if total.is_multiple_of(500) {
            std::thread::sleep(Duration::from_millis(20)); // a slow consumer now and then
        }
    }
    w.join().unwrap();
    // Nothing more (no duplicates) arrives once everything was read.
    std::thread::sleep(Duration::from_millis(300));
    while let Ok(l) = rx.try_recv() {
        let text = l.text();
        if let Some(seq) = text
            .rsplit("seq=")
            .next()
            .and_then(|s| s.parse::<u64>().ok())
        {
            *failures.entry(seq).or_default() += 1;
        }
    }
    source.stop();
    let expected: Vec<u64> = (0..LINES).filter(|s| !s.is_multiple_of(3)).collect();
    let missing: Vec<_> = expected
        .iter()
        .filter(|s| !failures.contains_key(s))
        .take(10)
        .collect();
    let twice: Vec<_> = failures.iter().filter(|(_, n)| **n != 1).take(10).collect();
    assert!(
        missing.is_empty(),
        "{mode:?}/{backend:?}: failure lines never delivered: {missing:?}…"
    );
    assert!(
        twice.is_empty(),
        "{mode:?}/{backend:?}: failure lines delivered twice: {twice:?}…"
    );
    assert_eq!(failures.len(), expected.len());
    eprintln!(
        "{mode:?}/{backend:?}: {} failure lines, each once, in {:?}",
        failures.len(),
        start.elapsed()
    );
    let tally = tests::suite::Tally {
        payloads: failures.len() as u64,
        faults: 1,
        bans_lost: 0,
    };
    tests::suite::report(&format!("source_rotation {mode:?}/{backend:?}"), tally);
}

#[test]
fn rename_rotation_inotify() {
    run(Rotation::Rename, FileBackend::Auto);
}

#[test]
fn rename_rotation_polling() {
    run(Rotation::Rename, FileBackend::Polling);
}

#[test]
fn copytruncate_rotation() {
    run(Rotation::CopyTruncate, FileBackend::Auto);
}

#[test]
fn delete_recreate_rotation() {
    run(Rotation::DeleteRecreate, FileBackend::Auto);
}

#[test]
fn delete_recreate_rotation_polling() {
    run(Rotation::DeleteRecreate, FileBackend::Polling);
}
