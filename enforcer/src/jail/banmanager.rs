//! Owns the active bans of one jail (fail2ban's `BanManager`): tickets by
//! failure id plus a sorted set of ban ends, so expiry is a range scan and
//! the next unban time is the first element.
use std::collections::{BTreeSet, HashMap, hash_map::Entry};

/// Bans by id. foldhash, not SipHash: a restore puts a million ids in at
/// start (SipHash was a fifth of it); it is seeded per process, so ids
/// chosen by an attacker cannot be aimed at one bucket ahead of time.
type ById = HashMap<String, Ticket, foldhash::fast::RandomState>;

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

#[derive(Debug)]
pub struct BanManager {
    bans: ById,
    by_end: BTreeSet<(i64, String)>,
    bantime: i64,
    total: u64,
}

impl BanManager {
    pub fn new(bantime: i64) -> BanManager {
        BanManager {
            bans: ById::default(),
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
            .bans
            .values()
            .map(|t| (key(t.end_of_ban(self.bantime)), t.fid.clone()))
            .collect();
    }
    pub fn size(&self) -> usize {
        self.bans.len()
    }
    pub fn total(&self) -> u64 {
        self.total
    }
    pub fn set_total(&mut self, v: u64) {
        self.total = v;
    }
    pub fn get(&self, fid: &str) -> Option<&Ticket> {
        self.bans.get(fid)
    }
    pub fn contains(&self, fid: &str) -> bool {
        self.bans.contains_key(fid)
    }
    pub fn iter(&self) -> impl Iterator<Item = &Ticket> {
        self.bans.values()
    }

    /// fail2ban's `addBanTicket`: adds a new ban (incrementing its ban
    /// count) or, when already banned, prolongs the existing one if the new
    /// end is later.
    pub fn add(&mut self, mut ticket: Ticket, now: f64) -> Result<&Ticket, NotAdded> {
        let eob = ticket.end_of_ban(self.bantime);
        if eob < now {
            return Err(NotAdded::Expired);
        }
        if let Some(old) = self.bans.get_mut(&ticket.fid) {
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
        let fid = ticket.fid.clone();
        self.by_end.insert((key(eob), fid.clone()));
        Ok(self.bans.entry(fid).or_insert(ticket))
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
        mut added: impl FnMut(&Ticket),
    ) -> usize {
        self.bans.reserve(tickets.len());
        let mut ends = Vec::with_capacity(tickets.len());
        let mut again = Vec::new();
        let mut n = 0;
        for mut t in tickets {
            let eob = t.end_of_ban(self.bantime);
            if eob < now {
                continue;
            }
            let slot = match self.bans.entry(t.fid.clone()) {
                Entry::Occupied(_) => {
                    again.push(t);
                    continue;
                }
                Entry::Vacant(v) => v,
            };
            t.ban_count += 1;
            self.total += 1;
            n += 1;
            ends.push((key(eob), t.fid.clone()));
            added(slot.insert(t));
        }
        if self.by_end.is_empty() {
            self.by_end = ends.into_iter().collect();
        } else {
            let mut more: BTreeSet<(i64, String)> = ends.into_iter().collect();
            self.by_end.append(&mut more);
        }
        for t in again {
            if let Ok(t) = self.add(t, now) {
                added(t);
                n += 1;
            }
        }
        n
    }

    /// Removes one ban.
    pub fn remove(&mut self, fid: &str) -> Option<Ticket> {
        let t = self.bans.remove(fid)?;
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
                self.bans.remove(&fid)
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

    /// Removes and returns every ban, earliest end first.
    pub fn flush(&mut self) -> Vec<Ticket> {
        let order = std::mem::take(&mut self.by_end);
        order
            .into_iter()
            .filter_map(|(_, fid)| self.bans.remove(&fid))
            .collect()
    }

    /// Bans ordered by their end (fail2ban's `getBanList(ordered=True)`).
    pub fn ordered(&self) -> Vec<&Ticket> {
        self.by_end
            .iter()
            .filter_map(|(_, fid)| self.bans.get(fid))
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
        let view = |bm: &BanManager| -> Vec<(String, Option<i64>, u32)> {
            bm.ordered()
                .iter()
                .map(|t| (t.fid.clone(), t.ban_time, t.ban_count))
                .collect()
        };
        assert_eq!(view(&many), view(&one));
        assert_eq!(many.next_unban(), one.next_unban());
        assert_eq!(many.expired(1e12, 100).len(), 3, "the permanent one stays");
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
