//! `enforcer unload`: detach the XDP program and remove every pin. Works
//! without a daemon; a daemon still answering on the socket is asked to stop
//! first, so it does not keep serving maps that no longer enforce anything.
use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use super::client::{FAILED, fail};
use crate::{
    cli::GlobalArgs,
    control::{Client, Request},
};

pub fn run(global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    if let Ok(mut c) = Client::connect(&global.socket, Duration::from_secs(5))
        && c.request(&Request::Stop {}).is_ok()
    {
        let start = Instant::now();
        while global.socket.exists() && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        crate::outln!("stopped the daemon at {}", global.socket.display());
    }
    match crate::xdp::unload(&global.bpffs) {
        Ok(done) => {
            crate::outln!(
                "detached {} links ({}), removed {} maps under {}",
                done.links.len(),
                done.links.join(", "),
                done.maps.len(),
                global.bpffs.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Ok(fail(FAILED, e)),
    }
}
