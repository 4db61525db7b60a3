//! Acceptance 1 of issue 6: a real OpenSSH server in the protected
//! namespace logs through a syslog-format auth.log; an attacker namespace
//! fails passwords with sshpass. After maxretry failures the daemon's sshd
//! jail bans it through XDP: its new TCP connections time out (SYN dropped
//! at the driver) while a friend still reaches sshd; `enforcer unban`
//! restores it. The same over IPv6.
use std::{
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};

use tests::{
    jailconf::JailConf,
    lab::Lab,
    sshd::{Sshd, fail_password},
    traffic::tcp_connects,
};

fn banned_in(lab: &Lab, addr: IpAddr, jail: &str) -> bool {
    let out = lab.paths().cli_ok(&["banned", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("banned --json");
    v["bans"]
        .as_array()
        .expect("bans")
        .iter()
        .any(|b| b["target"] == addr.to_string() && b["jail"] == jail)
}

/// Fails passwords from the attacker until the jail bans it; returns how
/// many attempts it took and how long the ban took after the last one.
fn attack_until_banned(lab: &Lab, server: IpAddr, attacker: IpAddr) -> (u32, Duration) {
    for attempt in 1..=8 {
        assert!(
            fail_password(&lab.banned, server, 22, "nosuchuser"),
            "attempt {attempt}: sshd unreachable before any ban"
        );
        let last = Instant::now();
        while last.elapsed() < Duration::from_secs(3) {
            if banned_in(lab, attacker, "sshd") {
                return (attempt, last.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("{attacker} not banned after 8 failed logins");
}

fn check_family(lab: &Lab, server: IpAddr, friend_server: IpAddr, attacker: IpAddr) {
    let to = |ip| SocketAddr::new(ip, 22);
    assert!(tcp_connects(
        &lab.banned,
        to(server),
        Duration::from_secs(2)
    ));
    let (attempts, took) = attack_until_banned(lab, server, attacker);
    eprintln!("{attacker}: banned after {attempts} failed logins, {took:?} after the last");
    assert!(
        !tcp_connects(&lab.banned, to(server), Duration::from_secs(2)),
        "{attacker}'s SYN reached sshd after its ban"
    );
    assert!(
        tcp_connects(&lab.friend, to(friend_server), Duration::from_secs(2)),
        "the friend lost sshd"
    );
    lab.paths().cli_ok(&["unban", &attacker.to_string()]);
    assert!(!banned_in(lab, attacker, "sshd"));
    assert!(
        tcp_connects(&lab.banned, to(server), Duration::from_secs(2)),
        "{attacker} still dropped after unban"
    );
}

#[test]
fn sshd_failures_are_banned_at_xdp_and_unban_restores() {
    if !tests::privileged("daemon_sshd_xdp") {
        return;
    }
    let lab = Lab::new();
    let conf = JailConf::ours();
    conf.own_log_and_db();
    let sshd = Sshd::start(&lab.protected, &conf.work, 22);
    conf.write(
        "jail.local",
        &format!(
            "[sshd]\nenabled = true\nlogpath = {}\nmaxretry = 3\nfindtime = 10m\nbantime = 1h\n",
            sshd.log.display()
        ),
    );
    let _d = lab.daemon(&[
        "--iface",
        &lab.p_banned.ifname,
        "--iface",
        &lab.p_friend.ifname,
        "--config",
        conf.dir_str(),
    ]);
    let v4 = |s: &str| s.parse::<IpAddr>().unwrap();
    check_family(
        &lab,
        v4(&lab.p_banned.v4),
        v4(&lab.p_friend.v4),
        lab.banned_v4(),
    );
    check_family(
        &lab,
        v4(&lab.p_banned.v6),
        v4(&lab.p_friend.v6),
        lab.banned_v6(),
    );
    let log = std::fs::read_to_string(conf.log()).unwrap_or_default();
    for addr in [lab.banned_v4(), lab.banned_v6()] {
        let ban = format!("NOTICE  [sshd] Ban {addr}");
        assert!(
            log.lines()
                .any(|l| l.contains(" fail2ban.actions        [") && l.ends_with(&ban)),
            "no `{ban}` line in the daemon's fail2ban-format log:\n{log}\nsshd:\n{}",
            sshd.log_text()
        );
    }
}
