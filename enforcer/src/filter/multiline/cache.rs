//! Owns [`MlfidCache`], the bounded F-MLFID cache, as fail2ban's
//! `Utils.Cache(maxCount=100, maxTime=5*60)` is used by `_mergeFailure`:
//! an entry is stored once, when its connection is first seen, and then
//! changed in place (it keeps its place and its expiry, 5 minutes after it
//! was stored); storing into a full cache evicts from the oldest (FIFO)
//! until one live entry is gone.
//!
//! Entries live in slots named by number: a merge finds its entry once and
//! goes on by slot, a gone entry's slot (its id's string included) is
//! taken by the next one, and `order` holds (slot, when stored), skipped
//! where the slot has since been emptied or filled again.
use std::collections::VecDeque;
use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::FailData;

/// A place of the cache (see [`MlfidCache::live`]).
pub type SlotId = u32;

struct Slot {
    /// Its id (a buffer kept while the slot is empty).
    key: String,
    hash: u64,
    entry: Option<Entry>,
}

struct Entry {
    fail: FailData,
    /// Wall-clock seconds past which it is gone.
    exp: f64,
    /// When it was stored (its place in `order`).
    seq: u64,
}

/// The bounded F-MLFID cache (see the module documentation).
pub struct MlfidCache {
    slots: Vec<Slot>,
    /// Empty slots.
    free: Vec<SlotId>,
    /// The full slots, by their ids' hashes.
    table: HashTable<SlotId>,
    hasher: foldhash::fast::RandomState,
    order: VecDeque<(SlotId, u64)>,
    next_seq: u64,
    max: usize,
    ttl: f64,
    /// The time of the line being tracked ([`MlfidCache::set_now`]).
    now: f64,
    /// Entries gone (evicted, forgotten), whose buffers new ones reuse.
    spare: Vec<FailData>,
}

/// How many gone entries are kept for reuse.
const SPARE: usize = 8;

impl std::fmt::Debug for MlfidCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlfidCache")
            .field("len", &self.table.len())
            .field("max", &self.max)
            .finish()
    }
}

impl MlfidCache {
    pub fn new(max: usize) -> MlfidCache {
        MlfidCache {
            slots: Vec::new(),
            free: Vec::new(),
            table: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
            order: VecDeque::new(),
            next_seq: 0,
            max: max.max(1),
            ttl: 300.0,
            now: 0.0,
            spare: Vec::new(),
        }
    }

    /// The wall-clock time (seconds) of what follows, as fail2ban's cache
    /// reads `time.time()`: the splitter read the clock for the line, and
    /// reading it again for each entry cost more than the entry.
    pub fn set_now(&mut self, now: f64) {
        self.now = now;
    }

    /// The full slot of `k`, if any.
    fn find(&self, k: &str) -> Option<SlotId> {
        self.find_hashed(self.hasher.hash_one(k), k)
    }

    /// [`MlfidCache::find`] of `k` whose hash is `h`.
    fn find_hashed(&self, h: u64, k: &str) -> Option<SlotId> {
        let slots = &self.slots;
        self.table.find(h, |&i| slots[i as usize].key == k).copied()
    }

    /// The slot of `k` if its entry has not expired (an expired one is
    /// dropped).
    pub fn live(&mut self, k: &str) -> Option<SlotId> {
        let i = self.find(k)?;
        if self.entry(i).exp > self.now {
            return Some(i);
        }
        let gone = self.take(i);
        self.recycle(gone);
        None
    }

    fn entry(&mut self, i: SlotId) -> &mut Entry {
        self.slots[i as usize]
            .entry
            .as_mut()
            .expect("a slot named by the table is full")
    }

    /// The data of a full slot (one [`MlfidCache::live`] gave, unchanged since).
    pub fn at(&mut self, i: SlotId) -> &mut FailData {
        &mut self.entry(i).fail
    }

    /// Empties a full slot, giving its data.
    pub fn take(&mut self, i: SlotId) -> FailData {
        let s = &mut self.slots[i as usize];
        if let Ok(e) = self.table.find_entry(s.hash, |&j| j == i) {
            e.remove();
        }
        self.free.push(i);
        s.entry.take().expect("a full slot").fail
    }

