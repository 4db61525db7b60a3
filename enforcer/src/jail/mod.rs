//! Owns per-jail decisions: failure counting within findtime, ignore lists,
//! and ban times (bantime.increment and friends). Data comes in as
//! [`Ticket`]s built from the filter's failures and leaves as tickets ready
//! to ban (ban time decided), which the jail's `crate::actions::Actions`
//! carries out.
//!
//! - [`ticket`]: tickets and the failure manager (fail2ban's counting and
//!   rescaling);
//! - [`ignore`]: ignoreip / ignoreself / ignorecommand / ignorecache;
//! - [`formula`]: the safe evaluator for `bantime.formula`;
//! - [`bantime`]: ban time increment, and the [`BanStore`] trait;
//! - [`banmanager`]: active bans sorted by expiry.
use std::sync::Arc;

pub mod banmanager;
pub mod bantime;
pub mod formula;
pub mod ignore;
pub mod ticket;

pub use banmanager::{BanManager, NotAdded};
pub use bantime::{BanRecord, BanStore, BanTime, BanTimeSettings, MergedBans, StoreError};
pub use ignore::{IgnoreList, IgnoreReason, Net};
pub use ticket::{FailManager, MAX_TIME, Ticket};

#[derive(Debug, thiserror::Error)]
pub enum JailError {
    #[error("jail {jail}: {source}")]
    BanTime {
        jail: String,
        #[source]
        source: bantime::BanTimeError,
    },
    #[error("jail {jail}: {source}")]
    Ignore {
        jail: String,
        #[source]
        source: ignore::IgnoreError,
    },
    #[error("jail {jail}: {what}")]
    Invalid { jail: String, what: String },
}

/// The validated settings the jail logic needs.
#[derive(Debug, Clone)]
pub struct JailSettings {
    pub name: String,
    pub maxretry: u32,
    pub maxmatches: u32,
    pub findtime: i64,
    pub bantime: BanTimeSettings,
    pub ignoreip: Vec<String>,
    pub ignoreself: bool,
    pub ignorecommand: Option<String>,
    pub ignorecache: Option<String>,
}

impl JailSettings {
    /// The settings of a configured jail.
    pub fn from_def(def: &crate::config::JailDef) -> JailSettings {
        JailSettings {
            name: def.name.clone(),
            maxretry: def.maxretry,
            maxmatches: def.maxmatches,
            findtime: def.findtime,
            bantime: BanTimeSettings {
                bantime: def.bantime,
                increment: def.bantime_increment,
                factor: Some(format!("{}", def.bantime_factor)),
                formula: def.bantime_formula.clone(),
                multipliers: def.bantime_multipliers.clone(),
                maxtime: def.bantime_maxtime,
                rndtime: def.bantime_rndtime,
                overalljails: def.bantime_overalljails,
            },
            ignoreip: def.ignoreip.clone(),
            ignoreself: def.ignoreself,
            ignorecommand: def.ignorecommand.clone(),
            ignorecache: def.ignorecache.clone(),
        }
    }

    /// fail2ban's defaults (`maxretry = 5`, `findtime = 10m`, `bantime = 10m`,
    /// `maxmatches = maxretry`, `ignoreself = true`).
    pub fn new(name: impl Into<String>) -> JailSettings {
        JailSettings {
            name: name.into(),
            maxretry: 5,
            maxmatches: 5,
            findtime: 600,
            bantime: BanTimeSettings::default(),
            ignoreip: Vec::new(),
            ignoreself: true,
            ignorecommand: None,
            ignorecache: None,
        }
    }
}

fn check(s: &JailSettings) -> Result<(), JailError> {
    if s.findtime <= 0 {
        return Err(JailError::Invalid {
            jail: s.name.clone(),
            what: format!("findtime {} must be positive", s.findtime),
        });
    }
    if s.bantime.bantime == 0 || s.bantime.bantime < -1 {
        return Err(JailError::Invalid {
            jail: s.name.clone(),
            what: format!("bantime {} must be positive or -1", s.bantime.bantime),
        });
    }
    Ok(())
}

fn ban_time(s: &JailSettings) -> Result<BanTime, JailError> {
    BanTime::new(s.bantime.clone()).map_err(|source| JailError::BanTime {
        jail: s.name.clone(),
        source,
    })
}

fn ignore_list(s: &JailSettings) -> Result<IgnoreList, JailError> {
    let ignore = IgnoreList::new(
        &s.ignoreip,
        s.ignoreself,
        s.ignorecommand.as_deref(),
        s.ignorecache.as_deref(),
    )
    .map_err(|source| JailError::Ignore {
        jail: s.name.clone(),
        source,
    })?;
    for name in &ignore.unresolved {
        log::warn!("[{}] ignoreip: {name} did not resolve", s.name);
    }
    Ok(ignore)
}

