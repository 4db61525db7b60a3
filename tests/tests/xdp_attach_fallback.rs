//! Scenario (issue 7, faults): the XDP program cannot attach (native mode
//! on loopback, which has no driver hook, or an interface that does not
//! exist). The daemon does not die: it logs the failure and that it falls
//! back to the jails' command actions, and a ban in a jail whose action is
//! `xdp` (enforcer's default) is enforced by the fallback nftables set of
//! action.d/xdp.conf. With `--mode xdp` the same failure stops the daemon
//! with a clear error instead.
use std::{net::SocketAddr, process::Command, time::Duration};

use tests::{
    jailconf::JailConf,
    lab::Lab,
    suite::{self, Tally},
    traffic,
};

fn conf() -> JailConf {
    let conf = JailConf::ours();
    conf.own_log_and_db();
    let auth = conf.work.join("auth.log");
    std::fs::write(&auth, "").unwrap();
    conf.write(
        "jail.local",
        &format!(
            "[sshd]\nenabled = true\nlogpath = {}\nbantime = 1h\n",
            auth.display()
        ),
    );
    conf
}

fn nft_table(lab: &Lab) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", lab.protected.name()])
        .args(["nft", "list", "table", "inet", "enforcer-sshd"])
        .output()
        .expect("running nft");
    String::from_utf8_lossy(&out.stdout).into_owned()
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
    let log = std::fs::read_to_string(conf.log()).unwrap_or_default();
    assert!(log.contains("XDP cannot attach to lo"), "{log}");
    assert!(
        log.contains("falling back to the jails' command actions"),
        "{log}"
    );
    assert!(log.contains("every action runs as its command"), "{log}");

    let _listener = lab
        .protected
        .run(|| std::net::TcpListener::bind(("::", 22)).expect("binding port 22"));
    let dst: SocketAddr = format!("{}:22", lab.p_banned.v4).parse().unwrap();
    assert!(
        traffic::tcp_connects(&lab.banned, dst, Duration::from_secs(2)),
        "reachable before the ban"
    );
    let attacker = lab.banned_v4().to_string();
    lab.paths().cli_ok(&["ban", "sshd", &attacker]);
    let table = nft_table(&lab);
    assert!(table.contains(&attacker), "the fallback set: {table}");
    assert!(
        !traffic::tcp_connects(&lab.banned, dst, Duration::from_secs(2)),
        "the fallback does not enforce the ban"
    );
    let friend: SocketAddr = format!("{}:22", lab.p_friend.v4).parse().unwrap();
    assert!(traffic::tcp_connects(
        &lab.friend,
        friend,
        Duration::from_secs(2)
    ));
    lab.paths().cli_ok(&["unban", &attacker]);
    assert!(!nft_table(&lab).contains(&attacker));
    assert!(traffic::tcp_connects(
        &lab.banned,
        dst,
        Duration::from_secs(2)
    ));
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
    let out = lab
        .protected
        .command(tests::enforcer_bin())
        .arg("--socket")
        .arg(&lab.paths().socket)
        .arg("--bpffs")
        .arg(&lab.paths().bpffs)
        .args([
            "--iface",
            "enfnosuch0",
            "--mode",
            "xdp",
            "--logtarget",
            "STDERR",
        ])
        .args(["--config", conf.dir_str()])
        .output()
        .unwrap();
    faults += 1;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("--mode xdp"), "{stderr}");
    suite::report(
        "xdp_attach_fallback",
        Tally {
            payloads: 0,
            faults,
            bans_lost: 0,
        },
    );
}
