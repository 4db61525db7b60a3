//! Ban lookup and the scope check: does this source's ban apply to this
//! packet, and on behalf of which jail?
//!
//! A verdict is a scalar ([`NO_HIT`] or `HIT | jail | OBSERVE?`) so that it
//! crosses function boundaries in a register.
use aya_ebpf::{helpers::bpf_ktime_get_boot_ns, maps::lpm_trie::Key, programs::XdpContext};
use common::{
    BAN_F_OBSERVE, BanValue, MAX_JAILS, MAX_PORT_RANGES, PROTO_ICMP, PROTO_OTHER, PROTO_SCTP,
    PROTO_TCP, PROTO_UDP, V4Key, V6Key,
};

use crate::parse::{self, PORT_FRAGMENT, PORT_NONE};
use crate::{ALLOW_V4, ALLOW_V6, BANS_V4, BANS_V6, PREFIX_V4, PREFIX_V6, SCOPES};

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

/// The exact entry first, then the prefix entry.
#[inline(always)]
fn decide(exact: (u64, u64, u32), prefix: (u64, u64, u32), proto: u8, port: u32) -> u64 {
    if exact.0 != 0 {
        let hit = applies(exact.0, exact.1, exact.2, proto as u32, port);
        if hit != NO_HIT {
            return hit;
        }
    }
    if prefix.0 != 0 {
        return applies(prefix.0, prefix.1, prefix.2, proto as u32, port);
    }
    NO_HIT
}

/// Whether a ban (its fields as scalars) applies to a packet of `proto`
/// to `port`: not expired, and in the scope of one of its jails.
#[inline(never)]
fn applies(jails: u64, expires_ns: u64, flags: u32, proto: u32, port: u32) -> u64 {
    // SAFETY: a helper without arguments or preconditions.
    if expires_ns != 0 && unsafe { bpf_ktime_get_boot_ns() } >= expires_ns {
        return NO_HIT;
    }
    let proto_bit = match proto {
        6 => PROTO_TCP,
        17 => PROTO_UDP,
        132 => PROTO_SCTP,
        1 | 58 => PROTO_ICMP,
        _ => PROTO_OTHER,
    };
    let observe = if flags & BAN_F_OBSERVE != 0 {
        OBSERVE
    } else {
        0
    };
    let mut rest = jails;
    for j in 0..MAX_JAILS as u32 {
        if rest == 0 {
            break;
        }
        if rest & 1 != 0 && in_scope(j, proto_bit, port) {
            return HIT | observe | j as u64;
        }
        rest >>= 1;
    }
    NO_HIT
}

#[inline(always)]
fn in_scope(jail: u32, proto_bit: u32, port: u32) -> bool {
    let Some(scope) = SCOPES.get(jail) else {
        return false;
    };
    if scope.protocols != 0 && scope.protocols & proto_bit == 0 {
        return false;
    }
    let n = scope.nranges;
    if n == 0 || port == PORT_FRAGMENT {
        return true;
    }
    if port == PORT_NONE {
        return false;
    }
    for i in 0..MAX_PORT_RANGES {
        if i as u32 >= n {
            return false;
        }
        let r = &scope.ranges[i];
        if r.first as u32 <= port && port <= r.last as u32 {
            return true;
        }
    }
    false
}
