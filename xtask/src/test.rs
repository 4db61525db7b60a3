//! `cargo xtask test`: every test the project has, the way CI runs them.
//!
//! Installs prerequisites, builds the XDP object and the release `enforcer`
//! embedding it, runs the unit tests of the host crates, then the `tests`
//! crate's integration tests in release mode, serially, against that binary
//! (`ENFORCER_BIN`, `ENFORCER_EBPF_OBJ`). Both suites always run; the task
//! fails if either does. At the end it prints the reliability scenarios'
//! totals (payloads tried, faults injected, bans lost).
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::{build_ebpf, prereqs};

/// Options of `cargo xtask test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    #[command(flatten)]
    pub build: build_ebpf::BuildEbpfArgs,
    /// Only integration tests whose name contains this (passed to libtest).
    #[arg(long)]
    pub filter: Option<String>,
    /// Skip the unit tests.
    #[arg(long)]
    pub no_unit: bool,
}

pub fn test(args: &TestArgs) -> Result<()> {
    prereqs::ensure()?;
    let bin = build_ebpf::build_enforcer(&args.build)?;
    let obj = build_ebpf::ebpf_object();
    let mut failed = Vec::new();

    if !args.no_unit {
        let mut unit = build_ebpf::enforcer_cargo(&obj);
        // Release, like the binary and the integration tests: the
        // dependencies are compiled once, not once per profile.
        unit.args(["test", "--release", "--workspace", "--exclude", "tests"])
            .args(["--exclude", "enforcer-ebpf"]);
        if !status(&mut unit)? {
            failed.push("unit tests");
        }
    }

    let report = crate::soak::report_file("test");
    let mut integration = build_ebpf::enforcer_cargo(&obj);
    integration
        .args(["test", "--package", "tests", "--release", "--"])
        .arg("--test-threads=1")
        .env("ENFORCER_BIN", &bin)
        .env("ENFORCER_SUITE_REPORT", &report);
    if let Some(f) = &args.filter {
        integration.arg(f);
    }
    if !status(&mut integration)? {
        failed.push("integration tests");
    }
    // The reliability scenarios' tallies (issue 7's closing note).
    crate::soak::Totals::print_from(&report, "reliability suite");

    if !failed.is_empty() {
        bail!("{} failed", failed.join(" and "));
    }
    Ok(())
}

fn status(cmd: &mut Command) -> Result<bool> {
    eprintln!("xtask: {cmd:?}");
    Ok(cmd
        .status()
        .with_context(|| format!("running {cmd:?}"))?
        .success())
}
