//! Acceptance 2 of issue 6: the daemon is killed with SIGKILL at random
//! points, 50 times (`cargo xtask soak`: as many as asked), while bans are
//! being made through the CLI (the loop is `tests::kill9`). Every ban
//! the CLI reported as done is still listed after the last restart, with
//! the expiry it was reported with, and still enforced.
use std::{net::SocketAddr, time::Duration};

use tests::{
    jailconf::{JailConf, JailLab},
    kill9,
    suite::{self, Tally},
    traffic,
};

#[test]
fn bans_reported_survive_kill9_with_their_expiry() {
    if !tests::privileged("daemon_kill9_bans") {
        return;
    }
    let jl = JailLab::new(
        JailConf::ours(),
        "[sshd]\nenabled = true\nlogpath = @AUTH@\nbantime = 2h\n",
    );
    let (lab, args) = (&jl.lab, jl.args());
    // The attacker's own address first, to check enforcement at the end.
    let first = lab.daemon(&args);
    let attacker = lab.banned_v4().to_string();
    let out = lab.paths().cli_ok(&["ban", "sshd", &attacker, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let already = [(attacker.clone(), v["expiry"].as_i64().unwrap())];
    drop(first);
    let iterations = suite::count("KILL9", 50);
    let budget = Duration::from_secs(suite::count("KILL9_SECS", 3600));
    let outcome = kill9::run(lab, &args, iterations, budget, &already);
    eprintln!(
        "{} bans reported over {} kill -9 restarts; {} missing or changed",
        outcome.reported.len(),
        outcome.kills,
        outcome.missing.len()
    );
    suite::report(
        "daemon_kill9_bans",
        Tally {
            payloads: outcome.reported.len() as u64,
            faults: outcome.kills,
            bans_lost: outcome.missing.len() as u64,
        },
    );
    assert!(outcome.missing.is_empty(), "{}", outcome.missing.join("\n"));
    // sshd's scope is port 22: listen there (the friend proves it works).
    let _listener = lab
        .protected
        .run(|| std::net::TcpListener::bind(("::", 22)).expect("binding port 22"));
    let friend_dst: SocketAddr = format!("{}:22", lab.p_friend.v4).parse().unwrap();
    assert!(traffic::tcp_connects(
        &lab.friend,
        friend_dst,
        Duration::from_secs(2)
    ));
    let dst: SocketAddr = format!("{}:22", lab.p_banned.v4).parse().unwrap();
    assert!(
        !traffic::tcp_connects(&lab.banned, dst, Duration::from_secs(2)),
        "the first ban is no longer enforced"
    );
}
