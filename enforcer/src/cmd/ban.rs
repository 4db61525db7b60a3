//! `enforcer ban`: a client of the daemon's control socket.
use std::process::ExitCode;

use crate::cli::{BanArgs, GlobalArgs};

pub fn run(_global: &GlobalArgs, _args: BanArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'ban' is not built yet")
}
