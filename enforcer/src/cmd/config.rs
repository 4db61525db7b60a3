//! `enforcer config dump|check|init`.
use std::{path::Path, process::ExitCode};

use crate::cli::ConfigDirArgs;

pub fn dump(_args: ConfigDirArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'config dump' is not built yet")
}

pub fn check(_args: ConfigDirArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'config check' is not built yet")
}

pub fn init(_dir: &Path) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'config init' is not built yet")
}
