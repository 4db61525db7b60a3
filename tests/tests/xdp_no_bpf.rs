//! Scenario: the XDP program cannot even load, because the daemon runs
//! without CAP_BPF and CAP_SYS_ADMIN (a container, a host that keeps BPF
//! from services). The daemon does not refuse to start, as fail2ban would
//! not: it logs why, the jails' command actions enforce (here the fallback
//! nftables set of action.d/xdp.conf), failures read from the log ban, and
//! what needs the maps (a ban outside the configured jails, `stats`) is
//! refused with the reason. With `--mode xdp` the daemon refuses to start.
use std::{io::Write, time::Duration};

use tests::{
    daemon::Daemon,
    jailconf::JailConf,
    lab::Lab,
    sshd::syslog_stamp,
    suite::{self, Tally},
};

/// Runs the daemon with the capabilities BPF needs dropped from its
/// bounding set (root keeps the others, CAP_NET_ADMIN for nft among them).
const NO_BPF: &[&str] = &[
    "setpriv",
    "--bounding-set",
    "-bpf,-sys_admin,-perfmon",
    "--",
];

#[test]
fn without_bpf_the_jails_command_actions_enforce() {
    if !tests::privileged("xdp_no_bpf") {
        return;
    }
    let lab = Lab::new();
    let (conf, auth) = JailConf::ours_with_sshd("backend = auto\nmaxretry = 2\nbantime = 1h\n");
    let args = ["--iface", &lab.p_banned.ifname, "--config", conf.dir_str()];
    let mut daemon = Daemon::start_under(&lab.protected, lab.paths(), NO_BPF, &args);
    let mut faults = 1;
    tests::daemon::assert_falls_back_to_commands(&conf.log(), "the XDP program cannot load");
    let p = lab.paths();

    // Failures read from the log ban through the fallback set, and the
    // ban is enforced: the attacker's connections no longer get through.
    let _listener = lab.listen_22();
    assert!(lab.banned_reaches_22(), "reachable before the ban");
    let attacker = lab.banned_v4().to_string();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&auth)
        .unwrap();
    for port in [40001, 40002] {
        writeln!(
            f,
            "{} enf-host sshd[4242]: Failed password for root from {attacker} port {port} ssh2",
            syslog_stamp()
        )
        .unwrap();
    }
    drop(f);
    let mut tries = 0;
    while !lab.nft_table("enforcer-sshd").contains(&attacker) {
        tries += 1;
        assert!(
            tries < 200,
            "no ban from the log: {}\n{}",
            lab.nft_table("enforcer-sshd"),
            std::fs::read_to_string(conf.log()).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !lab.banned_reaches_22(),
        "the fallback does not enforce the ban"
    );
    assert!(lab.friend_reaches_22());
    let banned = p.cli_ok(&["banned"]);
    assert!(banned.contains(&attacker), "{banned}");

    // What needs the maps is refused, naming why.
    let out = p.cli(&["ban", "198.18.5.5"]);
    faults += 1;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a ban without a jail: {stderr}");
    assert!(stderr.contains("did not load"), "{stderr}");
    assert!(stderr.contains("configured jails"), "{stderr}");
    let out = p.cli(&["stats"]);
    faults += 1;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "stats: {stderr}");
    assert!(stderr.contains("did not load"), "{stderr}");

    p.cli_ok(&["unban", &attacker]);
    assert!(!lab.nft_table("enforcer-sshd").contains(&attacker));
    assert!(lab.banned_reaches_22(), "reachable after the unban");
    daemon.terminate();

    // --mode xdp insists: a clear error, exit 1.
    tests::daemon::assert_mode_xdp_refuses(
        &lab.protected,
        p,
        NO_BPF,
        &["--iface", &lab.p_banned.ifname, "--config", conf.dir_str()],
        "cannot load",
    );
    faults += 1;
    suite::report(
        "xdp_no_bpf",
        Tally {
            payloads: 0,
            faults,
            bans_lost: 0,
        },
    );
}
