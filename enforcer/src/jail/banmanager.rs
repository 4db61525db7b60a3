//! Owns the active bans of one jail (fail2ban's `BanManager`): tickets by
//! failure id plus a sorted set of ban ends, so expiry is a range scan and
//! the next unban time is the first element.
//!
//! The tickets live in one vector (removal swaps the last one in) found
//! through a hash index of positions: a restore at start moves a million
//! tickets in, and a hash map holding the tickets themselves (a table twice
//! the size for its load factor, every slot touched at random) cost more
//! in page faults than everything else the restore does.
use std::{collections::BTreeSet, hash::BuildHasher};

use hashbrown::HashTable;

use super::ticket::Ticket;

/// Why a ticket was not added.
#[derive(Debug, Clone, PartialEq)]
pub enum NotAdded {
    /// Its ban would already have ended.
    Expired,
    /// Already banned; `prolonged` tells whether the end moved later.
    AlreadyBanned { prolonged: bool },
}

fn key(end: f64) -> i64 {
    (end * 1000.0).floor() as i64
}

/// An index slot: the id's hash (so the table grows without reading the
/// tickets) and the ticket's position.
#[derive(Debug, Clone, Copy)]
struct Slot {
    hash: u64,
    at: u32,
}

#[derive(Debug)]
pub struct BanManager {
    tickets: Vec<Ticket>,
    index: HashTable<Slot>,
    /// foldhash, seeded per process: ids an attacker chooses cannot be
    /// aimed at one bucket ahead of time (SipHash cost a fifth of a restore).
    hasher: foldhash::fast::RandomState,
    by_end: BTreeSet<(i64, String)>,
    bantime: i64,
    total: u64,
}

impl BanManager {
    pub fn new(bantime: i64) -> BanManager {
        BanManager {
            tickets: Vec::new(),
            index: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
            by_end: BTreeSet::new(),
            bantime,
            total: 0,
        }
    }
    pub fn bantime(&self) -> i64 {
        self.bantime
    }
    /// Changes the default ban time; ends of tickets without their own ban
    /// time move with it.
    pub fn set_bantime(&mut self, v: i64) {
        self.bantime = v;
        self.reindex();
    }
    fn reindex(&mut self) {
        self.by_end = self
            .tickets
            .iter()
            .map(|t| (key(t.end_of_ban(self.bantime)), t.fid.clone()))
            .collect();
    }
    pub fn size(&self) -> usize {
        self.tickets.len()
    }
    pub fn total(&self) -> u64 {
        self.total
    }
    pub fn set_total(&mut self, v: u64) {
        self.total = v;
    }

    fn hash(&self, fid: &str) -> u64 {
        self.hasher.hash_one(fid)
    }

    /// Position of `fid`'s ticket, `hash` being its hash.
    fn position(&self, fid: &str, hash: u64) -> Option<usize> {
        let tickets = &self.tickets;
        self.index
            .find(hash, |s| {
                s.hash == hash && tickets[s.at as usize].fid == fid
            })
            .map(|s| s.at as usize)
    }

    /// Appends a ticket whose id is not banned; its position.
    fn push(&mut self, t: Ticket, hash: u64) -> usize {
        let at = self.tickets.len();
        self.tickets.push(t);
        self.index.insert_unique(
            hash,
            Slot {
                hash,
                at: at as u32,
            },
            |s| s.hash,
        );
        at
    }

    pub fn get(&self, fid: &str) -> Option<&Ticket> {
        self.position(fid, self.hash(fid)).map(|i| &self.tickets[i])
    }
    pub fn contains(&self, fid: &str) -> bool {
        self.position(fid, self.hash(fid)).is_some()
    }
    pub fn iter(&self) -> impl Iterator<Item = &Ticket> {
        self.tickets.iter()
    }

