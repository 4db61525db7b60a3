//! Acceptance 2 of issue 6: the daemon is killed with SIGKILL at random
//! points, 50 times, while bans are being made through the CLI. Every ban
//! the CLI reported as done is still listed after the last restart, with
//! the expiry it was reported with, and still enforced.
use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tests::{
    daemon::Paths,
    jailconf::{JailConf, JailLab},
    traffic,
};

const ITERATIONS: u32 = 50;

/// Bans fresh addresses one by one until `stop`; returns what the CLI
/// reported as banned, with its expiry.
fn ban_loop(paths: Paths, first: u32, stop: Arc<AtomicBool>) -> Vec<(String, i64)> {
    let mut done = Vec::new();
    let mut n = first;
    while !stop.load(Ordering::SeqCst) && n < first + 200 {
        let addr = format!("198.19.{}.{}", n / 250, n % 250 + 1);
        n += 1;
        let out = paths.cli(&["ban", "sshd", &addr, "--json"]);
        if !out.status.success() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ban --json");
        let expiry = v["expiry"].as_i64().expect("a timed ban has an expiry");
        done.push((addr, expiry));
    }
    done
}

fn listed(paths: &Paths) -> BTreeMap<String, Option<i64>> {
    let out = paths.cli_ok(&["banned", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("banned --json");
    v["bans"]
        .as_array()
        .expect("bans")
        .iter()
        .filter(|b| b["jail"] == "sshd")
        .map(|b| {
            (
                b["target"].as_str().unwrap_or_default().to_string(),
                b["expiry"].as_i64(),
            )
        })
        .collect()
}

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
    let mut reported = Vec::new();
    // The attacker's own address first, to check enforcement at the end.
    let mut d = lab.daemon(&args);
    let attacker = lab.banned_v4().to_string();
    let out = lab.paths().cli_ok(&["ban", "sshd", &attacker, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    reported.push((attacker.clone(), v["expiry"].as_i64().unwrap()));
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..ITERATIONS {
        let stop = Arc::new(AtomicBool::new(false));
        let worker = {
            let (p, s) = (lab.paths().clone(), stop.clone());
            std::thread::spawn(move || ban_loop(p, i * 200, s))
        };
        // xorshift: a kill point between 0 and 400 ms into the bans.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(seed % 400));
        d.kill9();
        stop.store(true, Ordering::SeqCst);
        reported.extend(worker.join().expect("ban loop"));
        d = lab.daemon(&args);
    }
    let now_listed = listed(lab.paths());
    let mut missing = Vec::new();
    for (addr, expiry) in &reported {
        match now_listed.get(addr) {
            Some(Some(e)) if e == expiry => {}
            other => missing.push(format!("{addr}: reported {expiry}, listed {other:?}")),
        }
    }
    eprintln!(
        "{} bans reported over {ITERATIONS} kill -9 restarts; {} missing or changed",
        reported.len(),
        missing.len()
    );
    assert!(missing.is_empty(), "{}", missing.join("\n"));
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
