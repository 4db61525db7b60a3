//! The configured jails of a running daemon, each on its own thread
//! ([`pipeline`](super::pipeline)): started from the configuration, asked
//! for status and settings, reloaded (SIGHUP, `reload`) and stopped.
//!
//! Bans made without a configured jail (`enforcer ban ADDR`, jail `manual`,
//! or any other name) stay with the daemon's ban book on the XDP maps, as
//! in daemon v1; a `manual` jail in the configuration takes them over.
use std::{collections::BTreeMap, path::PathBuf, sync::Arc};

use tokio::sync::Mutex;

use super::pipeline::{JailEnv, JailState, JailTask};
use crate::config::{Config, JailDef};

struct Running {
    id: u32,
    task: JailTask,
}

/// Every running jail, by name.
pub struct Jails {
    env: JailEnv,
    /// Where the configuration was read (None: the embedded default).
    config_dir: Option<PathBuf>,
    running: Mutex<BTreeMap<String, Running>>,
    next_id: std::sync::atomic::AtomicU32,
}

/// Starts one jail; a jail that cannot start is logged and left out, as
/// fail2ban does, so one missing log file never stops the others.
fn start_one(id: u32, def: JailDef, env: &JailEnv) -> Option<JailTask> {
    let name = def.name.clone();
    match JailState::start(id, def, env).and_then(JailTask::spawn) {
        Ok(t) => Some(t),
        Err(e) => {
            log::error!("Jail '{name}' not started: {e:#}");
            None
        }
    }
}

impl Jails {
    /// Starts every enabled jail of `config`.
    pub fn start(config: Config, config_dir: Option<PathBuf>, env: JailEnv) -> Jails {
        let mut running = BTreeMap::new();
        let mut id = 0;
        for def in config.jails {
            id += 1;
            let name = def.name.clone();
            if let Some(task) = start_one(id, def, &env) {
                running.insert(name, Running { id, task });
            }
        }
        Jails {
            env,
            config_dir,
            running: Mutex::new(running),
            next_id: std::sync::atomic::AtomicU32::new(id + 1),
        }
    }

    /// Names of the running jails, sorted.
    pub async fn names(&self) -> Vec<String> {
        self.running.lock().await.keys().cloned().collect()
    }

    pub async fn contains(&self, jail: &str) -> bool {
        self.running.lock().await.contains_key(jail)
    }

