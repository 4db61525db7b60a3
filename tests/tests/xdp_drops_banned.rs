//! Scenario: the daemon runs in the protected namespace, attached natively to
//! the veth facing the banned namespace. ICMP, UDP and TCP from a banned
//! address are dropped; the friend namespace passes; unban restores.
use std::{net::SocketAddr, time::Duration};

use tests::{
    lab::Lab,
    traffic::{TcpServer, pings, tcp_connects, udp_delivered},
};

#[test]
fn banned_source_is_dropped_for_icmp_udp_and_tcp() {
    if !tests::privileged("banned_source_is_dropped_for_icmp_udp_and_tcp") {
        return;
    }
    let lab = Lab::new();
    let _daemon = lab.daemon(&[
        "--iface",
        &lab.p_banned.ifname,
        "--iface",
        &lab.p_friend.ifname,
    ]);
    let details = lab.link_details(&lab.p_banned.ifname);
    assert!(
        details.contains("xdp") && !details.contains("xdpgeneric"),
        "auto mode attaches natively on veth:\n{details}"
    );
    let p_b: std::net::IpAddr = lab.p_banned.v4.parse().unwrap();
    let p_f: std::net::IpAddr = lab.p_friend.v4.parse().unwrap();
    let tcp = TcpServer::start(&lab.protected);
    let timeout = Duration::from_secs(1);

    // Before the ban everything passes (this also resolves ARP).
    assert!(pings(&lab.banned, p_b));
    assert_eq!(
        udp_delivered(&lab.banned, &lab.protected, lab.banned_v4(), p_b, 50),
        50
    );
    assert!(tcp_connects(
        &lab.banned,
        SocketAddr::new(p_b, tcp.port),
        timeout
    ));

    lab.paths().cli_ok(&["ban", &lab.banned_end.v4]);

    assert!(
        !pings(&lab.banned, p_b),
        "ICMP from a banned address passed"
    );
    assert_eq!(
        udp_delivered(&lab.banned, &lab.protected, lab.banned_v4(), p_b, 200),
        0,
        "UDP from a banned address passed"
    );
    assert!(
        !tcp_connects(&lab.banned, SocketAddr::new(p_b, tcp.port), timeout),
        "a TCP handshake from a banned address completed"
    );
    // The friend, on the other interface, is untouched.
    assert!(pings(&lab.friend, p_f));
    assert_eq!(
        udp_delivered(&lab.friend, &lab.protected, lab.friend_v4(), p_f, 200),
        200
    );
    assert!(tcp_connects(
        &lab.friend,
        SocketAddr::new(p_f, tcp.port),
        timeout
    ));

    let listed = lab.paths().cli_ok(&["banned"]);
    assert!(listed.contains(&lab.banned_end.v4), "{listed}");
    assert!(listed.contains("manual"), "{listed}");

    lab.paths().cli_ok(&["unban", &lab.banned_end.v4]);
    assert!(pings(&lab.banned, p_b), "unban did not restore ICMP");
    assert!(tcp_connects(
        &lab.banned,
        SocketAddr::new(p_b, tcp.port),
        timeout
    ));
    assert_eq!(
        udp_delivered(&lab.banned, &lab.protected, lab.banned_v4(), p_b, 50),
        50,
        "unban did not restore UDP"
    );
}
