//! Helper for `tests/tests/store_durability.rs`: stores bans in the
//! database named by its argument, one after another, printing the number
//! of each ban once `add_ban` has returned (a ban "reported as done"),
//! until it is killed.
use std::io::Write;

use enforcer::store::{BanRecord, Store};

fn main() {
    let path = std::env::args_os()
        .nth(1)
        .expect("usage: store_child DB START");
    let start: u64 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let store = Store::open(path.as_ref()).expect("open store");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut out = std::io::stdout().lock();
    for i in start.. {
        let ban = BanRecord {
            jail: "sshd".into(),
            ip: format!("198.18.{}.{}", (i / 250) % 250, i % 250),
            time_of_ban: now,
            bantime: 100_000 + i as i64,
            bancount: 1,
            data: serde_json::json!({"matches": [format!("line {i}")], "failures": 5}),
        };
        store.add_ban(&ban).expect("add_ban");
        writeln!(out, "{i}").unwrap();
        out.flush().unwrap();
    }
}
