//! The daemon's book of bans: every ban and unban goes through here, so the
//! maps and the expiry schedule never disagree.
//!
//! Expiry works like mini-redis's: a sorted set of `(expiry, target, jail)`
//! plus a map from `(target, jail)` to its expiry, and a [`Notify`] that wakes
//! the purge task whenever the earliest expiry moves. The kernel also holds
//! each ban's expiry, so a dead daemon never leaves a ban in force; the purge
//! task removes expired entries so `banned` stays true and the maps do not
//! fill with dead bans.
use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use tokio::sync::{Notify, watch};

use super::manual::ManualStore;
use crate::control::IpNet;

/// One ban as the data plane holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ban {
    pub net: IpNet,
    pub jail: u8,
    /// Unix seconds; `None` = permanent.
    pub expiry: Option<i64>,
}

/// A data plane failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaneError {
    /// The map for this target's kind (exact/prefix, family) is full.
    #[error("{0}")]
    Full(String),
    /// Too many jails, or a name that cannot be stored.
    #[error("{0}")]
    BadJail(String),
    /// There is no data plane: the XDP program did not load, so only
    /// configured jails (with their command actions) can ban.
    #[error("{0}")]
    Absent(String),
    #[error("{0}")]
    Other(String),
}

/// What the book needs from the data plane (the pinned XDP maps in the
/// daemon, or none when the program cannot load; an in-memory fake in
/// tests).
pub trait BanPlane: Send + Sync + 'static {
    /// The jail's id, allocated on first use.
    fn jail_id(&self, jail: &str) -> Result<u8, PlaneError>;
    /// Every allocated jail: (id, name).
    fn jails(&self) -> Result<Vec<(u8, String)>, PlaneError>;
    fn ban(&self, net: IpNet, jail: u8, expiry: Option<i64>) -> Result<(), PlaneError>;
    /// Bans every net in order; `Err((done, e))`: the first `done` are
    /// banned. The XDP plane batches this (one syscall per thousands).
    fn ban_many(
        &self,
        nets: &[IpNet],
        jail: u8,
        expiry: Option<i64>,
    ) -> Result<(), (usize, PlaneError)> {
        for (i, net) in nets.iter().enumerate() {
            self.ban(*net, jail, expiry).map_err(|e| (i, e))?;
        }
        Ok(())
    }
    /// As [`BanPlane::ban_many`], each net with its own expiry.
    fn ban_many_at(
        &self,
        bans: &[(IpNet, Option<i64>)],
        jail: u8,
    ) -> Result<(), (usize, PlaneError)> {
        for (i, (net, expiry)) in bans.iter().enumerate() {
            self.ban(*net, jail, *expiry).map_err(|e| (i, e))?;
        }
        Ok(())
    }
    /// Whether `jail` banned exactly `net` (and no longer does).
    fn unban(&self, net: IpNet, jail: u8) -> Result<bool, PlaneError>;
    /// Bans in force of the jails in `mask` (bit `1 << id`), one per
    /// (target, jail), in no particular order.
    fn list_of(&self, mask: u64) -> Result<Vec<Ban>, PlaneError> {
        let mut bans = self.list()?;
        bans.retain(|b| mask & (1u64 << b.jail) != 0);
        Ok(bans)
    }
    /// Whether any jail banned exactly `net` (and none does now).
    fn unban_all_jails(&self, net: IpNet) -> Result<bool, PlaneError>;
    /// Removes every ban; how many entries went.
    fn clear(&self) -> Result<usize, PlaneError>;
    /// Removes entries whose kernel-side expiry passed; how many.
    fn purge_expired(&self) -> Result<usize, PlaneError>;
    /// Every ban in force, one entry per (target, jail).
    fn list(&self) -> Result<Vec<Ban>, PlaneError>;
    /// The data plane's counters.
    fn stats(&self) -> Result<PlaneStats, PlaneError>;

    /// The id of an existing jail (never allocates one).
    fn find_jail(&self, jail: &str) -> Result<Option<u8>, PlaneError> {
        Ok(self
            .jails()?
            .into_iter()
            .find(|(_, n)| n == jail)
            .map(|(id, _)| id))
    }
}

/// Counters summed over CPUs, as `stats` reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlaneStats {
    pub seen_packets: u64,
    pub seen_bytes: u64,
    pub passed_packets: u64,
    pub passed_bytes: u64,
    pub dropped_packets: u64,
    pub dropped_bytes: u64,
    pub observed_packets: u64,
    pub observed_bytes: u64,
    /// Per jail with any count.
    pub jails: Vec<JailStats>,
}

/// One jail's share of the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JailStats {
    pub jail: String,
    pub dropped_packets: u64,
    #[serde(default)]
    pub dropped_bytes: u64,
    pub observed_packets: u64,
}

/// A ban request that stopped part-way.
#[derive(Debug, thiserror::Error)]
#[error("{error} (applied {applied} of {total})")]
pub struct PartialBan {
    pub applied: usize,
    pub total: usize,
    pub error: PlaneError,
}

