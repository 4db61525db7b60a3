//! The kill -9 loop (issue 6 acceptance 2, issue 7 faults): the daemon is
//! killed with SIGKILL at pseudo-random points while bans are being made
//! through the CLI, and restarted. Used by `daemon_kill9_bans` (50 times)
//! and by `cargo xtask soak` (as many as asked).
use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use crate::{
    daemon::{Daemon, Paths},
    lab::Lab,
};

/// Bans fresh addresses of 198.19.0.0/16 one by one until `stop` (at most
/// 200); returns what the CLI reported as banned, with its expiry.
fn ban_loop(paths: Paths, first: u32, stop: Arc<AtomicBool>) -> Vec<(String, i64)> {
    let mut done = Vec::new();
    for n in first..first + 200 {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let k = n % 65_536;
        let addr = format!("198.19.{}.{}", k / 256, k % 256);
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

/// The `sshd` bans the daemon lists, with their expiry.
pub fn listed(paths: &Paths) -> BTreeMap<String, Option<i64>> {
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

/// What a kill -9 loop did.
#[derive(Debug)]
pub struct Outcome {
    /// Restarts done (each one a SIGKILL).
    pub kills: u64,
    /// Every ban the CLI reported as done, with its last reported expiry.
    pub reported: BTreeMap<String, i64>,
    /// Reported bans that are not listed after the last restart, or listed
    /// with another expiry.
    pub missing: Vec<String>,
    /// The daemon running after the last restart.
    pub daemon: Daemon,
}

/// Starts the daemon with `args` in `lab`, then `iterations` times (or
/// until `budget` is spent): bans in a thread, SIGKILL at 0–400 ms,
/// restart. `already` are bans reported before the loop.
pub fn run(
    lab: &Lab,
    args: &[&str],
    iterations: u64,
    budget: Duration,
    already: &[(String, i64)],
) -> Outcome {
    let start = Instant::now();
    let mut reported: BTreeMap<String, i64> = already.iter().cloned().collect();
    let mut d = lab.daemon(args);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut kills = 0;
    for i in 0..iterations {
        let stop = Arc::new(AtomicBool::new(false));
        let worker = {
            let (p, s) = (lab.paths().clone(), stop.clone());
            let first = (i as u32).wrapping_mul(200);
            std::thread::spawn(move || ban_loop(p, first, s))
        };
        // xorshift: a kill point between 0 and 400 ms into the bans.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(seed % 400));
        d.kill9();
        kills += 1;
        stop.store(true, Ordering::SeqCst);
        reported.extend(worker.join().expect("ban loop"));
        d = lab.daemon(args);
        if start.elapsed() > budget {
            break;
        }
    }
    let now_listed = listed(lab.paths());
    let missing = reported
        .iter()
        .filter_map(|(addr, expiry)| match now_listed.get(addr) {
            Some(Some(e)) if e == expiry => None,
            other => Some(format!("{addr}: reported {expiry}, listed {other:?}")),
        })
        .collect();
    Outcome {
        kills,
        reported,
        missing,
        daemon: d,
    }
}
