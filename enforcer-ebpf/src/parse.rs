//! Packet parsing, with every read bounds-checked against `data_end`.
//!
//! [`ethernet`] skips up to two VLAN tags; [`ipv4`]/[`ipv6`] read the fixed
//! header; [`ipv6_transport`] (only called for a banned source) walks the
//! extension headers; [`dest_port`] reads the transport's destination port.
//! `None` anywhere means "cannot parse" (cut short): the caller passes the
//! packet (the kernel drops what is cut inside its headers). A chain of
//! extension headers deeper than we walk is not cut short: it is
//! [`PROTO_UNKNOWN`], which every jail's scope covers, so that a banned
//! source cannot slip past its ban behind a few padding headers.
//!
//! Written for the verifier: no enums carrying data, scalars out, and the
//! packet offset is dead as soon as the port is read so that verifier
//! states from different header chains converge.
use aya_ebpf::programs::XdpContext;

pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;

const IPPROTO_HOPOPTS: u8 = 0;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ROUTING: u8 = 43;
const IPPROTO_FRAGMENT: u8 = 44;
const IPPROTO_AH: u8 = 51;
const IPPROTO_DSTOPTS: u8 = 60;
const IPPROTO_SCTP: u8 = 132;

/// IPv6 extension headers walked before calling the transport unknown.
const MAX_EXT_HEADERS: usize = 6;

/// The transport of a packet whose extension headers go deeper than
/// [`MAX_EXT_HEADERS`] (255, reserved by IANA): in every jail's scope.
pub const PROTO_UNKNOWN: u8 = 255;

pub use common::{PORT_FRAGMENT, PORT_NONE};

#[inline(always)]
fn bytes<const N: usize>(ctx: &XdpContext, off: usize) -> Option<&[u8; N]> {
    let start = ctx.data();
    let end = ctx.data_end();
    if start + off + N > end {
        return None;
    }
    // SAFETY: bounds checked just above; [u8; N] has alignment 1.
    Some(unsafe { &*((start + off) as *const [u8; N]) })
}

#[inline(always)]
fn be16(ctx: &XdpContext, off: usize) -> Option<u16> {
    let b = bytes::<2>(ctx, off)?;
    Some(u16::from_be_bytes(*b))
}

#[inline(always)]
fn is_vlan(ethertype: u16) -> bool {
    ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD
}

/// (EtherType, offset of the L3 header) after up to two VLAN tags.
#[inline(always)]
pub fn ethernet(ctx: &XdpContext) -> Option<(u16, usize)> {
    // Destination and source MAC (12 bytes), then the EtherType, which may
    // be a VLAN TPID followed by a 2-byte TCI and the next EtherType.
    let mut ethertype = be16(ctx, 12)?;
    if !is_vlan(ethertype) {
        return Some((ethertype, 14));
    }
    ethertype = be16(ctx, 16)?;
    if !is_vlan(ethertype) {
        return Some((ethertype, 18));
    }
    ethertype = be16(ctx, 20)?;
    if is_vlan(ethertype) {
        return None;
    }
    Some((ethertype, 22))
}

/// The IPv4 header at `l3`: (source, protocol, header length, later
/// fragment).
#[inline(always)]
pub fn ipv4(ctx: &XdpContext, l3: usize) -> Option<([u8; 4], u8, usize, bool)> {
    let h = bytes::<20>(ctx, l3)?;
    if h[0] >> 4 != 4 {
        return None;
    }
    let ihl = ((h[0] & 0x0f) as usize) * 4;
    if ihl < 20 {
        return None;
    }
    let later_fragment = u16::from_be_bytes([h[6], h[7]]) & 0x1fff != 0;
    Some(([h[12], h[13], h[14], h[15]], h[9], ihl, later_fragment))
}

/// The IPv6 fixed header at `l3`: (source, next header).
#[inline(always)]
pub fn ipv6(ctx: &XdpContext, l3: usize) -> Option<([u8; 16], u8)> {
    let h = bytes::<40>(ctx, l3)?;
    if h[0] >> 4 != 6 {
        return None;
    }
    let mut src = [0u8; 16];
    src.copy_from_slice(&h[8..24]);
    Some((src, h[6]))
}

/// Walks IPv6 extension headers (hop-by-hop, routing, destination options,
/// fragment, authentication) from `off`; returns (transport protocol, its
/// destination port or `PORT_*`); ([`PROTO_UNKNOWN`], `PORT_FRAGMENT`)
/// when the chain is deeper than we walk. `None`: cut short.
#[inline(always)]
pub fn ipv6_transport(ctx: &XdpContext, next: u8, off: usize) -> Option<(u8, u32)> {
    let mut next = next;
    let mut off = off;
    for _ in 0..MAX_EXT_HEADERS {
        if !is_extension(next) {
            return Some((next, dest_port(ctx, next, off)?));
        }
        let e = bytes::<4>(ctx, off)?;
        if next == IPPROTO_FRAGMENT {
            // Fragment offset: the top 13 bits of bytes 2..4.
            if u16::from_be_bytes([e[2], e[3]]) >> 3 != 0 {
                return Some((e[0], PORT_FRAGMENT));
            }
            next = e[0];
            off += 8;
        } else if next == IPPROTO_AH {
            // AH counts its length in 4-byte units, less 2 (RFC 4302).
            next = e[0];
            off += (e[1] as usize + 2) * 4;
        } else {
            next = e[0];
            off += (e[1] as usize + 1) * 8;
        }
    }
    if is_extension(next) {
        return Some((PROTO_UNKNOWN, PORT_FRAGMENT));
    }
    Some((next, dest_port(ctx, next, off)?))
}

/// Whether `next` names an extension header [`ipv6_transport`] walks.
#[inline(always)]
fn is_extension(next: u8) -> bool {
    matches!(
        next,
        IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS | IPPROTO_FRAGMENT | IPPROTO_AH
    )
}

/// Destination port of a TCP, UDP or SCTP header at `off` (all three start
/// with source port, destination port); `PORT_NONE` for other protocols.
#[inline(always)]
pub fn dest_port(ctx: &XdpContext, proto: u8, off: usize) -> Option<u32> {
    match proto {
        IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP => {
            let p = bytes::<4>(ctx, off)?;
            Some(u16::from_be_bytes([p[2], p[3]]) as u32)
        }
        _ => Some(PORT_NONE),
    }
}
