//! `cargo xtask soak`: the long forms of the reliability suite (issue 7),
//! not run by CI. Runs the kill -9 loop (`daemon_kill9_bans`) and the
//! malformed-control-request loop (`control_malformed`) with the counts and
//! time budgets given by flags, against the release binary, and prints the
//! totals the scenarios report: payloads tried, faults injected, bans lost.

use anyhow::{Result, bail};

use crate::{build_ebpf, prereqs};

/// Options of `cargo xtask soak`.
#[derive(Debug, clap::Args)]
pub struct SoakArgs {
    #[command(flatten)]
    pub build: build_ebpf::BuildEbpfArgs,
    /// kill -9 restarts of the daemon while bans are made.
    #[arg(long, default_value_t = 500)]
    pub kills: u64,
    /// Rounds of the malformed-request corpus (each also holds 200 silent
    /// connections and hangs up 30 times).
    #[arg(long, default_value_t = 200)]
    pub rounds: u64,
    /// Time budget of each loop, in seconds (a loop stops at its count or
    /// its budget, whichever comes first).
    #[arg(long, default_value_t = 1800)]
    pub seconds: u64,
}

/// The totals of `suite: NAME payloads=P faults=F bans_lost=L` lines.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub scenarios: usize,
    pub payloads: u64,
    pub faults: u64,
    pub bans_lost: u64,
}

impl Totals {
    pub fn parse(text: &str) -> Totals {
        let mut t = Totals::default();
        for line in text.lines().filter(|l| l.starts_with("suite: ")) {
            t.scenarios += 1;
            for (k, v) in line.split_whitespace().filter_map(|f| f.split_once('=')) {
                let v: u64 = v.parse().unwrap_or(0);
                match k {
                    "payloads" => t.payloads += v,
                    "faults" => t.faults += v,
                    "bans_lost" => t.bans_lost += v,
                    _ => {}
                }
            }
        }
        t
    }

    /// Reads and removes the report file; prints and returns the totals.
    pub fn print_from(path: &std::path::Path, what: &str) -> Totals {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let _ = std::fs::remove_file(path);
        for line in text.lines() {
            eprintln!("xtask: {line}");
        }
        let t = Totals::parse(&text);
        eprintln!(
            "xtask: {what}: {} scenarios, {} payloads tried, {} faults injected, {} bans lost",
            t.scenarios, t.payloads, t.faults, t.bans_lost
        );
        t
    }
}

/// A fresh report file for the scenarios' `suite:` lines.
pub fn report_file(task: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("enforcer-{task}-{}.suite", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

pub fn soak(args: &SoakArgs) -> Result<()> {
    prereqs::ensure()?;
    let bin = build_ebpf::build_enforcer(&args.build)?;
    let obj = build_ebpf::ebpf_object();
    let report = report_file("soak");
    let secs = args.seconds.to_string();
    let mut cmd = build_ebpf::enforcer_cargo(&obj);
    cmd.args(["test", "--package", "tests", "--release"])
        .args(["--test", "daemon_kill9_bans", "--test", "control_malformed"])
        .args(["--", "--test-threads=1", "--nocapture"])
        .env("ENFORCER_BIN", &bin)
        .env("ENFORCER_REQUIRE_PRIVILEGED", "1")
        .env("ENFORCER_SUITE_REPORT", &report)
        .env("ENFORCER_SOAK_KILL9", args.kills.to_string())
        .env("ENFORCER_SOAK_KILL9_SECS", &secs)
        .env("ENFORCER_SOAK_CONTROL_ROUNDS", args.rounds.to_string())
        .env("ENFORCER_SOAK_CONTROL_SECS", &secs);
    eprintln!("xtask: {cmd:?}");
    let ok = cmd.status()?.success();
    let t = Totals::print_from(&report, "soak");
    if !ok {
        bail!("soak failed");
    }
    if t.bans_lost > 0 {
        bail!("{} bans lost", t.bans_lost);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_up_report_lines() {
        let text = "noise\nsuite: a payloads=3 faults=1 bans_lost=0\n\
                    suite: b payloads=2 faults=0 bans_lost=1\n";
        assert_eq!(
            Totals::parse(text),
            Totals {
                scenarios: 2,
                payloads: 5,
                faults: 1,
                bans_lost: 1
            }
        );
    }
}
