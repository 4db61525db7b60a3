//! Scenario: one daemon attached to two interfaces enforces on both, and a
//! ban is per address, not per interface.
use std::net::IpAddr;

use tests::{
    lab::Lab,
    traffic::{pings, udp_delivered},
};

#[test]
fn one_daemon_enforces_on_two_interfaces() {
    if !tests::privileged("one_daemon_enforces_on_two_interfaces") {
        return;
    }
    let lab = Lab::new();
    let _daemon = lab.daemon(&[
        "--iface",
        &lab.p_banned.ifname,
        "--iface",
        &lab.p_friend.ifname,
    ]);
    for ifname in [&lab.p_banned.ifname, &lab.p_friend.ifname] {
        let details = lab.link_details(ifname);
        assert!(
            details.contains("xdp"),
            "{ifname} has no XDP program:\n{details}"
        );
    }
    let p_b: IpAddr = lab.p_banned.v4.parse().unwrap();
    let p_f: IpAddr = lab.p_friend.v4.parse().unwrap();
    assert!(pings(&lab.banned, p_b));
    assert!(pings(&lab.friend, p_f));

    lab.paths()
        .cli_ok(&["ban", &lab.banned_end.v4, &lab.friend_end.v4]);
    assert!(!pings(&lab.banned, p_b), "first interface did not drop");
    assert!(!pings(&lab.friend, p_f), "second interface did not drop");
    assert_eq!(
        udp_delivered(&lab.friend, &lab.protected, lab.friend_v4(), p_f, 100),
        0
    );

    lab.paths().cli_ok(&["unban", &lab.friend_end.v4]);
    assert!(
        pings(&lab.friend, p_f),
        "unban on the second interface did not restore"
    );
    assert!(
        !pings(&lab.banned, p_b),
        "unbanning one address lifted another"
    );
}
