//! From flags and configuration to running jails: the configuration is
//! read before anything else (a bad one stops the daemon with FILE:LINE),
//! the log set up from it, then the store at `dbfile`, the mode decision,
//! the metrics endpoint, and every enabled jail.
use std::{path::PathBuf, sync::Arc};

use anyhow::Context as _;

use super::{jails::Jails, pipeline::JailEnv};
use crate::{
    actions::{self, BanTable, Mode},
    cli::DaemonArgs,
    config::Config,
    metrics::Metrics,
    store::{DbFile, Store},
    xdp::Dataplane,
};

/// The configuration the daemon runs, and where it was read.
pub struct Loaded {
    pub config: Config,
    pub dir: Option<PathBuf>,
}

/// Reads `--config` (the embedded default when the directory is missing).
pub fn load_config(args: &DaemonArgs) -> Result<Loaded, String> {
    if args.config.is_dir() {
        let config = crate::config::load(&args.config).map_err(|e| e.to_string())?;
        Ok(Loaded {
            config,
            dir: Some(args.config.clone()),
        })
    } else {
        let config = crate::config::load_default().map_err(|e| e.to_string())?;
        Ok(Loaded { config, dir: None })
    }
}

/// Opens the store, decides the mode (`xdp`: whether the program loaded
/// and attached everywhere, or why not) and starts every enabled jail on
/// `plane`, the maps (None: the program did not load).
pub fn start_jails(
    args: &DaemonArgs,
    loaded: Loaded,
    plane: Option<Dataplane>,
    metrics: Arc<Metrics>,
    xdp: Result<(), String>,
) -> anyhow::Result<Arc<Jails>> {
    let g = &loaded.config.global;
    let dbfile = args.dbfile.as_deref().unwrap_or(&g.dbfile);
    let store = match Store::open_dbfile(&DbFile::parse(dbfile))
        .with_context(|| format!("dbfile {dbfile}"))?
    {
        Some(mut s) => {
            s.set_purge_age(g.dbpurgeage);
            s.set_max_matches(g.dbmaxmatches);
            log::info!("Connected to fail2ban persistent database '{dbfile}'");
            Some(Arc::new(s))
        }
        None => None,
    };
    let decision = actions::decide(Mode::from(args.mode), xdp).map_err(anyhow::Error::msg)?;
    log::info!("Mode: {}", decision.reason);
    let table = plane.map(|p| Arc::new(p) as Arc<dyn BanTable>);
    let env = JailEnv {
        decision,
        table,
        store,
        metrics,
    };
    let names: Vec<&str> = loaded
        .config
        .jails
        .iter()
        .map(|j| j.name.as_str())
        .collect();
    log::info!("Jails to start: {}", names.join(", "));
    Ok(Arc::new(Jails::start(loaded.config, loaded.dir, env)))
}

/// Purges old bans from the store hourly (`dbpurgeage`).
pub async fn purge(store: Arc<Store>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = every.tick() => {
                let s = store.clone();
                let now = actions::wall_now() as i64;
                match tokio::task::spawn_blocking(move || s.purge(now)).await {
                    Ok(Ok(n)) if n > 0 => log::info!("database: {n} old bans purged"),
                    Ok(Err(e)) => log::error!("database purge: {e}"),
                    _ => {}
                }
            }
            r = stop.changed() => {
                if r.is_err() || *stop.borrow() {
                    return;
                }
            }
        }
    }
}

/// Copies the data plane's per-jail drop counters into the metrics every
/// few seconds (the kernel counts; Prometheus scrapes us).
pub async fn xdp_metrics(
    plane: Dataplane,
    metrics: Arc<Metrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = every.tick() => {
                let p = plane.clone();
                if let Ok(Ok(s)) = tokio::task::spawn_blocking(move || p.stats()).await {
                    for j in s.jails {
                        if let Some(name) = j.name {
                            metrics.set_xdp_dropped(&name, j.dropped, j.dropped_bytes);
                        }
                    }
                }
            }
            r = stop.changed() => {
                if r.is_err() || *stop.borrow() {
                    return;
                }
            }
        }
    }
}
