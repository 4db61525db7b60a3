//! `enforcer unload`: detach the XDP program and remove every pin.
use std::process::ExitCode;

use crate::cli::GlobalArgs;

pub fn run(_global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'unload' is not built yet")
}
