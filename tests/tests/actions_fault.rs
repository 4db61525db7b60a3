//! Scenario (issue 7, faults): a jail's command actions misbehave — one
//! hangs (`actionban = sleep 1000` with `timeout = 6`), one fails (exit 1)
//! — and both come before the XDP action. The daemon logs each error the
//! way fail2ban does, kills the hung command at its timeout, still enforces
//! the ban through XDP, and a ban in another jail is served while the hung
//! command is still running.
use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use tests::{
    jailconf::JailConf,
    lab::Lab,
    suite::{self, Tally},
    traffic,
};

/// Whether a `sleep 1000` (the hung action) is running.
fn hung_action_running() -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.flatten()
        .any(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == b"sleep\x001000\x00"))
}

fn wait_for(what: &str, timeout: Duration, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn hung_and_failing_actions_do_not_stop_enforcement() {
    if !tests::privileged("actions_fault") {
        return;
    }
    let lab = Lab::new();
    let conf = JailConf::ours();
    conf.own_log_and_db();
    std::fs::write(
        conf.dir.join("action.d/hang.conf"),
        "[Definition]\nactionban = sleep 1000\nactionunban = true\n[Init]\ntimeout = 6\n",
    )
    .unwrap();
    std::fs::write(
        conf.dir.join("action.d/fail.conf"),
        "[Definition]\nactionban = echo 'cannot ban <ip>' >&2; exit 1\nactionunban = exit 1\n",
    )
    .unwrap();
    let auth = conf.work.join("auth.log");
    std::fs::write(&auth, "").unwrap();
    conf.write(
        "jail.local",
        &format!(
            "[sshd]\nenabled = true\nlogpath = {a}\nbantime = 1h\n\
             action = hang\n         fail\n         xdp[port=\"0:65535\"]\n\n\
             [other]\nenabled = true\nfilter = sshd\nlogpath = {a}\nbantime = 1h\n",
            a = auth.display()
        ),
    );
    let _daemon = lab.daemon(&["--iface", &lab.p_banned.ifname, "--config", conf.dir_str()]);
    let _listener = lab
        .protected
        .run(|| std::net::TcpListener::bind(("::", 22)).expect("binding port 22"));
    let dst: SocketAddr = format!("{}:22", lab.p_banned.v4).parse().unwrap();
    assert!(traffic::tcp_connects(
        &lab.banned,
        dst,
        Duration::from_secs(2)
    ));

    let attacker = lab.banned_v4().to_string();
    let ban = {
        let (p, a) = (lab.paths().clone(), attacker.clone());
        std::thread::spawn(move || p.cli(&["ban", "sshd", &a]))
    };
    wait_for(
        "the hung action",
        Duration::from_secs(20),
        hung_action_running,
    );
    // Another jail is not blocked by sshd's hung command.
    lab.paths().cli_ok(&["ban", "other", "198.18.7.7"]);
    let other: serde_json::Value =
        serde_json::from_str(&lab.paths().cli_ok(&["banned", "--json", "--jail", "other"]))
            .unwrap();
    assert!(other.to_string().contains("198.18.7.7"), "{other}");
    assert!(
        hung_action_running(),
        "the other jail was served only after the hung command ended"
    );
    let out = ban.join().unwrap();
    eprintln!(
        "ban with a hung and a failing action: {} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // Enforced through XDP despite the two broken actions before it.
    wait_for("the XDP ban", Duration::from_secs(30), || {
        !traffic::tcp_connects(&lab.banned, dst, Duration::from_secs(1))
    });
    let friend: SocketAddr = format!("{}:22", lab.p_friend.v4).parse().unwrap();
    assert!(traffic::tcp_connects(
        &lab.friend,
        friend,
        Duration::from_secs(2)
    ));
    wait_for("the hung command killed", Duration::from_secs(30), || {
        !hung_action_running()
    });
    let log = std::fs::read_to_string(conf.log()).unwrap_or_default();
    let logged = |a: &str, b: &str| log.lines().any(|l| l.contains(a) && l.contains(b));
    assert!(logged("action hang", "timed out"), "{log}");
    assert!(logged("action fail", "exit Some(1)"), "{log}");
    assert!(log.contains("cannot ban"), "the command's stderr: {log}");
    assert!(!log.contains("panicked"), "{log}");
    lab.paths().cli_ok(&["ping"]);
    suite::report(
        "actions_fault",
        Tally {
            payloads: 0,
            faults: 2,
            bans_lost: 0,
        },
    );
}
