//! `enforcer [--iface IF]…`: the daemon.
//!
//! [`run`] turns flags into a loaded, attached data plane (`crate::xdp`), or
//! none when the program cannot load (the jails' command actions enforce),
//! and hands it to a [`Daemon`], which owns everything that runs: the book
//! of bans and its expiry task ([`bans`]), the control socket and what its
//! requests do ([`handler`]). Shutdown is explicit: [`Daemon::shutdown`] stops accepting,
//! finishes requests in flight and returns; the XDP program stays attached and
//! the maps pinned, so enforcement never pauses across a restart.
use std::{process::ExitCode, sync::Arc};

use anyhow::Context as _;
use tokio::{
    signal::unix::{SignalKind, signal},
    sync::watch,
    task::JoinSet,
};

use crate::{
    cli::{ActionMode, DaemonArgs, GlobalArgs},
    control::Server,
    xdp::{AttachMode, Capacities, Dataplane, Program},
};

pub mod bans;
pub mod f2blog;
pub mod handler;
pub mod jails;
pub mod logfmt;
pub mod logger;
pub mod manual;
pub mod pipeline;
pub mod plane;
pub mod positions;
pub mod requests;
pub mod setup;

use bans::{BanBook, BanPlane};
use handler::Control;
use plane::{NoPlane, XdpPlane};

