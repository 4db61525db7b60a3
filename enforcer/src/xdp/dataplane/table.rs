//! One ban map (exact hash map or prefix LPM trie) behind [`BanMap`], and
//! the ban semantics written once for both in [`Table`]: merging a jail's
//! bit and expiry into an entry, clearing it, deleting the entry with its
//! last jail, and the batched forms the daemon uses for bulk loads.
use std::os::fd::OwnedFd;

use aya::{
    Pod,
    maps::{HashMap, MapData, MapError, lpm_trie::Key, lpm_trie::LpmTrie},
};
use common::BanValue;

use super::super::{XdpError, batch, clock::Clocks};

pub(super) const BPF_ANY: u64 = 0;
pub(super) const BPF_NOEXIST: u64 = 1;
pub(super) const BPF_EXIST: u64 = 2;

/// Entries moved per batch syscall.
const CHUNK: usize = 8192;

/// A bulk ban reads the whole map to merge with when the map holds at most
/// this many entries per key banned (a restore into empty maps, a restart
/// re-adopting its pins); otherwise it looks each key up.
const READ_ALL_FACTOR: usize = 4;

/// What the ban logic needs from one aya map. Lookups are by exact key in a
/// hash map and longest match in an LPM trie; writes and deletes are exact
/// in both, which is what [`Table`]'s algorithms rely on.
/// Entries of a map, as aya's iterators yield them.
pub(super) type Entries<'a, K> = Box<dyn Iterator<Item = Result<(K, BanValue), MapError>> + 'a>;

pub(super) trait BanMap {
    type Key: Pod;
    fn lookup(&self, k: &Self::Key) -> Result<BanValue, MapError>;
    fn write(&mut self, k: &Self::Key, v: BanValue, flags: u64) -> Result<(), MapError>;
    fn delete(&mut self, k: &Self::Key) -> Result<(), MapError>;
    fn entries(&self) -> Entries<'_, Self::Key>;
}

impl<K: Pod> BanMap for HashMap<MapData, K, BanValue> {
    type Key = K;
    fn lookup(&self, k: &K) -> Result<BanValue, MapError> {
        self.get(k, 0)
    }
    fn write(&mut self, k: &K, v: BanValue, flags: u64) -> Result<(), MapError> {
        self.insert(k, v, flags)
    }
    fn delete(&mut self, k: &K) -> Result<(), MapError> {
        self.remove(k)
    }
    fn entries(&self) -> Entries<'_, K> {
        Box::new(self.iter())
    }
}

impl<K: Pod> BanMap for LpmTrie<MapData, K, BanValue> {
    type Key = Key<K>;
    fn lookup(&self, k: &Key<K>) -> Result<BanValue, MapError> {
        self.get(k, 0)
    }
    fn write(&mut self, k: &Key<K>, v: BanValue, flags: u64) -> Result<(), MapError> {
        self.insert(k, v, flags)
    }
    fn delete(&mut self, k: &Key<K>) -> Result<(), MapError> {
        self.remove(k)
    }
    fn entries(&self) -> Entries<'_, Key<K>> {
        Box::new(self.iter())
    }
}

/// A ban map with its name and capacity (for errors) and, for hash maps,
/// a descriptor of our own for the batch syscalls (LPM tries have none).
pub(super) struct Table<M> {
    pub map: M,
    pub name: &'static str,
    pub cap: u32,
    pub batch_fd: Option<OwnedFd>,
}

/// Maps an update error: a full map is [`XdpError::MapFull`].
pub(super) fn update_err(map: &'static str, cap: u32, e: MapError) -> XdpError {
    if let MapError::SyscallError(s) = &e
        && matches!(s.io_error.raw_os_error(), Some(libc::E2BIG | libc::ENOSPC))
    {
        return XdpError::MapFull { map, capacity: cap };
    }
    XdpError::map(map, e)
}

pub(super) fn errno(e: &MapError) -> Option<i32> {
    match e {
        MapError::SyscallError(s) => s.io_error.raw_os_error(),
        _ => None,
    }
}

pub(super) fn not_found(e: &MapError) -> bool {
    matches!(e, MapError::KeyNotFound | MapError::ElementNotFound) || errno(e) == Some(libc::ENOENT)
}

fn sys_err(call: &'static str, io_error: std::io::Error) -> MapError {
    MapError::SyscallError(aya::sys::SyscallError { call, io_error })
}

