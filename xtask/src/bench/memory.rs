//! `cargo xtask bench memory`: resident memory with 0, 100k and 1M active
//! bans spread over 10 jails — enforcer's daemon (RSS, plus what the kernel
//! charges for its BPF maps, reported apart) vs fail2ban-server (RSS; bans
//! through `fail2ban-client set JAIL banip`, capped in time because
//! fail2ban bans about a thousand addresses a second).
use std::{path::Path, time::Duration};

use anyhow::Result;
use serde_json::{Value, json};

use super::{
    enforcer::Daemon,
    f2b::F2bServer,
    netns::{DST_IF, Topology},
    peers::filler_addr,
    sys::{bpf_maps_memlock, check_interrupt, rss_bytes},
};

pub const JAILS: usize = 10;

#[derive(Debug, Clone, clap::Args)]
pub struct MemoryArgs {
    /// Active-ban counts to measure (cumulative, ascending).
    #[arg(long, value_delimiter = ',', default_values_t = [0usize, 100_000, 1_000_000])]
    pub counts: Vec<usize>,
    /// Stop banning into fail2ban after this many seconds in total.
    #[arg(long, default_value_t = 150)]
    pub f2b_cap_secs: u64,
}

impl MemoryArgs {
    pub fn default_args() -> MemoryArgs {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            a: MemoryArgs,
        }
        P::parse_from(["memory"]).a
    }
}

fn settle_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// Addresses `from..to`, each with its jail (round-robin over 10 jails).
fn by_jail(from: usize, to: usize) -> Vec<Vec<String>> {
    let mut v = vec![Vec::new(); JAILS];
    for i in from..to {
        v[i % JAILS].push(filler_addr(i));
    }
    v
}

fn enforcer_rows(bin: &Path, counts: &[usize], rows: &mut Vec<Value>) -> Result<()> {
    let topo = Topology::create()?;
    let daemon = Daemon::start(bin, Some(&topo.dst), Some(DST_IF), &[])?;
    let mut have = 0;
    for &n in counts {
        check_interrupt()?;
        for (j, targets) in by_jail(have, n).iter().enumerate() {
            daemon.ban_all(&format!("jail{j}"), targets)?;
        }
        have = n;
        settle_ms(500);
        let rss = rss_bytes(daemon.pid())?;
        let maps = bpf_maps_memlock(daemon.pid());
        eprintln!(
            "bench memory: enforcer {n:>8} bans: RSS {} KiB, BPF maps {} KiB",
            rss / 1024,
            maps / 1024
        );
        rows.push(
            json!({ "peer": "enforcer", "bans": n, "rss_bytes": rss, "bpf_map_bytes": maps }),
        );
    }
    Ok(())
}

pub fn run(args: &MemoryArgs, enforcer: Option<&Path>) -> Result<Value> {
    let mut counts = args.counts.clone();
    counts.sort_unstable();
    let mut rows = Vec::new();
    let mut notes = Vec::new();

    let res =
        super::enforcer::binary(enforcer).and_then(|bin| enforcer_rows(&bin, &counts, &mut rows));
    if let Err(e) = res {
        check_interrupt()?;
        notes.push(format!("enforcer unavailable: {e:#}"));
    }

    let f2b = F2bServer::start(None)?;
    for j in 0..JAILS {
        f2b.add_jail(&format!("jail{j}"), "polling")?;
        f2b.start_jail(&format!("jail{j}"))?;
    }
    let mut have = 0;
    let mut budget = Duration::from_secs(args.f2b_cap_secs);
    'counts: for &n in &counts {
        let mut reached = have;
        for (j, targets) in by_jail(have, n).iter().enumerate() {
            let (done, took) = f2b.ban_capped(&format!("jail{j}"), targets, budget)?;
            budget = budget.saturating_sub(took);
            reached += done;
            if done < targets.len() {
                settle_ms(500);
                let rss = rss_bytes(f2b.pid())?;
                notes.push(format!(
                    "fail2ban-server: stopped banning at {reached} of {n} bans after the {} s cap",
                    args.f2b_cap_secs
                ));
                rows.push(json!({ "peer": "fail2ban", "bans": reached, "rss_bytes": rss, "capped_from": n }));
                break 'counts;
            }
        }
        have = n;
        settle_ms(500);
        let rss = rss_bytes(f2b.pid())?;
        eprintln!("bench memory: fail2ban {n:>8} bans: RSS {} KiB", rss / 1024);
        rows.push(json!({ "peer": "fail2ban", "bans": n, "rss_bytes": rss }));
    }
    drop(f2b);
    Ok(json!({
        "jails": JAILS,
        "how": "enforcer: daemon with XDP on a veth in a netns, bans over the control socket; fail2ban-server 1.0 with 10 jails (polling, no actions, in-memory db), bans via fail2ban-client banip in batches of 2000",
        "rows": rows,
        "notes": notes,
    }))
}
