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
//!
//! - this file: opening the maps, bans and unbans (one or many), listing,
//!   purging;
//! - [`table`]: the ban semantics over one map, written once for hash maps
//!   and LPM tries, with the batched bulk paths;
//! - [`jails`]: jail slots and scopes; [`allow`]: the allow list;
//!   [`stats`]: counters and observe mode.
mod allow;
mod jails;
mod stats;
mod table;

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard},
};

use aya::maps::{
    Array, HashMap, Map, MapData, MapError, PerCpuArray,
    lpm_trie::{Key, LpmTrie},
};
use common::{
    AllowValue, BAN_F_OBSERVE, BanValue, Config, Counters, JailName, MAP_ALLOW_V4, MAP_ALLOW_V6,
    MAP_BANS_V4, MAP_BANS_V6, MAP_CONFIG, MAP_COUNTERS, MAP_JAIL_NAMES, MAP_PREFIX_V4,
    MAP_PREFIX_V6, MAP_RULES, MAP_SCOPES, MAX_JAILS, V4Key, V6Key,
};

pub use stats::{JailStats, Stats};
use table::Table;

use super::{IpNet, XdpError, batch, clock::Clocks};
use jails::{check_jail, jail_names};

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

struct Maps {
    bans4: Table<HashMap<MapData, V4Key, BanValue>>,
    bans6: Table<HashMap<MapData, V6Key, BanValue>>,
    pfx4: Table<LpmTrie<MapData, V4Key, BanValue>>,
    pfx6: Table<LpmTrie<MapData, V6Key, BanValue>>,
    allow4: LpmTrie<MapData, V4Key, AllowValue>,
    allow6: LpmTrie<MapData, V6Key, AllowValue>,
    scopes: Array<MapData, common::JailScope>,
    rules: Array<MapData, common::ScopeRules>,
    jails: Array<MapData, JailName>,
    config: Array<MapData, Config>,
    counters: PerCpuArray<MapData, Counters>,
    /// Allow-list capacities, for "map full" messages.
    allow_cap: [u32; 2],
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

/// Opens the map pinned as `name`; with `batch`, also a descriptor of our
/// own for the batch syscalls.
fn open_with<T>(
    dir: &Path,
    name: &'static str,
    batch: bool,
) -> Result<(T, u32, Option<std::os::fd::OwnedFd>), XdpError>
where
    T: TryFrom<Map, Error = MapError>,
{
    let path = dir.join(name);
    if !path.exists() {
        return Err(XdpError::NotLoaded(dir.to_path_buf()));
    }
    let io = |source| XdpError::Io {
        what: "opening pinned map",
        path: path.clone(),
        source,
    };
    let (data, fd) = if batch {
        let fd = batch::obj_get(&path).map_err(io)?;
        let dup = fd.try_clone().map_err(io)?;
        (
            MapData::from_fd(dup).map_err(|e| XdpError::map(name, e))?,
            Some(fd),
        )
    } else {
        (
            MapData::from_pin(&path).map_err(|e| XdpError::map(name, e))?,
            None,
        )
    };
    let cap = data
        .info()
        .map_err(|e| XdpError::map(name, e))?
        .max_entries();
    let map = Map::from_map_data(data).map_err(|e| XdpError::map(name, e))?;
    Ok((
        T::try_from(map).map_err(|e| XdpError::map(name, e))?,
        cap,
        fd,
    ))
}

fn open<T>(dir: &Path, name: &'static str) -> Result<(T, u32), XdpError>
where
    T: TryFrom<Map, Error = MapError>,
{
    open_with(dir, name, false).map(|(t, cap, _)| (t, cap))
}

fn table<M>(dir: &Path, name: &'static str, batch: bool) -> Result<Table<M>, XdpError>
where
    M: TryFrom<Map, Error = MapError>,
{
    let (map, cap, batch_fd) = open_with(dir, name, batch)?;
    Ok(Table {
        map,
        name,
        cap,
        batch_fd,
    })
}

fn v4(a: Ipv4Addr) -> V4Key {
    V4Key { addr: a.octets() }
}

fn v6(a: Ipv6Addr) -> V6Key {
    V6Key { addr: a.octets() }
}

/// Which map a target goes to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Host4,
    Host6,
    Pfx4,
    Pfx6,
}

fn kind(net: &IpNet) -> Kind {
    match (net.addr(), net.is_host()) {
        (IpAddr::V4(_), true) => Kind::Host4,
        (IpAddr::V6(_), true) => Kind::Host6,
        (IpAddr::V4(_), false) => Kind::Pfx4,
        (IpAddr::V6(_), false) => Kind::Pfx6,
    }
}

fn key4(net: &IpNet) -> V4Key {
    match net.addr() {
        IpAddr::V4(a) => v4(a),
        IpAddr::V6(_) => V4Key::default(),
    }
}

fn key6(net: &IpNet) -> V6Key {
    match net.addr() {
        IpAddr::V6(a) => v6(a),
        IpAddr::V4(_) => V6Key::default(),
    }
}

fn pkey4(net: &IpNet) -> Key<V4Key> {
    Key::new(net.prefix_len().into(), key4(net))
}

fn pkey6(net: &IpNet) -> Key<V6Key> {
    Key::new(net.prefix_len().into(), key6(net))
}

impl Dataplane {
    /// Opens the maps pinned under `bpffs` by a loaded [`super::Program`].
    pub fn open_pinned(bpffs: &Path) -> Result<Dataplane, XdpError> {
        let (allow4, c4) = open(bpffs, MAP_ALLOW_V4)?;
        let (allow6, c5) = open(bpffs, MAP_ALLOW_V6)?;
        let maps = Maps {
            bans4: table(bpffs, MAP_BANS_V4, true)?,
            bans6: table(bpffs, MAP_BANS_V6, true)?,
            pfx4: table(bpffs, MAP_PREFIX_V4, false)?,
            pfx6: table(bpffs, MAP_PREFIX_V6, false)?,
            allow4,
            allow6,
            scopes: open(bpffs, MAP_SCOPES)?.0,
            rules: open(bpffs, MAP_RULES)?.0,
            jails: open(bpffs, MAP_JAIL_NAMES)?.0,
            config: open(bpffs, MAP_CONFIG)?.0,
            counters: open(bpffs, MAP_COUNTERS)?.0,
            allow_cap: [c4, c5],
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
        match kind(&net) {
            Kind::Host4 => m.bans4.ban(&key4(&net), bit, exp, flags, &now),
            Kind::Host6 => m.bans6.ban(&key6(&net), bit, exp, flags, &now),
            Kind::Pfx4 => m.pfx4.ban(&pkey4(&net), bit, exp, flags, &now),
            Kind::Pfx6 => m.pfx6.ban(&pkey6(&net), bit, exp, flags, &now),
        }
    }

    /// Bans every `(net, expiry)` of `bans` for jail `jail_id`, as
    /// [`Dataplane::ban`] does one, in order: runs of new addresses go in
    /// by the batch (one syscall per few thousand). `Err((done, e))`: the
    /// first `done` are banned, the rest are not.
    pub fn ban_many(
        &self,
        bans: &[(IpNet, Option<i64>)],
        jail_id: u8,
    ) -> Result<(), (usize, XdpError)> {
        let bit = check_jail(jail_id).map_err(|e| (0, e))?;
        let now = Clocks::now();
        let mut m = self.lock();
        let mut at = 0;
        while at < bans.len() {
            let k = kind(&bans[at].0);
            let run = bans[at..].iter().take_while(|b| kind(&b.0) == k).count();
            let run_bans = &bans[at..at + run];
            let exps: Vec<u64> = run_bans.iter().map(|b| now.to_kernel(b.1)).collect();
            let r = match k {
                Kind::Host4 => {
                    let keys: Vec<V4Key> = run_bans.iter().map(|b| key4(&b.0)).collect();
                    m.bans4.ban_many(&keys, &exps, bit, 0, &now)
                }
                Kind::Host6 => {
                    let keys: Vec<V6Key> = run_bans.iter().map(|b| key6(&b.0)).collect();
                    m.bans6.ban_many(&keys, &exps, bit, 0, &now)
                }
                Kind::Pfx4 => {
                    let keys: Vec<Key<V4Key>> = run_bans.iter().map(|b| pkey4(&b.0)).collect();
                    m.pfx4.ban_each(&keys, &exps, bit, 0, &now)
                }
                Kind::Pfx6 => {
                    let keys: Vec<Key<V6Key>> = run_bans.iter().map(|b| pkey6(&b.0)).collect();
                    m.pfx6.ban_each(&keys, &exps, bit, 0, &now)
                }
            };
            r.map_err(|(done, e)| (at + done, e))?;
            at += run;
        }
        Ok(())
    }

    /// [`Dataplane::ban_many`] for bans that arrive in chunks (a restore
    /// at start, written while the jail still adds them to its books): the
    /// exact maps are read once, before their first chunk, for `hint` bans
    /// in all (a chunk written since must not make the next look its keys
    /// up one by one), and the lock is held until `chunks` ends. Returns
    /// how many were banned; `Err((done, e))`: the first `done` are banned,
    /// nothing after is tried.
    pub fn ban_stream(
        &self,
        hint: usize,
        chunks: &mut dyn Iterator<Item = Vec<(IpNet, Option<i64>)>>,
        jail_id: u8,
    ) -> Result<usize, (usize, XdpError)> {
        let bit = check_jail(jail_id).map_err(|e| (0, e))?;
        let now = Clocks::now();
        let mut m = self.lock();
        let m = &mut *m;
        let (mut snap4, mut snap6) = (None, None);
        let mut done = 0;
        for chunk in chunks {
            let mut at = 0;
            while at < chunk.len() {
                let k = kind(&chunk[at].0);
                let run = chunk[at..].iter().take_while(|b| kind(&b.0) == k).count();
                let run_bans = &chunk[at..at + run];
                let exps: Vec<u64> = run_bans.iter().map(|b| now.to_kernel(b.1)).collect();
                let failed = |e| (done + at, e);
                let r = match k {
                    Kind::Host4 => {
                        if snap4.is_none() {
                            snap4 = Some(m.bans4.snapshot(hint).map_err(failed)?);
                        }
                        let keys: Vec<V4Key> = run_bans.iter().map(|b| key4(&b.0)).collect();
                        let old = snap4.as_ref().and_then(|s| s.as_ref());
                        m.bans4.ban_merged(&keys, &exps, bit, 0, &now, old)
                    }
                    Kind::Host6 => {
                        if snap6.is_none() {
                            snap6 = Some(m.bans6.snapshot(hint).map_err(failed)?);
                        }
                        let keys: Vec<V6Key> = run_bans.iter().map(|b| key6(&b.0)).collect();
                        let old = snap6.as_ref().and_then(|s| s.as_ref());
                        m.bans6.ban_merged(&keys, &exps, bit, 0, &now, old)
                    }
                    Kind::Pfx4 => {
                        let keys: Vec<Key<V4Key>> = run_bans.iter().map(|b| pkey4(&b.0)).collect();
                        m.pfx4.ban_each(&keys, &exps, bit, 0, &now)
                    }
                    Kind::Pfx6 => {
                        let keys: Vec<Key<V6Key>> = run_bans.iter().map(|b| pkey6(&b.0)).collect();
                        m.pfx6.ban_each(&keys, &exps, bit, 0, &now)
                    }
                };
                r.map_err(|(d, e)| (done + at + d, e))?;
                at += run;
            }
            done += chunk.len();
        }
        Ok(done)
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
        match kind(&net) {
            Kind::Host4 => m.bans4.unban(&key4(&net), bit),
            Kind::Host6 => m.bans6.unban(&key6(&net), bit),
            Kind::Pfx4 => m.pfx4.unban(&pkey4(&net), bit),
            Kind::Pfx6 => m.pfx6.unban(&pkey6(&net), bit),
        }
    }

    /// Lifts jail `jail_id`'s ban on each of `nets` (exactly), in one pass
    /// over each map (a jail's flush, `unban --all`); how many it had.
    pub fn unban_many(&self, nets: &[IpNet], jail_id: u8) -> Result<usize, XdpError> {
        let bit = check_jail(jail_id)?;
        if nets.len() < 64 {
            let mut n = 0;
            for net in nets {
                n += usize::from(self.unban_bits(*net, bit)?);
            }
            return Ok(n);
        }
        let set: std::collections::HashSet<IpNet> = nets.iter().copied().collect();
        let has = |k: Kind| nets.iter().any(|n| kind(n) == k);
        let mut m = self.lock();
        let mut n = 0;
        if has(Kind::Host4) {
            n += m.bans4.unban_where(bit, |k| {
                set.contains(&IpNet::host(Ipv4Addr::from(k.addr).into()))
            })?;
        }
        if has(Kind::Host6) {
            n += m.bans6.unban_where(bit, |k| {
                set.contains(&IpNet::host(Ipv6Addr::from(k.addr).into()))
            })?;
        }
        if has(Kind::Pfx4) {
            n += m.pfx4.unban_where(bit, |k| {
                set.contains(&lpm_net(
                    Ipv4Addr::from(k.data().addr).into(),
                    k.prefix_len(),
                ))
            })?;
        }
        if has(Kind::Pfx6) {
            n += m.pfx6.unban_where(bit, |k| {
                set.contains(&lpm_net(
                    Ipv6Addr::from(k.data().addr).into(),
                    k.prefix_len(),
                ))
            })?;
        }
        Ok(n)
    }

    /// Every ban in force (expired entries are left out).
    pub fn list(&self) -> Result<Vec<BanEntry>, XdpError> {
        let now = Clocks::now();
        let m = self.lock();
        let names = jail_names(&m)?;
        let mut out = Vec::new();
        let push = |net: IpNet, v: BanValue| {
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
        each_entry(&m, push)?;
        out.sort_by_key(|a| a.net);
        Ok(out)
    }

    /// The bans in force of the jails in `mask` (bit `1 << id`): one
    /// `(net, jail id, expiry)` per jail of an entry, unsorted and without
    /// names (what the daemon schedules at start; cheaper than
    /// [`Dataplane::list`] on a million entries).
    pub fn bans_of(&self, mask: u64) -> Result<Vec<(IpNet, u8, Option<i64>)>, XdpError> {
        let now = Clocks::now();
        let m = self.lock();
        let mut out = Vec::new();
        let push = |net: IpNet, v: BanValue| {
            let bits = v.jails & mask;
            if bits == 0 || now.expired(v.expires_ns) {
                return;
            }
            let expiry = now.to_wall(v.expires_ns);
            for j in 0..MAX_JAILS as u8 {
                if bits & (1 << j) != 0 {
                    out.push((net, j, expiry));
                }
            }
        };
        each_entry(&m, push)?;
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
        let doomed = |v: &BanValue| pred(v, &now);
        let mut n = 0;
        let keys = m.bans4.keys_where(doomed)?;
        n += m.bans4.delete_keys(&keys)?;
        let keys = m.bans6.keys_where(doomed)?;
        n += m.bans6.delete_keys(&keys)?;
        let keys = m.pfx4.keys_where(doomed)?;
        n += m.pfx4.delete_keys(&keys)?;
        let keys = m.pfx6.keys_where(doomed)?;
        n += m.pfx6.delete_keys(&keys)?;
        Ok(n)
    }
}

fn lpm_net(addr: IpAddr, prefix: u32) -> IpNet {
    IpNet::new(addr, prefix.min(128) as u8).unwrap_or_else(|_| IpNet::host(addr))
}

/// Calls `f` with every entry of the four ban maps (exact addresses, then
/// prefixes; IPv4 before IPv6).
fn each_entry(m: &Maps, mut f: impl FnMut(IpNet, BanValue)) -> Result<(), XdpError> {
    for (k, v) in m.bans4.all()? {
        f(IpNet::host(Ipv4Addr::from(k.addr).into()), v);
    }
    for (k, v) in m.bans6.all()? {
        f(IpNet::host(Ipv6Addr::from(k.addr).into()), v);
    }
    for (k, v) in m.pfx4.all()? {
        f(
            lpm_net(Ipv4Addr::from(k.data().addr).into(), k.prefix_len()),
            v,
        );
    }
    for (k, v) in m.pfx6.all()? {
        f(
            lpm_net(Ipv6Addr::from(k.data().addr).into(), k.prefix_len()),
            v,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
