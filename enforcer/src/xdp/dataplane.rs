//! [`Dataplane`]: the XDP program's pinned maps, opened by path, and the
//! operations the jails, the daemon and the CLI perform on them.
//!
//! Ban semantics: one entry per address or prefix holds a bitmask of the
//! jails that ban it and one kernel expiry. Banning an address another jail
//! already bans adds the jail and keeps the later expiry (permanent wins);
//! unbanning one jail clears its bit and deletes the entry with the last
//! jail (the remaining jails keep the entry's expiry — the daemon lifts
//! them on time; the kernel expiry is the safety net for a dead daemon).
//! An entry whose kernel expiry passed is dead: a new ban replaces it, and
//! [`Dataplane::list`] leaves it out.
use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard},
};

use aya::maps::{
    Array, HashMap, Map, MapData, MapError, MapInfo, PerCpuArray, PerCpuValues,
    lpm_trie::{Key, LpmTrie},
};
use common::{
    AllowValue, BAN_F_OBSERVE, BanValue, CONFIG_F_OBSERVE, Config, Counters, JailName,
    MAP_ALLOW_V4, MAP_ALLOW_V6, MAP_BANS_V4, MAP_BANS_V6, MAP_CONFIG, MAP_COUNTERS, MAP_JAIL_NAMES,
    MAP_PREFIX_V4, MAP_PREFIX_V6, MAP_RULES, MAP_SCOPES, MAX_JAIL_NAME, MAX_JAILS, V4Key, V6Key,
};

use super::{IpNet, JailScope, XdpError, clock::Clocks};

const BPF_ANY: u64 = 0;
const BPF_NOEXIST: u64 = 1;
const BPF_EXIST: u64 = 2;

/// A ban as [`Dataplane::list`] reports it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BanEntry {
    pub net: IpNet,
    /// Names of the banning jails (`#N` for an id without a name).
    pub jails: Vec<String>,
    pub jail_ids: Vec<u8>,
    /// Unix seconds; `None` = permanent.
    pub expiry: Option<i64>,
    /// A dry-run ban: hits are counted, packets pass.
    pub observe: bool,
}

/// Counters summed over CPUs.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    pub packets: u64,
    pub bytes: u64,
    pub passed: u64,
    pub passed_bytes: u64,
    pub dropped: u64,
    pub dropped_bytes: u64,
    /// Would-drops passed in observe mode (included in `passed`).
    pub observed: u64,
    pub observed_bytes: u64,
    /// Jails with a name or a non-zero counter, by id.
    pub jails: Vec<JailStats>,
    pub observe_mode: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct JailStats {
    pub id: u8,
    pub name: Option<String>,
    pub dropped: u64,
    pub dropped_bytes: u64,
    pub observed: u64,
}

struct Maps {
    bans4: HashMap<MapData, V4Key, BanValue>,
    bans6: HashMap<MapData, V6Key, BanValue>,
    pfx4: LpmTrie<MapData, V4Key, BanValue>,
    pfx6: LpmTrie<MapData, V6Key, BanValue>,
    allow4: LpmTrie<MapData, V4Key, AllowValue>,
    allow6: LpmTrie<MapData, V6Key, AllowValue>,
    scopes: Array<MapData, common::JailScope>,
    rules: Array<MapData, common::ScopeRules>,
    jails: Array<MapData, JailName>,
    config: Array<MapData, Config>,
    counters: PerCpuArray<MapData, Counters>,
    /// Capacities, for "map full" messages.
    cap: [u32; 6],
}

/// The pinned maps. Cheap to clone; all clones share one lock, so
/// read-modify-write operations (ban merging, jail slots) are atomic with
/// respect to each other within a process.
#[derive(Clone)]
pub struct Dataplane {
    maps: Arc<Mutex<Maps>>,
    dir: PathBuf,
}