/// A running daemon.
pub struct Daemon<P: BanPlane> {
    book: Arc<BanBook<P>>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl<P: BanPlane> Daemon<P> {
    /// Serves `plane` on the bound control socket and expires its timed
    /// bans. Must be called inside a tokio runtime.
    pub fn start(plane: P, server: Server) -> anyhow::Result<Daemon<P>> {
        Daemon::start_with(plane, server, None)
    }

    /// As [`Daemon::start`], with configured jails answering the requests
    /// that name them (status, get, set, reload, their bans).
    pub fn start_with(
        plane: P,
        server: Server,
        jails: Option<Arc<jails::Jails>>,
    ) -> anyhow::Result<Daemon<P>> {
        let mut book = BanBook::new(plane);
        if let Some(j) = &jails
            && let Some(store) = j.env().store.clone()
        {
            book = book.with_store(manual::ManualStore {
                store,
                configured: j.configured().into_iter().collect(),
            });
        }
        let book = Arc::new(book);
        let restored = book
            .restore()
            .context("reading the bans already in the maps")?;
        if restored > 0 {
            log::info!("{restored} bans of jails that are not configured already in force");
        }
        log::info!("control socket {}", server.path().display());
        let (shutdown, rx) = watch::channel(false);
        let control = Control::new(book.clone(), shutdown.clone());
        let mut tasks = JoinSet::new();
        match jails {
            Some(j) => {
                let full = Arc::new(requests::FullControl::new(control, j));
                tasks.spawn(server.serve(full, rx.clone()));
            }
            None => {
                tasks.spawn(server.serve(Arc::new(control), rx.clone()));
            }
        }
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

/// Validated daemon settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub ifaces: Vec<String>,
    pub mode: AttachMode,
    pub bpffs: std::path::PathBuf,
    pub socket: std::path::PathBuf,
    pub capacities: Capacities,
}

impl Settings {
    /// Checks the raw flags; `Err` is a usage error (exit 2).
    pub fn from_args(global: &GlobalArgs, args: &DaemonArgs) -> Result<Settings, String> {
        if args.ifaces.is_empty() {
            return Err("give at least one --iface IF to attach to".into());
        }
        if args.max_bans == 0 || args.max_prefixes == 0 {
            return Err("--max-bans and --max-prefixes must be at least 1".into());
        }
        let mut ifaces: Vec<String> = Vec::new();
        for i in &args.ifaces {
            if !ifaces.contains(i) {
                ifaces.push(i.clone());
            }
        }
        Ok(Settings {
            ifaces,
            mode: args.xdp_mode.into(),
            bpffs: global.bpffs.clone(),
            socket: global.socket.clone(),
            capacities: Capacities {
                max_bans: args.max_bans,
                max_prefixes: args.max_prefixes,
                ..Capacities::default()
            },
        })
    }
}

/// Loads and attaches the program (replacing a previous daemon's in its
/// pinned links), then serves until SIGTERM, SIGINT or a `stop` request.
pub fn run(global: &GlobalArgs, args: DaemonArgs) -> anyhow::Result<ExitCode> {
    let settings = match Settings::from_args(global, &args) {
        Ok(s) => s,
        Err(msg) => return Ok(super::client::fail(super::client::USAGE, msg)),
    };
    // The configuration first: a bad one stops us before anything changes.
    let loaded = match setup::load_config(&args) {
        Ok(l) => l,
        Err(msg) => return Ok(super::client::fail(super::client::USAGE, msg)),
    };
    let g = &loaded.config.global;
    let target = args.logtarget.as_deref().unwrap_or(&g.logtarget);
    let level = args.loglevel.as_deref().unwrap_or(&g.loglevel);
    if let Err(msg) = f2blog::init(target, level, &g.syslogsocket) {
        return Ok(super::client::fail(super::client::USAGE, msg));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(settings, args, loaded))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(settings: Settings, args: DaemonArgs, loaded: setup::Loaded) -> anyhow::Result<()> {
    // The socket first: a second daemon must not touch the program of one
    // that is still running.
    let server = Server::bind(&settings.socket)?;
    let mut program = match Program::load(&settings.bpffs, &settings.capacities) {
        Ok(p) => p,
        // `--mode xdp` insists; otherwise the jails' command actions
        // enforce, as fail2ban's do.
        Err(e) if args.mode == ActionMode::Xdp => {
            return Err(e).context("--mode xdp, but the XDP program cannot load");
        }
        Err(e) => {
            let why = format!("the XDP program cannot load: {e}");
            if args.mode == ActionMode::Commands {
                // (asked for: no fault)
                log::info!("{why}");
            } else {
                log::error!("{why}");
                log::warn!("XDP not in force ({why}): falling back to the jails' command actions");
            }
            let plane = NoPlane { why: e.to_string() };
            return serve_with(plane, None, server, args, loaded, Err(why)).await;
        }
    };
    // An interface that cannot take the program is not fatal: the jails'
    // command actions enforce instead (unless `--mode xdp` insists).
    let mut xdp: Result<(), String> = Ok(());
    for iface in &settings.ifaces {
        match program.attach(iface, settings.mode) {
            Ok(a) => log::info!(
                "XDP on {} in {} mode{}",
                a.iface,
                a.mode,
                if a.replaced {
                    " (replaced the previous program)"
                } else {
                    ""
                }
            ),
            Err(e) => {
                log::error!("XDP cannot attach to {iface}: {e}");
                if xdp.is_ok() {
                    xdp = Err(format!("attaching to {iface} failed: {e}"));
                }
            }
        }
    }
    if let Err(why) = &xdp {
        log::warn!("XDP not in force ({why}): falling back to the jails' command actions");
    }
    let dataplane = program.dataplane()?;
    let plane = XdpPlane(dataplane.clone());
    serve_with(plane, Some(dataplane), server, args, loaded, xdp).await?;
    // Dropping the program closes our descriptors only: the links and maps
    // stay pinned, so the kernel keeps enforcing.
    drop(program);
    Ok(())
}

/// Runs the jails and the control socket on `plane` (with `dataplane`,
/// the maps, when the program loaded) until a signal or `stop`.
async fn serve_with<P: BanPlane>(
    plane: P,
    dataplane: Option<Dataplane>,
    server: Server,
    args: DaemonArgs,
    loaded: setup::Loaded,
    xdp: Result<(), String>,
) -> anyhow::Result<()> {
    let stays = if xdp.is_ok() {
        "; XDP stays attached"
    } else {
        ""
    };
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let jails = setup::start_jails(&args, loaded, dataplane.clone(), metrics.clone(), xdp)?;
    let daemon = Daemon::start_with(plane, server, Some(jails.clone()))?;
    if let Some(addr) = &args.metrics {
        let m = crate::metrics::MetricsServer::bind(addr, metrics.clone()).await?;
        log::info!("metrics on http://{}/metrics", m.local_addr()?);
        let mut stop = daemon.shutdown_handle().subscribe();
        tokio::spawn(m.serve(async move {
            let _ = stop.wait_for(|s| *s).await;
        }));
    }
    if let Some(dp) = dataplane {
        tokio::spawn(setup::xdp_metrics(
            dp,
            metrics.clone(),
            daemon.shutdown_handle().subscribe(),
        ));
    }
    if let Some(store) = jails.env().store.clone() {
        tokio::spawn(setup::purge(store, daemon.shutdown_handle().subscribe()));
    }
    let mut hup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;
    let mut usr1 = signal(SignalKind::user_defined1()).context("installing SIGUSR1 handler")?;
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    loop {
        tokio::select! {
            _ = term.recv() => { log::info!("SIGTERM: stopping{stays}"); break }
            _ = int.recv() => { log::info!("SIGINT: stopping{stays}"); break }
            _ = hup.recv() => match jails.reload(None, false, false).await {
                Ok(done) => log::info!("SIGHUP: reloaded {}", done.join(", ")),
                Err(e) => log::error!("SIGHUP: reload refused: {e}"),
            },
            _ = usr1.recv() => f2blog::reopen(),
            _ = daemon.stopped() => break,
        }
    }
    daemon.shutdown().await;
    jails.stop().await;
    log::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{bans::fake::FakePlane, *};
    use crate::control::{Client, Request};

    #[test]
    fn daemon_serves_bans_and_stops_on_request() {
        let dir = std::env::temp_dir().join(format!("enforcer-daemon-{}", std::process::id()));
        let socket = dir.join("d.sock");
        let rt = tokio::runtime::Runtime::new().unwrap();
        let daemon = rt
            .block_on(async { Daemon::start(FakePlane::with_capacity(8), Server::bind(&socket)?) })
            .unwrap();
        let client = std::thread::spawn({
            let socket = socket.clone();
            move || {
                let mut c = Client::connect(&socket, Duration::from_secs(5)).unwrap();
                let ban = Request::Ban {
                    jail: None,
                    targets: vec!["198.18.0.1".into()],
                    bantime: Some(30),
                };
                c.request(&ban).unwrap();
                let listed = c
                    .request(&Request::Banned {
                        jail: None,
                        targets: vec![],
                    })
                    .unwrap();
                c.request(&Request::Stop {}).unwrap();
                listed
            }
        });
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(10), daemon.stopped())
                .await
                .expect("a stop request stops the daemon");
            assert_eq!(daemon.book().list().unwrap().len(), 1);
            daemon.shutdown().await;
        });
        let listed = client.join().unwrap();
        assert_eq!(listed["bans"][0]["target"], "198.18.0.1");
        assert_eq!(listed["bans"][0]["jail"], "manual");
        assert!(!socket.exists(), "socket removed at shutdown");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