    /// fail2ban's `addBanTicket`: adds a new ban (incrementing its ban
    /// count) or, when already banned, prolongs the existing one if the new
    /// end is later.
    pub fn add(&mut self, ticket: Ticket, now: f64) -> Result<&Ticket, NotAdded> {
        let hash = self.hash(&ticket.fid);
        self.add_hashed(ticket, hash, now)
    }

    fn add_hashed(&mut self, mut ticket: Ticket, hash: u64, now: f64) -> Result<&Ticket, NotAdded> {
        let eob = ticket.end_of_ban(self.bantime);
        if eob < now {
            return Err(NotAdded::Expired);
        }
        if let Some(i) = self.position(&ticket.fid, hash) {
            let old = &mut self.tickets[i];
            let old_end = old.end_of_ban(self.bantime);
            if eob > old_end {
                let mut btm = ticket.ban_time_or(self.bantime);
                if btm != -1 {
                    let dif = ticket.time - old.time;
                    if dif > 0.0 {
                        btm += dif as i64;
                    }
                }
                old.ban_time = Some(btm);
                let new_end = old.end_of_ban(self.bantime);
                let fid = old.fid.clone();
                self.by_end.remove(&(key(old_end), fid.clone()));
                self.by_end.insert((key(new_end), fid));
                return Err(NotAdded::AlreadyBanned { prolonged: true });
            }
            return Err(NotAdded::AlreadyBanned { prolonged: false });
        }
        ticket.ban_count += 1;
        self.total += 1;
        self.by_end.insert((key(eob), ticket.fid.clone()));
        let at = self.push(ticket, hash);
        Ok(&self.tickets[at])
    }

    /// [`BanManager::add`] for many tickets at once (a restore at start),
    /// with the same outcome as adding them one by one in order: the new
    /// ids go in by the batch (their ends sorted once and bulk-built into
    /// the index rather than inserted one at a time), a ticket for an id
    /// already banned is added after them as `add` would (prolonging).
    /// `added` sees each ticket that was newly banned, as it goes in.
    /// Returns how many were.
    pub fn add_many(
        &mut self,
        tickets: Vec<Ticket>,
        now: f64,
        added: impl FnMut(&Ticket),
    ) -> usize {
        let hint = tickets.len();
        self.add_stream(hint, std::iter::once(tickets), now, added)
    }

    /// [`BanManager::add_many`] for tickets that arrive by the chunk (a
    /// restore reading the store), about `hint` in all: the same outcome
    /// as adding them all at once (a ticket of an id banned before, or in
    /// an earlier chunk, is added after the last chunk).
    pub fn add_stream(
        &mut self,
        hint: usize,
        chunks: impl Iterator<Item = Vec<Ticket>>,
        now: f64,
        mut added: impl FnMut(&Ticket),
    ) -> usize {
        self.tickets.reserve(hint);
        self.index.reserve(hint, |s| s.hash);
        let mut ends = Vec::with_capacity(hint);
        let mut again = Vec::new();
        let mut n = 0;
        for tickets in chunks {
            for mut t in tickets {
                let eob = t.end_of_ban(self.bantime);
                if eob < now {
                    continue;
                }
                let hash = self.hash(&t.fid);
                if self.position(&t.fid, hash).is_some() {
                    again.push((t, hash));
                    continue;
                }
                t.ban_count += 1;
                self.total += 1;
                n += 1;
                ends.push((key(eob), t.fid.clone()));
                added(&t);
                self.push(t, hash);
            }
        }
        if self.by_end.is_empty() {
            self.by_end = ends.into_iter().collect();
        } else {
            let mut more: BTreeSet<(i64, String)> = ends.into_iter().collect();
            self.by_end.append(&mut more);
        }
        for (t, hash) in again {
            if let Ok(t) = self.add_hashed(t, hash, now) {
                added(t);
                n += 1;
            }
        }
        n
    }

