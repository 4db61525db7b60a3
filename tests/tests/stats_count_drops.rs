//! Scenario: `enforcer stats` counts exactly what the XDP program dropped:
//! the drop count grows by what the banned sender sent (within 1%), and the
//! `manual` jail is credited with them, packets and bytes (every dropped
//! frame is one of the sender's), in `stats` and on the Prometheus
//! endpoint.
use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use tests::{
    lab::Lab,
    traffic::{UdpLoad, pings, send_udp},
};

/// Ethernet + IPv4 + UDP headers before the payload.
const HEADERS: u64 = 14 + 20 + 8;
const PAYLOAD: usize = 100;
const METRICS: &str = "127.0.0.1:9464";

fn jail_counter(stats: &serde_json::Value, jail: &str, key: &str) -> u64 {
    stats["jails"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|j| j["jail"] == jail)
        .and_then(|j| j[key].as_u64())
        .unwrap_or(0)
}

fn jail_drops(stats: &serde_json::Value, jail: &str) -> u64 {
    jail_counter(stats, jail, "dropped_packets")
}

/// The value of `series` on the daemon's metrics endpoint (inside `ns`).
fn scrape(ns: &tests::netns::NetNs, series: &str) -> Option<u64> {
    let out = ns
        .command("python3")
        .args([
            "-c",
            &format!(
                "import urllib.request;print(urllib.request.urlopen('http://{METRICS}/metrics', \
                 timeout=5).read().decode())"
            ),
        ])
        .output()
        .expect("running python3");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

#[test]
fn stats_drop_count_matches_what_was_sent() {
    if !tests::privileged("stats_drop_count_matches_what_was_sent") {
        return;
    }
    let lab = Lab::new();
    let _daemon = lab.daemon(&["--iface", &lab.p_banned.ifname, "--metrics", METRICS]);
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
            payload: PAYLOAD,
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
    let bytes = jail_counter(&after, "manual", "dropped_bytes")
        - jail_counter(&before, "manual", "dropped_bytes");
    assert_eq!(
        bytes,
        by_jail * (HEADERS + PAYLOAD as u64),
        "bytes credited to manual for {by_jail} frames"
    );
    // The endpoint copies the kernel's counters every 5 s.
    let total = jail_counter(&after, "manual", "dropped_bytes");
    let series = r#"enforcer_xdp_dropped_bytes{jail="manual"}"#;
    let mut scraped = None;
    for _ in 0..40 {
        scraped = scrape(&lab.protected, series);
        if scraped >= Some(total) {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(scraped, Some(total), "{series} on the metrics endpoint");
    let seen = after["seen_packets"].as_u64().unwrap() - before["seen_packets"].as_u64().unwrap();
    assert!(seen >= dropped, "seen {seen} < dropped {dropped}");

    // Human output carries the same numbers.
    let text = lab.paths().cli_ok(&["stats"]);
    assert!(text.contains("dropped"), "{text}");
    assert!(text.contains("jail manual"), "{text}");
    assert!(text.contains(&format!("({total} bytes)")), "{text}");
}
