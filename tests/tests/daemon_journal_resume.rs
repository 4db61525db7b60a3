//! A `backend = systemd` jail resumes where it stopped, as fail2ban's does
//! with its stored journal position: the daemon reads failures from a
//! journal directory (files written by systemd-journal-remote, no running
//! journald), is stopped, more failures come while it is down, and the
//! restarted daemon reads those and nothing twice. Three failures in all
//! against `maxretry = 3` would ban: a daemon that read the old entries
//! again would ban at once; this one bans only after two more.
use std::{
    io::Write as _,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant, SystemTime},
};

use tests::{
    daemon::Paths,
    jailconf::{JailConf, JailLab},
};

const REMOTE: &str = "/lib/systemd/systemd-journal-remote";
const ATTACKER: &str = "198.18.7.1";

/// A journal file `out` of sshd failures from [`ATTACKER`], `ago` seconds
/// before now each (`n` distinguishes the entries).
fn write_journal(out: &Path, failures: &[(u64, u64)]) {
    let now_us = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    let mut export = String::new();
    for &(n, ago) in failures {
        let fields = [
            (
                "__REALTIME_TIMESTAMP",
                (now_us - ago * 1_000_000).to_string(),
            ),
            ("__MONOTONIC_TIMESTAMP", (1000 + n).to_string()),
            ("_BOOT_ID", "0123456789abcdef0123456789abcdef".to_string()),
            ("_HOSTNAME", "web1".to_string()),
            ("SYSLOG_IDENTIFIER", "sshd".to_string()),
            ("_COMM", "sshd".to_string()),
            ("_PID", (4000 + n).to_string()),
            ("_SYSTEMD_UNIT", "sshd.service".to_string()),
            (
                "MESSAGE",
                format!(
                    "Failed password for root from {ATTACKER} port {} ssh2",
                    40000 + n
                ),
            ),
        ];
        for (k, v) in fields {
            export.push_str(&format!("{k}={v}\n"));
        }
        export.push('\n');
    }
    let mut child = Command::new(REMOTE)
        .arg("-o")
        .arg(out)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{REMOTE}: {e} (cargo xtask test installs it)"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(export.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "systemd-journal-remote: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn banned(p: &Paths) -> bool {
    p.cli_ok(&["banned", ATTACKER]).contains(ATTACKER)
}

/// Waits (up to 20 s) until `status sshd` shows `want` failures.
fn wait_failed(p: &Paths, want: (u64, u64), log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while p.failed("sshd") != want {
        assert!(
            Instant::now() < deadline,
            "failures {:?}, not {want:?}:\n{}",
            p.failed("sshd"),
            log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn journal_jail_resumes_after_restart_without_reading_twice() {
    if !tests::privileged("daemon_journal_resume") {
        return;
    }
    let jl = JailLab::new(JailConf::ours(), "");
    let journal = jl.conf.work.join("journal");
    std::fs::create_dir_all(&journal).unwrap();
    jl.conf.write(
        "jail.local",
        &format!(
            "[sshd]\nenabled = true\nbackend = systemd[journalpath={}]\n\
             maxretry = 3\nfindtime = 10m\nbantime = 1h\n",
            journal.display()
        ),
    );
    // Two failures a minute ago: within findtime, read at the first start.
    write_journal(&journal.join("a.journal"), &[(1, 60), (2, 59)]);
    let mut first = jl.daemon();
    let p = jl.lab.paths();
    wait_failed(p, (1, 2), || first.log());
    assert!(!banned(p));
    // SIGTERM: the jail stops and stores its position.
    assert!(first.terminate().success(), "{}", first.log());

    // One failure while the daemon is down.
    write_journal(&journal.join("b.journal"), &[(3, 5)]);
    let second = jl.daemon();
    wait_failed(p, (1, 1), || second.log());
    // (a daemon that read a.journal again would have counted three and
    // banned by now)
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(p.failed("sshd"), (1, 1), "{}", second.log());
    assert!(
        !banned(p),
        "banned on entries read twice:\n{}",
        second.log()
    );

    // Two more, live: three since the restart, a ban.
    write_journal(&journal.join("c.journal"), &[(4, 0), (5, 0)]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !banned(p) {
        assert!(
            Instant::now() < deadline,
            "no ban after three failures: {:?}\n{}",
            p.failed("sshd"),
            second.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(p.failed("sshd").1, 3, "{}", second.log());
}
