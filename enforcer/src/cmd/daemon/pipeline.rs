//! One configured jail at work, on its own thread: lines from its source go
//! through its filter, failures through the jail (counting, ignore, ban
//! time), ban decisions through its Actions (XDP maps or commands) into the
//! store. Control requests reach the jail as closures run on this thread
//! ([`JailTask::call`]), so the jail's state is never shared or locked.
use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use tokio::sync::{mpsc, oneshot};

use crate::{
    actions::{self, Actions, BanTable, ModeDecision, time2str},
    config::JailDef,
    filter::{Failure, Filter, FilterOptions, UseDns},
    jail::{Jail, JailSettings, Outcome, Ticket},
    metrics::Metrics,
    source::{JailSource, LineReceiver, SourceHandle, SourceId},
    store::Store,
};

use super::positions::Positions;

/// A closure run on the jail's thread with its state.
pub type JailCall = Box<dyn FnOnce(&mut JailState) + Send>;

/// What the jail's thread owns.
pub struct JailState {
    pub def: JailDef,
    pub filter: Filter,
    pub jail: Jail,
    pub actions: Actions,
    pub source: Option<SourceHandle>,
    lines: Option<LineReceiver>,
    /// Files the source reads (for `status`).
    pub files: Vec<String>,
    read: Positions,
    store: Option<Arc<Store>>,
    metrics: Arc<Metrics>,
    /// Set by a `stop` of this jail (reload removed it).
    pub stopping: bool,
}

/// Everything needed to build a jail; kept to rebuild it on reload.
#[derive(Clone)]
pub struct JailEnv {
    pub decision: ModeDecision,
    pub table: Option<Arc<dyn BanTable>>,
    pub store: Option<Arc<Store>>,
    pub metrics: Arc<Metrics>,
}

/// The filter of a configured jail.
pub fn build_filter(def: &JailDef) -> anyhow::Result<Filter> {
    let usedns: UseDns = def
        .usedns
        .parse()
        .map_err(|e| anyhow::anyhow!("jail {}: {e}", def.name))?;
    let opts = FilterOptions {
        usedns,
        logtimezone: def.options.get("logtimezone").cloned(),
        // a ticket keeps none of them
        keep_matches: def.maxmatches > 0,
        ..FilterOptions::default()
    };
    Filter::new(&def.filter, &opts)
        .map_err(|e| anyhow::anyhow!("jail {}: filter {}: {e}", def.name, def.filter.name))
}

impl JailState {
    /// Builds a jail (filter, failure side, actions) and its source, starts
    /// its actions and restores its bans from the store, keeping their end.
    pub fn start(id: u32, def: JailDef, env: &JailEnv) -> anyhow::Result<JailState> {
        let name = def.name.clone();
        let filter = build_filter(&def)?;
        let bstore = env
            .store
            .clone()
            .map(|s| s as Arc<dyn crate::jail::BanStore>);
        let jail = Jail::new(&JailSettings::from_def(&def), bstore.clone())?;
        let mut actions = Actions::from_def(&def, &env.decision, env.table.clone(), bstore)
            .with_context(|| format!("jail {name}"))?;
        let now = actions::wall_now();
        let source = JailSource::for_jail(SourceId(id), &def, env.store.as_deref(), now)
            .with_context(|| format!("jail {name}"))?;
        if let Some(s) = &env.store
            && let Err(e) = s.add_jail(&name)
        {
            log::error!("[{name}] {e}");
        }
        let files = match &source {
            JailSource::Files(_) => crate::source::files::expand(&def.logpath)
                .unwrap_or_default()
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            JailSource::Journal(_) => Vec::new(),
        };
        let (tx, rx) = crate::source::channel(crate::source::DEFAULT_CHANNEL_CAPACITY);
        let handle = source.spawn(tx).with_context(|| format!("jail {name}"))?;
        for (action, e) in actions.start(now) {
            log::error!("[{name}] action {action} failed to start: {e}");
        }
        let mut st = JailState {
            def,
            filter,
            jail,
            actions,
            source: Some(handle),
            lines: Some(rx),
            files,
            read: Positions::default(),
            store: env.store.clone(),
            metrics: env.metrics.clone(),
            stopping: false,
        };
        st.restore(now);
        log::info!("Jail '{name}' started");
        Ok(st)
    }