impl std::fmt::Debug for Dataplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataplane")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn open<T>(dir: &Path, name: &'static str) -> Result<(T, u32), XdpError>
where
    T: TryFrom<Map, Error = MapError>,
{
    let path = dir.join(name);
    if !path.exists() {
        return Err(XdpError::NotLoaded(dir.to_path_buf()));
    }
    let data = MapData::from_pin(&path).map_err(|e| XdpError::map(name, e))?;
    let cap = MapInfo::from_pin(&path)
        .map_err(|e| XdpError::map(name, e))?
        .max_entries();
    let map = Map::from_map_data(data).map_err(|e| XdpError::map(name, e))?;
    Ok((T::try_from(map).map_err(|e| XdpError::map(name, e))?, cap))
}

/// Maps an update error: a full map is [`XdpError::MapFull`].
fn update_err(map: &'static str, cap: u32, e: MapError) -> XdpError {
    if let MapError::SyscallError(s) = &e
        && matches!(s.io_error.raw_os_error(), Some(libc::E2BIG | libc::ENOSPC))
    {
        return XdpError::MapFull { map, capacity: cap };
    }
    XdpError::map(map, e)
}

fn errno(e: &MapError) -> Option<i32> {
    match e {
        MapError::SyscallError(s) => s.io_error.raw_os_error(),
        _ => None,
    }
}

fn not_found(e: &MapError) -> bool {
    matches!(e, MapError::KeyNotFound | MapError::ElementNotFound) || errno(e) == Some(libc::ENOENT)
}

fn check_jail(jail_id: u8) -> Result<u64, XdpError> {
    if (jail_id as usize) < MAX_JAILS {
        Ok(1u64 << jail_id)
    } else {
        Err(XdpError::JailIdOutOfRange(jail_id))
    }
}

fn v4(a: Ipv4Addr) -> V4Key {
    V4Key { addr: a.octets() }
}

fn v6(a: Ipv6Addr) -> V6Key {
    V6Key { addr: a.octets() }
}

