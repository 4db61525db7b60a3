//! Verdicts of the real XDP program on crafted packets, through
//! `BPF_PROG_TEST_RUN` (no interface, no traffic): the kernel runs the
//! program on a buffer and returns its action. Bans, scopes, the allow list
//! and observe mode are written through `enforcer::xdp::Dataplane`, so the
//! user-space encoding is exercised too.
//!
//! The object: the one embedded in the enforcer library when built by
//! `cargo xtask test` (ENFORCER_EBPF_OBJ at build time), else the file
//! named by ENFORCER_EBPF_OBJ at run time, else the `cargo xtask
//! build-ebpf` output in target/.
use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::PathBuf,
    sync::atomic::{AtomicU32, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use enforcer::xdp::{Capacities, Dataplane, IpNet, JailScope, Program, bpffs};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;

const BANNED4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 66);
const FRIEND4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 7);
const DST4: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
const BANNED6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x66);
const FRIEND6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7);
const DST6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);

fn object() -> Vec<u8> {
    if enforcer::xdp::has_embedded_object() {
        return enforcer::xdp::EMBEDDED_OBJECT.to_vec();
    }
    let path = std::env::var_os("ENFORCER_EBPF_OBJ")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            tests::workspace_root().join("target/bpfel-unknown-none/release/enforcer")
        });
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "no XDP object ({}: {e}); run `cargo xtask build-ebpf` or `cargo xtask test`",
            path.display()
        )
    })
}

