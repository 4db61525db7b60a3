//! The XDP program: drops packets from banned sources at the driver.
//! Built by `cargo xtask build-ebpf` for `bpfel-unknown-none`.
//!
//! Per packet: parse Ethernet (up to two VLAN tags) and the IP header
//! ([`parse`]); look the source up in the allow tries (hit → PASS), then the
//! exact-address hash map, then the prefix trie ([`verdict`]). A hit drops
//! only if it has not expired and the packet is inside the scope of one of
//! the banning jails; observe mode counts it as a would-drop and passes.
//! Anything the parser does not understand passes: the program never makes
//! a packet worse off than no program at all.
//!
//! Map layouts and names come from `common`.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

mod parse;
mod verdict;

use aya_ebpf::{
    bindings::{BPF_F_NO_PREALLOC, xdp_action},
    macros::{map, xdp},
    maps::{Array, HashMap, LpmTrie, PerCpuArray},
    programs::XdpContext,
};
use common::{
    AllowValue, BanValue, Config, Counters, DEFAULT_MAX_ALLOW, DEFAULT_MAX_BANS,
    DEFAULT_MAX_PREFIXES, JailName, JailScope, MAX_JAILS, ScopeRules, V4Key, V6Key,
};

// Capacities here are defaults; the loader sets the real ones from
// `--max-bans` / `--max-prefixes` before creating the maps.
#[map(name = "ENF_BANS4")]
static BANS_V4: HashMap<V4Key, BanValue> =
    HashMap::with_max_entries(DEFAULT_MAX_BANS, BPF_F_NO_PREALLOC);
#[map(name = "ENF_BANS6")]
static BANS_V6: HashMap<V6Key, BanValue> =
    HashMap::with_max_entries(DEFAULT_MAX_BANS, BPF_F_NO_PREALLOC);
#[map(name = "ENF_PFX4")]
static PREFIX_V4: LpmTrie<V4Key, BanValue> = LpmTrie::with_max_entries(DEFAULT_MAX_PREFIXES, 0);
#[map(name = "ENF_PFX6")]
static PREFIX_V6: LpmTrie<V6Key, BanValue> = LpmTrie::with_max_entries(DEFAULT_MAX_PREFIXES, 0);
#[map(name = "ENF_ALLOW4")]
static ALLOW_V4: LpmTrie<V4Key, AllowValue> = LpmTrie::with_max_entries(DEFAULT_MAX_ALLOW, 0);
#[map(name = "ENF_ALLOW6")]
static ALLOW_V6: LpmTrie<V6Key, AllowValue> = LpmTrie::with_max_entries(DEFAULT_MAX_ALLOW, 0);
/// Read only by user space (the scopes as asked for, jail id allocation);
/// declared here so they are created and pinned with the others.
#[map(name = "ENF_SCOPES")]
static SCOPES: Array<JailScope> = Array::with_max_entries(MAX_JAILS as u32, 0);
#[map(name = "ENF_JAILS")]
static JAIL_NAMES: Array<JailName> = Array::with_max_entries(MAX_JAILS as u32, 0);
/// The scopes compiled by user space into one table.
#[map(name = "ENF_RULES")]
static RULES: Array<ScopeRules> = Array::with_max_entries(1, 0);
#[map(name = "ENF_CONFIG")]
static CONFIG: Array<Config> = Array::with_max_entries(1, 0);
#[map(name = "ENF_COUNTERS")]
static COUNTERS: PerCpuArray<Counters> = PerCpuArray::with_max_entries(1, 0);

#[xdp]
pub fn enforcer(ctx: XdpContext) -> u32 {
    try_enforcer(&ctx)
}

fn try_enforcer(ctx: &XdpContext) -> u32 {
    let bytes = (ctx.data_end() - ctx.data()) as u64;
    let hit = verdict::classify(ctx);
    let drop = hit != verdict::NO_HIT && hit & verdict::OBSERVE == 0 && !observe_mode();
    if let Some(c) = COUNTERS.get_ptr_mut(0) {
        // SAFETY: a per-CPU array value: only this CPU writes it, and the
        // program is not reentrant on one CPU.
        let c = unsafe { &mut *c };
        c.seen_packets += 1;
        c.seen_bytes += bytes;
        let j = (hit as usize) & (MAX_JAILS - 1);
        if drop {
            c.dropped_packets += 1;
            c.dropped_bytes += bytes;
            c.jail_drops[j] += 1;
            c.jail_drop_bytes[j] += bytes;
        } else {
            c.passed_packets += 1;
            c.passed_bytes += bytes;
            if hit != verdict::NO_HIT {
                c.observed_packets += 1;
                c.observed_bytes += bytes;
                c.jail_observed[j] += 1;
            }
        }
    }
    if drop {
        xdp_action::XDP_DROP
    } else {
        xdp_action::XDP_PASS
    }
}

fn observe_mode() -> bool {
    CONFIG
        .get(0)
        .is_some_and(|c| c.flags & common::CONFIG_F_OBSERVE != 0)
}

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[cfg(target_arch = "bpf")]
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";

#[cfg(not(target_arch = "bpf"))]
fn main() {}
