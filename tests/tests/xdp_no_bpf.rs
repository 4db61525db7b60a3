//! Scenario: the XDP program cannot even load, because the daemon runs
//! without CAP_BPF and CAP_SYS_ADMIN (a container, a host that keeps BPF
//! from services). The daemon does not refuse to start, as fail2ban would
//! not: it logs why, the jails' command actions enforce (here the fallback
//! nftables set of action.d/xdp.conf), failures read from the log ban, and
//! what needs the maps (a ban outside the configured jails, `stats`) is
//! refused with the reason. With `--mode xdp` the daemon refuses to start.
use std::{io::Write, net::SocketAddr, process::Command, time::Duration};

use tests::{
    daemon::Daemon,
    jailconf::JailConf,
    lab::Lab,
    sshd::syslog_stamp,
    suite::{self, Tally},
    traffic,
};

/// Runs the daemon with the capabilities BPF needs dropped from its
/// bounding set (root keeps the others, CAP_NET_ADMIN for nft among them).
const NO_BPF: &[&str] = &[
    "setpriv",
    "--bounding-set",
    "-bpf,-sys_admin,-perfmon",
    "--",
];

fn nft_table(lab: &Lab) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", lab.protected.name()])
        .args(["nft", "list", "table", "inet", "enforcer-sshd"])
        .output()
        .expect("running nft");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn without_bpf_the_jails_command_actions_enforce() {
    if !tests::privileged("xdp_no_bpf") {
        return;
    }
    let lab = Lab::new();
    let conf = JailConf::ours();
    conf.own_log_and_db();
    let auth = conf.work.join("auth.log");
    std::fs::write(&auth, "").unwrap();
    conf.write(
        "jail.local",
        &format!(
            "[sshd]\nenabled = true\nlogpath = {}\nbackend = auto\n\
             maxretry = 2\nbantime = 1h\n",
            auth.display()
        ),
    );
    let args = ["--iface", &lab.p_banned.ifname, "--config", conf.dir_str()];
    let mut daemon = Daemon::start_under(&lab.protected, lab.paths(), NO_BPF, &args);
    let mut faults = 1;
    let log = std::fs::read_to_string(conf.log()).unwrap_or_default();
    assert!(log.contains("the XDP program cannot load"), "{log}");
    assert!(
        log.contains("falling back to the jails' command actions"),
        "{log}"
    );
    assert!(log.contains("every action runs as its command"), "{log}");
    let p = lab.paths();

    // Failures read from the log ban through the fallback set, and the
    // ban is enforced: the attacker's connections no longer get through.
    let _listener = lab
        .protected
        .run(|| std::net::TcpListener::bind(("::", 22)).expect("binding port 22"));
    let dst: SocketAddr = format!("{}:22", lab.p_banned.v4).parse().unwrap();
    assert!(
        traffic::tcp_connects(&lab.banned, dst, Duration::from_secs(2)),
        "reachable before the ban"
    );
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
    while !nft_table(&lab).contains(&attacker) {
        tries += 1;
        assert!(
            tries < 200,
            "no ban from the log: {}\n{}",
            nft_table(&lab),
            std::fs::read_to_string(conf.log()).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
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
    assert!(!nft_table(&lab).contains(&attacker));
    assert!(traffic::tcp_connects(
        &lab.banned,
        dst,
        Duration::from_secs(2)
    ));
    daemon.terminate();

    // --mode xdp insists: a clear error, exit 1.
    let out = lab
        .protected
        .command("setpriv")
        .args(&NO_BPF[1..])
        .arg(tests::enforcer_bin())
        .arg("--socket")
        .arg(&p.socket)
        .arg("--bpffs")
        .arg(&p.bpffs)
        .args(["--iface", &lab.p_banned.ifname, "--mode", "xdp"])
        .args(["--logtarget", "STDERR", "--config", conf.dir_str()])
        .output()
        .unwrap();
    faults += 1;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("--mode xdp"), "{stderr}");
    assert!(stderr.contains("cannot load"), "{stderr}");
    suite::report(
        "xdp_no_bpf",
        Tally {
            payloads: 0,
            faults,
            bans_lost: 0,
        },
    );
}