    /// Takes `fid`'s ticket out of the vector and the index (not `by_end`).
    fn take(&mut self, fid: &str) -> Option<Ticket> {
        let hash = self.hash(fid);
        let tickets = &self.tickets;
        let (slot, _) = self
            .index
            .find_entry(hash, |s| {
                s.hash == hash && tickets[s.at as usize].fid == fid
            })
            .ok()?
            .remove();
        let at = slot.at as usize;
        let last = self.tickets.len() - 1;
        if at != last {
            let moved = self.hash(&self.tickets[last].fid);
            if let Some(s) = self
                .index
                .find_mut(moved, |s| s.hash == moved && s.at as usize == last)
            {
                s.at = at as u32;
            }
        }
        Some(self.tickets.swap_remove(at))
    }

    /// Removes one ban.
    pub fn remove(&mut self, fid: &str) -> Option<Ticket> {
        let t = self.take(fid)?;
        self.by_end
            .remove(&(key(t.end_of_ban(self.bantime)), t.fid.clone()));
        Some(t)
    }

    /// fail2ban's `unBanList`: removes and returns up to `max` bans whose end
    /// is before `now`, earliest first.
    pub fn expired(&mut self, now: f64, max: usize) -> Vec<Ticket> {
        let limit = key(now);
        let due: Vec<(i64, String)> = self
            .by_end
            .iter()
            .take_while(|(end, _)| *end < limit)
            .take(max)
            .cloned()
            .collect();
        due.into_iter()
            .filter_map(|(end, fid)| {
                self.by_end.remove(&(end, fid.clone()));
                self.take(&fid)
            })
            .collect()
    }

    /// When the next ban ends (`None`: no bans, or all permanent).
    pub fn next_unban(&self) -> Option<f64> {
        self.by_end
            .first()
            .map(|(end, _)| *end as f64 / 1000.0)
            .filter(|t| *t < super::ticket::MAX_TIME)
    }

    /// Removes and returns every ban, earliest end first (the order of
    /// `by_end`, which holds exactly each ticket's end and id).
    pub fn flush(&mut self) -> Vec<Ticket> {
        self.by_end.clear();
        self.index.clear();
        let mut tickets = std::mem::take(&mut self.tickets);
        let bt = self.bantime;
        tickets
            .sort_by(|a, b| (key(a.end_of_ban(bt)), &a.fid).cmp(&(key(b.end_of_ban(bt)), &b.fid)));
        tickets
    }

    /// Bans ordered by their end (fail2ban's `getBanList(ordered=True)`).
    pub fn ordered(&self) -> Vec<&Ticket> {
        self.by_end
            .iter()
            .filter_map(|(_, fid)| self.get(fid))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: &str, time: f64, bt: Option<i64>) -> Ticket {
        let mut t = Ticket::manual(id, id.parse().ok(), time);
        t.ban_time = bt;
        t
    }

    #[test]
    fn expiry_is_ordered_and_bounded() {
        let mut bm = BanManager::new(100);
        bm.add(t("198.18.0.3", 1000.0, Some(300)), 1000.0).unwrap();
        bm.add(t("198.18.0.1", 1000.0, None), 1000.0).unwrap();
        bm.add(t("198.18.0.2", 1000.0, Some(200)), 1000.0).unwrap();
        bm.add(t("198.18.0.4", 1000.0, Some(-1)), 1000.0).unwrap();
        assert_eq!(bm.total(), 4);
        assert_eq!(bm.next_unban(), Some(1100.0));
        let ids: Vec<_> = bm.ordered().iter().map(|t| t.fid.clone()).collect();
        assert_eq!(
            ids,
            ["198.18.0.1", "198.18.0.2", "198.18.0.3", "198.18.0.4"]
        );
        assert!(
            bm.expired(1100.0, 10).is_empty(),
            "end is inclusive: time > eob unbans"
        );
        let e: Vec<_> = bm.expired(1250.0, 10).into_iter().map(|t| t.fid).collect();
        assert_eq!(e, ["198.18.0.1", "198.18.0.2"]);
        assert_eq!(bm.expired(1e12, 10).len(), 1);
        assert_eq!(bm.size(), 1, "permanent ban stays");
        assert_eq!(bm.next_unban(), None);
    }

