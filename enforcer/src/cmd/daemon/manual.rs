//! Bans the ban book makes for jails that are not configured (`enforcer ban
//! ADDR` lands in jail `manual`), kept in the store like a jail's bans: a ban
//! reported as done is committed to the database first, so it survives a
//! crash or a reboot (the pinned maps survive only the former), and the
//! daemon restores it at start. Configured jails store their own bans on
//! their threads; this covers the rest.
use std::{collections::HashSet, sync::Arc};

use crate::{
    control::IpNet,
    store::{BanRecord, Store},
};

/// Bans of one jail read back: (target, expiry in unix seconds).
pub type JailBans = (String, Vec<(IpNet, Option<i64>)>);

/// The store, and the jails whose bans are not ours to keep.
pub struct ManualStore {
    pub store: Arc<Store>,
    pub configured: HashSet<String>,
}

impl ManualStore {
    /// Whether bans of `jail` are kept here.
    pub fn keeps(&self, jail: &str) -> bool {
        !self.configured.contains(jail)
    }

    /// The configured jails, whose bans their own threads store.
    fn configured_names(&self) -> Vec<&str> {
        self.configured.iter().map(String::as_str).collect()
    }

    /// Records bans of `jail` made at `now` until `expiry`, in one commit.
    pub fn record(
        &self,
        jail: &str,
        nets: &[IpNet],
        expiry: Option<i64>,
        now: i64,
    ) -> Result<(), String> {
        if !self.keeps(jail) {
            return Ok(());
        }
        let bantime = expiry.map_or(-1, |e| (e - now).max(1));
        let records: Vec<BanRecord> = nets
            .iter()
            .map(|n| BanRecord {
                jail: jail.to_string(),
                ip: n.to_string(),
                time_of_ban: now,
                bantime,
                bancount: 1,
                data: serde_json::Value::Object(Default::default()),
            })
            .collect();
        self.store.add_bans(&records).map_err(|e| e.to_string())
    }

    /// Forgets the ban of `net` by `jail` (`None`: by every jail we keep).
    pub fn forget(&self, jail: Option<&str>, net: &IpNet) {
        let r = match jail {
            Some(j) if self.keeps(j) => self.store.remove_ban(j, &net.to_string()).map(drop),
            Some(_) => Ok(()),
            None => (self.store)
                .remove_ip_except(&net.to_string(), &self.configured_names())
                .map(drop),
        };
        if let Err(e) = r {
            log::error!("database: forgetting the ban of {net}: {e}");
        }
    }

    /// Forgets every ban of `jail` (`None`: of every jail we keep).
    pub fn forget_all(&self, jail: Option<&str>) {
        let r = match jail {
            Some(j) if self.keeps(j) => self.store.remove_jail_bans(j).map(drop),
            Some(_) => Ok(()),
            None => (self.store)
                .remove_all_bans_except(&self.configured_names())
                .map(drop),
        };
        if let Err(e) = r {
            log::error!("database: forgetting bans: {e}");
        }
    }

