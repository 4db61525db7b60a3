//! `enforcer ban [--jail NAME] [--bantime SECS] ADDR|CIDR…`: a client of the
//! daemon's control socket. Every target is checked before anything is sent.
use std::process::ExitCode;

use super::client::{USAGE, call, fail, format_expiry, print_json};
use crate::{
    cli::{BanArgs, GlobalArgs},
    control::{Request, parse_targets, protocol::BanReply},
};

pub fn run(global: &GlobalArgs, mut args: BanArgs) -> anyhow::Result<ExitCode> {
    // `ban JAIL ADDR…` (fail2ban-client's order) as well as `ban --jail JAIL ADDR…`.
    if args.jail == "manual" && args.targets.len() > 1 && parse_targets(&args.targets[..1]).is_err()
    {
        args.jail = args.targets.remove(0);
    }
    if let Err(e) = parse_targets(&args.targets) {
        return Ok(fail(USAGE, e));
    }
    if args.bantime == Some(0) {
        return Ok(fail(
            USAGE,
            "--bantime must be positive, or -1 for permanent",
        ));
    }
    let request = Request::Ban {
        jail: Some(args.jail),
        targets: args.targets,
        bantime: args.bantime,
    };
    let result = match call(global, &request) {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    if args.json {
        print_json(&result);
        return Ok(ExitCode::SUCCESS);
    }
    let reply: BanReply = serde_json::from_value(result)?;
    let until = format_expiry(reply.expiry, crate::cmd::daemon::bans::now());
    for target in &reply.banned {
        crate::outln!("banned {target} in jail {} ({until})", reply.jail);
    }
    Ok(ExitCode::SUCCESS)
}