#[derive(Debug, Default)]
struct Schedule {
    by_time: BTreeSet<(i64, IpNet, u8)>,
    by_key: HashMap<(IpNet, u8), i64>,
}

impl Schedule {
    /// Sets or clears the expiry of `(net, jail)`; whether the earliest
    /// expiry changed.
    fn set(&mut self, net: IpNet, jail: u8, expiry: Option<i64>) -> bool {
        let first = self.by_time.first().map(|e| e.0);
        if let Some(old) = self.by_key.remove(&(net, jail)) {
            self.by_time.remove(&(old, net, jail));
        }
        if let Some(at) = expiry {
            self.by_key.insert((net, jail), at);
            self.by_time.insert((at, net, jail));
        }
        self.by_time.first().map(|e| e.0) != first
    }

    fn next(&self) -> Option<i64> {
        self.by_time.first().map(|e| e.0)
    }
}

/// Bans, unbans and their expiry.
pub struct BanBook<P> {
    plane: P,
    schedule: Mutex<Schedule>,
    changed: Notify,
    /// Where bans of jails that are not configured are kept.
    manual: Option<ManualStore>,
}

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl<P: BanPlane> BanBook<P> {
    pub fn new(plane: P) -> BanBook<P> {
        BanBook {
            plane,
            schedule: Mutex::new(Schedule::default()),
            changed: Notify::new(),
            manual: None,
        }
    }

    /// Keeps the bans of jails that are not configured in `m`'s store.
    pub fn with_store(mut self, m: ManualStore) -> BanBook<P> {
        self.manual = Some(m);
        self
    }

    fn jail_name(&self, jail: u8) -> String {
        self.plane
            .jails()
            .ok()
            .and_then(|j| j.into_iter().find(|(id, _)| *id == jail))
            .map_or_else(|| format!("#{jail}"), |(_, n)| n)
    }

    pub fn plane(&self) -> &P {
        &self.plane
    }

    fn lock(&self) -> MutexGuard<'_, Schedule> {
        // A panic while holding the lock leaves the schedule consistent (each
        // step is a whole insert or remove), so a poisoned lock is usable.
        self.schedule.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After a restart: puts the stored bans of jails that are not
    /// configured back into the maps, and schedules the expiry of the bans
    /// in the maps that are the book's (every jail's without a store; else
    /// those of jails that are not configured: a configured jail restores
    /// and expires its own on its thread). Returns how many bans the book
    /// keeps. Entries that expired while no daemon ran are left to
    /// [`BanBook::purge_dead`].
    pub fn restore(&self) -> Result<usize, PlaneError> {
        if let Some(m) = &self.manual {
            for (jail, bans) in m.current(now()) {
                // (a jail the plane cannot take keeps its bans stored)
                let id = match self.plane.jail_id(&jail) {
                    Ok(id) => id,
                    Err(e) => {
                        log::error!(
                            "[{jail}] {} bans in the database not restored: {e}",
                            bans.len()
                        );
                        continue;
                    }
                };
                let done = match self.plane.ban_many_at(&bans, id) {
                    Ok(()) => bans.len(),
                    Err((done, e)) => {
                        log::error!("[{jail}] restoring bans from the database: {e}");
                        done
                    }
                };
                log::info!("[{jail}] Restore Ban: {done} bans from the database");
            }
        }
        let mask = self.own_jails()?;
        if mask == 0 {
            // Nothing to read: a million bans of configured jails cost
            // seconds to list and are not ours.
            return Ok(0);
        }
        let bans = self.plane.list_of(mask)?;
        let mut s = self.lock();
        for b in &bans {
            s.set(b.net, b.jail, b.expiry);
        }
        drop(s);
        self.changed.notify_one();
        Ok(bans.len())
    }

    /// The jails whose bans the book keeps, as a bit mask of ids: those
    /// with a slot and no configured jail of that name (all of them
    /// without a store).
    fn own_jails(&self) -> Result<u64, PlaneError> {
        let Some(m) = &self.manual else {
            return Ok(u64::MAX);
        };
        Ok(self
            .plane
            .jails()?
            .into_iter()
            .filter(|(id, name)| *id < MAX_JAILS && m.keeps(name))
            .fold(0, |mask, (id, _)| mask | 1u64 << id))
    }

    /// Removes the entries whose kernel expiry passed while no daemon ran
    /// (they no longer block anything, but take room in the maps); how
    /// many. Run off the start path: it reads every entry.
    pub fn purge_dead(&self) -> Result<usize, PlaneError> {
        let expired = self.plane.purge_expired()?;
        if expired > 0 {
            log::info!("removed {expired} bans that expired while no daemon ran");
        }
        Ok(expired)
    }

    /// Bans every target in `jail` until `expiry` (unix seconds; `None` =
    /// permanent). Stops at the first failure, reporting how many were done.
    pub fn ban(&self, nets: &[IpNet], jail: u8, expiry: Option<i64>) -> Result<(), PartialBan> {
        let mut s = self.lock();
        let (applied, failure) = match self.plane.ban_many(nets, jail, expiry) {
            Ok(()) => (nets.len(), None),
            Err((done, e)) => (done, Some(e)),
        };
        let mut wake = false;
        for net in &nets[..applied] {
            wake |= s.set(*net, jail, expiry);
        }
        drop(s);
        if let Some(m) = &self.manual
            && applied > 0
            && let Err(e) = m.record(&self.jail_name(jail), &nets[..applied], expiry, now())
        {
            // The bans are in force; the kernel keeps them across a crash.
            log::error!("database: {e}");
        }
        if wake {
            self.changed.notify_one();
        }
        match failure {
            None => Ok(()),
            Some(error) => Err(PartialBan {
                applied,
                total: nets.len(),
                error,
            }),
        }
    }

    /// Lifts the ban of `net` by `jail`, or by every jail; whether there was
    /// one.
    pub fn unban(&self, net: IpNet, jail: Option<u8>) -> Result<bool, PlaneError> {
        if let Some(m) = &self.manual {
            m.forget(jail.map(|j| self.jail_name(j)).as_deref(), &net);
        }
        let mut s = self.lock();
        match jail {
            Some(j) => {
                s.set(net, j, None);
                self.plane.unban(net, j)
            }
            None => {
                for j in 0..MAX_JAILS {
                    s.set(net, j, None);
                }
                self.plane.unban_all_jails(net)
            }
        }
    }

    /// Lifts every ban (of `jail`, or of all jails); how many were lifted.
    pub fn unban_all(&self, jail: Option<u8>) -> Result<usize, PlaneError> {
        if let Some(m) = &self.manual {
            m.forget_all(jail.map(|j| self.jail_name(j)).as_deref());
        }
        let mut s = self.lock();
        let Some(jail) = jail else {
            *s = Schedule::default();
            return self.plane.clear();
        };
        let mut n = 0;
        for b in self.plane.list()? {
            if b.jail != jail {
                continue;
            }
            if self.plane.unban(b.net, b.jail)? {
                n += 1;
            }
            s.set(b.net, b.jail, None);
        }
        Ok(n)
    }

    /// Current bans (expired ones the purge has not reached yet excluded).
    pub fn list(&self) -> Result<Vec<Ban>, PlaneError> {
        let now = now();
        let mut bans = self.plane.list()?;
        bans.retain(|b| b.expiry.is_none_or(|e| e > now));
        Ok(bans)
    }

    /// Jail id -> name, for showing bans.
    pub fn jail_names(&self) -> Result<HashMap<u8, String>, PlaneError> {
        Ok(self.plane.jails()?.into_iter().collect())
    }

    /// Removes every ban whose expiry is at or before `now`; returns the next
    /// expiry still scheduled.
    pub fn purge(&self, now: i64) -> Option<i64> {
        let mut s = self.lock();
        let mut names = None;
        while let Some(&(at, net, jail)) = s.by_time.first() {
            if at > now {
                break;
            }
            s.set(net, jail, None);
            let names = names.get_or_insert_with(|| self.jail_names().unwrap_or_default());
            let label = names
                .get(&jail)
                .cloned()
                .unwrap_or_else(|| format!("#{jail}"));
            match self.plane.unban(net, jail) {
                Ok(_) => log::info!("[{label}] Unban {net} (ban time over)"),
                Err(e) => log::warn!("[{label}] expiring the ban of {net}: {e}"),
            }
        }
        s.next()
    }
}

