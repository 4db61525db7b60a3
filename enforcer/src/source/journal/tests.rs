use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::*;
use crate::source::channel;

fn entry(fields: &[(&str, &str)]) -> Entry {
    let mut e = Entry::default();
    for (k, v) in fields {
        e.add_field(format!("{k}={v}").as_bytes());
    }
    e
}

fn fmt(fields: &[(&str, &str)]) -> String {
    String::from_utf8(entry(fields).format(Encoding::Utf8, 5_000_000)).unwrap()
}

#[test]
fn formats_entries_as_fail2ban() {
    let base = [
        ("_HOSTNAME", "web1"),
        ("SYSLOG_IDENTIFIER", "sshd"),
        ("_PID", "42"),
        ("MESSAGE", "Failed password"),
    ];
    assert_eq!(fmt(&base), "web1 sshd[42]: Failed password");
    // SYSLOG_PID wins over _PID, SYSLOG_IDENTIFIER over _COMM.
    assert_eq!(
        fmt(&[
            ("_COMM", "sshd-session"),
            ("SYSLOG_IDENTIFIER", "sshd"),
            ("SYSLOG_PID", "7"),
            ("_PID", "8"),
            ("MESSAGE", "m")
        ]),
        "sshd[7]: m"
    );
    assert_eq!(fmt(&[("_COMM", "cron"), ("MESSAGE", "m")]), "cron: m");
    assert_eq!(fmt(&[("MESSAGE", "bare")]), "bare");
    assert_eq!(
        fmt(&[
            ("SYSLOG_IDENTIFIER", "x"),
            ("_PID", "0x10"),
            ("MESSAGE", "m")
        ]),
        "x[16]: m"
    );
    assert_eq!(
        fmt(&[
            ("SYSLOG_IDENTIFIER", "x"),
            ("_PID", "abc"),
            ("MESSAGE", "m")
        ]),
        "x[abc]: m"
    );
    assert_eq!(
        fmt(&[
            ("_HOSTNAME", "h"),
            ("SYSLOG_IDENTIFIER", "kernel"),
            ("MESSAGE", "oops")
        ]),
        "h kernel: [    5.000000] oops"
    );
    assert_eq!(fmt(&[("MESSAGE", "two\nlines")]), "two\\nlines");
    assert_eq!(fmt(&[("MESSAGE", "a"), ("MESSAGE", "b")]), "a b");
    let mut e = Entry::default();
    e.add_field(b"MESSAGE=caf\xe9");
    assert_eq!(e.format(Encoding::Latin1, 0), "café".as_bytes());
    assert_eq!(e.format(Encoding::Utf8, 0), "caf\u{fffd}".as_bytes());
}

const REMOTE: &str = "/lib/systemd/systemd-journal-remote";

/// Writes journal file `out` from export-format entries with systemd-journal-remote.
fn write_journal(out: &Path, entries: &[Vec<(&str, String)>]) {
    assert!(
        Path::new(REMOTE).exists(),
        "{REMOTE} missing: install the Debian package systemd-journal-remote (cargo xtask test does)"
    );
    let mut export = Vec::new();
    for e in entries {
        for (k, v) in e {
            writeln!(export, "{k}={v}").unwrap();
        }
        writeln!(export).unwrap();
    }
    let mut child = Command::new(REMOTE)
        .arg("-o")
        .arg(out)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&export).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "systemd-journal-remote: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn sshd(i: u64, unit: &str, msg: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "__REALTIME_TIMESTAMP",
            (1_700_000_000_000_000 + i * 1_000_000).to_string(),
        ),
        ("__MONOTONIC_TIMESTAMP", (1000 + i).to_string()),
        ("_BOOT_ID", "0123456789abcdef0123456789abcdef".into()),
        ("_HOSTNAME", "web1".into()),
        ("SYSLOG_IDENTIFIER", "sshd".into()),
        ("_PID", (100 + i).to_string()),
        ("_SYSTEMD_UNIT", unit.into()),
        ("MESSAGE", msg.into()),
    ]
}

