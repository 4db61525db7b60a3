//! `enforcer reload [JAIL] [--unban] [--restart] [--json]`: the daemon
//! re-reads its configuration (as SIGHUP does); a bad configuration is
//! refused and the running jails stay as they were. As with
//! fail2ban-client, a jail reloads in place (its failure counts stay)
//! unless `--restart` stops and starts it.
use std::process::ExitCode;

use super::client::{call, print_json};
use crate::{
    cli::{GlobalArgs, ReloadArgs},
    control::Request,
};

pub fn run(global: &GlobalArgs, args: ReloadArgs) -> anyhow::Result<ExitCode> {
    let request = Request::Reload {
        jail: args.jail,
        unban: args.unban,
        restart: args.restart,
    };
    let result = match call(global, &request) {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    if args.json {
        print_json(&result);
    } else {
        crate::outln!("OK");
    }
    Ok(ExitCode::SUCCESS)
}
