//! `cargo xtask bench drop`: what a ban table costs legitimate traffic and
//! how fast it sheds a banned flood, at 1, 10k, 100k and 1M bans.
//!
//! For each peer (enforcer's XDP maps, fail2ban's iptables-multiport chain,
//! ipset, an nftables set — plus no filter at all as the reference) and each
//! ban count N (N-1 other addresses plus the flooding one), two bounded
//! floods from the sender namespace to a UDP sink in the protected one:
//! - **friend**: a source that is *not* banned; packets/s reaching UDP in
//!   the protected namespace (`Udp6InDatagrams + Udp6RcvbufErrors`) — the
//!   price of the ban table on legitimate traffic;
//! - **banned**: the banned source; its offered rate (on veth, the drop
//!   cost is paid on the sender's CPU, so this is the drop throughput) and
//!   how many packets still reached UDP (must be 0).
//!
//! With `kernel.bpf_stats_enabled=1`, the XDP program's run time per packet
//! (Δrun_time_ns / Δrun_cnt over each flood) from its fdinfo.
use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::Result;
use serde_json::{Value, json};

use super::{
    enforcer::Daemon,
    netns::{BANNED_ADDR, DST_IF, FRIEND_ADDR, Topology, UdpCounters},
    peers::{self, Netfilter},
    sys::{self, BpfStats, check_interrupt},
    traffic::{Sink, flood},
};

#[derive(Debug, Clone, clap::Args)]
pub struct DropArgs {
    /// Ban counts to measure.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 10_000, 100_000, 1_000_000])]
    pub counts: Vec<usize>,
    /// Seconds per flood.
    #[arg(long, default_value_t = 3.0)]
    pub secs: f64,
    /// Give up loading a netfilter table after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub load_cap_secs: u64,
    /// Peers to run (xdp, iptables-chain, ipset, nftables-set, none).
    #[arg(long, value_delimiter = ',', default_values_t = ["none".to_string(), "xdp".into(), "iptables-chain".into(), "ipset".into(), "nftables-set".into()])]
    pub peers: Vec<String>,
}

impl DropArgs {
    /// The defaults of `bench drop` (for `bench all`).
    pub fn default_args() -> DropArgs {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            a: DropArgs,
        }
        P::parse_from(["drop"]).a
    }
}

/// One flood's outcome.
struct Phase {
    offered_pps: f64,
    reached_pps: f64,
    reached: u64,
    sent: u64,
    xdp_ns_per_packet: Option<f64>,
}

impl Phase {
    fn json(&self) -> Value {
        json!({
            "sent": self.sent,
            "offered_pps": self.offered_pps.round(),
            "reached": self.reached,
            "reached_pps": self.reached_pps.round(),
            "xdp_ns_per_packet": self.xdp_ns_per_packet.map(|v| (v * 10.0).round() / 10.0),
        })
    }
}

/// Sum of the first column of /proc/net/softnet_stat (packets processed).
fn softnet_processed() -> u64 {
    std::fs::read_to_string("/proc/net/softnet_stat")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|h| u64::from_str_radix(h, 16).ok())
        .sum()
}

/// Waits until the kernel has worked off the packets still queued (a slow
/// table keeps softirqs busy after the sender stops), at most 30 s.
fn settle() {
    let start = Instant::now();
    let mut last = softnet_processed();
    while start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(250));
        let now = softnet_processed();
        if now.saturating_sub(last) < 100 {
            return;
        }
        last = now;
    }
}

fn measure(topo: &Topology, src: &str, secs: f64, prog: Option<u32>) -> Result<Phase> {
    check_interrupt()?;
    let _sink = Sink::start(&topo.dst, secs + 40.0)?;
    let before = UdpCounters::read(&topo.dst)?;
    let prog_before = prog.and_then(|id| sys::bpf_prog_run_stats(id).ok());
    let sent = flood(&topo.src, src, secs)?;
    settle();
    let after = UdpCounters::read(&topo.dst)?;
    let prog_after = prog.and_then(|id| sys::bpf_prog_run_stats(id).ok());
    let reached = before.reached_since(&after);
    let xdp_ns_per_packet = match (prog_before, prog_after) {
        (Some((c0, t0)), Some((c1, t1))) if c1 > c0 => Some((t1 - t0) as f64 / (c1 - c0) as f64),
        _ => None,
    };
    Ok(Phase {
        offered_pps: sent.pps(),
        reached_pps: if sent.secs > 0.0 {
            reached as f64 / sent.secs
        } else {
            0.0
        },
        reached,
        sent: sent.packets,
        xdp_ns_per_packet,
    })
}