fn collect(cfg: JournalSourceConfig, n: usize) -> Vec<Line> {
    let (tx, mut rx) = channel(4);
    let h = JournalSource::spawn(cfg, tx).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut out = Vec::new();
    while out.len() < n && Instant::now() < deadline {
        match rx.try_recv() {
            Ok(l) => out.push(l),
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    // Nothing beyond the expected lines.
    std::thread::sleep(Duration::from_millis(300));
    out.extend(std::iter::from_fn(|| rx.try_recv().ok()));
    h.stop();
    out
}

fn texts(lines: &[Line]) -> Vec<String> {
    lines.iter().map(|l| l.text().into_owned()).collect()
}

#[test]
fn reads_journal_files_written_by_systemd_journal_remote() {
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<_> = (0..6)
        .map(|i| {
            let unit = if i % 3 == 2 {
                "cron.service"
            } else {
                "ssh.service"
            };
            sshd(
                i,
                unit,
                &format!("Failed password for root from 198.18.0.{i} port 22 ssh2"),
            )
        })
        .collect();
    write_journal(&dir.path().join("remote.journal"), &entries);
    let opts = Backend::parse(&format!("systemd[journalpath={}]", dir.path().display())).unwrap();
    let Backend::Systemd(opts) = opts else {
        unreachable!()
    };

    let mut cfg = JournalSourceConfig::new(SourceId(3), "sshd", opts.clone());
    cfg.matches = vec!["_SYSTEMD_UNIT=ssh.service".into()];
    cfg.since = Some(0.0);
    let lines = collect(cfg.clone(), 4);
    assert_eq!(
        texts(&lines),
        [0, 1, 3, 4].map(|i| format!(
            "web1 sshd[{}]: Failed password for root from 198.18.0.{i} port 22 ssh2",
            100 + i
        ))
    );
    assert_eq!(lines[0].time, Some(1_700_000_000.0));
    assert_eq!(lines[0].source, SourceId(3));
    assert!(!lines[0].in_operation, "old entries are backlog");

    // Resume after a stored cursor: only what follows it.
    let mut resume = cfg.clone();
    resume.cursor = Some(lines[1].journal_cursor().unwrap().to_string());
    assert_eq!(texts(&collect(resume, 2)), texts(&lines[2..]));

    // `+` is OR: either unit.
    let mut or = cfg.clone();
    or.matches = vec![
        "_SYSTEMD_UNIT=cron.service".into(),
        "+".into(),
        "_PID=100".into(),
    ];
    let got = texts(&collect(or, 3));
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(
        got[0].contains("198.18.0.0")
            && got[1].contains("198.18.0.2")
            && got[2].contains("198.18.0.5")
    );

    // Without `since` or a cursor: only new entries (none here).
    let mut tail = cfg.clone();
    tail.since = None;
    assert!(collect(tail, 0).is_empty());

    // journalfiles with a glob reads the same.
    let mut files = cfg.clone();
    files.options = JournalOptions {
        files: vec![format!("{}/*.journal", dir.path().display())],
        ..Default::default()
    };
    assert_eq!(collect(files, 4).len(), 4);
}

#[test]
fn setup_errors_are_returned() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = JournalSourceConfig::new(
        SourceId(1),
        "x",
        JournalOptions {
            files: vec![format!("{}/none*.journal", dir.path().display())],
            ..Default::default()
        },
    );
    let (tx, _rx) = channel(1);
    assert!(JournalSource::spawn(cfg.clone(), tx.clone()).is_err());
    cfg.options = JournalOptions {
        path: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    cfg.matches = vec!["nonsense".into()];
    let err = JournalSource::spawn(cfg, tx).unwrap_err().to_string();
    assert!(err.contains("journalmatch"), "{err}");
}

#[test]
fn follows_entries_written_after_start() {
    let dir = tempfile::tempdir().unwrap();
    write_journal(
        &dir.path().join("a.journal"),
        &[sshd(0, "ssh.service", "before start")],
    );
    let mut cfg = JournalSourceConfig::new(
        SourceId(4),
        "sshd",
        JournalOptions {
            path: Some(dir.path().to_path_buf()),
            ..Default::default()
        },
    );
    cfg.matches = vec!["_SYSTEMD_UNIT=ssh.service".into()];
    let (tx, mut rx) = channel(4);
    let h = JournalSource::spawn(cfg, tx).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // A new journal file in the directory (as journald rotating): picked up live.
    let now_us = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    let mut live = sshd(1, "ssh.service", "after start");
    live[0].1 = now_us.to_string();
    write_journal(&dir.path().join("b.journal"), &[live]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let line = loop {
        if let Ok(l) = rx.try_recv() {
            break l;
        }
        assert!(Instant::now() < deadline, "live entry not delivered");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(line.text(), "web1 sshd[101]: after start");
    assert!(line.in_operation);
    h.stop();
}
