//! `cargo xtask bench [drop|memory|bulk|latency|regex|all]`: enforcer side by
//! side with what operators run today, on identical input in one run.
//! Results go to `bench/results/DATE.json` and a table per benchmark in
//! `docs/BENCHMARKS.md` (which names the machine). The VM is shared and
//! small, so every table leads with ratios measured in the same run.
//!
//! - [`drop`]: friend throughput and banned-flood drop rate vs ban count
//!   (XDP, iptables chain, ipset, nftables set), XDP ns/packet.
//! - [`memory`]: RSS with 0/100k/1M bans, enforcer vs fail2ban-server.
//! - [`bulk`]: loading and lifting 1M bans, enforcer vs fail2ban.
//! - [`latency`]: failure line → address dropped.
//! - [`netns`], [`traffic`], [`peers`], [`enforcer`], [`sys`]: the plumbing
//!   (namespaces, bounded floods, ban tables, the daemon, processes).
//! - [`report`]: results file and the markdown tables.
pub mod bulk;
pub mod drop;
pub mod enforcer;
pub mod f2b;
pub mod floor;
pub mod latency;
pub mod memory;
pub mod netns;
pub mod peers;
pub mod regex;
pub mod report;
pub mod sys;
pub mod traffic;

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use serde_json::{Map, Value};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub which: Which,
    /// enforcer binary to measure (default: ENFORCER_BIN, else build it
    /// with the XDP object embedded).
    #[arg(long, global = true)]
    pub enforcer: Option<PathBuf>,
    /// Do not write bench/results or docs/BENCHMARKS.md.
    #[arg(long, global = true)]
    pub no_save: bool,
}

#[derive(Debug, Subcommand)]
pub enum Which {
    /// Packets/s past the ban table vs ban count: XDP, iptables, ipset, nftables.
    Drop(drop::DropArgs),
    /// RSS with 0/100k/1M bans over 10 jails: enforcer vs fail2ban-server.
    Memory(memory::MemoryArgs),
    /// Time to load 1M bans and to unban them all: enforcer vs fail2ban+nftables.
    Bulk(bulk::BulkArgs),
    /// Failure line appended -> address dropped, p50/p99: enforcer vs fail2ban.
    Latency(latency::LatencyArgs),
    /// Lines/s matching an auth.log: enforcer regex vs fail2ban-regex vs wc -l.
    Regex(regex::RegexArgs),
    /// Every benchmark with its default sizes.
    All,
    /// Rewrite docs/BENCHMARKS.md sections from saved bench/results files.
    Render { files: Vec<PathBuf> },
    /// (internal) bounded UDP flood, run inside a namespace.
    #[command(hide = true)]
    Send(traffic::SendArgs),
    /// (internal) UDP sink, run inside a namespace.
    #[command(hide = true)]
    Sink(traffic::SinkArgs),
}

pub fn run(args: &BenchArgs) -> Result<()> {
    match &args.which {
        Which::Send(a) => return traffic::send(a),
        Which::Sink(a) => return traffic::sink(a),
        Which::Render { files } => return report::render_files(files),
        _ => {}
    }
    sys::install_interrupt_handler();
    let mut sections = Map::new();
    let enforcer = args.enforcer.as_deref();
    match &args.which {
        Which::Drop(a) => {
            sections.insert("drop".into(), drop::run(a, enforcer)?);
        }
        Which::Memory(a) => {
            sections.insert("memory".into(), memory::run(a, enforcer)?);
        }
        Which::Bulk(a) => {
            sections.insert("bulk".into(), bulk::run_bulk(a, enforcer)?);
        }
        Which::Latency(a) => {
            sections.insert("latency".into(), latency::run_latency(a, enforcer)?);
        }
        Which::Regex(a) => {
            sections.insert("regex".into(), regex::run(a, enforcer)?);
        }
        Which::All => {
            let d = drop::DropArgs::default_args();
            sections.insert("drop".into(), drop::run(&d, enforcer)?);
            let m = memory::MemoryArgs::default_args();
            sections.insert("memory".into(), memory::run(&m, enforcer)?);
            let b = bulk::BulkArgs::default_args();
            sections.insert("bulk".into(), bulk::run_bulk(&b, enforcer)?);
            let l = latency::LatencyArgs::default_args();
            sections.insert("latency".into(), latency::run_latency(&l, enforcer)?);
            let r = regex::RegexArgs::default_args();
            sections.insert("regex".into(), regex::run(&r, enforcer)?);
        }
        Which::Send(_) | Which::Sink(_) | Which::Render { .. } => unreachable!(),
    }
    let results = report::with_machine(Value::Object(sections));
    println!("{}", serde_json::to_string_pretty(&results)?);
    if !args.no_save {
        let (json_path, md_path) = report::save(&results)?;
        eprintln!(
            "bench: results in {} and {}",
            json_path.display(),
            md_path.display()
        );
    }
    Ok(())
}
