//! Scenario: `--xdp-mode generic` attaches in generic (skb) mode and drops
//! banned traffic just the same.
use std::net::IpAddr;

use tests::{
    lab::Lab,
    traffic::{pings, udp_delivered},
};

#[test]
fn generic_mode_drops_banned_traffic() {
    if !tests::privileged("generic_mode_drops_banned_traffic") {
        return;
    }
    let lab = Lab::new();
    let _daemon = lab.daemon(&["--iface", &lab.p_banned.ifname, "--xdp-mode", "generic"]);
    let details = lab.link_details(&lab.p_banned.ifname);
    assert!(
        details.contains("xdpgeneric"),
        "not in generic mode:\n{details}"
    );
    let p_b: IpAddr = lab.p_banned.v4.parse().unwrap();
    assert!(pings(&lab.banned, p_b));
    lab.paths().cli_ok(&["ban", &lab.banned_end.v4]);
    assert!(!pings(&lab.banned, p_b));
    assert_eq!(
        udp_delivered(&lab.banned, &lab.protected, lab.banned_v4(), p_b, 100),
        0
    );
    lab.paths().cli_ok(&["unban", &lab.banned_end.v4]);
    assert!(pings(&lab.banned, p_b));
}
