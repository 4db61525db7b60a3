//! Types and map names shared by the XDP program (`enforcer-ebpf`) and the
//! daemon (`enforcer`). Everything here is `#[repr(C)]` and `no_std` so both
//! sides agree on layout byte for byte; `aya::Pod` comes with the `user`
//! feature.
//!
//! Maps (all pinned by name under the daemon's bpffs directory):
//!
//! | name | type | key | value |
//! |---|---|---|---|
//! | [`MAP_BANS_V4`] | hash | [`V4Key`] | [`BanValue`] |
//! | [`MAP_BANS_V6`] | hash | [`V6Key`] | [`BanValue`] |
//! | [`MAP_PREFIX_V4`] | LPM trie | `Key<V4Key>` | [`BanValue`] |
//! | [`MAP_PREFIX_V6`] | LPM trie | `Key<V6Key>` | [`BanValue`] |
//! | [`MAP_ALLOW_V4`] | LPM trie | `Key<V4Key>` | [`AllowValue`] |
//! | [`MAP_ALLOW_V6`] | LPM trie | `Key<V6Key>` | [`AllowValue`] |
//! | [`MAP_SCOPES`] | array, [`MAX_JAILS`] | jail id | [`JailScope`] (user space only) |
//! | [`MAP_RULES`] | array, 1 | 0 | [`ScopeRules`] (compiled from the scopes) |
//! | [`MAP_JAIL_NAMES`] | array, [`MAX_JAILS`] | jail id | [`JailName`] (user space only) |
//! | [`MAP_CONFIG`] | array, 1 | 0 | [`Config`] |
//! | [`MAP_COUNTERS`] | per-CPU array, 1 | 0 | [`Counters`] |
//!
//! LPM keys are aya's `lpm_trie::Key<K>` on both sides: a packed
//! `{ prefix_len: u32, data: K }`, the kernel's `struct bpf_lpm_trie_key`.
//! Addresses are stored in network byte order.
#![no_std]

/// Exact IPv4 bans (hash map; capacity from `--max-bans`).
pub const MAP_BANS_V4: &str = "ENF_BANS4";
/// Exact IPv6 bans (hash map; capacity from `--max-bans`).
pub const MAP_BANS_V6: &str = "ENF_BANS6";
/// IPv4 prefix bans (LPM trie; capacity from `--max-prefixes`).
pub const MAP_PREFIX_V4: &str = "ENF_PFX4";
/// IPv6 prefix bans (LPM trie; capacity from `--max-prefixes`).
pub const MAP_PREFIX_V6: &str = "ENF_PFX6";
/// IPv4 allow list (LPM trie): a hit passes whatever is banned.
pub const MAP_ALLOW_V4: &str = "ENF_ALLOW4";
/// IPv6 allow list (LPM trie).
pub const MAP_ALLOW_V6: &str = "ENF_ALLOW6";
/// Per-jail protocol/port scope, indexed by jail id: what user space was
/// asked for. The program reads the compiled form, [`MAP_RULES`].
pub const MAP_SCOPES: &str = "ENF_SCOPES";
/// The scopes of all jails compiled into one rule table.
pub const MAP_RULES: &str = "ENF_RULES";
/// Jail id → name; only user space reads it, pinned so ids survive restarts.
pub const MAP_JAIL_NAMES: &str = "ENF_JAILS";
/// Global switches ([`Config`]) at index 0.
pub const MAP_CONFIG: &str = "ENF_CONFIG";
/// Per-CPU [`Counters`] at index 0.
pub const MAP_COUNTERS: &str = "ENF_COUNTERS";

/// Every map the program owns, for pinning and cleanup.
pub const ALL_MAPS: [&str; 11] = [
    MAP_BANS_V4,
    MAP_BANS_V6,
    MAP_PREFIX_V4,
    MAP_PREFIX_V6,
    MAP_ALLOW_V4,
    MAP_ALLOW_V6,
    MAP_SCOPES,
    MAP_RULES,
    MAP_JAIL_NAMES,
    MAP_CONFIG,
    MAP_COUNTERS,
];

/// Name of the XDP program in the object.
pub const PROGRAM_NAME: &str = "enforcer";

