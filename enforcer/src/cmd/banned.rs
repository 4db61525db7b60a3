//! `enforcer banned`: a client of the daemon's control socket.
use std::process::ExitCode;

use crate::cli::{BannedArgs, GlobalArgs};

pub fn run(_global: &GlobalArgs, _args: BannedArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'banned' is not built yet")
}