/// Failure counters shown in status and the `jail.found*` tags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Found {
    pub current: usize,
    pub total: u64,
}

/// What happened to one failure.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Older than findtime (a line from before we started).
    TooOld,
    Ignored(IgnoreReason),
    /// Counted; the id has this many retries now.
    Counted(u32),
    /// Reached maxretry: these tickets are to be banned (ban time decided).
    Ban(Vec<Ticket>),
}

/// One jail's failure side: counting, ignoring, and ban time.
pub struct Jail {
    name: String,
    fail: FailManager,
    ignore: IgnoreList,
    bantime: BanTime,
    store: Option<Arc<dyn BanStore>>,
    next_svc: f64,
}

impl std::fmt::Debug for Jail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jail")
            .field("name", &self.name)
            .field("fail", &self.fail)
            .finish_non_exhaustive()
    }
}

impl Jail {
    pub fn new(s: &JailSettings, store: Option<Arc<dyn BanStore>>) -> Result<Jail, JailError> {
        check(s)?;
        Ok(Jail {
            name: s.name.clone(),
            fail: FailManager::new(s.maxretry.max(1), s.findtime, s.maxmatches),
            ignore: ignore_list(s)?,
            bantime: ban_time(s)?,
            store,
            next_svc: f64::MIN,
        })
    }

    /// Applies edited settings in place (`set JAIL findtime|maxretry|
    /// maxmatches|bantime|addignoreip|delignoreip`): as in fail2ban the
    /// failures counted so far are kept and judged by the new limits from
    /// the next failure on. On error nothing changes.
    pub fn apply(&mut self, s: &JailSettings) -> Result<(), JailError> {
        check(s)?;
        let ignore = ignore_list(s)?;
        let bantime = ban_time(s)?;
        self.fail.set_max_retry(s.maxretry.max(1));
        self.fail.set_findtime(s.findtime);
        self.fail.set_max_matches(s.maxmatches);
        self.ignore = ignore;
        self.bantime = bantime;
        Ok(())
    }