/// Jail ids are 0..MAX_JAILS: one bit each in [`BanValue::jails`].
pub const MAX_JAILS: usize = 64;
/// Port ranges per jail scope.
pub const MAX_PORT_RANGES: usize = 8;
/// Longest jail name stored in [`JailName`].
pub const MAX_JAIL_NAME: usize = 63;

/// Default capacity of each exact-address ban map.
pub const DEFAULT_MAX_BANS: u32 = 1_000_000;
/// Default capacity of each prefix ban trie.
pub const DEFAULT_MAX_PREFIXES: u32 = 100_000;
/// Default capacity of each allow trie.
pub const DEFAULT_MAX_ALLOW: u32 = 16_384;

/// Key of [`MAP_BANS_V4`], and the data of IPv4 LPM keys.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct V4Key {
    /// Network byte order (`Ipv4Addr::octets`).
    pub addr: [u8; 4],
}

/// Key of [`MAP_BANS_V6`], and the data of IPv6 LPM keys.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct V6Key {
    /// Network byte order (`Ipv6Addr::octets`).
    pub addr: [u8; 16],
}

/// What a ban entry holds, exact or prefix.
///
/// Several jails may ban the same address: `jails` has one bit per jail id,
/// and `expires_ns` is the latest of their expiries (0 if any is permanent).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BanValue {
    /// Bit `j` set: jail `j` bans this address.
    pub jails: u64,
    /// CLOCK_BOOTTIME nanoseconds after which the ban no longer applies;
    /// 0 = permanent. The kernel passes an expired entry, so a daemon that
    /// died never leaves a ban in force forever.
    pub expires_ns: u64,
    /// `BAN_F_*` bits.
    pub flags: u32,
    pub _pad: u32,
}

/// [`BanValue::flags`]: count hits of this entry as would-drop and pass
/// them, like global observe mode but for one ban (a dry-run ban).
pub const BAN_F_OBSERVE: u32 = 1;

/// Value of the allow tries; its presence is what matters.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AllowValue {
    /// Reserved for flags; user space writes 0.
    pub flags: u32,
}

/// `JailScope::protocols` bits. A zero mask means every protocol.
pub const PROTO_TCP: u32 = 1;
pub const PROTO_UDP: u32 = 1 << 1;
/// ICMP and ICMPv6.
pub const PROTO_ICMP: u32 = 1 << 2;
/// SCTP (ports are checked like TCP/UDP).
pub const PROTO_SCTP: u32 = 1 << 3;
/// Any other IP protocol.
pub const PROTO_OTHER: u32 = 1 << 4;
pub const PROTO_ALL: u32 = PROTO_TCP | PROTO_UDP | PROTO_ICMP | PROTO_SCTP | PROTO_OTHER;

/// An inclusive destination port range.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

/// Which packets from a banned source a jail drops.
///
/// A packet is in scope when its protocol is in `protocols` (0 = all) and,
/// if `nranges > 0`, it carries a destination port (TCP, UDP, SCTP) inside
/// one of the first `nranges` ranges. A non-first fragment carries no port
/// and counts as in scope when its protocol is. The all-zero default (an
/// unconfigured jail) therefore drops everything from its banned sources.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct JailScope {
    pub protocols: u32,
    pub nranges: u32,
    pub ranges: [PortRange; MAX_PORT_RANGES],
}

/// The port the program assigns a packet without one (ICMP, other
/// protocols): above every real port, so only all-ports rules cover it.
pub const PORT_NONE: u32 = 1 << 16;
/// The port of a non-first fragment (no transport header): every rule
/// whose protocol matches covers it.
pub const PORT_FRAGMENT: u32 = 1 << 17;

/// Rules in [`ScopeRules`]: distinct (protocols, range) pairs over all jails.
pub const MAX_RULES: usize = 128;

/// One compiled scope rule: a packet whose protocol bit is in `protocols`
/// and whose port (or `PORT_*`) is in `first..=last` is in the scope of
/// every jail in `jails`. All-ports scopes use `last = PORT_NONE`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ScopeRule {
    pub protocols: u32,
    pub first: u32,
    pub last: u32,
    pub _pad: u32,
    pub jails: u64,
}

