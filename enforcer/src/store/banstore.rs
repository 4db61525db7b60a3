//! Owns the implementation of [`crate::jail::BanStore`] on [`Store`]: the
//! jail's view of persistence (ban counts for bantime.increment, storing a
//! decided ban, restore after restart, merged matches for action tags).
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{BanRecord, Store};
use crate::jail::{self, BanStore, MergedBans, Ticket};

/// fail2ban's pre-v3 ban time: "the jail's ban time" (restored with it).
const JAIL_BANTIME: i64 = -2;

fn err(e: super::StoreError) -> jail::StoreError {
    jail::StoreError(e.to_string())
}

/// The `data` column for a ticket: fail2ban's `matches`, `failures`, and
/// the captured fields (`user`, …).
pub fn ticket_data(t: &Ticket) -> Value {
    let mut m = Map::new();
    for (k, v) in &t.data {
        m.insert(k.clone(), Value::String(v.clone()));
    }
    m.insert("matches".into(), Value::from(t.matches.clone()));
    m.insert("failures".into(), Value::from(t.failures));
    Value::Object(m)
}

/// A stored ban as a jail ticket (for restore).
pub fn ticket_of(b: &BanRecord) -> Ticket {
    let mut t = Ticket::new(b.ip.clone(), b.ip.parse().ok(), b.time_of_ban as f64);
    t.ban_time = (b.bantime != JAIL_BANTIME).then_some(b.bantime);
    t.ban_count = b.bancount;
    t.matches = b.matches();
    t.failures = b.failures().min(u32::MAX as u64) as u32;
    t.retry = t.failures;
    if let Value::Object(m) = &b.data {
        t.data = m
            .iter()
            .filter(|(k, _)| *k != "matches" && *k != "failures")
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string()),
                )
            })
            .collect::<BTreeMap<_, _>>();
    }
    t
}

impl BanStore for Store {
    fn get_ban(
        &self,
        ip: &str,
        jail: &str,
        overalljails: bool,
    ) -> Result<Option<jail::BanRecord>, jail::StoreError> {
        let h = self
            .ban_history(ip, Some(jail), overalljails, None)
            .map_err(err)?;
        Ok(h.map(|h| jail::BanRecord {
            ban_count: h.bancount,
            time_of_ban: h.last_time_of_ban as f64,
            ban_time: h.bantime,
        }))
    }

    fn add_ban(&self, jail: &str, t: &Ticket) -> Result<(), jail::StoreError> {
        Store::add_ban(
            self,
            &BanRecord {
                jail: jail.to_string(),
                ip: t.fid.clone(),
                time_of_ban: t.time.round() as i64,
                bantime: t.ban_time.unwrap_or(JAIL_BANTIME),
                bancount: t.ban_count,
                data: ticket_data(t),
            },
        )
        .map_err(err)
    }

    fn del_ban(&self, jail: &str, ip: Option<&str>) -> Result<(), jail::StoreError> {
        match ip {
            Some(ip) => self.remove_ban(jail, ip).map(drop),
            None => self.remove_jail_bans(jail).map(drop),
        }
        .map_err(err)
    }

    fn bans_merged(
        &self,
        ip: &str,
        jail: Option<&str>,
    ) -> Result<Option<MergedBans>, jail::StoreError> {
        // Newest first, as fail2ban's getBansMerged: the newest bans' matches
        // are kept when there are more than dbmaxmatches, oldest first in the result.
        let log = self.ban_log(jail, Some(ip)).map_err(err)?;
        if log.is_empty() {
            return Ok(None);
        }
        let max = self.max_matches() as usize;
        let mut matches: Vec<String> = Vec::new();
        let mut failures: u64 = 0;
        for b in &log {
            let m = b.matches();
            let room = max.saturating_sub(matches.len());
            if room > 0 {
                let take = &m[m.len().saturating_sub(room)..];
                matches.splice(0..0, take.iter().cloned());
            }
            failures += b.failures();
        }
        Ok(Some(MergedBans {
            failures: failures.min(u32::MAX as u64) as u32,
            matches,
        }))
    }

    fn current_bans(
        &self,
        jail: &str,
        forbantime: Option<i64>,
        now: f64,
    ) -> Result<Vec<Ticket>, jail::StoreError> {
        self.current_tickets(jail, now.floor() as i64, forbantime)
            .map_err(err)
    }

