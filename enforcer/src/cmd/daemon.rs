//! `enforcer [--iface IF]…`: the daemon.
//!
//! [`run`] turns flags into a loaded, attached data plane (`crate::xdp`) and
//! hands it to a [`Daemon`], which owns everything that runs: the book of bans
//! and its expiry task ([`bans`]), the control socket and what its requests do
//! ([`handler`]). Shutdown is explicit: [`Daemon::shutdown`] stops accepting,
//! finishes requests in flight and returns; the XDP program stays attached and
//! the maps pinned, so enforcement never pauses across a restart.
use std::{path::Path, process::ExitCode, sync::Arc};

use anyhow::Context as _;
use tokio::{sync::watch, task::JoinSet};

use crate::{
    cli::{DaemonArgs, GlobalArgs},
    control::Server,
};

pub mod bans;
pub mod handler;

use bans::{BanBook, BanPlane};
use handler::Control;

/// A running daemon.
pub struct Daemon<P: BanPlane> {
    book: Arc<BanBook<P>>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl<P: BanPlane> Daemon<P> {
    /// Serves `plane` on the control socket at `socket` and expires its
    /// timed bans. Must be called inside a tokio runtime.
    pub fn start(plane: P, socket: &Path) -> anyhow::Result<Daemon<P>> {
        let book = Arc::new(BanBook::new(plane));
        let restored = book
            .restore()
            .context("reading the bans already in the maps")?;
        if restored > 0 {
            log::info!("{restored} bans already in force");
        }
        let server = Server::bind(socket)?;
        log::info!("control socket {}", server.path().display());
        let (shutdown, rx) = watch::channel(false);
        let control = Arc::new(Control::new(book.clone(), shutdown.clone()));
        let mut tasks = JoinSet::new();
        tasks.spawn(server.serve(control, rx.clone()));
        tasks.spawn(bans::expire(book.clone(), rx));
        Ok(Daemon {
            book,
            shutdown,
            tasks,
        })
    }

    /// The book every ban goes through (for jails and actions).
    pub fn book(&self) -> &Arc<BanBook<P>> {
        &self.book
    }

    /// A handle that asks the daemon to stop (`send(true)`).
    pub fn shutdown_handle(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }

    /// Resolves once a stop was asked for (a `stop` request or a handle).
    pub async fn stopped(&self) {
        let mut rx = self.shutdown.subscribe();
        let _ = rx.wait_for(|stop| *stop).await;
    }

    /// Stops every task and waits for them; bans stay in the maps.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        while let Some(r) = self.tasks.join_next().await {
            if let Err(e) = r {
                log::warn!("daemon task ended abnormally: {e}");
            }
        }
    }
}

pub fn run(_global: &GlobalArgs, _args: DaemonArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("the daemon is not built yet")
}