    /// Puts the stored bans back in force: one thread reads them from the
    /// store (and checks the ignore list) by the chunk while this one
    /// enters them in the books and the actions' map writer writes them,
    /// so the three overlap.
    fn restore(&mut self, now: f64) {
        let hint = self.jail.restore_count(now);
        let (jail, actions) = (&mut self.jail, &mut self.actions);
        let name = format!("restore-{}", jail.name());
        let threaded = std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::sync_channel(2);
            let reader = std::thread::Builder::new()
                .name(name)
                .spawn_scoped(s, move || {
                    jail.restore_each(now, &mut |chunk| tx.send(chunk).is_ok())
                });
            match reader {
                Ok(_) => {
                    actions.restore_stream(hint, rx.into_iter(), now);
                    true
                }
                Err(e) => {
                    log::warn!("restore bans: no thread to read the store on ({e}); reading first");
                    false
                }
            }
        });
        if !threaded {
            let tickets = self.jail.restore(now);
            self.actions.restore_tickets(tickets, now);
        }
        self.metrics
            .set_active_bans(&self.def.name, self.actions.ban_manager().size() as i64);
    }

    /// Runs one line through filter and jail, banning what is due.
    fn line(&mut self, line: crate::source::Line, fails: &mut Vec<Failure>) {
        let start = std::time::Instant::now();
        fails.clear();
        match line.time {
            Some(t) => self.filter.process_entry(&line.bytes, t, fails),
            None => self.filter.process_line(&line.bytes, fails),
        }
        let name = self.def.name.clone();
        self.metrics
            .source(&name, &line.source.0.to_string())
            .line(!fails.is_empty(), start.elapsed().as_secs_f64());
        self.read.note(&line);
        let now = actions::wall_now();
        for f in fails.drain(..) {
            if f.nofail {
                continue;
            }
            if line.in_operation {
                log::info!("[{name}] Found {} - {}", f.fid, time2str(f.time));
            }
            self.metrics.failure(&name);
            let mut t = Ticket::new(f.fid, f.addr, f.time);
            t.matches = f.matches.iter().map(|m| m.to_string()).collect();
            t.data = f.fields.to_map();
            if let Outcome::Ban(tickets) = self.jail.process(t, now) {
                self.actions.set_found(self.jail.found());
                for t in tickets {
                    if self.actions.ban_ticket(t, now).added {
                        self.metrics.ban(&name);
                    }
                }
                self.metrics
                    .set_active_bans(&name, self.actions.ban_manager().size() as i64);
            }
        }
    }

    /// Once a second: expiry, failure cleanup, refused bans and positions
    /// to the store.
    fn tick(&mut self) {
        let now = actions::wall_now();
        let n = self.actions.check_unban(now, 1000);
        if n > 0 {
            for _ in 0..n {
                self.metrics.unban(&self.def.name);
            }
            self.metrics
                .set_active_bans(&self.def.name, self.actions.ban_manager().size() as i64);
        }
        self.jail.service(now);
        self.actions.set_found(self.jail.found());
        self.actions.store_refused();
        self.save_positions();
    }

    fn save_positions(&mut self) {
        self.read.save(self.store.as_deref(), &self.def.name);
    }

    /// Stops reading and the actions (XDP entries stay unless the jail was
    /// told to flush them).
    pub fn stop(&mut self) {
        if let Some(s) = self.source.take() {
            s.stop();
        }
        self.lines = None;
        self.save_positions();
        for (action, e) in self.actions.stop(None, actions::wall_now()) {
            log::error!("[{}] action {action} failed to stop: {e}", self.def.name);
        }
        log::info!("Jail '{}' stopped", self.def.name);
    }

    /// Swaps in a new definition: filter, counters' settings, source and
    /// actions (two-phase, so unchanged actions keep their bans).
    pub fn reload(&mut self, id: u32, def: JailDef, env: &JailEnv) -> anyhow::Result<()> {
        let name = def.name.clone();
        let filter = build_filter(&def)?;
        let bstore = env
            .store
            .clone()
            .map(|s| s as Arc<dyn crate::jail::BanStore>);
        let jail = Jail::new(&JailSettings::from_def(&def), bstore)?;
        let now = actions::wall_now();
        let mut source = JailSource::for_jail(SourceId(id), &def, env.store.as_deref(), now)
            .with_context(|| format!("jail {name}"))?;
        if let Some(s) = self.source.take() {
            s.stop();
        }
        self.save_positions();
        // (built before the old one stopped: it resumes where that one's
        // processed lines end, not at the positions stored up to a second
        // ago, which would count those lines' failures twice)
        self.read.resume(&mut source);
        self.actions.reload_begin();
        for a in &def.actions {
            if let Err(e) = self.actions.add_def(a, &env.decision) {
                log::error!("[{name}] action {}: {e}", a.name);
            }
        }
        for (action, e) in self.actions.reload_end(now) {
            log::error!("[{name}] action {action}: {e}");
        }
        self.actions.set_bantime(def.bantime);
        let (tx, rx) = crate::source::channel(crate::source::DEFAULT_CHANNEL_CAPACITY);
        self.source = Some(source.spawn(tx).with_context(|| format!("jail {name}"))?);
        self.lines = Some(rx);
        self.filter = filter;
        let mut jail = jail;
        jail.adopt_failures(&mut self.jail);
        self.jail = jail;
        self.def = def;
        log::info!("Jail '{name}' reloaded");
        Ok(())
    }
}

