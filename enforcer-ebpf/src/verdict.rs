//! Ban lookup and the scope check: does this source's ban apply to this
//! packet, and on behalf of which jail?
//!
//! A verdict is a scalar ([`NO_HIT`] or `HIT | jail | OBSERVE?`) so that it
//! crosses function boundaries in a register.
use aya_ebpf::{helpers::bpf_ktime_get_boot_ns, maps::lpm_trie::Key, programs::XdpContext};
use common::{
    BAN_F_OBSERVE, BanValue, MAX_RULES, PORT_FRAGMENT, PROTO_ALL, PROTO_ICMP, PROTO_OTHER,
    PROTO_SCTP, PROTO_TCP, PROTO_UDP, V4Key, V6Key,
};

use crate::parse;
use crate::{ALLOW_V4, ALLOW_V6, BANS_V4, BANS_V6, PREFIX_V4, PREFIX_V6, RULES};

pub const NO_HIT: u64 = 0;
/// Set in every hit; the low 6 bits are the jail id.
pub const HIT: u64 = 1 << 8;
/// The hit is a dry-run ban.
pub const OBSERVE: u64 = 1 << 9;

/// Parses the packet and looks its source up.
#[inline(always)]
pub fn classify(ctx: &XdpContext) -> u64 {
    let Some((ethertype, l3)) = parse::ethernet(ctx) else {
        return NO_HIT;
    };
    match ethertype {
        parse::ETH_P_IP => v4(ctx, l3),
        parse::ETH_P_IPV6 => v6(ctx, l3),
        _ => NO_HIT,
    }
}

#[inline(always)]
fn v4(ctx: &XdpContext, l3: usize) -> u64 {
    let Some((addr, proto, ihl, later_fragment)) = parse::ipv4(ctx, l3) else {
        return NO_HIT;
    };
    let key = V4Key { addr };
    if ALLOW_V4.get(Key::new(32, key)).is_some() {
        return NO_HIT;
    }
    // SAFETY: values are plain integers; user space replaces them whole,
    // and a torn read only misjudges one packet.
    let exact = fields(unsafe { BANS_V4.get(key) });
    let prefix = fields(PREFIX_V4.get(Key::new(32, key)));
    if exact.0 | prefix.0 == 0 {
        return NO_HIT;
    }
    let port = if later_fragment {
        PORT_FRAGMENT
    } else {
        match parse::dest_port(ctx, proto, l3 + ihl) {
            Some(p) => p,
            None => return NO_HIT,
        }
    };
    decide(exact, prefix, proto, port)
}

#[inline(always)]
fn v6(ctx: &XdpContext, l3: usize) -> u64 {
    let Some((addr, next)) = parse::ipv6(ctx, l3) else {
        return NO_HIT;
    };
    let key = V6Key { addr };
    if ALLOW_V6.get(Key::new(128, key)).is_some() {
        return NO_HIT;
    }
    // SAFETY: as in v4.
    let exact = fields(unsafe { BANS_V6.get(key) });
    let prefix = fields(PREFIX_V6.get(Key::new(128, key)));
    if exact.0 | prefix.0 == 0 {
        return NO_HIT;
    }
    let Some((proto, port)) = parse::ipv6_transport(ctx, next, l3 + 40) else {
        return NO_HIT;
    };
    decide(exact, prefix, proto, port)
}

/// A ban entry as scalars (jails, expiry, flags); jails 0 = no entry
/// (user space deletes entries whose last jail is lifted). Scalars rather
/// than two nullable pointers: LLVM would OR the pointers to test both,
/// which the verifier forbids.
#[inline(always)]
fn fields(v: Option<&BanValue>) -> (u64, u64, u32) {
    match v {
        Some(v) => (v.jails, v.expires_ns, v.flags),
        None => (0, 0, 0),
    }
}

/// The exact entry first, then the prefix entry: not expired, and banned
/// by a jail whose scope covers the packet.
#[inline(always)]
fn decide(exact: (u64, u64, u32), prefix: (u64, u64, u32), proto: u8, port: u32) -> u64 {
    let proto_bit = match proto {
        6 => PROTO_TCP,
        17 => PROTO_UDP,
        132 => PROTO_SCTP,
        1 | 58 => PROTO_ICMP,
        parse::PROTO_UNKNOWN => PROTO_ALL,
        _ => PROTO_OTHER,
    };
    let covered = covered(proto_bit, port);
    let now = if exact.1 | prefix.1 != 0 {
        // SAFETY: a helper without arguments or preconditions.
        unsafe { bpf_ktime_get_boot_ns() }
    } else {
        0
    };
    let hit = applies(exact, covered, now);
    if hit != NO_HIT {
        return hit;
    }
    applies(prefix, covered, now)
}

#[inline(always)]
fn applies(v: (u64, u64, u32), covered: u64, now: u64) -> u64 {
    let (jails, expires_ns, flags) = v;
    let m = jails & covered;
    if m == 0 || (expires_ns != 0 && now >= expires_ns) {
        return NO_HIT;
    }
    let observe = if flags & BAN_F_OBSERVE != 0 {
        OBSERVE
    } else {
        0
    };
    HIT | observe | lowest_bit(m)
}

/// Index of the lowest set bit of `m != 0`, without branches (the verifier
/// would otherwise explore one path per bit): popcount of the bits below.
#[inline(always)]
fn lowest_bit(m: u64) -> u64 {
    let mut x = (m & m.wrapping_neg()).wrapping_sub(1);
    x -= (x >> 1) & 0x5555_5555_5555_5555;
    x = (x & 0x3333_3333_3333_3333) + ((x >> 2) & 0x3333_3333_3333_3333);
    x = (x + (x >> 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    (x.wrapping_mul(0x0101_0101_0101_0101) >> 56) & 63
}

/// Jails whose scope covers a packet of `proto_bit` to `port`: one pass
/// over the compiled rule table.
///
/// Exported (global linkage in BTF) so the verifier checks it once on its
/// own, with unknown arguments, instead of once per caller state: that cut
/// the processed instructions from ~324k to ~33k.
#[inline(never)]
#[unsafe(no_mangle)]
pub extern "C" fn covered(proto_bit: u32, port: u32) -> u64 {
    let Some(t) = RULES.get(0) else {
        return 0;
    };
    let n = t.n;
    let mut jails = 0u64;
    for i in 0..MAX_RULES {
        if i as u32 >= n {
            break;
        }
        let r = &t.rules[i];
        if r.protocols & proto_bit != 0
            && (port == PORT_FRAGMENT || (r.first <= port && port <= r.last))
        {
            jails |= r.jails;
        }
    }
    jails
}
