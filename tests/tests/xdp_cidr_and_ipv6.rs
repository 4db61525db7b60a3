//! Scenario: a CIDR ban drops every address inside it and nothing outside;
//! an IPv6 ban drops that address's IPv6 traffic; unban of each restores.
use std::net::IpAddr;

use tests::{
    lab::Lab,
    traffic::{pings, udp_delivered},
};

#[test]
fn cidr_and_ipv6_bans_drop_what_they_cover() {
    if !tests::privileged("cidr_and_ipv6_bans_drop_what_they_cover") {
        return;
    }
    let lab = Lab::new();
    let _daemon = lab.daemon(&[
        "--iface",
        &lab.p_banned.ifname,
        "--iface",
        &lab.p_friend.ifname,
    ]);
    let p_b4: IpAddr = lab.p_banned.v4.parse().unwrap();
    let p_b6: IpAddr = lab.p_banned.v6.parse().unwrap();
    let p_f4: IpAddr = lab.p_friend.v4.parse().unwrap();
    assert!(pings(&lab.banned, p_b4));
    assert!(pings(&lab.banned, p_b6));

    // 198.18.1.0/24 covers the banned namespace, not the friend's 198.18.2.2.
    lab.paths().cli_ok(&["ban", "198.18.1.0/24"]);
    assert!(!pings(&lab.banned, p_b4), "the CIDR ban let ICMP through");
    assert_eq!(
        udp_delivered(&lab.banned, &lab.protected, lab.banned_v4(), p_b4, 100),
        0
    );
    assert!(
        pings(&lab.friend, p_f4),
        "a CIDR ban hit an address outside it"
    );
    assert!(pings(&lab.banned, p_b6), "an IPv4 CIDR ban hit IPv6");
    let listed = lab.paths().cli_ok(&["banned"]);
    assert!(listed.contains("198.18.1.0/24"), "{listed}");
    lab.paths().cli_ok(&["unban", "198.18.1.0/24"]);
    assert!(
        pings(&lab.banned, p_b4),
        "unban of the CIDR did not restore"
    );

    // An exact IPv6 ban.
    lab.paths().cli_ok(&["ban", &lab.banned_end.v6]);
    assert_eq!(
        udp_delivered(&lab.banned, &lab.protected, lab.banned_v6(), p_b6, 100),
        0,
        "UDP over IPv6 from a banned address passed"
    );
    assert!(
        !pings(&lab.banned, p_b6),
        "ICMPv6 from a banned address passed"
    );
    assert!(pings(&lab.banned, p_b4), "an IPv6 ban hit IPv4");
    lab.paths().cli_ok(&["unban", &lab.banned_end.v6]);
    assert!(pings(&lab.banned, p_b6), "unban did not restore IPv6");

    // An IPv6 prefix.
    lab.paths().cli_ok(&["ban", "2001:db8:1::/48"]);
    assert!(
        !pings(&lab.banned, p_b6),
        "the IPv6 CIDR ban let ICMPv6 through"
    );
    assert_eq!(
        udp_delivered(&lab.banned, &lab.protected, lab.banned_v6(), p_b6, 100),
        0
    );
    lab.paths().cli_ok(&["unban", "--all"]);
    assert!(pings(&lab.banned, p_b6));
    assert!(lab.paths().cli_ok(&["banned"]).contains("no bans"));
}
