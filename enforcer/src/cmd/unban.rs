//! `enforcer unban`: a client of the daemon's control socket.
use std::process::ExitCode;

use crate::cli::{GlobalArgs, UnbanArgs};

pub fn run(_global: &GlobalArgs, _args: UnbanArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'unban' is not built yet")
}