    fn count_current_bans(
        &self,
        jail: &str,
        forbantime: Option<i64>,
        now: f64,
    ) -> Result<usize, jail::StoreError> {
        self.count_current(jail, now.floor() as i64, forbantime)
            .map_err(err)
    }

    fn current_bans_each(
        &self,
        jail: &str,
        forbantime: Option<i64>,
        now: f64,
        each: &mut dyn FnMut(Vec<Ticket>) -> bool,
    ) -> Result<(), jail::StoreError> {
        self.current_tickets_each(jail, now.floor() as i64, forbantime, RESTORE_CHUNK, each)
            .map_err(err)
    }
}

/// Tickets a restore reads from the store at a time.
const RESTORE_CHUNK: usize = 16 * 1024;

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn ticket(ip: &str, time: f64, bantime: Option<i64>, count: u32, matches: &[&str]) -> Ticket {
        let mut t = Ticket::new(ip, ip.parse().ok(), time);
        t.ban_time = bantime;
        t.ban_count = count;
        t.failures = matches.len() as u32;
        t.matches = matches.iter().map(|s| s.to_string()).collect();
        t.data.insert("user".into(), "root".into());
        t
    }

    #[test]
    fn jail_view_round_trips_tickets() {
        let s: Arc<dyn BanStore> = Arc::new(Store::open_in_memory().unwrap());
        s.add_ban(
            "sshd",
            &ticket("198.18.0.1", 1000.4, Some(600), 1, &["a", "b"]),
        )
        .unwrap();
        s.add_ban("sshd", &ticket("198.18.0.1", 2000.0, Some(1200), 2, &["c"]))
            .unwrap();
        s.add_ban("recidive", &ticket("198.18.0.1", 2100.0, None, 1, &["d"]))
            .unwrap();
        let r = s.get_ban("198.18.0.1", "sshd", false).unwrap().unwrap();
        assert_eq!((r.ban_count, r.time_of_ban, r.ban_time), (2, 2000.0, 1200));
        let all = s.get_ban("198.18.0.1", "sshd", true).unwrap().unwrap();
        assert_eq!(all.ban_count, 3);
        assert!(s.get_ban("198.18.0.2", "sshd", false).unwrap().is_none());

        let cur = s.current_bans("sshd", None, 2500.0).unwrap();
        assert_eq!(cur.len(), 1);
        let t = &cur[0];
        assert_eq!(
            (t.fid.as_str(), t.time, t.ban_time, t.ban_count),
            ("198.18.0.1", 2000.0, Some(1200), 2)
        );
        assert_eq!(t.ip, Some("198.18.0.1".parse().unwrap()));
        assert_eq!(t.matches, ["c"]);
        assert_eq!(t.data.get("user").map(String::as_str), Some("root"));
        // forbantime: only bans that started within it.
        assert!(
            s.current_bans("sshd", Some(100), 2500.0)
                .unwrap()
                .is_empty()
        );
        // An undecided ban time is the jail's, as fail2ban's -2.
        let rec = s.current_bans("recidive", None, 2200.0).unwrap();
        assert_eq!(rec[0].ban_time, None);

        let m = s.bans_merged("198.18.0.1", Some("sshd")).unwrap().unwrap();
        assert_eq!(
            (m.failures, m.matches.clone()),
            (3, vec!["a".to_string(), "b".into(), "c".into()])
        );
        let m = s.bans_merged("198.18.0.1", None).unwrap().unwrap();
        assert_eq!(m.matches, ["a", "b", "c", "d"]);
        assert!(s.bans_merged("198.18.0.9", None).unwrap().is_none());

        s.del_ban("sshd", Some("198.18.0.1")).unwrap();
        assert!(s.current_bans("sshd", None, 2500.0).unwrap().is_empty());
        s.del_ban("recidive", None).unwrap();
        assert!(s.current_bans("recidive", None, 2200.0).unwrap().is_empty());
    }

    #[test]
    fn merged_matches_keep_the_newest_up_to_dbmaxmatches() {
        let mut st = Store::open_in_memory().unwrap();
        st.set_max_matches(3);
        let s: &dyn BanStore = &st;
        s.add_ban("sshd", &ticket("198.18.0.1", 1.0, Some(1), 1, &["a", "b"]))
            .unwrap();
        s.add_ban("sshd", &ticket("198.18.0.1", 2.0, Some(1), 2, &["c", "d"]))
            .unwrap();
        assert_eq!(
            s.bans_merged("198.18.0.1", None).unwrap().unwrap().matches,
            ["b", "c", "d"]
        );
    }
}
