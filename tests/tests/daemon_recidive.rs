//! Acceptance 4 of issue 6: a `recidive` jail reading enforcer's own
//! fail2ban-format log bans an address that the sshd jail banned three
//! times, on every port.
use std::{
    io::Write as _,
    net::SocketAddr,
    time::{Duration, Instant},
};

use tests::{
    jailconf::{JailConf, JailLab},
    lab::Lab,
    sshd::syslog_stamp,
    traffic,
};

fn jails_banning(lab: &Lab, addr: &str) -> Vec<String> {
    let out = lab.paths().cli_ok(&["banned", "--json", addr]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("banned --json");
    v["bans"]
        .as_array()
        .expect("bans")
        .iter()
        .filter(|b| b["target"] == addr)
        .map(|b| b["jail"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn recidive_bans_an_address_sshd_banned_three_times() {
    if !tests::privileged("daemon_recidive") {
        return;
    }
    let jl = JailLab::new(
        JailConf::ours(),
        "[sshd]\nenabled = true\nlogpath = @AUTH@\nmaxretry = 1\nbantime = 2\n\n\
         [recidive]\nenabled = true\nlogpath = @LOG@\nmaxretry = 3\nfindtime = 1d\nbantime = 1w\n",
    );
    let _d = jl.daemon();
    let (lab, conf, auth) = (&jl.lab, &jl.conf, &jl.auth);
    let attacker = lab.banned_v4().to_string();
    let server = traffic::TcpServer::start(&lab.protected);
    let dst: SocketAddr = format!("{}:{}", lab.p_banned.v4, server.port)
        .parse()
        .unwrap();
    let mut log = std::fs::OpenOptions::new().append(true).open(auth).unwrap();
    for round in 1..=3 {
        writeln!(
            log,
            "{} enf-host sshd[4242]: Failed password for root from {attacker} port {} ssh2",
            syslog_stamp(),
            40000 + round
        )
        .unwrap();
        wait_for(
            &format!("sshd ban {round}"),
            Duration::from_secs(10),
            || jails_banning(lab, &attacker).iter().any(|j| j == "sshd"),
        );
        if round < 3 {
            // The 2 s sshd ban runs out before the next failure.
            wait_for(
                &format!("sshd unban {round}"),
                Duration::from_secs(10),
                || !jails_banning(lab, &attacker).iter().any(|j| j == "sshd"),
            );
            // Not yet a recidivist.
            assert!(
                !jails_banning(lab, &attacker)
                    .iter()
                    .any(|j| j == "recidive")
            );
        }
    }
    wait_for("the recidive ban", Duration::from_secs(15), || {
        jails_banning(lab, &attacker)
            .iter()
            .any(|j| j == "recidive")
    });
    // recidive bans every port: wait for sshd's short ban to end too.
    wait_for("sshd's last unban", Duration::from_secs(10), || {
        jails_banning(lab, &attacker) == ["recidive"]
    });
    assert!(
        !traffic::tcp_connects(&lab.banned, dst, Duration::from_secs(2)),
        "the recidivist still reaches an unrelated port"
    );
    let own = std::fs::read_to_string(conf.log()).unwrap();
    let sshd_bans = own
        .lines()
        .filter(|l| l.ends_with(&format!("NOTICE  [sshd] Ban {attacker}")))
        .count();
    assert_eq!(sshd_bans, 3, "{own}");
    assert!(
        own.lines()
            .any(|l| l.ends_with(&format!("NOTICE  [recidive] Ban {attacker}"))),
        "{own}"
    );
}
