//! Scenario (issue 7, faults): the XDP program cannot attach (native mode
//! on loopback, which has no driver hook, or an interface that does not
//! exist). The daemon does not die: it logs the failure and that it falls
//! back to the jails' command actions, and a ban in a jail whose action is
//! `xdp` (enforcer's default) is enforced by the fallback nftables set of
//! action.d/xdp.conf. With `--mode xdp` the same failure stops the daemon
//! with a clear error instead.
use tests::{
    jailconf::JailConf,
    lab::Lab,
    suite::{self, Tally},
};

fn conf() -> JailConf {
    JailConf::ours_with_sshd("bantime = 1h\n").0
}

#[test]
fn attach_failure_falls_back_to_commands_and_says_so() {
    if !tests::privileged("xdp_attach_fallback") {
        return;
    }
    let lab = Lab::new();
    let conf = conf();
    let mut faults = 0;
    // One good interface and one that cannot take XDP in native mode: the
    // daemon must not trust a partial attach either.
    let args = [
        "--iface",
        &lab.p_banned.ifname,
        "--iface",
        "lo",
        "--xdp-mode",
        "native",
        "--config",
        conf.dir_str(),
    ];
    let mut daemon = lab.daemon(&args);
    faults += 1;
    tests::daemon::assert_falls_back_to_commands(&conf.log(), "XDP cannot attach to lo");

    let _listener = lab.listen_22();
    assert!(lab.banned_reaches_22(), "reachable before the ban");
    let attacker = lab.banned_v4().to_string();
    lab.paths().cli_ok(&["ban", "sshd", &attacker]);
    let table = lab.nft_table("enforcer-sshd");
    assert!(table.contains(&attacker), "the fallback set: {table}");
    assert!(
        !lab.banned_reaches_22(),
        "the fallback does not enforce the ban"
    );
    assert!(lab.friend_reaches_22());
    lab.paths().cli_ok(&["unban", &attacker]);
    assert!(!lab.nft_table("enforcer-sshd").contains(&attacker));
    assert!(lab.banned_reaches_22(), "reachable after the unban");
    daemon.terminate();

    // An interface that does not exist: the same fallback.
    let args = ["--iface", "enfnosuch0", "--config", conf.dir_str()];
    let mut daemon = lab.daemon(&args);
    faults += 1;
    let log = std::fs::read_to_string(conf.log()).unwrap_or_default();
    assert!(log.contains("XDP cannot attach to enfnosuch0"), "{log}");
    lab.paths().cli_ok(&["ping"]);
    daemon.terminate();

    // --mode xdp insists: no fallback, a clear error, exit 1.
    tests::daemon::assert_mode_xdp_refuses(
        &lab.protected,
        lab.paths(),
        &[],
        &["--iface", "enfnosuch0", "--config", conf.dir_str()],
        "enfnosuch0",
    );
    faults += 1;
    suite::report(
        "xdp_attach_fallback",
        Tally {
            payloads: 0,
            faults,
            bans_lost: 0,
        },
    );
}
