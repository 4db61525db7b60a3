//! `enforcer [--iface IF]…`: the daemon.
use std::process::ExitCode;

use crate::cli::{DaemonArgs, GlobalArgs};

pub fn run(_global: &GlobalArgs, _args: DaemonArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("the daemon is not built yet")
}
