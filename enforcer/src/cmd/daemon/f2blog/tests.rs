use super::*;

#[test]
fn ban_lines_are_notice_from_actions_in_fail2ban_layout() {
    let (name, lvl) = classify(
        "enforcer::actions::manager",
        Level::Info,
        "[sshd] Ban 198.18.0.7",
    );
    assert_eq!((name, lvl), ("fail2ban.actions", NOTICE));
    let line = format_line(1_000_000.345, name, 12708, lvl, "[sshd] Ban 198.18.0.7");
    let (_, rest) = line.split_at(23);
    assert_eq!(
        rest,
        " fail2ban.actions        [12708]: NOTICE  [sshd] Ban 198.18.0.7"
    );
    assert!(
        line[19..].starts_with(",345") || line[19..].starts_with(",344"),
        "{line}"
    );
    let (name, lvl) = classify(
        "enforcer::cmd::daemon",
        Level::Info,
        "[sshd] Found 198.18.0.7 - 2026-01-01 00:00:00",
    );
    assert_eq!((name, lvl), ("fail2ban.filter", INFO));
    assert_eq!(
        classify("x", Level::Info, "[sshd] Restore Ban 198.18.0.7").1,
        NOTICE
    );
    assert_eq!(
        classify("x", Level::Info, "[sshd] Unban 198.18.0.7").1,
        NOTICE
    );
    assert_eq!(
        classify("x", Level::Info, "Jail 'sshd' started").0,
        "fail2ban.jail"
    );
}

#[test]
fn targets_and_levels_parse_as_fail2ban() {
    let sink = |t: &str| parse_target(t, "auto").map(|t| t.sink);
    assert_eq!(sink("STDERR"), Ok(Sink::Stderr));
    assert_eq!(sink("sysout"), Ok(Sink::Stdout));
    assert_eq!(
        sink("SYSTEMD-JOURNAL"),
        Ok(Sink::Journal {
            socket: JOURNAL_SOCKET.into()
        })
    );
    assert_eq!(
        sink("SYSLOG"),
        Ok(Sink::Syslog {
            socket: "/dev/log".into(),
            facility: 3
        })
    );
    assert_eq!(
        parse_target("SYSLOG[facility=local3]", "/run/x.sock").map(|t| t.sink),
        Ok(Sink::Syslog {
            socket: "/run/x.sock".into(),
            facility: 19
        })
    );
    assert_eq!(
        sink("/var/log/fail2ban.log"),
        Ok(Sink::File("/var/log/fail2ban.log".into()))
    );
    // Layouts: the time except for SYSLOG and SYSOUT, padding except
    // for SYSLOG; both as options.
    let fmt = |t: &str| parse_target(t, "auto").unwrap().format;
    assert_eq!(fmt("STDOUT"), default_format(true, true));
    assert_eq!(fmt("SYSOUT"), default_format(false, true));
    assert_eq!(fmt("SYSLOG"), default_format(false, false));
    assert_eq!(fmt("SYSLOG[padding=1]"), default_format(false, true));
    assert_eq!(fmt("STDERR[datetime=off]"), default_format(false, true));
    assert_eq!(
        fmt("STDERR[format=\"%(levelname)s %(message)s\"]"),
        LineFormat::parse("%(levelname)s %(message)s").unwrap()
    );
    for bad in [
        "SYSLOG[facility=loud]",
        "STDERR[colour=yes]",
        "STDERR[format=\"%(thread)X\"]",
    ] {
        assert!(parse_target(bad, "auto").is_err(), "{bad}");
    }
    assert_eq!(parse_level("notice"), Ok(NOTICE));
    assert_eq!(parse_level("10"), Ok(10));
    assert!(parse_level("loud").is_err());
}

fn record_to(logger: &Logger, target: &str, level: Level, msg: &str) {
    logger.log(
        &Record::builder()
            .target(target)
            .level(level)
            .args(format_args!("{msg}"))
            .build(),
    );
}

/// A socket the test owns, as syslogd's /dev/log or journald's.
fn listener(dir: &Path) -> (PathBuf, UnixDatagram) {
    let path = dir.join("log.sock");
    let s = UnixDatagram::bind(&path).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    (path, s)
}

fn recv(s: &UnixDatagram) -> String {
    let mut buf = [0u8; 4096];
    let n = s.recv(&mut buf).expect("a datagram");
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("enf-f2blog-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn syslog_datagrams_are_pythons_syslog_handler_format() {
    let dir = scratch("syslog");
    let (path, sock) = listener(&dir);
    let pid = std::process::id();
    let l = Logger::new("SYSLOG", "INFO", path.to_str().unwrap()).unwrap();
    record_to(
        &l,
        "enforcer::actions",
        Level::Info,
        "[sshd] Ban 198.18.0.7",
    );
    // facility daemon (3) * 8 + notice (5), as fail2ban maps NOTICE.
    assert_eq!(
        recv(&sock),
        format!("<29>fail2ban.actions[{pid}]: NOTICE [sshd] Ban 198.18.0.7\0")
    );
    record_to(&l, "enforcer::jail", Level::Info, "Jail 'sshd'\nstarted");
    assert_eq!(
        recv(&sock),
        format!("<30>fail2ban.jail[{pid}]: INFO Jail 'sshd' started\0")
    );
    record_to(&l, "enforcer::x", Level::Debug, "below the level");
    record_to(&l, "enforcer::x", Level::Error, "boom");
    assert_eq!(
        recv(&sock),
        format!("<27>fail2ban.server[{pid}]: ERROR boom\0")
    );
    let l = Logger::new("SYSLOG[facility=AUTH]", "INFO", path.to_str().unwrap()).unwrap();
    record_to(
        &l,
        "enforcer::actions",
        Level::Info,
        "[sshd] Unban 198.18.0.7",
    );
    assert_eq!(
        recv(&sock),
        format!("<37>fail2ban.actions[{pid}]: NOTICE [sshd] Unban 198.18.0.7\0")
    );
    let missing = dir.join("nosuch.sock");
    let e = Logger::new("SYSLOG", "INFO", missing.to_str().unwrap())
        .err()
        .expect("no socket, no start");
    assert!(
        e.contains("syslogsocket") && e.contains("nosuch.sock"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn journal_entries_carry_the_bare_message_and_priority() {
    let dir = scratch("journal");
    let (path, sock) = listener(&dir);
    let mut l = Logger::new("STDERR", "INFO", "auto").unwrap();
    l.target.sink = Sink::Journal {
        socket: path.clone(),
    };
    record_to(
        &l,
        "enforcer::actions",
        Level::Info,
        "[sshd] Ban 198.18.0.7",
    );
    assert_eq!(
        recv(&sock),
        "MESSAGE=[sshd] Ban 198.18.0.7\nPRIORITY=4\nSYSLOG_IDENTIFIER=fail2ban\n\
         LOGGER=fail2ban.actions\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
