//! A ban reported as stored survives `kill -9`: a child process stores bans
//! and prints each one after `add_ban` returns; it is SIGKILLed at a random
//! moment, 20 times over the same database; afterwards every ban it
//! reported is there with its ban time, and the database still opens.
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use enforcer::store::Store;

const ROUNDS: u32 = 20;

/// A small xorshift seeded from the clock: random kill points, no dependency.
fn rng() -> impl FnMut() -> u64 {
    let mut x = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

#[test]
fn every_reported_ban_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("enforcer.sqlite3");
    let mut next = rng();
    let mut reported: Vec<u64> = Vec::new();
    let mut start = 0u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    for round in 0..ROUNDS {
        assert!(Instant::now() < deadline, "rounds took too long");
        let mut child = Command::new(env!("CARGO_BIN_EXE_store_child"))
            .arg(&db)
            .arg(start.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines() {
                let Ok(l) = l else { break };
                if tx.send(l.parse::<u64>().unwrap()).is_err() {
                    break;
                }
            }
        });
        // Wait for a first ban, then kill at a random point 0..60 ms later.
        let first = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("child stores a ban");
        reported.push(first);
        std::thread::sleep(Duration::from_micros(next() % 60_000));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        reported.extend(rx.try_iter());
        start = reported.last().unwrap() + 1;
        eprintln!("round {round}: {} bans reported so far", reported.len());
    }
    let store = Store::open(&db).expect("database opens after kill -9");
    let bans = store.current_bans(Some("sshd"), 0, None).unwrap();
    let stored: std::collections::HashMap<String, i64> =
        bans.into_iter().map(|b| (b.ip, b.bantime)).collect();
    for i in &reported {
        let ip = format!("198.18.{}.{}", (i / 250) % 250, i % 250);
        assert_eq!(
            stored.get(&ip),
            Some(&(100_000 + *i as i64)),
            "ban {i} ({ip}) reported but lost"
        );
    }
    assert!(reported.len() >= ROUNDS as usize);
}
