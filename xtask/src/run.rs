//! `cargo xtask run -- ARGS…`: installs prerequisites, builds the XDP object
//! and the release `enforcer` embedding it, then becomes `enforcer ARGS…`
//! (through `sudo` when not root: attaching XDP needs it).
use std::{ffi::OsString, os::unix::process::CommandExt as _, process::Command};

use anyhow::{Result, bail};

use crate::{build_ebpf, prereqs};

/// Options of `cargo xtask run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub build: build_ebpf::BuildEbpfArgs,
    /// Arguments for enforcer (after `--`).
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<OsString>,
}

/// Builds everything and replaces this process with the daemon; returns only
/// on failure.
pub fn run(args: &RunArgs) -> Result<()> {
    prereqs::ensure()?;
    let bin = build_ebpf::build_enforcer(&args.build)?;
    let mut cmd = if prereqs::is_root() {
        Command::new(&bin)
    } else {
        let mut c = Command::new("sudo");
        c.arg("--").arg(&bin);
        c
    };
    cmd.args(&args.args);
    let err = cmd.exec();
    bail!("starting {}: {err}", bin.display())
}
