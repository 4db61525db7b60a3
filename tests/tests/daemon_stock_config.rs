//! Acceptance 5 of issue 6: fail2ban's own stock configuration (from
//! ../shared, copied to a temporary tree at test time) with sshd and
//! recidive enabled in a jail.local starts, and `enforcer status` prints
//! fail2ban-client's layout. Bad input to the CLI is one line and exit 2.
//! `set` edits the running jail as fail2ban does: counted failures stay,
//! and the ends of bans that follow the jail's bantime move with it.
//! `reload` keeps them too (fail2ban reloads a jail in place); `reload
//! --restart` starts the counts over and restores the stored bans.
use std::{io::Write as _, time::Duration};

use tests::{
    daemon::Paths,
    jailconf::{JailConf, JailLab},
    sshd::syslog_stamp,
};

fn expiry(p: &Paths, addr: &str) -> i64 {
    let v: serde_json::Value =
        serde_json::from_str(&p.cli_ok(&["banned", "--json", addr])).expect("banned --json");
    v["bans"][0]["expiry"].as_i64().expect("a timed ban")
}

#[test]
fn stock_fail2ban_config_starts_and_status_matches_fail2ban_client() {
    if !tests::privileged("daemon_stock_config") {
        return;
    }
    let jl = JailLab::new(
        JailConf::stock(),
        "[sshd]\nenabled = true\nlogpath = @AUTH@\nbackend = auto\n\n\
         [recidive]\nenabled = true\nlogpath = @LOG@\nbackend = auto\n",
    );
    let _d = jl.daemon();
    let (lab, auth) = (&jl.lab, &jl.auth);
    let p = lab.paths();
    // fail2ban's Server.status sorts the jail names (not config order).
    assert_eq!(
        p.cli_ok(&["status"]),
        "Status\n|- Number of jail:\t2\n`- Jail list:\trecidive, sshd\n"
    );
    p.cli_ok(&["ban", "sshd", "198.18.1.2"]);
    let expected = format!(
        "Status for the jail: sshd\n\
         |- Filter\n\
         |  |- Currently failed:\t0\n\
         |  |- Total failed:\t0\n\
         |  `- File list:\t{}\n\
         `- Actions\n   \
            |- Currently banned:\t1\n   \
            |- Total banned:\t1\n   \
            `- Banned IP list:\t198.18.1.2\n",
        auth.display()
    );
    assert_eq!(p.cli_ok(&["status", "sshd"]), expected);
    assert_eq!(p.cli_ok(&["get", "sshd", "bantime"]), "600\n");
    assert_eq!(p.cli_ok(&["get", "sshd", "maxretry"]), "5\n");
    assert_eq!(p.cli_ok(&["get", "sshd", "banip"]), "198.18.1.2\n");
    let before = expiry(p, "198.18.1.2");
    assert_eq!(p.cli_ok(&["set", "sshd", "bantime", "1h"]), "3600\n");
    assert_eq!(
        expiry(p, "198.18.1.2") - before,
        3000,
        "a ban following the jail's bantime ends with the new one"
    );
    assert_eq!(p.cli_ok(&["get", "sshd", "bantime"]), "3600\n");

    // Two failures counted, then settings changed: the counts stay.
    let mut log = std::fs::OpenOptions::new().append(true).open(auth).unwrap();
    for port in [40001, 40002] {
        writeln!(
            log,
            "{} enf-host sshd[4242]: Failed password for root from 198.18.7.7 port {port} ssh2",
            syslog_stamp()
        )
        .unwrap();
    }
    let mut tries = 0;
    while p.failed("sshd") != (1, 2) {
        tries += 1;
        assert!(tries < 200, "failures not counted: {:?}", p.failed("sshd"));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(p.cli_ok(&["set", "sshd", "findtime", "20m"]), "1200\n");
    assert_eq!(p.cli_ok(&["set", "sshd", "maxretry", "6"]), "6\n");
    p.cli_ok(&["set", "sshd", "addignoreip", "198.18.9.9"]);
    assert_eq!(p.failed("sshd"), (1, 2), "set kept the failures");
    assert_eq!(p.cli_ok(&["get", "sshd", "findtime"]), "1200\n");

    let v: serde_json::Value =
        serde_json::from_str(&p.cli_ok(&["status", "sshd", "--json"])).unwrap();
    assert!(v.to_string().contains("198.18.1.2"), "{v}");
    for bad in [
        &["status", "nosuch"][..],
        &["get", "nosuch", "bantime"],
        &["set", "sshd", "bantime", "soon"],
        &["set", "sshd", "maxretry", "-3"],
        &["ban", "sshd", "198.18.1.300"],
        &["status", "sshd", "--flavor", "loud"],
    ] {
        let out = p.cli(bad);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{bad:?}: {err}");
    }
    p.cli_ok(&["unban", "198.18.1.2"]);
    assert!(
        p.cli_ok(&["status", "sshd"])
            .ends_with("`- Banned IP list:\t\n")
    );
    assert_eq!(p.cli_ok(&["ping"]), "Server replied: pong\n");
    p.cli_ok(&["ban", "sshd", "198.18.1.3"]);
    p.cli_ok(&["reload"]);
    assert_eq!(
        p.cli_ok(&["status"]),
        "Status\n|- Number of jail:\t2\n`- Jail list:\trecidive, sshd\n"
    );
    // (a reloaded source that read the two lines again would have
    // counted them by now)
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        p.failed("sshd"),
        (1, 2),
        "reload kept the failures, and counted none twice"
    );
    assert_eq!(
        p.cli_ok(&["get", "sshd", "maxretry"]),
        "5\n",
        "reload read the configuration again"
    );
    p.cli_ok(&["reload", "--restart", "sshd"]);
    assert_eq!(p.failed("sshd"), (0, 0), "--restart starts over");
    assert_eq!(
        p.cli_ok(&["get", "sshd", "banip"]),
        "198.18.1.3\n",
        "--restart restored the stored ban"
    );
}