/// Jail ids are 0..MAX_JAILS.
const MAX_JAILS: u8 = 64;

/// Longest sleep between purges: wall-clock jumps are noticed within it.
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// Time from now until unix second `at` (zero if past).
fn until(at: i64) -> Duration {
    let at = Duration::from_secs(at.max(0) as u64);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    at.saturating_sub(now)
}

/// Removes entries that expired while no daemon ran, then purges expired
/// bans until shutdown turns true.
pub async fn expire<P: BanPlane>(book: Arc<BanBook<P>>, mut shutdown: watch::Receiver<bool>) {
    let b = book.clone();
    match tokio::task::spawn_blocking(move || b.purge_dead()).await {
        Ok(Err(e)) => log::warn!("removing expired entries from the maps: {e}"),
        Err(e) => log::warn!("removing expired entries from the maps: {e}"),
        Ok(Ok(_)) => {}
    }
    loop {
        if *shutdown.borrow() {
            return;
        }
        let sleep = match book.purge(now()) {
            Some(at) => until(at).min(MAX_SLEEP),
            None => MAX_SLEEP,
        };
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = book.changed.notified() => {}
            r = shutdown.changed() => if r.is_err() { return },
        }
    }
}

#[cfg(test)]
pub(crate) mod fake;

#[cfg(test)]
mod tests;