fn row(peer: &str, n: usize, load: Value, friend: &Phase, banned: &Phase) -> Value {
    eprintln!(
        "bench drop: {peer:>14} {n:>8} bans: friend {:>9.0} pps reached (offered {:>9.0}), banned offered {:>9.0} pps, reached {}{}",
        friend.reached_pps,
        friend.offered_pps,
        banned.offered_pps,
        banned.reached,
        match friend.xdp_ns_per_packet.zip(banned.xdp_ns_per_packet) {
            Some((f, b)) => format!(", xdp {f:.0} ns/pkt pass, {b:.0} ns/pkt drop"),
            None => String::new(),
        }
    );
    json!({ "peer": peer, "bans": n, "load": load, "friend": friend.json(), "banned": banned.json() })
}

fn xdp_rows(
    bin: &Path,
    topo: &Topology,
    args: &DropArgs,
    bans_for: &dyn Fn(usize) -> Vec<String>,
    rows: &mut Vec<Value>,
    notes: &mut Vec<String>,
) -> Result<()> {
    for &n in &args.counts {
        let bans = bans_for(n);
        let daemon = Daemon::start(bin, Some(&topo.dst), Some(DST_IF), &[])?;
        let took = daemon.ban_all("bench", &bans)?;
        let prog = topo.xdp_prog_id();
        if prog.is_none() {
            notes.push(format!(
                "xdp at {n} bans: no XDP program id on the protected veth, run time per packet unavailable"
            ));
        }
        let friend = measure(topo, FRIEND_ADDR, args.secs, prog)?;
        let banned = measure(topo, BANNED_ADDR, args.secs, prog)?;
        let unban = daemon.unban_all()?;
        let load = json!({
            "how": "control socket, 20k targets per request",
            "loaded": n, "secs": took.as_secs_f64(), "finished": true,
            "unban_all_secs": unban.as_secs_f64(),
        });
        rows.push(row("xdp", n, load, &friend, &banned));
    }
    Ok(())
}

/// Runs the drop benchmark; returns its JSON section.
pub fn run(args: &DropArgs, enforcer: Option<&Path>) -> Result<Value> {
    let topo = Topology::create()?;
    let tmp = std::env::temp_dir().join(format!("enforcer-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let _stats = BpfStats::enable()?;
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let wants = |p: &str| args.peers.iter().any(|x| x == p);
    let max_n = args.counts.iter().copied().max().unwrap_or(1);
    let all_bans = peers::ban_list(max_n);
    let bans_for = |n: usize| -> Vec<String> {
        let mut v = all_bans[..n.saturating_sub(1)].to_vec();
        v.push(BANNED_ADDR.to_string());
        v
    };

    if wants("none") {
        let friend = measure(&topo, FRIEND_ADDR, args.secs, None)?;
        let banned = measure(&topo, BANNED_ADDR, args.secs, None)?;
        rows.push(row("none", 0, json!(null), &friend, &banned));
    }

    if wants("xdp") {
        let res = super::enforcer::binary(enforcer)
            .and_then(|bin| xdp_rows(&bin, &topo, args, &bans_for, &mut rows, &mut notes));
        if let Err(e) = res {
            check_interrupt()?;
            notes.push(format!("xdp: enforcer unavailable: {e:#}"));
        }
    }

    for peer in [
        Netfilter::IptablesChain,
        Netfilter::Ipset,
        Netfilter::Nftables,
    ] {
        if !wants(peer.name()) {
            continue;
        }
        for &n in &args.counts {
            check_interrupt()?;
            let bans = bans_for(n);
            let loaded = peers::load(
                peer,
                &topo.dst,
                &bans,
                Duration::from_secs(args.load_cap_secs),
                &tmp,
            )?;
            if !loaded.finished {
                notes.push(format!(
                    "{}: loading {n} bans did not finish within {} s; larger counts skipped",
                    peer.name(),
                    args.load_cap_secs
                ));
                rows.push(json!({ "peer": peer.name(), "bans": n,
                    "load": { "loaded": 0, "secs": loaded.secs, "finished": false } }));
                break;
            }
            let friend = measure(&topo, FRIEND_ADDR, args.secs, None)?;
            let banned = measure(&topo, BANNED_ADDR, args.secs, None)?;
            let removed = peers::remove(
                peer,
                &topo.dst,
                Duration::from_secs(args.load_cap_secs),
                &tmp,
            )?;
            let load = json!({ "how": "one restore/-f call", "loaded": n, "secs": loaded.secs,
                "finished": true, "unban_all_secs": removed });
            rows.push(row(peer.name(), n, load, &friend, &banned));
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(json!({
        "topology": "two netns joined by veth, IPv6 2001:db8::/32; UDP 18-byte payload (80-byte frames), sendmmsg x64 from one thread; XDP native on the protected veth; netfilter peers in INPUT with -j DROP",
        "secs_per_flood": args.secs,
        "rows": rows,
        "notes": notes,
    }))
}
