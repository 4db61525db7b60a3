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
pub mod get;
pub mod import_db;
pub mod out;
pub mod ping;
pub mod regex;
pub mod reload;
pub mod set;
pub mod stats;
pub mod status;
pub mod stop;
pub mod unban;
pub mod unload;
pub mod version;

/// Runs the command the user asked for.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = cli.global;
    match cli.command {
        None => daemon::run(&global, cli.daemon),
        Some(Command::Ban(a)) => ban::run(&global, a),
        Some(Command::Unban(a)) => unban::run(&global, a),
        Some(Command::Banned(a)) => banned::run(&global, a),
        Some(Command::Stats(a)) => stats::run(&global, a),
        Some(Command::Status(a)) => status::run(&global, a),
        Some(Command::Get(a)) => get::run(&global, a),
        Some(Command::Set(a)) => set::run(&global, a),
        Some(Command::Reload(a)) => reload::run(&global, a),
        Some(Command::Ping(a)) => ping::run(&global, a),
        Some(Command::Version(a)) => version::run(&global, a),
        Some(Command::Stop(a)) => stop::run(&global, a),
        Some(Command::Unload) => unload::run(&global),
        Some(Command::Config(ConfigCommand::Dump(a))) => config::dump(a),
        Some(Command::Config(ConfigCommand::Check(a))) => config::check(a),
        Some(Command::Config(ConfigCommand::Init { dir })) => config::init(&dir),
        Some(Command::Regex(a)) => match regex::run(a) {
            // `enforcer regex … | head`: the reader has what it wanted
            Err(e) if out::is_broken_pipe(&e) => Ok(ExitCode::SUCCESS),
            r => r,
        },
        Some(Command::ImportFail2banDb(a)) => import_db::run(a),
    }
}
