//! Verdicts of the real XDP program on crafted packets, through
//! `BPF_PROG_TEST_RUN` ([`tests::testrun`]): exact and prefix bans over
//! IPv4 and IPv6, VLAN tags, the allow list, expiry, port scopes, IPv6
//! extension headers, and frames that are not IP or are cut short.
use std::net::{Ipv4Addr, Ipv6Addr};

use enforcer::xdp::{IpNet, JailScope};
use tests::testrun::*;

#[test]
fn ipv4_exact_ban_drops_only_the_banned_source() {
    if !tests::privileged("xdp_verdicts") {
        return;
    }
    let mut f = Fixture::new("v4");
    assert_eq!(
        f.run(&v4_packet(BANNED4, TCP, 22)),
        XDP_PASS,
        "nothing banned yet"
    );
    let j = f.jail("sshd");
    f.dp.ban(IpNet::host(BANNED4.into()), j, Some(now() + 600))
        .unwrap();
    for proto in [TCP, UDP, ICMP] {
        assert_eq!(
            f.run(&v4_packet(BANNED4, proto, 22)),
            XDP_DROP,
            "proto {proto}"
        );
        assert_eq!(
            f.run(&v4_packet(FRIEND4, proto, 22)),
            XDP_PASS,
            "proto {proto}"
        );
    }
    // IP options (IHL > 5) move the transport header.
    let opt = eth(&[], 0x0800, &ipv4(BANNED4, TCP, 0, 8, &l4(TCP, 22)));
    assert_eq!(f.run(&opt), XDP_DROP);

    let bans = f.dp.list().unwrap();
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].net.to_string(), "198.18.0.66");
    assert_eq!(bans[0].jails, vec!["sshd".to_string()]);
    let exp = bans[0].expiry.unwrap();
    assert!((now() + 598..=now() + 601).contains(&exp), "expiry {exp}");

    assert!(f.dp.unban(IpNet::host(BANNED4.into()), j).unwrap());
    assert!(!f.dp.unban(IpNet::host(BANNED4.into()), j).unwrap());
    assert_eq!(f.run(&v4_packet(BANNED4, TCP, 22)), XDP_PASS, "unbanned");
}

#[test]
fn ipv6_exact_ban() {
    if !tests::privileged("xdp_verdicts") {
        return;
    }
    let mut f = Fixture::new("v6");
    let j = f.jail("sshd");
    f.dp.ban(IpNet::host(BANNED6.into()), j, None).unwrap();
    for proto in [TCP, UDP, ICMPV6] {
        assert_eq!(
            f.run(&v6_packet(BANNED6, proto, 22)),
            XDP_DROP,
            "proto {proto}"
        );
        assert_eq!(
            f.run(&v6_packet(FRIEND6, proto, 22)),
            XDP_PASS,
            "proto {proto}"
        );
    }
    assert_eq!(f.dp.list().unwrap()[0].expiry, None, "permanent");
}

#[test]
fn vlan_tags_one_and_two() {
    if !tests::privileged("xdp_verdicts") {
        return;
    }
    let mut f = Fixture::new("vlan");
    let j = f.jail("manual");
    f.dp.ban(IpNet::host(BANNED4.into()), j, None).unwrap();
    f.dp.ban(IpNet::host(BANNED6.into()), j, None).unwrap();
    let v4 = ipv4(BANNED4, UDP, 0, 0, &l4(UDP, 53));
    let v6 = ipv6(BANNED6, &[], UDP, &l4(UDP, 53));
    for vlans in [&[0x8100][..], &[0x88a8, 0x8100], &[0x8100, 0x8100]] {
        assert_eq!(f.run(&eth(vlans, 0x0800, &v4)), XDP_DROP, "{vlans:x?}");
        assert_eq!(f.run(&eth(vlans, 0x86dd, &v6)), XDP_DROP, "{vlans:x?}");
        let friend = ipv4(FRIEND4, UDP, 0, 0, &l4(UDP, 53));
        assert_eq!(f.run(&eth(vlans, 0x0800, &friend)), XDP_PASS, "{vlans:x?}");
    }
    // Three tags are beyond what the parser walks: pass.
    assert_eq!(
        f.run(&eth(&[0x88a8, 0x8100, 0x8100], 0x0800, &v4)),
        XDP_PASS
    );
}