/// Sends work to a running jail's thread (see [`JailTask::caller`]).
#[derive(Clone)]
pub struct JailCaller(mpsc::UnboundedSender<JailCall>);

impl JailCaller {
    /// Runs `f` on the jail's thread and returns its result; `None` when
    /// the jail has stopped.
    pub async fn call<R: Send + 'static>(
        self,
        f: impl FnOnce(&mut JailState) -> R + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = oneshot::channel();
        let call: JailCall = Box::new(move |st| {
            let _ = tx.send(f(st));
        });
        self.0.send(call).ok()?;
        rx.await.ok()
    }

    /// [`JailCaller::call`], waiting at most `wait` (Err: the jail is
    /// still busy; `f` runs when it gets to it, its result unread).
    pub async fn call_within<R: Send + 'static>(
        self,
        f: impl FnOnce(&mut JailState) -> R + Send + 'static,
        wait: Duration,
    ) -> Result<Option<R>, tokio::time::error::Elapsed> {
        tokio::time::timeout(wait, self.call(f)).await
    }
}

/// A running jail's handle: send it work, stop it.
pub struct JailTask {
    tx: mpsc::UnboundedSender<JailCall>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl JailTask {
    /// Runs `state` on a new thread until [`JailTask::join`].
    pub fn spawn(state: JailState) -> anyhow::Result<JailTask> {
        let (tx, rx) = mpsc::unbounded_channel();
        let name = format!("jail-{}", state.def.name);
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || run(state, rx))
            .context("starting a jail thread")?;
        Ok(JailTask {
            tx,
            thread: Some(thread),
        })
    }

    /// Runs `f` on the jail's thread and returns its result; `None` when
    /// the jail has stopped.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut JailState) -> R + Send + 'static,
    ) -> Option<R> {
        self.caller().call(f).await
    }

    /// A handle that sends work to this jail without borrowing the task,
    /// so a caller can wait for a busy jail without holding any lock.
    pub fn caller(&self) -> JailCaller {
        JailCaller(self.tx.clone())
    }

    /// Stops the jail (actions stopped, XDP entries kept) and waits.
    pub fn join(mut self) {
        let _ = self
            .tx
            .send(Box::new(|st: &mut JailState| st.stopping = true));
        drop(self.tx);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(mut st: JailState, mut calls: mpsc::UnboundedReceiver<JailCall>) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log::error!("[{}] cannot run: {e}", st.def.name);
            return;
        }
    };
    rt.block_on(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut fails = Vec::new();
        loop {
            let mut lines = st.lines.take();
            tokio::select! {
                line = recv(&mut lines) => {
                    st.lines = lines;
                    match line {
                        Some(l) => st.line(l, &mut fails),
                        None => st.lines = None,
                    }
                }
                call = calls.recv() => {
                    st.lines = lines;
                    match call {
                        Some(f) => f(&mut st),
                        None => break,
                    }
                    if st.stopping {
                        break;
                    }
                }
                _ = tick.tick() => {
                    st.lines = lines;
                    st.tick();
                }
            }
        }
        st.stop();
    });
}

async fn recv(lines: &mut Option<LineReceiver>) -> Option<crate::source::Line> {
    match lines {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