    #[test]
    fn add_many_is_add_in_order() {
        let batch = || {
            vec![
                t("198.18.0.1", 1000.0, Some(100)),
                t("198.18.0.2", 500.0, Some(100)), // ended
                t("198.18.0.3", 1000.0, Some(-1)),
                t("198.18.0.1", 1010.0, Some(300)), // later and longer: prolongs
                t("198.18.0.4", 990.0, None),
                t("198.18.0.3", 1000.0, Some(10)), // already banned
                t("198.18.0.5", 1000.0, Some(50)),
            ]
        };
        let mut one = BanManager::new(100);
        one.add(t("198.18.0.5", 900.0, Some(500)), 1000.0).unwrap();
        let mut many = BanManager::new(100);
        many.add(t("198.18.0.5", 900.0, Some(500)), 1000.0).unwrap();
        let mut want = Vec::new();
        for tk in batch() {
            if let Ok(t) = one.add(tk, 1000.0) {
                want.push(t.fid.clone());
            }
        }
        let mut got = Vec::new();
        let n = many.add_many(batch(), 1000.0, |t| got.push(t.fid.clone()));
        assert_eq!((n, &got), (want.len(), &want));
        assert_eq!(many.total(), one.total());
        assert_eq!(view(&many), view(&one));
        assert_eq!(many.next_unban(), one.next_unban());
        let (books, next) = (view(&many), many.next_unban());
        assert_eq!(many.expired(1e12, 100).len(), 3, "the permanent one stays");
        // by the chunk (a restore reading the store): the same books, the
        // ids met again in a later chunk included
        for size in [1, 2, 3] {
            let mut chunked = BanManager::new(100);
            chunked
                .add(t("198.18.0.5", 900.0, Some(500)), 1000.0)
                .unwrap();
            let all = batch();
            let chunks: Vec<Vec<Ticket>> = all.chunks(size).map(<[Ticket]>::to_vec).collect();
            let mut got2 = Vec::new();
            let n2 =
                chunked.add_stream(2, chunks.into_iter(), 1000.0, |t| got2.push(t.fid.clone()));
            assert_eq!((n2, &got2), (n, &got), "chunks of {size}");
            assert_eq!(view(&chunked), books, "chunks of {size}");
            assert_eq!(chunked.next_unban(), next);
        }
    }

    fn view(bm: &BanManager) -> Vec<(String, Option<i64>, u32)> {
        bm.ordered()
            .iter()
            .map(|t| (t.fid.clone(), t.ban_time, t.ban_count))
            .collect()
    }

    #[test]
    fn add_counts_expires_and_prolongs() {
        let mut bm = BanManager::new(100);
        assert_eq!(
            bm.add(t("a", 0.0, None), 200.0).unwrap_err(),
            NotAdded::Expired
        );
        assert_eq!(bm.add(t("a", 1000.0, None), 1000.0).unwrap().ban_count, 1);
        assert_eq!(
            bm.add(t("a", 1000.0, Some(50)), 1000.0).unwrap_err(),
            NotAdded::AlreadyBanned { prolonged: false }
        );
        // Later and longer: old ticket's ban time becomes btm + time difference.
        assert_eq!(
            bm.add(t("a", 1010.0, Some(200)), 1010.0).unwrap_err(),
            NotAdded::AlreadyBanned { prolonged: true }
        );
        assert_eq!(bm.get("a").unwrap().ban_time, Some(210));
        assert_eq!(bm.next_unban(), Some(1210.0));
        assert_eq!(bm.total(), 1);
        assert!(bm.remove("a").is_some());
        assert_eq!(bm.next_unban(), None);
    }
}