/// 1 if removed, 0 if it was not there.
pub(super) fn remove_ok(r: Result<(), MapError>, map: &'static str) -> Result<usize, XdpError> {
    match r {
        Ok(()) => Ok(1),
        Err(e) if not_found(&e) => Ok(0),
        Err(e) => Err(XdpError::map(map, e)),
    }
}

/// The value after adding jail `bit` with expiry `exp` (0 = permanent) to
/// `old` (None or dead = new entry).
pub(super) fn merged(
    old: Option<BanValue>,
    bit: u64,
    exp: u64,
    flags: u32,
    now: &Clocks,
) -> BanValue {
    match old {
        Some(o) if !now.expired(o.expires_ns) => BanValue {
            jails: o.jails | bit,
            expires_ns: if o.expires_ns == 0 || exp == 0 {
                0
            } else {
                o.expires_ns.max(exp)
            },
            // An enforcing ban wins over a dry-run one.
            flags: o.flags & flags,
            _pad: 0,
        },
        _ => BanValue {
            jails: bit,
            expires_ns: exp,
            flags,
            _pad: 0,
        },
    }
}

/// The value after removing jail `bit`; `None` = delete the entry.
pub(super) fn without(old: BanValue, bit: u64) -> Option<BanValue> {
    let jails = old.jails & !bit;
    (jails != 0).then_some(BanValue { jails, ..old })
}

/// Adds jail `bit` to `k` in `map`. A new key costs one write; an
/// existing one is read and merged. After NOEXIST failed the exact entry
/// exists, so even an LPM lookup returns that entry.
#[allow(clippy::too_many_arguments)]
fn ban_in<M: BanMap>(
    map: &mut M,
    name: &'static str,
    cap: u32,
    k: &M::Key,
    bit: u64,
    exp: u64,
    flags: u32,
    now: &Clocks,
) -> Result<(), XdpError> {
    let fresh = merged(None, bit, exp, flags, now);
    match map.write(k, fresh, BPF_NOEXIST) {
        Ok(()) => return Ok(()),
        Err(e) if errno(&e) == Some(libc::EEXIST) => {}
        Err(e) => return Err(update_err(name, cap, e)),
    }
    let old = match map.lookup(k) {
        Ok(v) => Some(v),
        // Deleted meanwhile (another process): write it fresh.
        Err(e) if not_found(&e) => None,
        Err(e) => return Err(XdpError::map(name, e)),
    };
    let v = merged(old, bit, exp, flags, now);
    map.write(k, v, BPF_ANY)
        .map_err(|e| update_err(name, cap, e))
}

impl<M: BanMap> Table<M> {
    /// Adds jail `bit` to `k` (see [`ban_in`]).
    pub fn ban(
        &mut self,
        k: &M::Key,
        bit: u64,
        exp: u64,
        flags: u32,
        now: &Clocks,
    ) -> Result<(), XdpError> {
        ban_in(&mut self.map, self.name, self.cap, k, bit, exp, flags, now)
    }

    /// Clears `bit` on exactly `k`; deletes the entry with its last jail.
    /// True if `k` had `bit`. An LPM lookup may return a shorter prefix
    /// than `k`: the exact-key writes then fail with ENOENT and nothing
    /// changes.
    pub fn unban(&mut self, k: &M::Key, bit: u64) -> Result<bool, XdpError> {
        let old = match self.map.lookup(k) {
            Ok(v) => v,
            Err(e) if not_found(&e) => return Ok(false),
            Err(e) => return Err(XdpError::map(self.name, e)),
        };
        if old.jails & bit == 0 {
            return Ok(false);
        }
        let r = match without(old, bit) {
            None => self.map.delete(k),
            Some(v) => self.map.write(k, v, BPF_EXIST),
        };
        Ok(remove_ok(r, self.name)? == 1)
    }

    /// Every entry (batched for hash maps).
    pub fn all(&self) -> Result<Vec<(M::Key, BanValue)>, XdpError> {
        if let Some(fd) = &self.batch_fd {
            return batch::lookup_all(fd, CHUNK)
                .map_err(|e| XdpError::map(self.name, sys_err("bpf_map_lookup_batch", e)));
        }
        self.map
            .entries()
            .map(|r| r.map_err(|e| XdpError::map(self.name, e)))
            .collect()
    }

    /// Keys whose entry satisfies `f`.
    pub fn keys_where(&self, f: impl Fn(&BanValue) -> bool) -> Result<Vec<M::Key>, XdpError> {
        Ok(self
            .all()?
            .into_iter()
            .filter_map(|(k, v)| f(&v).then_some(k))
            .collect())
    }

