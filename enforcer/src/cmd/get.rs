//! `enforcer get JAIL KEY [--with-time] [--json]`: one setting of a running
//! jail (bantime, findtime, maxretry, banip, actions, logpath, ignoreip…),
//! printed as fail2ban-client prints it.
use std::process::ExitCode;

use super::client::call_and_print;
use crate::{
    cli::{GetArgs, GlobalArgs},
    control::Request,
};

pub fn run(global: &GlobalArgs, args: GetArgs) -> anyhow::Result<ExitCode> {
    let request = Request::Get {
        jail: args.jail,
        key: args.key,
        with_time: args.with_time,
    };
    Ok(call_and_print(global, &request, args.json))
}
