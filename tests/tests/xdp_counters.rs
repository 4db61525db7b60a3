//! The XDP program's counters on crafted packets, through
//! `BPF_PROG_TEST_RUN` ([`tests::testrun`]): observe mode passes and counts
//! would-drops, drops are counted per jail (packets and bytes), a released
//! jail's id and counters are reused clean, and a full map is an error.
use std::net::{IpAddr, Ipv4Addr};

use enforcer::xdp::{Capacities, IpNet};
use tests::testrun::*;

#[test]
fn observe_mode_passes_and_counts() {
    if !tests::privileged("xdp_counters") {
        return;
    }
    let mut f = Fixture::new("observe");
    let j = f.jail("sshd");
    f.dp.ban(IpNet::host(BANNED4.into()), j, None).unwrap();
    f.dp.set_observe(true).unwrap();
    assert!(f.dp.observe().unwrap());
    let pkt = v4_packet(BANNED4, TCP, 22);
    for _ in 0..3 {
        assert_eq!(f.run(&pkt), XDP_PASS);
    }
    assert_eq!(f.run(&v4_packet(FRIEND4, TCP, 22)), XDP_PASS);
    let s = f.dp.stats().unwrap();
    assert!(s.observe_mode);
    assert_eq!((s.packets, s.passed, s.dropped, s.observed), (4, 4, 0, 3));
    assert_eq!(s.observed_bytes, 3 * pkt.len() as u64);
    let sshd = s
        .jails
        .iter()
        .find(|x| x.name.as_deref() == Some("sshd"))
        .unwrap();
    assert_eq!((sshd.dropped, sshd.observed), (0, 3));

    f.dp.set_observe(false).unwrap();
    assert_eq!(f.run(&pkt), XDP_DROP);
    // A dry-run ban passes even with observe mode off.
    f.dp.ban_observe(IpNet::host(BANNED6.into()), j, None)
        .unwrap();
    assert_eq!(f.run(&v6_packet(BANNED6, TCP, 22)), XDP_PASS);
    let s = f.dp.stats().unwrap();
    assert_eq!((s.packets, s.dropped, s.observed), (6, 1, 4));
}

#[test]
fn per_jail_drop_counters() {
    if !tests::privileged("xdp_counters") {
        return;
    }
    let mut f = Fixture::new("counters");
    let a = f.jail("sshd");
    let b = f.jail("postfix");
    assert_ne!(a, b);
    assert_eq!(f.jail("sshd"), a, "ids are stable");
    f.dp.ban(IpNet::host(BANNED4.into()), a, None).unwrap();
    f.dp.ban(net("2001:db8::/48"), b, None).unwrap();
    for _ in 0..5 {
        assert_eq!(f.run(&v4_packet(BANNED4, TCP, 22)), XDP_DROP);
    }
    for _ in 0..2 {
        assert_eq!(f.run(&v6_packet(BANNED6, UDP, 25)), XDP_DROP);
    }
    assert_eq!(f.run(&v4_packet(FRIEND4, TCP, 22)), XDP_PASS);
    let s = f.dp.stats().unwrap();
    assert_eq!((s.packets, s.dropped, s.passed), (8, 7, 1));
    let by_name = |n: &str| {
        let j = s
            .jails
            .iter()
            .find(|x| x.name.as_deref() == Some(n))
            .unwrap();
        (j.dropped, j.dropped_bytes)
    };
    let v4len = v4_packet(BANNED4, TCP, 22).len() as u64;
    let v6len = v6_packet(BANNED6, UDP, 25).len() as u64;
    assert_eq!(by_name("sshd"), (5, 5 * v4len));
    assert_eq!(by_name("postfix"), (2, 2 * v6len));
    assert_eq!(s.dropped_bytes, 5 * v4len + 2 * v6len);

    // Releasing a jail lifts its bans, frees its id and its counters.
    f.dp.ban(IpNet::host(BANNED6.into()), a, None).unwrap();
    assert!(f.dp.release_jail("postfix").unwrap());
    assert!(!f.dp.release_jail("postfix").unwrap());
    let listed: Vec<String> =
        f.dp.list()
            .unwrap()
            .iter()
            .map(|b| b.net.to_string())
            .collect();
    assert_eq!(listed, vec!["198.18.0.66", "2001:db8::66"]);
    assert_eq!(
        f.run(&v6_packet(FRIEND6, UDP, 25)),
        XDP_PASS,
        "prefix ban lifted"
    );
    assert_eq!(f.jail("dovecot"), b, "the freed slot is reused");
    let s = f.dp.stats().unwrap();
    let dovecot = s.jails.iter().find(|x| x.id == b).unwrap();
    assert_eq!(
        (
            dovecot.name.as_deref(),
            dovecot.dropped,
            dovecot.dropped_bytes
        ),
        (Some("dovecot"), 0, 0)
    );
}

#[test]
fn full_map_is_an_error_not_a_crash() {
    if !tests::privileged("xdp_counters") {
        return;
    }
    let f = Fixture::with_caps(
        "full",
        Capacities {
            max_bans: 4,
            max_prefixes: 2,
            max_allow: 2,
        },
    );
    let dp = &f.dp;
    let j = dp.jail_id("manual").unwrap();
    for i in 0..4 {
        dp.ban(
            IpNet::host(IpAddr::V4(Ipv4Addr::new(198, 18, 0, i))),
            j,
            None,
        )
        .unwrap();
    }
    let e = dp
        .ban(
            IpNet::host(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 9))),
            j,
            None,
        )
        .unwrap_err();
    assert!(e.to_string().contains("full"), "{e}");
    // Re-banning an existing address still works when full.
    dp.ban(
        IpNet::host(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1))),
        j,
        None,
    )
    .unwrap();
    dp.ban(net("198.18.4.0/24"), j, None).unwrap();
    dp.ban(net("198.18.5.0/24"), j, None).unwrap();
    let e = dp.ban(net("198.18.6.0/24"), j, None).unwrap_err();
    assert!(e.to_string().contains("full"), "{e}");
    assert_eq!(dp.list().unwrap().len(), 6);
    assert_eq!(dp.clear().unwrap(), 6);
    assert!(dp.list().unwrap().is_empty());
}
