//! One file per command. Each takes its raw flags from [`crate::cli`],
//! validates them and returns the process exit code. `anyhow` is allowed here,
//! at the binary's edge, and nowhere below.
use std::process::ExitCode;

use crate::cli::{Cli, Command, ConfigCommand};

pub mod ban;
pub mod banned;
pub mod client;
pub mod config;
pub mod daemon;
pub mod import_db;
pub mod regex;
pub mod stats;
pub mod unban;
pub mod unload;

/// Runs the command the user asked for.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = cli.global;
    match cli.command {
        None => daemon::run(&global, cli.daemon),
        Some(Command::Ban(a)) => ban::run(&global, a),
        Some(Command::Unban(a)) => unban::run(&global, a),
        Some(Command::Banned(a)) => banned::run(&global, a),
        Some(Command::Stats(a)) => stats::run(&global, a),
        Some(Command::Unload) => unload::run(&global),
        Some(Command::Config(ConfigCommand::Dump(a))) => config::dump(a),
        Some(Command::Config(ConfigCommand::Check(a))) => config::check(a),
        Some(Command::Config(ConfigCommand::Init { dir })) => config::init(&dir),
        Some(Command::Regex(a)) => regex::run(a),
        Some(Command::ImportFail2banDb(a)) => import_db::run(a),
    }
}