#[test]
fn cidr_bans_v4_and_v6() {
    if !tests::privileged("xdp_verdicts") {
        return;
    }
    let mut f = Fixture::new("cidr");
    let j = f.jail("manual");
    f.dp.ban(net("198.18.0.0/24"), j, None).unwrap();
    f.dp.ban(net("2001:db8::/64"), j, None).unwrap();
    assert_eq!(f.run(&v4_packet(BANNED4, TCP, 80)), XDP_DROP);
    assert_eq!(f.run(&v4_packet(FRIEND4, TCP, 80)), XDP_DROP, "same /24");
    assert_eq!(
        f.run(&v4_packet(Ipv4Addr::new(198, 18, 1, 1), TCP, 80)),
        XDP_PASS
    );
    assert_eq!(f.run(&v6_packet(FRIEND6, TCP, 80)), XDP_DROP);
    let outside = Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 1);
    assert_eq!(f.run(&v6_packet(outside, TCP, 80)), XDP_PASS);

    // A longer prefix for another jail is a separate entry; unbanning the
    // /24 leaves it (and does not touch a prefix it merely overlaps).
    let k = f.jail("recidive");
    f.dp.ban(net("198.18.0.64/26"), k, None).unwrap();
    assert!(
        !f.dp.unban(net("198.18.0.0/25"), j).unwrap(),
        "not an entry"
    );
    assert!(f.dp.unban(net("198.18.0.0/24"), j).unwrap());
    assert_eq!(f.run(&v4_packet(BANNED4, TCP, 80)), XDP_DROP, "in the /26");
    assert_eq!(
        f.run(&v4_packet(FRIEND4, TCP, 80)),
        XDP_PASS,
        "outside the /26"
    );
    let listed: Vec<String> =
        f.dp.list()
            .unwrap()
            .iter()
            .map(|b| b.net.to_string())
            .collect();
    assert_eq!(listed, vec!["198.18.0.64/26", "2001:db8::/64"]);
}

#[test]
fn allow_list_beats_bans() {
    if !tests::privileged("xdp_verdicts") {
        return;
    }
    let mut f = Fixture::new("allow");
    let j = f.jail("manual");
    f.dp.ban(net("198.18.0.0/16"), j, None).unwrap();
    f.dp.ban(IpNet::host(BANNED4.into()), j, None).unwrap();
    f.dp.ban(IpNet::host(BANNED6.into()), j, None).unwrap();
    f.dp.allow_add(net("198.18.0.64/28")).unwrap();
    f.dp.allow_add(IpNet::host(BANNED6.into())).unwrap();
    assert_eq!(f.run(&v4_packet(BANNED4, TCP, 22)), XDP_PASS, "allowed /28");
    assert_eq!(f.run(&v4_packet(FRIEND4, TCP, 22)), XDP_DROP, "outside /28");
    assert_eq!(f.run(&v6_packet(BANNED6, TCP, 22)), XDP_PASS);
    assert_eq!(
        f.dp.allow_list().unwrap(),
        vec![net("198.18.0.64/28"), IpNet::host(BANNED6.into())]
    );
    assert!(f.dp.allow_remove(net("198.18.0.64/28")).unwrap());
    assert_eq!(f.run(&v4_packet(BANNED4, TCP, 22)), XDP_DROP);
}

#[test]
fn expired_ban_passes() {
    if !tests::privileged("xdp_verdicts") {
        return;
    }
    let mut f = Fixture::new("expired");
    let j = f.jail("sshd");
    f.dp.ban(IpNet::host(BANNED4.into()), j, Some(now() - 5))
        .unwrap();
    f.dp.ban(net("2001:db8::/64"), j, Some(now() - 1)).unwrap();
    assert_eq!(f.run(&v4_packet(BANNED4, TCP, 22)), XDP_PASS);
    assert_eq!(f.run(&v6_packet(BANNED6, TCP, 22)), XDP_PASS);
    assert!(
        f.dp.list().unwrap().is_empty(),
        "expired entries are not listed"
    );
    assert_eq!(f.dp.purge_expired().unwrap(), 2);
    // A ban that expires in two seconds holds, then lapses in the kernel.
    f.dp.ban(IpNet::host(BANNED4.into()), j, Some(now() + 2))
        .unwrap();
    assert_eq!(f.run(&v4_packet(BANNED4, TCP, 22)), XDP_DROP);
    std::thread::sleep(std::time::Duration::from_millis(3100));
    assert_eq!(f.run(&v4_packet(BANNED4, TCP, 22)), XDP_PASS);
}