    /// Takes over `old`'s counted failures (fail2ban's reload keeps its
    /// jail's FailManager: counts and the total stay), judged by this
    /// jail's limits from the next failure on.
    pub fn adopt_failures(&mut self, old: &mut Jail) {
        let (retry, findtime, matches) = (
            self.fail.max_retry(),
            self.fail.findtime(),
            self.fail.max_matches(),
        );
        std::mem::swap(&mut self.fail, &mut old.fail);
        self.fail.set_max_retry(retry);
        self.fail.set_findtime(findtime);
        self.fail.set_max_matches(matches);
        self.next_svc = old.next_svc;
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn found(&self) -> Found {
        Found {
            current: self.fail.size(),
            total: self.fail.total(),
        }
    }
    pub fn fail_manager(&self) -> &FailManager {
        &self.fail
    }
    pub fn bantime(&self) -> i64 {
        self.bantime.bantime()
    }
    pub fn set_bantime(&mut self, v: i64) {
        self.bantime.set_bantime(v);
    }
    pub fn store(&self) -> Option<&Arc<dyn BanStore>> {
        self.store.as_ref()
    }

    /// Whether `ticket` is ignored (ignoreself, ignoreip, ignorecommand).
    pub fn is_ignored(&mut self, ticket: &Ticket) -> Option<IgnoreReason> {
        let found = self.found();
        let bantime = self.bantime();
        let view = crate::actions::info::JailView {
            name: &self.name,
            banned: 0,
            banned_total: 0,
            found,
            bantime,
            store: None,
        };
        let info = crate::actions::info::ActionInfo::new(ticket, view);
        self.ignore.check(ticket, &mut |tag| info.get(tag))
    }

    /// Processes one failure (fail2ban's `processLineAndAdd` + observer
    /// `failureFound`), at wall-clock `now`.
    pub fn process(&mut self, mut ticket: Ticket, now: f64) -> Outcome {
        if ticket.time > now {
            ticket.time = now;
            ticket.first_time = now;
        }
        if ticket.time < now - self.fail.findtime() as f64 {
            return Outcome::TooOld;
        }
        if let Some(why) = self.is_ignored(&ticket) {
            log::info!("[{}] Ignore {} by {:?}", self.name, ticket.fid, why);
            return Outcome::Ignored(why);
        }
        let fid = ticket.fid.clone();
        let observer_ticket = self.bantime.settings.increment.then(|| ticket.clone());
        let retry = self.fail.add_failure(ticket, 1, false);
        let mut bans = Vec::new();
        if retry >= self.fail.max_retry() {
            bans.extend(self.fail.to_ban(Some(&fid)));
        }
        if let Some(t) = observer_ticket
            && let Some(b) = self.observe_failure(t)
        {
            bans.push(b);
        }
        self.service(now);
        if bans.is_empty() {
            return Outcome::Counted(self.fail.get(&fid).map_or(retry, |t| t.retry));
        }
        for b in &mut bans {
            self.decide_ban_time(b);
        }
        Outcome::Ban(bans)
    }

    /// [`Jail::process`] for a failure from the filter. A `nofail` match only
    /// helps a multi-line failure and counts nothing (`None`).
    pub fn process_failure(&mut self, f: &crate::filter::Failure, now: f64) -> Option<Outcome> {
        (!f.nofail).then(|| self.process(Ticket::from(f), now))
    }

    /// Observer `failureFound`: a known bad address counts more (one failure
    /// counts 2, 3, 5, 9 … after 1, 2, 3, 4 bans).
    fn observe_failure(&mut self, mut ticket: Ticket) -> Option<Ticket> {
        let store = self.store.clone()?;
        let ip = ticket.ip?;
        let max_retry = self.fail.max_retry();
        let rec = match store.get_ban(&ip.to_string(), &self.name, false) {
            Ok(r) => r?,
            Err(e) => {
                log::error!("[{}] {e}", self.name);
                return None;
            }
        };
        let ban_count = rec.ban_count.max(ticket.ban_count);
        let retry_count = (((1u64 << ban_count.min(20)) / 2 + 1) as u32).min(max_retry);
        if ticket.time <= rec.time_of_ban || retry_count <= 1 {
            return None;
        }
        let fid = ticket.fid.clone();
        ticket.ban_count = ban_count;
        let retry = self.fail.add_failure(ticket, retry_count - 1, true);
        if retry >= max_retry {
            self.fail.to_ban(Some(&fid))
        } else {
            None
        }
    }

    /// Decides a ticket's ban time (bantime.increment from the store).
    pub fn decide_ban_time(&mut self, ticket: &mut Ticket) {
        if ticket.ban_time.is_some() {
            return;
        }
        let store = self.store.clone();
        match self.bantime.increment(&self.name, store.as_deref(), ticket) {
            Ok(bt) if bt != self.bantime.bantime() => ticket.ban_time = Some(bt),
            Ok(_) => {}
            Err(e) => log::error!("[{}] {e}", self.name),
        }
    }

    /// Drops failures older than findtime (at most every 5 s, as fail2ban).
    pub fn service(&mut self, now: f64) {
        if now >= self.next_svc {
            self.next_svc = now + 5.0;
            self.fail.cleanup(now);
        }
    }

    /// fail2ban's `restoreCurrentBans`: bans from the store still current,
    /// marked restored, ignore list applied, ban time corrected to end at
    /// the same time.
    pub fn restore(&mut self, now: f64) -> Vec<Ticket> {
        let mut all = Vec::new();
        self.restore_each(now, &mut |mut c| {
            all.append(&mut c);
            true
        });
        all
    }

    /// How many bans [`Jail::restore`] reads from the store (before the
    /// ignore list and the ends sort them out); 0 without a store.
    pub fn restore_count(&self, now: f64) -> usize {
        let Some(store) = &self.store else { return 0 };
        store
            .count_current_bans(&self.name, self.restore_bantime(), now)
            .unwrap_or_else(|e| {
                log::error!("[{}] restore bans: {e}", self.name);
                0
            })
    }

    /// [`Jail::restore`] handed to `each` by the chunk as the store reads
    /// them (`each` returning false stops the read).
    pub fn restore_each(&mut self, now: f64, each: &mut dyn FnMut(Vec<Ticket>) -> bool) {
        let Some(store) = self.store.clone() else {
            return;
        };
        let forbantime = self.restore_bantime();
        let default = forbantime.unwrap_or(self.bantime());
        let name = self.name.clone();
        let r = store.current_bans_each(&name, forbantime, now, &mut |mut tickets| {
            // In place: a million tickets are not copied into a second vector.
            tickets.retain_mut(|t| {
                // fail2ban's order: the ignore list first (an ignorecommand
                // runs for every stored ban), then the end.
                if self.is_ignored(t).is_some() {
                    return false;
                }
                t.restored = true;
                let btm = t.ban_time_or(default);
                btm == -1 || btm as f64 - (now - t.time).max(0.0) > 0.0
            });
            tickets.is_empty() || each(tickets)
        });
        if let Err(e) = r {
            log::error!("[{name}] restore bans: {e}");
        }
    }

    /// The fixed ban time a restore reads bans within (bantime.increment
    /// off), or `None`.
    fn restore_bantime(&self) -> Option<i64> {
        (!self.bantime.settings.increment).then(|| self.bantime())
    }
}

#[cfg(test)]
mod tests;
