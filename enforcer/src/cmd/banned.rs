//! `enforcer banned [ADDR…] [--jail NAME] [--json]`: current bans (all, or
//! those of the addresses asked about) with their jail and expiry.
use std::process::ExitCode;

use super::client::{call, call_as, format_expiry, print_json};
use crate::{
    cli::{BannedArgs, GlobalArgs},
    control::{Request, protocol::BannedReply},
};

pub fn run(global: &GlobalArgs, args: BannedArgs) -> anyhow::Result<ExitCode> {
    if let Err(e) = crate::control::parse_targets(&args.targets) {
        return Ok(super::client::fail(super::client::USAGE, e));
    }
    let request = Request::Banned {
        jail: args.jail,
        targets: args.targets,
    };
    if args.json {
        match call(global, &request) {
            Ok(result) => print_json(&result),
            Err(code) => return Ok(code),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let reply: BannedReply = match call_as(global, &request) {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    if !reply.busy.is_empty() {
        eprintln!(
            "enforcer: busy with an action (not listed: the bans only its commands enforce): {}",
            reply.busy.join(", ")
        );
    }
    if reply.bans.is_empty() {
        crate::outln!("no bans");
        return Ok(ExitCode::SUCCESS);
    }
    let now = crate::cmd::daemon::bans::now();
    let tw = reply.bans.iter().map(|b| b.target.len()).max().unwrap_or(0);
    let jw = reply.bans.iter().map(|b| b.jail.len()).max().unwrap_or(0);
    let mut out = super::out::buffered();
    for b in &reply.bans {
        super::out::put(
            &mut out,
            format_args!(
                "{:tw$}  {:jw$}  {}",
                b.target,
                b.jail,
                format_expiry(b.expiry, now)
            ),
        );
    }
    super::out::finish(out);
    Ok(ExitCode::SUCCESS)
}
