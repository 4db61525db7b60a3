//! `enforcer stats`: a client of the daemon's control socket.
use std::process::ExitCode;

use crate::cli::{GlobalArgs, StatsArgs};

pub fn run(_global: &GlobalArgs, _args: StatsArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'stats' is not built yet")
}
