//! The real XDP program run on crafted packets through `BPF_PROG_TEST_RUN`
//! (no interface, no traffic): the kernel runs it on a buffer and returns
//! its action. [`Fixture`] loads the program into a private bpffs (bans,
//! scopes, the allow list and observe mode are written through
//! `enforcer::xdp::Dataplane`, so the user-space encoding is exercised
//! too); the packet builders craft Ethernet/VLAN/IPv4/IPv6 frames from the
//! test ranges.
use std::{
    net::{Ipv4Addr, Ipv6Addr},
    path::PathBuf,
    sync::atomic::{AtomicU32, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use enforcer::xdp::{Capacities, Dataplane, IpNet, Program, bpffs};

pub const XDP_DROP: u32 = 1;
pub const XDP_PASS: u32 = 2;

pub const BANNED4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 66);
pub const FRIEND4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 7);
pub const DST4: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
pub const BANNED6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x66);
pub const FRIEND6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7);
pub const DST6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);

/// A private bpffs with the program loaded into it; unmounted on drop.
pub struct Fixture {
    prog: Option<Program>,
    pub dp: Dataplane,
    dir: PathBuf,
}

impl Fixture {
    pub fn new(name: &str) -> Fixture {
        Fixture::with_caps(
            name,
            Capacities {
                max_bans: 1024,
                max_prefixes: 256,
                max_allow: 64,
            },
        )
    }

    pub fn with_caps(name: &str, caps: Capacities) -> Fixture {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "enforcer-testrun-{}-{name}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let mut prog =
            Program::load_object(&crate::xdp_object(), &dir, &caps).expect("load the XDP program");
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

    pub fn run(&mut self, pkt: &[u8]) -> u32 {
        let prog = self.prog.as_mut().expect("loaded");
        prog.test_run(pkt).expect("BPF_PROG_TEST_RUN")
    }

    pub fn jail(&self, name: &str) -> u8 {
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

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

// ---- packet crafting -------------------------------------------------

pub const TCP: u8 = 6;
pub const UDP: u8 = 17;
pub const ICMP: u8 = 1;
pub const ICMPV6: u8 = 58;

/// Ethernet header with the given VLAN TPIDs, then `ethertype`.
pub fn eth(vlans: &[u16], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    for (i, tpid) in vlans.iter().enumerate() {
        p.extend_from_slice(&tpid.to_be_bytes());
        p.extend_from_slice(&(100 + i as u16).to_be_bytes()); // TCI: VLAN id
    }
    p.extend_from_slice(&ethertype.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

pub fn l4(proto: u8, dport: u16) -> Vec<u8> {
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
pub fn ipv4(src: Ipv4Addr, proto: u8, frag_offset: u16, options: usize, payload: &[u8]) -> Vec<u8> {
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

pub fn v4_packet(src: Ipv4Addr, proto: u8, dport: u16) -> Vec<u8> {
    eth(&[], 0x0800, &ipv4(src, proto, 0, 0, &l4(proto, dport)))
}

/// IPv6 header with a chain of extension headers `(type, body)`, then the
/// transport `proto` and payload.
pub fn ipv6(src: Ipv6Addr, exts: &[(u8, Vec<u8>)], proto: u8, payload: &[u8]) -> Vec<u8> {
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

pub fn v6_packet(src: Ipv6Addr, proto: u8, dport: u16) -> Vec<u8> {
    eth(&[], 0x86dd, &ipv6(src, &[], proto, &l4(proto, dport)))
}

/// Body (after the next-header byte) of an 8-byte options header
/// (hop-by-hop or destination options): hdr ext len 0, PadN.
pub fn opts_body() -> Vec<u8> {
    vec![0, 1, 4, 0, 0, 0, 0]
}

/// Body of a routing header, type 0 segments-left 0, 24 bytes long.
pub fn routing_body() -> Vec<u8> {
    let mut b = vec![2, 0, 0];
    b.resize(23, 0);
    b
}

/// Body of an authentication header with a 12-byte ICV: 24 bytes long,
/// its length field in 4-byte units less 2 (RFC 4302).
pub fn ah_body() -> Vec<u8> {
    let mut b = vec![4, 0, 0, 0, 0, 0x10, 0x01, 0, 0, 0, 1];
    b.resize(23, 0xaa);
    b
}

/// Body of a fragment header: offset in 8-byte units, more-fragments flag.
pub fn fragment_body(offset: u16, more: bool) -> Vec<u8> {
    let field = (offset << 3) | more as u16;
    let mut b = vec![0];
    b.extend_from_slice(&field.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 1]);
    b
}

// ---- scenarios -------------------------------------------------------