    /// Deletes `keys`; how many were there.
    pub fn delete_keys(&mut self, keys: &[M::Key]) -> Result<usize, XdpError> {
        let Some(fd) = &self.batch_fd else {
            let mut n = 0;
            for k in keys {
                n += remove_ok(self.map.delete(k), self.name)?;
            }
            return Ok(n);
        };
        let mut n = 0;
        let mut rest = keys;
        while !rest.is_empty() {
            let len = rest.len().min(CHUNK);
            match batch::delete(fd, &rest[..len]) {
                Ok(()) => {
                    n += len;
                    rest = &rest[len..];
                }
                // A key gone meanwhile: skip it, go on after it.
                Err((done, e)) if e.raw_os_error() == Some(libc::ENOENT) => {
                    n += done;
                    rest = &rest[done + 1..];
                }
                Err((_, e)) => {
                    return Err(XdpError::map(self.name, sys_err("bpf_map_delete_batch", e)));
                }
            }
        }
        Ok(n)
    }

    /// Clears `bit` on every entry `pick` selects (by key) that has it, in
    /// one pass over the map: entries left without a jail go by the batch
    /// delete, the others are rewritten one by one. How many had `bit`.
    pub fn unban_where(
        &mut self,
        bit: u64,
        pick: impl Fn(&M::Key) -> bool,
    ) -> Result<usize, XdpError> {
        let mut doomed = Vec::new();
        let mut rewrite = Vec::new();
        for (k, v) in self.all()? {
            if v.jails & bit == 0 || !pick(&k) {
                continue;
            }
            match without(v, bit) {
                None => doomed.push(k),
                Some(v) => rewrite.push((k, v)),
            }
        }
        let mut n = self.delete_keys(&doomed)?;
        for (k, v) in rewrite {
            n += remove_ok(self.map.write(&k, v, BPF_EXIST), self.name)?;
        }
        Ok(n)
    }

    /// Adds jail `bit` to every key with its expiry, one at a time (LPM
    /// tries have no batch operations). `Err((done, e))` as `ban_many`.
    pub fn ban_each(
        &mut self,
        keys: &[M::Key],
        exps: &[u64],
        bit: u64,
        flags: u32,
        now: &Clocks,
    ) -> Result<(), (usize, XdpError)> {
        for (i, (k, exp)) in keys.iter().zip(exps).enumerate() {
            self.ban(k, bit, *exp, flags, now).map_err(|e| (i, e))?;
        }
        Ok(())
    }

    /// Clears `bit` on each of `keys` (as [`Table::unban`]); how many had it.
    pub fn unban_many(&mut self, keys: &[M::Key], bit: u64) -> Result<usize, XdpError> {
        let mut n = 0;
        for k in keys {
            n += usize::from(self.unban(k, bit)?);
        }
        Ok(n)
    }

    /// Adds jail `bit` to every key with its expiry (`exps[i]`), in order,
    /// writing by the batch (one syscall per [`CHUNK`]). The batch write
    /// takes no NOEXIST, so what is there already is read first
    /// ([`Table::snapshot`]). `Err((done, e))`: the first `done` keys are
    /// banned.
    pub fn ban_many(
        &mut self,
        keys: &[M::Key],
        exps: &[u64],
        bit: u64,
        flags: u32,
        now: &Clocks,
    ) -> Result<(), (usize, XdpError)>
    where
        M::Key: std::hash::Hash + Eq,
    {
        if self.batch_fd.is_none() {
            return self.ban_each(keys, exps, bit, flags, now);
        }
        let old = self.snapshot(keys.len()).map_err(|e| (0, e))?;
        self.ban_merged(keys, exps, bit, flags, now, old.as_ref())
    }

    /// What a bulk ban of `want` keys merges with: the whole map, read by
    /// the batch, when it holds at most [`READ_ALL_FACTOR`] times `want`
    /// entries (a restore into empty maps, a restart re-adopting its
    /// pins); `None` (look each key up) otherwise. Taken once for a whole
    /// restore written in chunks: a chunk written since must not make the
    /// next one look its keys up one by one.
    pub fn snapshot(&self, want: usize) -> Result<Snapshot<M::Key>, XdpError>
    where
        M::Key: std::hash::Hash + Eq,
    {
        let Some(fd) = &self.batch_fd else {
            return Ok(None);
        };
        let limit = want.saturating_mul(READ_ALL_FACTOR).max(CHUNK);
        let all = batch::lookup_upto::<M::Key, BanValue>(fd, CHUNK, limit)
            .map_err(|e| XdpError::map(self.name, sys_err("bpf_map_lookup_batch", e)))?;
        Ok(all.map(|all| all.into_iter().collect()))
    }

