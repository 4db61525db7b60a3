//! `enforcer regex`: fail2ban-regex.
use std::process::ExitCode;

use crate::cli::RegexArgs;

pub fn run(_args: RegexArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'regex' is not built yet")
}
