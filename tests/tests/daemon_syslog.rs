//! fail2ban.conf's `logtarget = SYSLOG` sends the daemon's log to
//! `syslogsocket` (here a datagram socket the test owns, as syslogd's
//! /dev/log) in the layout Python's SysLogHandler gives fail2ban: `<PRI>`,
//! no time, no padding, NUL-terminated. A syslogsocket that is not there
//! stops the daemon at start with one line naming it.
use std::{os::unix::net::UnixDatagram, process::Command, time::Duration};

use tests::jailconf::{JailConf, JailLab};

fn fail2ban_local(conf: &JailConf, socket: &std::path::Path) {
    conf.write(
        "fail2ban.local",
        &format!(
            "[Definition]\nloglevel = INFO\nlogtarget = SYSLOG[facility=auth]\n\
             syslogsocket = {}\ndbfile = {}\n",
            socket.display(),
            conf.work.join("enforcer.sqlite3").display()
        ),
    );
}

/// `<PRI>fail2ban.NAME[PID]: LEVEL MESSAGE\0` → (PRI, NAME, LEVEL, MESSAGE).
fn parse(d: &str) -> (u32, String, String, String) {
    let fields = || -> Option<(u32, String, String, String)> {
        let (pri, rest) = d.strip_prefix('<')?.split_once('>')?;
        let (name, rest) = rest.strip_suffix('\0')?.split_once('[')?;
        let (pid, rest) = rest.split_once("]: ")?;
        pid.parse::<u32>().ok()?;
        let (level, msg) = rest.split_once(' ')?;
        name.starts_with("fail2ban.").then_some(())?;
        Some((pri.parse().ok()?, name.into(), level.into(), msg.into()))
    };
    fields().unwrap_or_else(|| panic!("not fail2ban's syslog layout: {d:?}"))
}

#[test]
fn syslog_target_sends_fail2ban_lines_to_syslogsocket() {
    // Not being there is found before anything needs root.
    let conf = JailConf::ours();
    fail2ban_local(&conf, &conf.work.join("nosuch.sock"));
    let out = Command::new(tests::enforcer_bin())
        .arg("--socket")
        .arg(conf.work.join("ctl.sock"))
        .arg("--bpffs")
        .arg(conf.work.join("bpf"))
        .args(["--iface", "lo", "--config", conf.dir_str()])
        .output()
        .expect("running the daemon");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("syslogsocket") && err.contains("nosuch.sock"),
        "{err}"
    );

    if !tests::privileged("daemon_syslog") {
        return;
    }
    let jl = JailLab::new(
        JailConf::ours(),
        "[sshd]\nenabled = true\nlogpath = @AUTH@\n",
    );
    let socket = jl.conf.work.join("syslog.sock");
    let listener = UnixDatagram::bind(&socket).expect("binding the syslog socket");
    listener
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    fail2ban_local(&jl.conf, &socket);
    let _d = jl.daemon();
    jl.lab.paths().cli_ok(&["ban", "sshd", "198.18.1.2"]);
    let mut buf = [0u8; 8192];
    let mut seen = Vec::new();
    let ban = loop {
        assert!(seen.len() < 500, "no Ban line among {seen:#?}");
        let n = listener
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("{e}; received so far: {seen:#?}"));
        let d = String::from_utf8_lossy(&buf[..n]).into_owned();
        let parsed = parse(&d);
        seen.push(d);
        if parsed.3 == "[sshd] Ban 198.18.1.2" {
            break parsed;
        }
    };
    // facility auth (4) * 8 + notice (5)
    assert_eq!(
        ban,
        (
            37,
            "fail2ban.actions".into(),
            "NOTICE".into(),
            "[sshd] Ban 198.18.1.2".into()
        ),
        "{seen:#?}"
    );
    assert!(
        seen.iter().any(|d| parse(d).0 == 4 * 8 + 6),
        "INFO lines at info: {seen:#?}"
    );
    assert!(
        !std::fs::read_to_string(jl.conf.log())
            .unwrap_or_default()
            .contains("Ban 198.18.1.2"),
        "the log went to syslog, not the file"
    );
}
