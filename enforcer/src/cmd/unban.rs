//! `enforcer unban ADDR|CIDR…|--all`: a client of the daemon's control socket.
//! A target lifts its ban in every jail; it must be written as it was banned
//! (`198.18.0.0/16` lifts that prefix, not addresses inside it).
use std::process::ExitCode;

use super::client::{USAGE, call, fail, print_json};
use crate::{
    cli::{GlobalArgs, UnbanArgs},
    control::{Request, parse_targets, protocol::UnbanReply},
};

pub fn run(global: &GlobalArgs, args: UnbanArgs) -> anyhow::Result<ExitCode> {
    if let Err(e) = parse_targets(&args.targets) {
        return Ok(fail(USAGE, e));
    }
    let request = Request::Unban {
        jail: None,
        targets: args.targets,
        all: args.all,
    };
    let result = match call(global, &request) {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    if args.json {
        print_json(&result);
        return Ok(ExitCode::SUCCESS);
    }
    if args.all {
        crate::outln!("unbanned {} bans", result["unbanned"].as_u64().unwrap_or(0));
        return Ok(ExitCode::SUCCESS);
    }
    let reply: UnbanReply = serde_json::from_value(result)?;
    for t in &reply.unbanned {
        crate::outln!("unbanned {t}");
    }
    for t in &reply.not_banned {
        crate::outln!("{t} was not banned");
    }
    Ok(ExitCode::SUCCESS)
}
