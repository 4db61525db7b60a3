//! Scenario: a ban with `--bantime 2` expires in the kernel by itself: the
//! daemon is killed with SIGKILL right after banning, and traffic passes once
//! the ban time is over. A daemon started later no longer lists it.
use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

use tests::{
    lab::Lab,
    traffic::{pings, udp_delivered},
};

#[test]
fn kernel_side_expiry_without_a_daemon() {
    if !tests::privileged("kernel_side_expiry_without_a_daemon") {
        return;
    }
    let lab = Lab::new();
    let mut daemon = lab.daemon_on_banned_link();
    let p_b: IpAddr = lab.p_banned.v4.parse().unwrap();
    assert!(pings(&lab.banned, p_b));

    lab.paths()
        .cli_ok(&["ban", "--bantime", "2", &lab.banned_end.v4]);
    let banned_at = Instant::now();
    daemon.kill9();
    assert_eq!(
        udp_delivered(&lab.banned, &lab.protected, lab.banned_v4(), p_b, 20),
        0,
        "the ban did not hold right after the daemon died"
    );
    assert!(
        banned_at.elapsed() < Duration::from_secs(2),
        "too slow to observe the ban before it expires"
    );

    if let Some(rest) = Duration::from_millis(2600).checked_sub(banned_at.elapsed()) {
        std::thread::sleep(rest);
    }
    assert_eq!(
        udp_delivered(&lab.banned, &lab.protected, lab.banned_v4(), p_b, 50),
        50,
        "an expired ban still drops with no daemon running"
    );
    assert!(pings(&lab.banned, p_b));

    let _daemon = lab.daemon_on_banned_link();
    let listed = lab.paths().cli_ok(&["banned", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(
        v["bans"],
        serde_json::json!([]),
        "an expired ban is listed: {listed}"
    );
}
