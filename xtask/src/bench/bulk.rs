//! `cargo xtask bench bulk`: how long it takes to put 1M bans in force and
//! to lift them all.
//! - enforcer: 1M bans over the control socket into a fresh daemon (20k
//!   per request), a daemon restart with the 1M bans pinned (time until it
//!   answers with them in force), then `unban --all`;
//! - fail2ban-server with the stock nftables action's commands (an inet
//!   table, a set per jail, `nft add element` per ban), bans through
//!   `fail2ban-client banip`, capped (each ban forks nft), then
//!   `unban --all`.
use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::Result;
use serde_json::{Value, json};

use super::{
    enforcer::Daemon,
    f2b::F2bServer,
    netns::{DST_IF, Topology},
    peers::filler_addr,
    sys::{check_interrupt, run},
};

#[derive(Debug, Clone, clap::Args)]
pub struct BulkArgs {
    /// Bans to load into enforcer.
    #[arg(long, default_value_t = 1_000_000)]
    pub count: usize,
    /// Bans to load into fail2ban (it forks nft per ban).
    #[arg(long, default_value_t = 2_000)]
    pub f2b_count: usize,
    /// Give up on fail2ban's loading after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub f2b_cap_secs: u64,
}

impl BulkArgs {
    pub fn default_args() -> BulkArgs {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            a: BulkArgs,
        }
        P::parse_from(["bulk"]).a
    }
}

fn nft_count(ns: &str) -> usize {
    run(
        "ip",
        &[
            "netns",
            "exec",
            ns,
            "nft",
            "list",
            "set",
            "inet",
            "f2b-table",
            "addr6-set-bulk",
        ],
    )
    .map(|s| s.matches("2001:db8:").count())
    .unwrap_or(0)
}

fn enforcer_rows(
    bin: &Path,
    topo: &Topology,
    targets: &[String],
    rows: &mut Vec<Value>,
    notes: &mut Vec<String>,
) -> Result<()> {
    let mut daemon = Daemon::start(bin, Some(&topo.dst), Some(DST_IF), &[])?;
    let load = daemon.ban_all("bulk", targets)?;
    eprintln!(
        "bench bulk: enforcer banned {} in {:.2} s",
        targets.len(),
        load.as_secs_f64()
    );
    daemon.stop();
    let start = Instant::now();
    let daemon2 = Daemon::start(bin, Some(&topo.dst), Some(DST_IF), &[])?;
    let restart = start.elapsed();
    let unban = daemon2.unban_all()?;
    eprintln!(
        "bench bulk: enforcer restart with them pinned {:.2} s, unban --all {:.2} s",
        restart.as_secs_f64(),
        unban.as_secs_f64()
    );
    rows.push(json!({
        "peer": "enforcer", "bans": targets.len(),
        "load_secs": load.as_secs_f64(), "how": "control socket, 20k targets per request, fresh daemon",
        "restart_secs": restart.as_secs_f64(),
        "unban_all_secs": unban.as_secs_f64(),
    }));
    notes.push("enforcer's restore from the SQLite store at start is not wired into the daemon on main yet: the restart figure is a daemon restart that re-adopts the pinned bans; loading is through the control socket".to_string());
    // Both guards share one run directory: the second one cleans up.
    std::mem::forget(daemon);
    drop(daemon2);
    Ok(())
}

pub fn run_bulk(args: &BulkArgs, enforcer: Option<&Path>) -> Result<Value> {
    let topo = Topology::create()?;
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let targets: Vec<String> = (0..args.count).map(filler_addr).collect();

    let res = super::enforcer::binary(enforcer)
        .and_then(|bin| enforcer_rows(&bin, &topo, &targets, &mut rows, &mut notes));
    if let Err(e) = res {
        check_interrupt()?;
        notes.push(format!("enforcer unavailable: {e:#}"));
    }

    let f2b = F2bServer::start(Some(&topo.dst))?;
    f2b.add_jail("bulk", "polling")?;
    f2b.client(&["set", "bulk", "addaction", "nftables"])?;
    let set = "addr6-set-bulk";
    let props = [
        (
            "actionstart",
            format!(
                "nft add table inet f2b-table; nft -- add chain inet f2b-table f2b-chain {{ type filter hook input priority -1 \\; }}; nft add set inet f2b-table {set} {{ type ipv6_addr\\; }}; nft add rule inet f2b-table f2b-chain meta l4proto {{ tcp, udp }} ip6 saddr @{set} drop"
            ),
        ),
        ("actionstop", "nft delete table inet f2b-table".to_string()),
        (
            "actionban",
            format!("nft add element inet f2b-table {set} {{ <ip> }}"),
        ),
        (
            "actionunban",
            format!("nft delete element inet f2b-table {set} {{ <ip> }}"),
        ),
    ];
    for (k, v) in &props {
        f2b.client(&["set", "bulk", "action", "nftables", k, v])?;
    }
    f2b.start_jail("bulk")?;
    let f2b_targets = &targets[..args.f2b_count.min(targets.len())];
    let (done, took) =
        f2b.ban_capped("bulk", f2b_targets, Duration::from_secs(args.f2b_cap_secs))?;
    // Bans are queued to fail2ban's action thread: wait until nft has them.
    let deadline = Instant::now() + Duration::from_secs(args.f2b_cap_secs);
    let start_wait = Instant::now();
    let mut in_set = nft_count(&topo.dst);
    while in_set < done && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        in_set = nft_count(&topo.dst);
    }
    let load = took + start_wait.elapsed();
    eprintln!(
        "bench bulk: fail2ban banned {done} ({in_set} in the nft set) in {:.2} s",
        load.as_secs_f64()
    );
    let start = Instant::now();
    f2b.client(&["unban", "--all"])?;
    let mut left = nft_count(&topo.dst);
    while left > 0 && start.elapsed() < Duration::from_secs(args.f2b_cap_secs) {
        std::thread::sleep(Duration::from_millis(500));
        left = nft_count(&topo.dst);
    }
    let unban = start.elapsed();
    eprintln!(
        "bench bulk: fail2ban unban --all {:.2} s ({left} left)",
        unban.as_secs_f64()
    );
    if done < args.f2b_count {
        notes.push(format!(
            "fail2ban: stopped at {done} of {} bans after the {} s cap",
            args.f2b_count, args.f2b_cap_secs
        ));
    }
    notes.push(format!(
        "fail2ban loads {} bans here, not 1M: it forks `nft add element` once per ban; compare bans/s",
        args.f2b_count
    ));
    rows.push(json!({
        "peer": "fail2ban-nftables", "bans": done, "in_nft_set": in_set,
        "load_secs": load.as_secs_f64(), "how": "fail2ban-client banip (2000 per call), nftables action commands",
        "unban_all_secs": unban.as_secs_f64(), "left_after_unban": left,
    }));
    drop(f2b);
    Ok(json!({ "rows": rows, "notes": notes }))
}
