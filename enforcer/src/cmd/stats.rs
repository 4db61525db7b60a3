//! `enforcer stats [--json]`: the XDP program's counters, summed over CPUs.
use std::process::ExitCode;

use super::client::{call, print_json};
use crate::{
    cli::{GlobalArgs, StatsArgs},
    cmd::daemon::bans::PlaneStats,
    control::Request,
};

pub fn run(global: &GlobalArgs, args: StatsArgs) -> anyhow::Result<ExitCode> {
    let result = match call(global, &Request::Stats {}) {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    if args.json {
        print_json(&result);
        return Ok(ExitCode::SUCCESS);
    }
    let s: PlaneStats = serde_json::from_value(result)?;
    for (what, packets, bytes) in [
        ("seen", s.seen_packets, s.seen_bytes),
        ("passed", s.passed_packets, s.passed_bytes),
        ("dropped", s.dropped_packets, s.dropped_bytes),
        ("observed", s.observed_packets, s.observed_bytes),
    ] {
        crate::outln!("{what:<9} {packets:>14} packets {bytes:>16} bytes");
    }
    for j in &s.jails {
        crate::outln!(
            "jail {}: {} dropped ({} bytes), {} observed",
            j.jail,
            j.dropped_packets,
            j.dropped_bytes,
            j.observed_packets
        );
    }
    Ok(ExitCode::SUCCESS)
}