    /// Runs `f` on jail `jail`'s thread; `None` if there is no such jail.
    pub async fn call<R: Send + 'static>(
        &self,
        jail: &str,
        f: impl FnOnce(&mut JailState) -> R + Send + 'static,
    ) -> Option<R> {
        // Not holding the lock while the jail works: a jail busy with a
        // hung action must not stall requests for the others.
        let caller = self.running.lock().await.get(jail)?.task.caller();
        caller.call(f).await
    }

    /// [`Jails::call`], waiting at most `wait` (Err: the jail is busy).
    pub async fn call_within<R: Send + 'static>(
        &self,
        jail: &str,
        f: impl FnOnce(&mut JailState) -> R + Send + 'static,
        wait: std::time::Duration,
    ) -> Result<Option<R>, tokio::time::error::Elapsed> {
        let caller = self.running.lock().await.get(jail).map(|r| r.task.caller());
        match caller {
            Some(c) => c.call_within(f, wait).await,
            None => Ok(None),
        }
    }

    /// Every running jail's caller, in name order (the list is not held
    /// while they work).
    async fn callers(&self) -> Vec<(String, super::pipeline::JailCaller)> {
        let running = self.running.lock().await;
        running
            .iter()
            .map(|(name, r)| (name.clone(), r.task.caller()))
            .collect()
    }

    /// Runs `f` (cloned) on every jail, in name order.
    pub async fn call_all<R: Send + 'static>(
        &self,
        f: impl Fn(&mut JailState) -> R + Send + Sync + Clone + 'static,
    ) -> Vec<(String, R)> {
        let callers = self.callers().await;
        let mut out = Vec::new();
        for (name, caller) in callers {
            let f = f.clone();
            if let Some(v) = caller.call(move |st| f(st)).await {
                out.push((name, v));
            }
        }
        out
    }

    /// [`Jails::call_all`], all jails at once, each given at most `wait`:
    /// the answers of those that were in time, and the names of those busy
    /// past it (a jail's thread runs its actions, which may hang until
    /// their `timeout`).
    pub async fn call_all_within<R: Send + 'static>(
        &self,
        f: impl Fn(&mut JailState) -> R + Send + Sync + Clone + 'static,
        wait: std::time::Duration,
    ) -> (Vec<(String, R)>, Vec<String>) {
        let callers = self.callers().await;
        let mut calls = tokio::task::JoinSet::new();
        for (name, caller) in callers {
            let f = f.clone();
            calls.spawn(async move { (name, caller.call_within(move |st| f(st), wait).await) });
        }
        let (mut out, mut busy) = (Vec::new(), Vec::new());
        while let Some(done) = calls.join_next().await {
            match done {
                Ok((name, Ok(Some(v)))) => out.push((name, v)),
                Ok((name, Err(_))) => busy.push(name),
                // stopped meanwhile, or the call panicked
                Ok((_, Ok(None))) | Err(_) => {}
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        busy.sort();
        (out, busy)
    }

    /// Re-reads the configuration and applies it: jails no longer enabled
    /// stop, new ones start, the rest reload in place (bans and failure
    /// counts kept, as fail2ban's reload). `only`: just that jail. `unban`:
    /// lift the reloaded jails' bans first. `restart`: stop and start the
    /// jails that stay instead (fail2ban's `reload --restart`: counts start
    /// over, stored bans are restored).
    pub async fn reload(
        &self,
        only: Option<&str>,
        unban: bool,
        restart: bool,
    ) -> Result<Vec<String>, String> {
        let config = match &self.config_dir {
            Some(d) => crate::config::load(d),
            None => crate::config::load_default(),
        }
        .map_err(|e| e.to_string())?;
        let mut running = self.running.lock().await;
        if let Some(j) = only
            && !running.contains_key(j)
            && !config.jails.iter().any(|d| d.name == j)
        {
            return Err(format!("Sorry but the jail '{j}' does not exist"));
        }
        let mut defs: BTreeMap<String, JailDef> = config
            .jails
            .into_iter()
            .map(|d| (d.name.clone(), d))
            .collect();
        let names: Vec<String> = running.keys().cloned().collect();
        let mut done = Vec::new();
        for name in names {
            if only.is_some_and(|j| j != name) {
                continue;
            }
            match defs.remove(&name) {
                None => {
                    if let Some(r) = running.remove(&name) {
                        if unban {
                            r.task.call(|st| st.actions.set_flush_on_stop(true)).await;
                        }
                        r.task.join();
                    }
                }
                Some(def) if restart => {
                    // stopped here (its bans lifted first, as in place),
                    // started below with the new ones
                    if let Some(r) = running.remove(&name) {
                        if unban {
                            r.task
                                .call(|st| {
                                    let _ =
                                        st.actions.unban(None, true, crate::actions::wall_now());
                                })
                                .await;
                        }
                        r.task.join();
                    }
                    defs.insert(name, def);
                }
                Some(def) => {
                    let r = &running[&name];
                    let env = self.env.clone();
                    let id = r.id;
                    let res = r
                        .task
                        .call(move |st| {
                            if unban {
                                let _ = st.actions.unban(None, true, crate::actions::wall_now());
                            }
                            st.reload(id, def, &env).map_err(|e| format!("{e:#}"))
                        })
                        .await;
                    match res {
                        Some(Ok(())) => done.push(name),
                        Some(Err(e)) => log::error!("Jail '{name}' not reloaded: {e}"),
                        None => {}
                    }
                }
            }
        }
        for (name, def) in defs {
            if only.is_some_and(|j| j != name) {
                continue;
            }
            let id = self
                .next_id
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Some(task) = start_one(id, def, &self.env) {
                running.insert(name.clone(), Running { id, task });
                done.push(name);
            }
        }
        Ok(done)
    }

    /// Stops every jail (XDP entries stay pinned, the store keeps bans).
    pub async fn stop(&self) {
        let mut running = self.running.lock().await;
        for (_, r) in std::mem::take(&mut *running) {
            tokio::task::block_in_place(|| r.task.join());
        }
    }

    /// Names of the running jails, from synchronous code at start (empty if
    /// the list is busy).
    pub fn configured(&self) -> Vec<String> {
        self.running
            .try_lock()
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The shared parts jails are built with.
    pub fn env(&self) -> &JailEnv {
        &self.env
    }
}

/// A jail list shared by the control handler and the signal task.
pub type SharedJails = Arc<Jails>;