#[test]
fn port_scope_in_and_out() {
    if !tests::privileged("xdp_verdicts") {
        return;
    }
    let mut f = Fixture::new("scope");
    let ssh = f.jail("sshd");
    let web = f.jail("nginx");
    f.dp.set_scope(ssh, &JailScope::parse("22", "tcp").unwrap())
        .unwrap();
    f.dp.set_scope(
        web,
        &JailScope::parse("80,443,8000:8099", "tcp,udp").unwrap(),
    )
    .unwrap();
    assert_eq!(f.dp.scope(ssh).unwrap().ports, vec![(22, 22)]);
    f.dp.ban(IpNet::host(BANNED4.into()), ssh, None).unwrap();
    f.dp.ban(IpNet::host(BANNED6.into()), ssh, None).unwrap();
    assert_eq!(f.run(&v4_packet(BANNED4, TCP, 22)), XDP_DROP);
    assert_eq!(f.run(&v4_packet(BANNED4, TCP, 80)), XDP_PASS, "other port");
    assert_eq!(
        f.run(&v4_packet(BANNED4, UDP, 22)),
        XDP_PASS,
        "other protocol"
    );
    assert_eq!(f.run(&v4_packet(BANNED4, ICMP, 0)), XDP_PASS, "no port");
    assert_eq!(f.run(&v6_packet(BANNED6, TCP, 22)), XDP_DROP);
    assert_eq!(f.run(&v6_packet(BANNED6, TCP, 2222)), XDP_PASS);

    // A second jail widens the address's scope.
    f.dp.ban(IpNet::host(BANNED4.into()), web, None).unwrap();
    assert_eq!(f.run(&v4_packet(BANNED4, TCP, 80)), XDP_DROP);
    assert_eq!(f.run(&v4_packet(BANNED4, UDP, 8050)), XDP_DROP);
    assert_eq!(f.run(&v4_packet(BANNED4, UDP, 8100)), XDP_PASS);
    assert_eq!(f.run(&v4_packet(BANNED4, TCP, 22)), XDP_DROP);
    // Unbanning one jail leaves the other's scope.
    assert!(f.dp.unban(IpNet::host(BANNED4.into()), ssh).unwrap());
    assert_eq!(f.run(&v4_packet(BANNED4, TCP, 22)), XDP_PASS);
    assert_eq!(f.run(&v4_packet(BANNED4, TCP, 443)), XDP_DROP);

    // Non-first fragments carry no port and count as in scope.
    let frag = eth(&[], 0x0800, &ipv4(BANNED4, TCP, 100, 0, &[0u8; 16]));
    assert_eq!(f.run(&frag), XDP_DROP);
    let frag = eth(&[], 0x0800, &ipv4(BANNED4, ICMP, 100, 0, &[0u8; 16]));
    assert_eq!(f.run(&frag), XDP_PASS, "protocol still checked");
}