    #[cfg(test)]
    pub fn get_mut(&mut self, k: &str) -> Option<&mut FailData> {
        let i = self.find(k)?;
        Some(self.at(i))
    }

    /// Keeps a gone entry's buffers for a new one.
    pub fn recycle(&mut self, f: FailData) {
        if self.spare.len() < SPARE {
            self.spare.push(f);
        }
    }

    /// Data for a new entry: no users, lines or address, its groups
    /// to be set with [`FailData::set_groups`] (buffers of a gone entry).
    pub fn fresh(&mut self) -> FailData {
        let Some(mut f) = self.spare.pop() else {
            return FailData::default();
        };
        // an empty list is no list (add_user, merge_matches, make_failure)
        for v in [&mut f.matches, &mut f.nofail_matches]
            .into_iter()
            .flatten()
        {
            v.clear();
        }
        if let Some(u) = &mut f.users {
            u.clear();
        }
        f.ip = None;
        f
    }

    /// Drops stale places from `order` once it is twice the bound.
    fn prune(&mut self) {
        if self.order.len() > 2 * self.max {
            let slots = &self.slots;
            self.order.retain(|&(i, seq)| current(slots, i, seq));
        }
    }

    /// Stores a new entry (or replaces one's data in place), evicting from
    /// the oldest when full.
    pub fn put(&mut self, k: &str, v: FailData) {
        let now = self.now;
        let hash = self.hasher.hash_one(k);
        if let Some(i) = self.find_hashed(hash, k) {
            self.entry(i).fail = v;
            return;
        }
        if self.table.len() >= self.max {
            while let Some((old, seq)) = self.order.pop_front() {
                if !current(&self.slots, old, seq) {
                    continue;
                }
                let live = self.entry(old).exp > now;
                let gone = self.take(old);
                self.recycle(gone);
                if live && self.table.len() < self.max {
                    break;
                }
            }
        }
        self.prune();
        let seq = self.next_seq;
        self.next_seq += 1;
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    key: String::new(),
                    hash: 0,
                    entry: None,
                });
                (self.slots.len() - 1) as SlotId
            }
        };
        let s = &mut self.slots[i as usize];
        s.key.clear();
        s.key.push_str(k);
        s.hash = hash;
        s.entry = Some(Entry {
            fail: v,
            exp: now + self.ttl,
            seq,
        });
        let slots = &self.slots;
        self.table
            .insert_unique(hash, i, |&j| slots[j as usize].hash);
        self.order.push_back((i, seq));
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

/// Whether `order`'s (slot, when stored) is still that slot's entry.
fn current(slots: &[Slot], i: SlotId, seq: u64) -> bool {
    slots[i as usize]
        .entry
        .as_ref()
        .is_some_and(|e| e.seq == seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_entries_go_and_their_slots_serve_again() {
        let mut c = MlfidCache::new(2);
        c.set_now(1000.0);
        c.put("a", FailData::default());
        c.put("b", FailData::default());
        c.set_now(1000.0 + 299.0);
        assert!(c.live("a").is_some(), "not yet expired");
        c.set_now(1000.0 + 301.0);
        assert!(c.live("a").is_none(), "expired");
        assert_eq!(c.len(), 1);
        // "c" takes a's slot; a's place in the order is stale and skipped
        c.put("c", FailData::default());
        assert_eq!(c.len(), 2);
        assert_eq!(c.slots.len(), 2, "the slot was reused");
        // full: storing "d" evicts the oldest stored, "b" (expired: the
        // eviction goes on to the next, "c", which was live)
        c.put("d", FailData::default());
        assert!(c.get_mut("b").is_none() && c.get_mut("c").is_none());
        assert!(c.get_mut("d").is_some());
        // and a slot found by live() is the entry's own
        let i = c.live("d").expect("live");
        c.at(i).ip = Some("x".into());
        assert_eq!(
            c.get_mut("d").and_then(|f| f.ip.clone()).as_deref(),
            Some("x")
        );
        let gone = c.take(i);
        assert_eq!(gone.ip.as_deref(), Some("x"));
        assert!(c.is_empty());
    }
}
