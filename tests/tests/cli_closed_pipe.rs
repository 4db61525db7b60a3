//! A command whose reader goes away (`enforcer banned | head -1`,
//! `enforcer regex … | head`) ends quietly and successfully, as `cat`
//! does: no panic, no error, exit 0.
use std::io::Read;
use std::process::{Command, Stdio};

use tests::jailconf::{JailConf, JailLab};

/// Runs `cmd`, reads the first bytes of its output and closes the pipe;
/// (exit status, stderr).
fn closed_early(mut cmd: Command) -> (std::process::ExitStatus, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the enforcer CLI");
    let mut first = [0u8; 16];
    let n = child
        .stdout
        .take()
        .expect("piped stdout")
        .read(&mut first)
        .expect("reading the first bytes");
    assert!(n > 0, "it printed something before the pipe closed");
    // (the read end is dropped here: every later write gets EPIPE)
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut err)
        .expect("reading stderr");
    (child.wait().expect("waiting for the CLI"), err)
}

#[test]
fn a_listing_whose_reader_went_away_ends_quietly() {
    if !tests::privileged("cli_closed_pipe") {
        return;
    }
    let jl = JailLab::new(
        JailConf::ours(),
        "[sshd]\nenabled = true\nlogpath = @AUTH@\nbackend = auto\naction = xdp\n",
    );
    let _d = jl.daemon();
    let p = jl.lab.paths();
    // ~0.9 MB of `banned` lines: far more than a pipe holds
    let targets: Vec<String> = (0..20_000)
        .map(|i| format!("198.18.{}.{}", 100 + i / 250, 1 + i % 250))
        .collect();
    let mut args = vec!["ban", "--jail", "sshd"];
    args.extend(targets.iter().map(String::as_str));
    p.cli_ok(&args);
    let mut cmd = Command::new(tests::enforcer_bin());
    cmd.arg("--socket")
        .arg(&p.socket)
        .arg("--bpffs")
        .arg(&p.bpffs)
        .arg("banned");
    let (status, err) = closed_early(cmd);
    assert!(status.success(), "banned | head: {status}, {err}");
    assert!(err.is_empty(), "nothing on stderr: {err}");
}

#[test]
fn a_regex_report_whose_reader_went_away_ends_quietly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("auth.log");
    let line = "Mar  1 00:00:00 edge-1 sshd[1000]: Failed password for root from 198.18.0.7 port 22 ssh2\n";
    std::fs::write(&log, line.repeat(20_000)).expect("writing the log");
    let mut cmd = Command::new(tests::enforcer_bin());
    cmd.arg("regex")
        .arg("--print-all-matched")
        .arg(&log)
        .arg("Failed password for \\S+ from <HOST>");
    let (status, err) = closed_early(cmd);
    assert!(status.success(), "regex | head: {status}, {err}");
    assert!(err.is_empty(), "nothing on stderr: {err}");
}