    /// The stored bans in force of jails we keep, by jail: (net, expiry).
    pub fn current(&self, now: i64) -> Vec<JailBans> {
        let rows = match (self.store).current_bans_except(&self.configured_names(), now, None) {
            Ok(r) => r,
            Err(e) => {
                log::error!("database: reading manual bans: {e}");
                return Vec::new();
            }
        };
        let mut out: Vec<JailBans> = Vec::new();
        for r in rows {
            if !self.keeps(&r.jail) {
                continue;
            }
            let Ok(net) = crate::control::parse_target(&r.ip) else {
                continue;
            };
            let ban = (net, r.end());
            match out.last_mut() {
                Some((j, bans)) if *j == r.jail => bans.push(ban),
                _ => out.push((r.jail.clone(), vec![ban])),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::daemon::bans::{BanBook, BanPlane, fake::FakePlane, now};
    use crate::store::DbFile;

    fn net(s: &str) -> IpNet {
        crate::control::parse_target(s).unwrap()
    }

    fn manual(store: &Arc<Store>) -> ManualStore {
        ManualStore {
            store: store.clone(),
            configured: ["sshd".to_string()].into_iter().collect(),
        }
    }

    #[test]
    fn manual_bans_are_stored_and_restored_into_an_empty_plane() {
        let store = Arc::new(Store::open_dbfile(&DbFile::Memory).unwrap().unwrap());
        let book = BanBook::new(FakePlane::with_capacity(100)).with_store(manual(&store));
        let id = book.plane().jail_id("manual").unwrap();
        let t = now();
        book.ban(
            &[net("198.18.0.1"), net("2001:db8::/48")],
            id,
            Some(t + 600),
        )
        .unwrap();
        book.ban(&[net("198.18.0.2")], id, None).unwrap();
        // A configured jail's bans are its own thread's to store.
        let sshd = book.plane().jail_id("sshd").unwrap();
        book.ban(&[net("198.18.0.3")], sshd, None).unwrap();
        assert!(book.unban(net("198.18.0.2"), Some(id)).unwrap());

        // As after a reboot: the maps are empty, the database is not.
        let fresh = BanBook::new(FakePlane::with_capacity(100)).with_store(manual(&store));
        assert_eq!(fresh.restore().unwrap(), 2);
        let mut got: Vec<(String, Option<i64>)> = fresh
            .list()
            .unwrap()
            .into_iter()
            .map(|b| (b.net.to_string(), b.expiry))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                ("198.18.0.1".to_string(), Some(t + 600)),
                ("2001:db8::/48".to_string(), Some(t + 600)),
            ]
        );
        fresh.unban_all(None).unwrap();
        let again = BanBook::new(FakePlane::with_capacity(100)).with_store(manual(&store));
        assert_eq!(again.restore().unwrap(), 0, "unban --all forgets them");
    }

    #[test]
    fn forgetting_by_every_jail_leaves_the_configured_jails_rows_to_them() {
        let store = Arc::new(Store::open_dbfile(&DbFile::Memory).unwrap().unwrap());
        let row = |jail: &str, ip: &str| crate::store::BanRecord {
            jail: jail.into(),
            ip: ip.into(),
            time_of_ban: now(),
            bantime: 600,
            bancount: 1,
            data: serde_json::json!({"failures": 1}),
        };
        for (jail, ip) in [
            ("manual", "198.18.0.1"),
            ("sshd", "198.18.0.1"),
            ("manual", "198.18.0.2"),
            ("sshd", "198.18.0.2"),
        ] {
            store.add_ban(&row(jail, ip)).unwrap();
        }
        let jails_of = |ip: &str| -> Vec<String> {
            let mut j: Vec<String> = (store.ban_log(None, Some(ip)).unwrap())
                .into_iter()
                .map(|r| r.jail)
                .collect();
            j.sort();
            j
        };
        let m = manual(&store);
        // `unban 198.18.0.1`: sshd's own thread forgets its row, in order
        // with its other writes; the book forgets only the jails it keeps
        m.forget(None, &net("198.18.0.1"));
        assert_eq!(jails_of("198.18.0.1"), ["sshd"]);
        assert_eq!(jails_of("198.18.0.2"), ["manual", "sshd"]);
        m.forget_all(None);
        assert_eq!(jails_of("198.18.0.2"), ["sshd"]);
        assert_eq!(jails_of("198.18.0.1"), ["sshd"]);
        // the current-ban rows (`bips`) too
        let current: Vec<(String, String)> = (store.current_rows(None, now()).unwrap())
            .into_iter()
            .map(|r| (r.jail, r.ip))
            .collect();
        assert_eq!(current.len(), 2);
        assert!(current.iter().all(|(j, _)| j == "sshd"), "{current:?}");
        // with no jail configured, every row is the book's
        store.remove_ip("198.18.0.1").unwrap();
        assert!(jails_of("198.18.0.1").is_empty());
        assert_eq!(store.remove_all_bans().unwrap(), 1);
    }
}