    /// [`Table::ban_many`] merging with `old` (from [`Table::snapshot`]).
    pub fn ban_merged(
        &mut self,
        keys: &[M::Key],
        exps: &[u64],
        bit: u64,
        flags: u32,
        now: &Clocks,
        old: Option<&ByKey<M::Key>>,
    ) -> Result<(), (usize, XdpError)>
    where
        M::Key: std::hash::Hash + Eq,
    {
        debug_assert_eq!(keys.len(), exps.len());
        let Some(fd) = &self.batch_fd else {
            return self.ban_each(keys, exps, bit, flags, now);
        };
        let name = self.name;
        let values: Vec<BanValue> = match old {
            Some(old) => keys
                .iter()
                .zip(exps)
                .map(|(k, &exp)| merged(old.get(k).copied(), bit, exp, flags, now))
                .collect(),
            None => {
                let mut v = Vec::with_capacity(keys.len());
                for (i, (k, &exp)) in keys.iter().zip(exps).enumerate() {
                    let old = match self.map.lookup(k) {
                        Ok(o) => Some(o),
                        Err(e) if not_found(&e) => None,
                        Err(e) => return Err((i, XdpError::map(name, e))),
                    };
                    v.push(merged(old, bit, exp, flags, now));
                }
                v
            }
        };
        let mut at = 0;
        while at < keys.len() {
            let len = (keys.len() - at).min(CHUNK);
            let range = at..at + len;
            batch::update(fd, &keys[range.clone()], &values[range]).map_err(|(done, e)| {
                let e = update_err(name, self.cap, sys_err("bpf_map_update_batch", e));
                (at + done, e)
            })?;
            at += len;
        }
        Ok(())
    }
}

/// A map's entries before a bulk ban, by key.
pub(super) type ByKey<K> = std::collections::HashMap<K, BanValue, foldhash::fast::RandomState>;

/// [`Table::snapshot`]: the entries, or `None` when too many to read.
pub(super) type Snapshot<K> = Option<ByKey<K>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn clocks() -> Clocks {
        Clocks {
            wall_ns: 1_700_000_000_000_000_000,
            boot_ns: 1_000,
        }
    }

    #[test]
    fn merge_keeps_latest_expiry_and_permanent_wins() {
        let now = clocks();
        let a = merged(None, 1, 5_000, 0, &now);
        assert_eq!((a.jails, a.expires_ns), (1, 5_000));
        let b = merged(Some(a), 2, 9_000, 0, &now);
        assert_eq!((b.jails, b.expires_ns), (3, 9_000));
        let c = merged(Some(b), 4, 2_000, 0, &now);
        assert_eq!((c.jails, c.expires_ns), (7, 9_000));
        let d = merged(Some(c), 8, 0, 0, &now);
        assert_eq!((d.jails, d.expires_ns), (15, 0));
        let e = merged(Some(d), 1, 3_000, 0, &now);
        assert_eq!(e.expires_ns, 0);
    }

    #[test]
    fn merge_replaces_a_dead_entry() {
        let now = clocks();
        let dead = BanValue {
            jails: 0b110,
            expires_ns: 500,
            flags: 0,
            _pad: 0,
        };
        let v = merged(Some(dead), 1, 0, 0, &now);
        assert_eq!((v.jails, v.expires_ns), (1, 0));
    }

    #[test]
    fn enforcing_beats_observe() {
        let now = clocks();
        let o = merged(None, 1, 0, common::BAN_F_OBSERVE, &now);
        assert_eq!(o.flags, common::BAN_F_OBSERVE);
        assert_eq!(
            merged(Some(o), 2, 0, common::BAN_F_OBSERVE, &now).flags,
            common::BAN_F_OBSERVE
        );
        assert_eq!(merged(Some(o), 2, 0, 0, &now).flags, 0);
    }

    #[test]
    fn unban_clears_one_bit_or_deletes() {
        let v = BanValue {
            jails: 0b101,
            expires_ns: 7,
            flags: 0,
            _pad: 0,
        };
        let w = without(v, 0b100).unwrap();
        assert_eq!((w.jails, w.expires_ns), (0b001, 7));
        assert_eq!(without(w, 0b001), None);
        assert_eq!(without(v, u64::MAX), None);
    }
}
