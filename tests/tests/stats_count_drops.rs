//! Scenario: `enforcer stats` counts exactly what the XDP program dropped:
//! the drop count grows by what the banned sender sent (within 1%), and the
//! `manual` jail is credited with them.
use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use tests::{
    lab::Lab,
    traffic::{UdpLoad, pings, send_udp},
};

fn jail_drops(stats: &serde_json::Value, jail: &str) -> u64 {
    stats["jails"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|j| j["jail"] == jail)
        .and_then(|j| j["dropped_packets"].as_u64())
        .unwrap_or(0)
}

#[test]
fn stats_drop_count_matches_what_was_sent() {
    if !tests::privileged("stats_drop_count_matches_what_was_sent") {
        return;
    }
    let lab = Lab::new();
    let _daemon = lab.daemon_on_banned_link();
    let p_b: IpAddr = lab.p_banned.v4.parse().unwrap();
    assert!(pings(&lab.banned, p_b));
    lab.paths().cli_ok(&["ban", &lab.banned_end.v4]);

    let before = lab.paths().stats();
    let sent = send_udp(
        &lab.banned,
        UdpLoad {
            dst: SocketAddr::new(p_b, 9),
            count: 20_000,
            duration: Duration::from_secs(10),
            rate: Some(20_000),
            payload: 100,
        },
    );
    std::thread::sleep(Duration::from_millis(300));
    let after = lab.paths().stats();
    assert_eq!(sent, 20_000, "the sender was cut short");

    let dropped =
        after["dropped_packets"].as_u64().unwrap() - before["dropped_packets"].as_u64().unwrap();
    let diff = dropped.abs_diff(sent);
    assert!(
        diff * 100 <= sent,
        "dropped {dropped}, sent {sent}: off by more than 1%\nbefore {before}\nafter {after}"
    );
    let by_jail = jail_drops(&after, "manual") - jail_drops(&before, "manual");
    assert!(
        by_jail.abs_diff(sent) * 100 <= sent,
        "jail manual credited with {by_jail} of {sent}"
    );
    let seen = after["seen_packets"].as_u64().unwrap() - before["seen_packets"].as_u64().unwrap();
    assert!(seen >= dropped, "seen {seen} < dropped {dropped}");

    // Human output carries the same numbers.
    let text = lab.paths().cli_ok(&["stats"]);
    assert!(text.contains("dropped"), "{text}");
    assert!(text.contains("jail manual"), "{text}");
}