#[test]
fn ipv6_extension_headers() {
    if !tests::privileged("xdp_verdicts") {
        return;
    }
    let mut f = Fixture::new("v6ext");
    let ssh = f.jail("sshd");
    f.dp.set_scope(ssh, &JailScope::parse("22", "tcp").unwrap())
        .unwrap();
    f.dp.ban(IpNet::host(BANNED6.into()), ssh, None).unwrap();
    let chains: [&[(u8, Vec<u8>)]; 4] = [
        &[(0, opts_body())],
        &[(0, opts_body()), (43, routing_body()), (60, opts_body())],
        &[(44, fragment_body(0, true))],
        &[
            (0, opts_body()),
            (60, opts_body()),
            (44, fragment_body(0, true)),
            (60, opts_body()),
        ],
    ];
    for chain in chains {
        let types: Vec<u8> = chain.iter().map(|e| e.0).collect();
        let p = eth(&[], 0x86dd, &ipv6(BANNED6, chain, TCP, &l4(TCP, 22)));
        assert_eq!(f.run(&p), XDP_DROP, "chain {types:?}, port 22");
        let p = eth(&[], 0x86dd, &ipv6(BANNED6, chain, TCP, &l4(TCP, 80)));
        assert_eq!(f.run(&p), XDP_PASS, "chain {types:?}, port 80");
    }
    // A later fragment has no TCP header: in scope.
    let later = [(44, fragment_body(185, false))];
    let p = eth(&[], 0x86dd, &ipv6(BANNED6, &later, TCP, &[0u8; 24]));
    assert_eq!(f.run(&p), XDP_DROP);
    // An authentication header (its length in 4-byte units) is walked.
    let ah = [(51, ah_body())];
    let p = eth(&[], 0x86dd, &ipv6(BANNED6, &ah, TCP, &l4(TCP, 22)));
    assert_eq!(f.run(&p), XDP_DROP, "AH, port 22");
    let p = eth(&[], 0x86dd, &ipv6(BANNED6, &ah, TCP, &l4(TCP, 80)));
    assert_eq!(f.run(&p), XDP_PASS, "AH, port 80");
    // Six headers, as deep as the parser walks: the port still decides.
    let six: Vec<(u8, Vec<u8>)> = (0..6).map(|_| (60, opts_body())).collect();
    let p = eth(&[], 0x86dd, &ipv6(BANNED6, &six, TCP, &l4(TCP, 80)));
    assert_eq!(f.run(&p), XDP_PASS, "six headers, port 80");
    let p = eth(&[], 0x86dd, &ipv6(BANNED6, &six, TCP, &l4(TCP, 22)));
    assert_eq!(f.run(&p), XDP_DROP, "six headers, port 22");
    // Deeper (7 headers): the transport is unknown and in every scope, so
    // padding headers do not carry a banned source past its ban; a source
    // that is not banned still passes.
    let deep: Vec<(u8, Vec<u8>)> = (0..7).map(|_| (60, opts_body())).collect();
    for port in [22, 80] {
        let p = eth(&[], 0x86dd, &ipv6(BANNED6, &deep, TCP, &l4(TCP, port)));
        assert_eq!(f.run(&p), XDP_DROP, "seven headers, port {port}");
        let p = eth(&[], 0x86dd, &ipv6(FRIEND6, &deep, TCP, &l4(TCP, port)));
        assert_eq!(f.run(&p), XDP_PASS, "seven headers, not banned");
    }
}

#[test]
fn truncated_and_non_ip_frames_pass() {
    if !tests::privileged("xdp_verdicts") {
        return;
    }
    let mut f = Fixture::new("trunc");
    let j = f.jail("manual");
    f.dp.ban(net("0.0.0.0/0"), j, None).unwrap();
    f.dp.ban(net("::/0"), j, None).unwrap();
    let full4 = v4_packet(BANNED4, TCP, 22);
    let full6 = v6_packet(BANNED6, TCP, 22);
    assert_eq!(f.run(&full4), XDP_DROP);
    assert_eq!(f.run(&full6), XDP_DROP);
    // Cut inside the IP header, inside the TCP ports.
    for cut in [15, 20, 33, 35] {
        assert_eq!(f.run(&full4[..cut]), XDP_PASS, "v4 cut at {cut}");
    }
    for cut in [20, 53, 55] {
        assert_eq!(f.run(&full6[..cut]), XDP_PASS, "v6 cut at {cut}");
    }
    // Ethernet header only; an ARP frame; a bad IP version; IHL < 5.
    assert_eq!(f.run(&full4[..14]), XDP_PASS);
    assert_eq!(f.run(&eth(&[], 0x0806, &[0u8; 28])), XDP_PASS);
    let mut bad = full4.clone();
    bad[14] = 0x55;
    assert_eq!(f.run(&bad), XDP_PASS);
    bad[14] = 0x44;
    assert_eq!(f.run(&bad), XDP_PASS);
    // A VLAN tag cut short.
    assert_eq!(f.run(&eth(&[0x8100], 0x0800, &[])[..16]), XDP_PASS);
}