/// The value after adding jail `bit` with expiry `exp` (0 = permanent) to
/// `old` (None or dead = new entry).
fn merged(old: Option<BanValue>, bit: u64, exp: u64, flags: u32, now: &Clocks) -> BanValue {
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
fn without(old: BanValue, bit: u64) -> Option<BanValue> {
    let jails = old.jails & !bit;
    (jails != 0).then_some(BanValue { jails, ..old })
}

impl Dataplane {
    /// Opens the maps pinned under `bpffs` by a loaded [`super::Program`].
    pub fn open_pinned(bpffs: &Path) -> Result<Dataplane, XdpError> {
        let (bans4, c0) = open(bpffs, MAP_BANS_V4)?;
        let (bans6, c1) = open(bpffs, MAP_BANS_V6)?;
        let (pfx4, c2) = open(bpffs, MAP_PREFIX_V4)?;
        let (pfx6, c3) = open(bpffs, MAP_PREFIX_V6)?;
        let (allow4, c4) = open(bpffs, MAP_ALLOW_V4)?;
        let (allow6, c5) = open(bpffs, MAP_ALLOW_V6)?;
        let maps = Maps {
            bans4,
            bans6,
            pfx4,
            pfx6,
            allow4,
            allow6,
            scopes: open(bpffs, MAP_SCOPES)?.0,
            rules: open(bpffs, MAP_RULES)?.0,
            jails: open(bpffs, MAP_JAIL_NAMES)?.0,
            config: open(bpffs, MAP_CONFIG)?.0,
            counters: open(bpffs, MAP_COUNTERS)?.0,
            cap: [c0, c1, c2, c3, c4, c5],
        };
        Ok(Dataplane {
            maps: Arc::new(Mutex::new(maps)),
            dir: bpffs.to_path_buf(),
        })
    }

    /// The bpffs directory the maps are pinned in.
    pub fn bpffs(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> MutexGuard<'_, Maps> {
        // A panic while holding the lock cannot leave a map half-written
        // (each update is one syscall), so a poisoned lock is still usable.
        self.maps.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Jail slot for a name (0..=63), allocated on first use and persisted
    /// in a pinned map, so ids survive restarts.
    pub fn jail_id(&self, jail: &str) -> Result<u8, XdpError> {
        if jail.is_empty() || jail.len() > MAX_JAIL_NAME {
            return Err(XdpError::BadJailName(jail.to_string()));
        }
        let mut m = self.lock();
        let mut free = None;
        for id in 0..MAX_JAILS as u32 {
            let n = m
                .jails
                .get(&id, 0)
                .map_err(|e| XdpError::map(MAP_JAIL_NAMES, e))?;
            if n.len == 0 {
                free = free.or(Some(id));
            } else if &n.name[..n.len as usize] == jail.as_bytes() {
                return Ok(id as u8);
            }
        }
        let id = free.ok_or_else(|| XdpError::JailSlotsFull(jail.to_string()))?;
        let mut name = JailName {
            len: jail.len() as u8,
            ..Default::default()
        };
        name.name[..jail.len()].copy_from_slice(jail.as_bytes());
        m.jails
            .set(id, name, 0)
            .map_err(|e| XdpError::map(MAP_JAIL_NAMES, e))?;
        // A fresh slot starts with the default scope (everything).
        m.scopes
            .set(id, common::JailScope::default(), 0)
            .map_err(|e| XdpError::map(MAP_SCOPES, e))?;
        compile_into(&mut m)?;
        Ok(id as u8)
    }

    /// Frees jail `jail`'s slot (a jail gone from the configuration): lifts
    /// its bans (entries banned only by it are deleted), resets its scope
    /// and zeroes its counters, so a new jail can take the id. False if no
    /// jail had that name.
    pub fn release_jail(&self, jail: &str) -> Result<bool, XdpError> {
        let Some(id) = self
            .jails()?
            .into_iter()
            .find(|(_, n)| n == jail)
            .map(|(id, _)| id)
        else {
            return Ok(false);
        };
        let bit = 1u64 << id;
        let mut m = self.lock();
        let m = &mut *m;
        let keys: Vec<V4Key> = collect(m.bans4.iter(), MAP_BANS_V4, |(k, v)| {
            (v.jails & bit != 0).then_some(*k)
        })?;
        for k in keys {
            hash_unban(&mut m.bans4, &k, bit, MAP_BANS_V4)?;
        }
        let keys: Vec<V6Key> = collect(m.bans6.iter(), MAP_BANS_V6, |(k, v)| {
            (v.jails & bit != 0).then_some(*k)
        })?;
        for k in keys {
            hash_unban(&mut m.bans6, &k, bit, MAP_BANS_V6)?;
        }
        let keys: Vec<Key<V4Key>> = collect(m.pfx4.iter(), MAP_PREFIX_V4, |(k, v)| {
            (v.jails & bit != 0).then_some(*k)
        })?;
        for k in keys {
            lpm_unban(&mut m.pfx4, &k, bit, MAP_PREFIX_V4)?;
        }
        let keys: Vec<Key<V6Key>> = collect(m.pfx6.iter(), MAP_PREFIX_V6, |(k, v)| {
            (v.jails & bit != 0).then_some(*k)
        })?;
        for k in keys {
            lpm_unban(&mut m.pfx6, &k, bit, MAP_PREFIX_V6)?;
        }
        m.jails
            .set(id.into(), JailName::default(), 0)
            .map_err(|e| XdpError::map(MAP_JAIL_NAMES, e))?;
        m.scopes
            .set(id.into(), common::JailScope::default(), 0)
            .map_err(|e| XdpError::map(MAP_SCOPES, e))?;
        compile_into(m)?;
        // Zero its counters (the kernel may add a packet or two meanwhile).
        let per_cpu = m
            .counters
            .get(&0, 0)
            .map_err(|e| XdpError::map(MAP_COUNTERS, e))?;
        let zeroed: Vec<Counters> = per_cpu
            .iter()
            .map(|c| {
                let mut c = *c;
                c.jail_drops[id as usize] = 0;
                c.jail_observed[id as usize] = 0;
                c.jail_drop_bytes[id as usize] = 0;
                c
            })
            .collect();
        let values = PerCpuValues::try_from(zeroed).map_err(|e| XdpError::Io {
            what: "per-CPU counters",
            path: self.dir.join(MAP_COUNTERS),
            source: e,
        })?;
        m.counters
            .set(0, values, 0)
            .map_err(|e| XdpError::map(MAP_COUNTERS, e))?;
        Ok(true)
    }

    /// Every allocated jail slot: (id, name).
    pub fn jails(&self) -> Result<Vec<(u8, String)>, XdpError> {
        let m = self.lock();
        jail_names(&m).map(|names| {
            names
                .into_iter()
                .enumerate()
                .filter_map(|(i, n)| n.map(|n| (i as u8, n)))
                .collect()
        })
    }

    /// Sets which packets jail `jail_id` drops from its banned sources.
    pub fn set_scope(&self, jail_id: u8, scope: &JailScope) -> Result<(), XdpError> {
        check_jail(jail_id)?;
        let raw = scope.to_raw()?;
        let mut m = self.lock();
        let old = m
            .scopes
            .get(&(jail_id as u32), 0)
            .map_err(|e| XdpError::map(MAP_SCOPES, e))?;
        m.scopes
            .set(jail_id as u32, raw, 0)
            .map_err(|e| XdpError::map(MAP_SCOPES, e))?;
        if let Err(e) = compile_into(&mut m) {
            // Too many distinct rules: keep the previous scope in force.
            let _ = m.scopes.set(jail_id as u32, old, 0);
            return Err(e);
        }
        Ok(())
    }

    /// Recompiles the program's rule table from the per-jail scopes (done
    /// by every scope change and at load).
    pub fn compile_scopes(&self) -> Result<(), XdpError> {
        compile_into(&mut self.lock())
    }

    /// The scope of jail `jail_id`.
    pub fn scope(&self, jail_id: u8) -> Result<JailScope, XdpError> {
        check_jail(jail_id)?;
        let raw = self
            .lock()
            .scopes
            .get(&(jail_id as u32), 0)
            .map_err(|e| XdpError::map(MAP_SCOPES, e))?;
        Ok(JailScope::from_raw(&raw))
    }

    /// Bans `net` (an address, /32 and /128 go to the exact maps, or a
    /// prefix) for jail `jail_id` until `expiry` (unix seconds; None =
    /// permanent). A full map is [`XdpError::MapFull`]; nothing changes.
    pub fn ban(&self, net: IpNet, jail_id: u8, expiry: Option<i64>) -> Result<(), XdpError> {
        self.ban_flags(net, jail_id, expiry, 0)
    }

    /// A dry-run ban: the program counts hits as would-drops and passes.
    pub fn ban_observe(
        &self,
        net: IpNet,
        jail_id: u8,
        expiry: Option<i64>,
    ) -> Result<(), XdpError> {
        self.ban_flags(net, jail_id, expiry, BAN_F_OBSERVE)
    }

    fn ban_flags(
        &self,
        net: IpNet,
        jail_id: u8,
        expiry: Option<i64>,
        flags: u32,
    ) -> Result<(), XdpError> {
        let bit = check_jail(jail_id)?;
        let now = Clocks::now();
        let exp = now.to_kernel(expiry);
        let mut m = self.lock();
        let m = &mut *m;
        match (net.addr(), net.is_host()) {
            (IpAddr::V4(a), true) => {
                let k = v4(a);
                let old = m.bans4.get(&k, 0).ok();
                let v = merged(old, bit, exp, flags, &now);
                m.bans4
                    .insert(k, v, BPF_ANY)
                    .map_err(|e| update_err(MAP_BANS_V4, m.cap[0], e))
            }
            (IpAddr::V6(a), true) => {
                let k = v6(a);
                let old = m.bans6.get(&k, 0).ok();
                let v = merged(old, bit, exp, flags, &now);
                m.bans6
                    .insert(k, v, BPF_ANY)
                    .map_err(|e| update_err(MAP_BANS_V6, m.cap[1], e))
            }
            (IpAddr::V4(a), false) => {
                let k = Key::new(net.prefix_len().into(), v4(a));
                lpm_ban(
                    &mut m.pfx4,
                    &k,
                    bit,
                    exp,
                    flags,
                    &now,
                    MAP_PREFIX_V4,
                    m.cap[2],
                )
            }
            (IpAddr::V6(a), false) => {
                let k = Key::new(net.prefix_len().into(), v6(a));
                lpm_ban(
                    &mut m.pfx6,
                    &k,
                    bit,
                    exp,
                    flags,
                    &now,
                    MAP_PREFIX_V6,
                    m.cap[3],
                )
            }
        }
    }

    /// Lifts jail `jail_id`'s ban on exactly `net`; true if it had one.
    pub fn unban(&self, net: IpNet, jail_id: u8) -> Result<bool, XdpError> {
        let bit = check_jail(jail_id)?;
        self.unban_bits(net, bit)
    }

    /// Lifts every jail's ban on exactly `net`; true if there was one.
    pub fn unban_all_jails(&self, net: IpNet) -> Result<bool, XdpError> {
        self.unban_bits(net, u64::MAX)
    }

    fn unban_bits(&self, net: IpNet, bit: u64) -> Result<bool, XdpError> {
        let mut m = self.lock();
        let m = &mut *m;
        match (net.addr(), net.is_host()) {
            (IpAddr::V4(a), true) => hash_unban(&mut m.bans4, &v4(a), bit, MAP_BANS_V4),
            (IpAddr::V6(a), true) => hash_unban(&mut m.bans6, &v6(a), bit, MAP_BANS_V6),
            (IpAddr::V4(a), false) => {
                let k = Key::new(net.prefix_len().into(), v4(a));
                lpm_unban(&mut m.pfx4, &k, bit, MAP_PREFIX_V4)
            }
            (IpAddr::V6(a), false) => {
                let k = Key::new(net.prefix_len().into(), v6(a));
                lpm_unban(&mut m.pfx6, &k, bit, MAP_PREFIX_V6)
            }
        }
    }

    /// Every ban in force (expired entries are left out).
    pub fn list(&self) -> Result<Vec<BanEntry>, XdpError> {
        let now = Clocks::now();
        let m = self.lock();
        let names = jail_names(&m)?;
        let mut out = Vec::new();
        let mut push = |net: IpNet, v: BanValue| {
            if now.expired(v.expires_ns) {
                return;
            }
            let ids: Vec<u8> = (0..MAX_JAILS as u8)
                .filter(|j| v.jails & (1 << j) != 0)
                .collect();
            out.push(BanEntry {
                net,
                jails: ids
                    .iter()
                    .map(|&j| names[j as usize].clone().unwrap_or_else(|| format!("#{j}")))
                    .collect(),
                jail_ids: ids,
                expiry: now.to_wall(v.expires_ns),
                observe: v.flags & BAN_F_OBSERVE != 0,
            });
        };
        for r in m.bans4.iter() {
            let (k, v) = r.map_err(|e| XdpError::map(MAP_BANS_V4, e))?;
            push(IpNet::host(Ipv4Addr::from(k.addr).into()), v);
        }
        for r in m.bans6.iter() {
            let (k, v) = r.map_err(|e| XdpError::map(MAP_BANS_V6, e))?;
            push(IpNet::host(Ipv6Addr::from(k.addr).into()), v);
        }
        for r in m.pfx4.iter() {
            let (k, v) = r.map_err(|e| XdpError::map(MAP_PREFIX_V4, e))?;
            push(
                lpm_net(Ipv4Addr::from(k.data().addr).into(), k.prefix_len()),
                v,
            );
        }
        for r in m.pfx6.iter() {
            let (k, v) = r.map_err(|e| XdpError::map(MAP_PREFIX_V6, e))?;
            push(
                lpm_net(Ipv6Addr::from(k.data().addr).into(), k.prefix_len()),
                v,
            );
        }
        out.sort_by_key(|a| a.net);
        Ok(out)
    }

    /// Deletes entries whose kernel expiry passed; returns how many.
    pub fn purge_expired(&self) -> Result<usize, XdpError> {
        self.remove_where(|v, now| now.expired(v.expires_ns))
    }

    /// Deletes every ban; returns how many entries went.
    pub fn clear(&self) -> Result<usize, XdpError> {
        self.remove_where(|_, _| true)
    }

    fn remove_where(&self, pred: impl Fn(&BanValue, &Clocks) -> bool) -> Result<usize, XdpError> {
        let now = Clocks::now();
        let mut m = self.lock();
        let m = &mut *m;
        let mut n = 0;
        let doomed: Vec<V4Key> = collect(m.bans4.iter(), MAP_BANS_V4, |(k, v)| {
            pred(v, &now).then_some(*k)
        })?;
        for k in doomed {
            n += remove_ok(m.bans4.remove(&k), MAP_BANS_V4)?;
        }
        let doomed: Vec<V6Key> = collect(m.bans6.iter(), MAP_BANS_V6, |(k, v)| {
            pred(v, &now).then_some(*k)
        })?;
        for k in doomed {
            n += remove_ok(m.bans6.remove(&k), MAP_BANS_V6)?;
        }
        let doomed: Vec<Key<V4Key>> = collect(m.pfx4.iter(), MAP_PREFIX_V4, |(k, v)| {
            pred(v, &now).then_some(*k)
        })?;
        for k in doomed {
            n += remove_ok(m.pfx4.remove(&k), MAP_PREFIX_V4)?;
        }
        let doomed: Vec<Key<V6Key>> = collect(m.pfx6.iter(), MAP_PREFIX_V6, |(k, v)| {
            pred(v, &now).then_some(*k)
        })?;
        for k in doomed {
            n += remove_ok(m.pfx6.remove(&k), MAP_PREFIX_V6)?;
        }
        Ok(n)
    }

    /// Allow-lists `net`: its packets pass whatever bans say.
    pub fn allow_add(&self, net: IpNet) -> Result<(), XdpError> {
        let mut m = self.lock();
        let v = AllowValue { flags: 0 };
        match net.addr() {
            IpAddr::V4(a) => {
                let cap = m.cap[4];
                m.allow4
                    .insert(&Key::new(net.prefix_len().into(), v4(a)), v, BPF_ANY)
                    .map_err(|e| update_err(MAP_ALLOW_V4, cap, e))
            }
            IpAddr::V6(a) => {
                let cap = m.cap[5];
                m.allow6
                    .insert(&Key::new(net.prefix_len().into(), v6(a)), v, BPF_ANY)
                    .map_err(|e| update_err(MAP_ALLOW_V6, cap, e))
            }
        }
    }

    /// Removes exactly `net` from the allow list; true if it was there.
    pub fn allow_remove(&self, net: IpNet) -> Result<bool, XdpError> {
        let mut m = self.lock();
        let r = match net.addr() {
            IpAddr::V4(a) => m.allow4.remove(&Key::new(net.prefix_len().into(), v4(a))),
            IpAddr::V6(a) => m.allow6.remove(&Key::new(net.prefix_len().into(), v6(a))),
        };
        let map = if net.addr().is_ipv4() {
            MAP_ALLOW_V4
        } else {
            MAP_ALLOW_V6
        };
        Ok(remove_ok(r, map)? == 1)
    }

    /// The allow list.
    pub fn allow_list(&self) -> Result<Vec<IpNet>, XdpError> {
        let m = self.lock();
        let mut out = Vec::new();
        for r in m.allow4.keys() {
            let k = r.map_err(|e| XdpError::map(MAP_ALLOW_V4, e))?;
            out.push(lpm_net(
                Ipv4Addr::from(k.data().addr).into(),
                k.prefix_len(),
            ));
        }
        for r in m.allow6.keys() {
            let k = r.map_err(|e| XdpError::map(MAP_ALLOW_V6, e))?;
            out.push(lpm_net(
                Ipv6Addr::from(k.data().addr).into(),
                k.prefix_len(),
            ));
        }
        out.sort();
        Ok(out)
    }

    /// Observe mode: count would-drops, pass everything.
    pub fn set_observe(&self, on: bool) -> Result<(), XdpError> {
        let mut m = self.lock();
        let mut c = m
            .config
            .get(&0, 0)
            .map_err(|e| XdpError::map(MAP_CONFIG, e))?;
        if on {
            c.flags |= CONFIG_F_OBSERVE;
        } else {
            c.flags &= !CONFIG_F_OBSERVE;
        }
        m.config
            .set(0, c, 0)
            .map_err(|e| XdpError::map(MAP_CONFIG, e))
    }

    pub fn observe(&self) -> Result<bool, XdpError> {
        let c = self
            .lock()
            .config
            .get(&0, 0)
            .map_err(|e| XdpError::map(MAP_CONFIG, e))?;
        Ok(c.flags & CONFIG_F_OBSERVE != 0)
    }

    /// The program's counters, summed over CPUs.
    pub fn stats(&self) -> Result<Stats, XdpError> {
        let m = self.lock();
        let per_cpu = m
            .counters
            .get(&0, 0)
            .map_err(|e| XdpError::map(MAP_COUNTERS, e))?;
        let mut s = Stats::default();
        let mut drops = [0u64; MAX_JAILS];
        let mut observed = [0u64; MAX_JAILS];
        let mut drop_bytes = [0u64; MAX_JAILS];
        for c in per_cpu.iter() {
            s.packets += c.seen_packets;
            s.bytes += c.seen_bytes;
            s.passed += c.passed_packets;
            s.passed_bytes += c.passed_bytes;
            s.dropped += c.dropped_packets;
            s.dropped_bytes += c.dropped_bytes;
            s.observed += c.observed_packets;
            s.observed_bytes += c.observed_bytes;
            for j in 0..MAX_JAILS {
                drops[j] += c.jail_drops[j];
                observed[j] += c.jail_observed[j];
                drop_bytes[j] += c.jail_drop_bytes[j];
            }
        }
        let names = jail_names(&m)?;
        for j in 0..MAX_JAILS {
            if names[j].is_some() || drops[j] != 0 || observed[j] != 0 {
                s.jails.push(JailStats {
                    id: j as u8,
                    name: names[j].clone(),
                    dropped: drops[j],
                    dropped_bytes: drop_bytes[j],
                    observed: observed[j],
                });
            }
        }
        let c = m
            .config
            .get(&0, 0)
            .map_err(|e| XdpError::map(MAP_CONFIG, e))?;
        s.observe_mode = c.flags & CONFIG_F_OBSERVE != 0;
        Ok(s)
    }
}

fn compile_into(m: &mut Maps) -> Result<(), XdpError> {
    let mut scopes = [common::JailScope::default(); MAX_JAILS];
    for (id, s) in scopes.iter_mut().enumerate() {
        *s = m
            .scopes
            .get(&(id as u32), 0)
            .map_err(|e| XdpError::map(MAP_SCOPES, e))?;
    }
    let table = super::scope::compile(&scopes)?;
    m.rules
        .set(0, table, 0)
        .map_err(|e| XdpError::map(MAP_RULES, e))
}

fn jail_names(m: &Maps) -> Result<Vec<Option<String>>, XdpError> {
    (0..MAX_JAILS as u32)
        .map(|id| {
            let n = m
                .jails
                .get(&id, 0)
                .map_err(|e| XdpError::map(MAP_JAIL_NAMES, e))?;
            let len = (n.len as usize).min(MAX_JAIL_NAME);
            Ok((len > 0).then(|| String::from_utf8_lossy(&n.name[..len]).into_owned()))
        })
        .collect()
}

fn lpm_net(addr: IpAddr, prefix: u32) -> IpNet {
    IpNet::new(addr, prefix.min(128) as u8).unwrap_or_else(|_| IpNet::host(addr))
}

fn collect<I, T, K>(
    iter: I,
    map: &'static str,
    f: impl Fn(&(K, BanValue)) -> Option<T>,
) -> Result<Vec<T>, XdpError>
where
    I: Iterator<Item = Result<(K, BanValue), MapError>>,
{
    let mut out = Vec::new();
    for r in iter {
        let kv = r.map_err(|e| XdpError::map(map, e))?;
        out.extend(f(&kv));
    }
    Ok(out)
}

/// 1 if removed, 0 if it was not there.
fn remove_ok(r: Result<(), MapError>, map: &'static str) -> Result<usize, XdpError> {
    match r {
        Ok(()) => Ok(1),
        Err(e) if not_found(&e) => Ok(0),
        Err(e) => Err(XdpError::map(map, e)),
    }
}

fn hash_unban<K: aya::Pod>(
    map: &mut HashMap<MapData, K, BanValue>,
    k: &K,
    bit: u64,
    name: &'static str,
) -> Result<bool, XdpError> {
    let old = match map.get(k, 0) {
        Ok(v) => v,
        Err(e) if not_found(&e) => return Ok(false),
        Err(e) => return Err(XdpError::map(name, e)),
    };
    if old.jails & bit == 0 {
        return Ok(false);
    }
    match without(old, bit) {
        None => Ok(remove_ok(map.remove(k), name)? == 1),
        Some(v) => map
            .insert(k, v, BPF_EXIST)
            .map(|()| true)
            .map_err(|e| XdpError::map(name, e)),
    }
}

/// LPM lookups return the longest match, which may be a shorter prefix
/// than `k`; the NOEXIST/EXIST flags make every write exact.
#[allow(clippy::too_many_arguments)]
fn lpm_ban<K: aya::Pod>(
    map: &mut LpmTrie<MapData, K, BanValue>,
    k: &Key<K>,
    bit: u64,
    exp: u64,
    flags: u32,
    now: &Clocks,
    name: &'static str,
    cap: u32,
) -> Result<(), XdpError> {
    let fresh = merged(None, bit, exp, flags, now);
    match map.insert(k, fresh, BPF_NOEXIST) {
        Ok(()) => return Ok(()),
        Err(e) if errno(&e) == Some(libc::EEXIST) => {}
        Err(e) => return Err(update_err(name, cap, e)),
    }
    // The exact entry exists, so the longest match is that entry.
    let old = map.get(k, 0).map_err(|e| XdpError::map(name, e))?;
    let v = merged(Some(old), bit, exp, flags, now);
    map.insert(k, v, BPF_EXIST)
        .map_err(|e| update_err(name, cap, e))
}

fn lpm_unban<K: aya::Pod>(
    map: &mut LpmTrie<MapData, K, BanValue>,
    k: &Key<K>,
    bit: u64,
    name: &'static str,
) -> Result<bool, XdpError> {
    let old = match map.get(k, 0) {
        Ok(v) => v,
        Err(e) if not_found(&e) => return Ok(false),
        Err(e) => return Err(XdpError::map(name, e)),
    };
    // `old` may belong to a shorter prefix; the exact-match writes below
    // then fail with ENOENT and nothing changes.
    if old.jails & bit == 0 {
        return Ok(false);
    }
    let r = match without(old, bit) {
        None => map.remove(k),
        Some(v) => map.insert(k, v, BPF_EXIST),
    };
    Ok(remove_ok(r, name)? == 1)
}

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
        let o = merged(None, 1, 0, BAN_F_OBSERVE, &now);
        assert_eq!(o.flags, BAN_F_OBSERVE);
        assert_eq!(
            merged(Some(o), 2, 0, BAN_F_OBSERVE, &now).flags,
            BAN_F_OBSERVE
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

    #[test]
    fn jail_ids_are_bounded() {
        assert_eq!(check_jail(0).unwrap(), 1);
        assert_eq!(check_jail(63).unwrap(), 1 << 63);
        assert!(check_jail(64).is_err());
    }

    #[test]
    fn lpm_key_encoding_is_the_kernels() {
        // struct bpf_lpm_trie_key: __u32 prefixlen (host order), then data.
        let k = Key::new(
            24,
            V4Key {
                addr: [198, 18, 1, 0],
            },
        );
        // SAFETY: Key<V4Key> is packed plain data of 8 bytes.
        let bytes: [u8; 8] = unsafe { std::mem::transmute(k) };
        assert_eq!(bytes, [24, 0, 0, 0, 198, 18, 1, 0]);
        let k = Key::new(
            48,
            V6Key {
                addr: "2001:db8:1::".parse::<Ipv6Addr>().unwrap().octets(),
            },
        );
        assert_eq!(std::mem::size_of_val(&k), 20);
    }

    #[test]
    fn exact_keys_are_network_order() {
        assert_eq!(v4("198.18.0.1".parse().unwrap()).addr, [198, 18, 0, 1]);
        assert_eq!(
            v6("2001:db8::1".parse().unwrap()).addr[..4],
            [0x20, 0x01, 0x0d, 0xb8]
        );
    }
}