/// A private bpffs with the program loaded into it; unmounted on drop.
struct Fixture {
    prog: Option<Program>,
    dp: Dataplane,
    dir: PathBuf,
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        Fixture::with_caps(
            name,
            Capacities {
                max_bans: 1024,
                max_prefixes: 256,
                max_allow: 64,
            },
        )
    }

    fn with_caps(name: &str, caps: Capacities) -> Fixture {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "enforcer-xdp-verdicts-{}-{name}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let mut prog = Program::load_object(&object(), &dir, &caps).expect("load the XDP program");
        assert!(bpffs::is_bpffs(&dir));
        if let Some(n) = prog.verified_insns() {
            eprintln!("verifier processed {n} instructions");
        }
        let dp = prog.dataplane().expect("open pinned maps");
        Fixture {
            prog: Some(prog),
            dp,
            dir,
        }
    }

    fn run(&mut self, pkt: &[u8]) -> u32 {
        let prog = self.prog.as_mut().expect("loaded");
        prog.test_run(pkt).expect("BPF_PROG_TEST_RUN")
    }

    fn jail(&self, name: &str) -> u8 {
        self.dp.jail_id(name).unwrap()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.prog = None;
        let _ = enforcer::xdp::unload(&self.dir);
        let _ = bpffs::unmount(&self.dir);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

// ---- packet crafting -------------------------------------------------

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;

/// Ethernet header with the given VLAN TPIDs, then `ethertype`.
fn eth(vlans: &[u16], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    for (i, tpid) in vlans.iter().enumerate() {
        p.extend_from_slice(&tpid.to_be_bytes());
        p.extend_from_slice(&(100 + i as u16).to_be_bytes()); // TCI: VLAN id
    }
    p.extend_from_slice(&ethertype.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn l4(proto: u8, dport: u16) -> Vec<u8> {
    match proto {
        TCP => {
            let mut h = vec![0u8; 20];
            h[0..2].copy_from_slice(&40000u16.to_be_bytes());
            h[2..4].copy_from_slice(&dport.to_be_bytes());
            h[12] = 5 << 4;
            h
        }
        UDP => {
            let mut h = vec![0u8; 8];
            h[0..2].copy_from_slice(&40000u16.to_be_bytes());
            h[2..4].copy_from_slice(&dport.to_be_bytes());
            h[4..6].copy_from_slice(&8u16.to_be_bytes());
            h
        }
        _ => vec![8, 0, 0, 0, 0, 1, 0, 1], // ICMP echo request
    }
}

/// IPv4 header (with `options` bytes of IP options) + payload.
fn ipv4(src: Ipv4Addr, proto: u8, frag_offset: u16, options: usize, payload: &[u8]) -> Vec<u8> {
    assert_eq!(options % 4, 0);
    let ihl = 5 + options / 4;
    let mut h = vec![0u8; ihl * 4];
    h[0] = 0x40 | ihl as u8;
    let total = (h.len() + payload.len()) as u16;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[6..8].copy_from_slice(&(frag_offset & 0x1fff).to_be_bytes());
    h[8] = 64;
    h[9] = proto;
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&DST4.octets());
    for b in &mut h[20..] {
        *b = 1; // NOP options
    }
    h.extend_from_slice(payload);
    h
}

fn v4_packet(src: Ipv4Addr, proto: u8, dport: u16) -> Vec<u8> {
    eth(&[], 0x0800, &ipv4(src, proto, 0, 0, &l4(proto, dport)))
}

/// IPv6 header with a chain of extension headers `(type, body)`, then the
/// transport `proto` and payload.
fn ipv6(src: Ipv6Addr, exts: &[(u8, Vec<u8>)], proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut chain = Vec::new();
    for (i, (_, body)) in exts.iter().enumerate() {
        let next = exts.get(i + 1).map_or(proto, |e| e.0);
        let mut e = vec![next];
        e.extend_from_slice(body);
        chain.extend_from_slice(&e);
    }
    let first = exts.first().map_or(proto, |e| e.0);
    let mut h = vec![0u8; 40];
    h[0] = 0x60;
    let plen = (chain.len() + payload.len()) as u16;
    h[4..6].copy_from_slice(&plen.to_be_bytes());
    h[6] = first;
    h[7] = 64;
    h[8..24].copy_from_slice(&src.octets());
    h[24..40].copy_from_slice(&DST6.octets());
    h.extend_from_slice(&chain);
    h.extend_from_slice(payload);
    h
}

fn v6_packet(src: Ipv6Addr, proto: u8, dport: u16) -> Vec<u8> {
    eth(&[], 0x86dd, &ipv6(src, &[], proto, &l4(proto, dport)))
}

/// Body (after the next-header byte) of an 8-byte options header
/// (hop-by-hop or destination options): hdr ext len 0, PadN.
fn opts_body() -> Vec<u8> {
    vec![0, 1, 4, 0, 0, 0, 0]
}

/// Body of a routing header, type 0 segments-left 0, 24 bytes long.
fn routing_body() -> Vec<u8> {
    let mut b = vec![2, 0, 0];
    b.resize(23, 0);
    b
}

/// Body of a fragment header: offset in 8-byte units, more-fragments flag.
fn fragment_body(offset: u16, more: bool) -> Vec<u8> {
    let field = (offset << 3) | more as u16;
    let mut b = vec![0];
    b.extend_from_slice(&field.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 1]);
    b
}

// ---- scenarios -------------------------------------------------------

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
    // Deeper than the parser walks (7 headers): pass.
    let deep: Vec<(u8, Vec<u8>)> = (0..7).map(|_| (60, opts_body())).collect();
    let p = eth(&[], 0x86dd, &ipv6(BANNED6, &deep, TCP, &l4(TCP, 22)));
    assert_eq!(f.run(&p), XDP_PASS);
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

#[test]
fn observe_mode_passes_and_counts() {
    if !tests::privileged("xdp_verdicts") {
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
    if !tests::privileged("xdp_verdicts") {
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
        s.jails
            .iter()
            .find(|x| x.name.as_deref() == Some(n))
            .unwrap()
            .dropped
    };
    assert_eq!(by_name("sshd"), 5);
    assert_eq!(by_name("postfix"), 2);
    let v4len = v4_packet(BANNED4, TCP, 22).len() as u64;
    let v6len = v6_packet(BANNED6, UDP, 25).len() as u64;
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
        (dovecot.name.as_deref(), dovecot.dropped),
        (Some("dovecot"), 0)
    );
}

#[test]
fn full_map_is_an_error_not_a_crash() {
    if !tests::privileged("xdp_verdicts") {
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