/// Every jail's scope as rules; the program ORs the `jails` of matching
/// rules and ANDs that with a ban's jail mask — one pass, no per-jail loop.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScopeRules {
    pub n: u32,
    pub _pad: u32,
    pub rules: [ScopeRule; MAX_RULES],
}

impl Default for ScopeRules {
    fn default() -> Self {
        ScopeRules {
            n: 0,
            _pad: 0,
            rules: [ScopeRule::default(); MAX_RULES],
        }
    }
}

/// A jail's name, zero-padded UTF-8; `len == 0` marks a free slot.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JailName {
    pub len: u8,
    pub name: [u8; MAX_JAIL_NAME],
}

impl Default for JailName {
    fn default() -> Self {
        JailName {
            len: 0,
            name: [0; MAX_JAIL_NAME],
        }
    }
}

/// [`Config::flags`]: observe mode — count would-drops, pass everything.
pub const CONFIG_F_OBSERVE: u32 = 1;

/// Global switches, index 0 of [`MAP_CONFIG`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Config {
    pub flags: u32,
    pub _pad: u32,
}

/// Per-CPU counters, index 0 of [`MAP_COUNTERS`]. User space sums CPUs.
///
/// Every packet the program sees is counted once in `seen_*` and once in
/// either `passed_*` or `dropped_*`; would-drops (observe mode) are passed
/// and also counted in `observed_*`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counters {
    pub seen_packets: u64,
    pub seen_bytes: u64,
    pub passed_packets: u64,
    pub passed_bytes: u64,
    pub dropped_packets: u64,
    pub dropped_bytes: u64,
    pub observed_packets: u64,
    pub observed_bytes: u64,
    /// Packets dropped on behalf of each jail id.
    pub jail_drops: [u64; MAX_JAILS],
    /// Would-drops (observe) on behalf of each jail id.
    pub jail_observed: [u64; MAX_JAILS],
    /// Bytes of the packets in `jail_drops`, per jail id.
    pub jail_drop_bytes: [u64; MAX_JAILS],
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            seen_packets: 0,
            seen_bytes: 0,
            passed_packets: 0,
            passed_bytes: 0,
            dropped_packets: 0,
            dropped_bytes: 0,
            observed_packets: 0,
            observed_bytes: 0,
            jail_drops: [0; MAX_JAILS],
            jail_observed: [0; MAX_JAILS],
            jail_drop_bytes: [0; MAX_JAILS],
        }
    }
}

#[cfg(feature = "user")]
mod pod {
    use super::*;
    // SAFETY: all are #[repr(C)], Copy, made only of integers, with explicit
    // padding fields, so every byte pattern is a valid value.
    unsafe impl aya::Pod for V4Key {}
    unsafe impl aya::Pod for V6Key {}
    unsafe impl aya::Pod for BanValue {}
    unsafe impl aya::Pod for AllowValue {}
    unsafe impl aya::Pod for PortRange {}
    unsafe impl aya::Pod for JailScope {}
    unsafe impl aya::Pod for ScopeRule {}
    unsafe impl aya::Pod for ScopeRules {}
    unsafe impl aya::Pod for JailName {}
    unsafe impl aya::Pod for Config {}
    unsafe impl aya::Pod for Counters {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{align_of, size_of};

    #[test]
    fn layouts_match_the_kernel_side() {
        assert_eq!(size_of::<V4Key>(), 4);
        assert_eq!(size_of::<V6Key>(), 16);
        assert_eq!(size_of::<BanValue>(), 24);
        assert_eq!(align_of::<BanValue>(), 8);
        assert_eq!(size_of::<PortRange>(), 4);
        assert_eq!(size_of::<JailScope>(), 8 + 4 * MAX_PORT_RANGES);
        assert_eq!(size_of::<JailName>(), 64);
        assert_eq!(size_of::<ScopeRule>(), 24);
        assert_eq!(size_of::<ScopeRules>(), 8 + 24 * MAX_RULES);
        assert_eq!(size_of::<Config>(), 8);
        assert_eq!(size_of::<Counters>(), 8 * 8 + 3 * 8 * MAX_JAILS);
    }

    #[test]
    fn map_names_fit_the_kernel_limit() {
        // BPF_OBJ_NAME_LEN is 16 including the NUL.
        for name in ALL_MAPS {
            assert!(name.len() <= 15, "{name}");
        }
    }
}
