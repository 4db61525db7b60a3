//! What the Actions manager records in the store.
use super::*;

#[derive(Default)]
struct RecordingStore {
    added: Mutex<Vec<(String, Option<i64>, bool)>>,
    deleted: Mutex<Vec<Option<String>>>,
}
impl crate::jail::BanStore for RecordingStore {
    fn get_ban(
        &self,
        _: &str,
        _: &str,
        _: bool,
    ) -> Result<Option<crate::jail::BanRecord>, crate::jail::StoreError> {
        Ok(None)
    }
    fn add_ban(&self, _: &str, t: &Ticket) -> Result<(), crate::jail::StoreError> {
        self.added
            .lock()
            .unwrap()
            .push((t.fid.clone(), t.ban_time, t.restored));
        Ok(())
    }
    fn del_ban(&self, _: &str, ip: Option<&str>) -> Result<(), crate::jail::StoreError> {
        self.deleted.lock().unwrap().push(ip.map(String::from));
        Ok(())
    }
    fn bans_merged(
        &self,
        _: &str,
        _: Option<&str>,
    ) -> Result<Option<crate::jail::MergedBans>, crate::jail::StoreError> {
        Ok(None)
    }
    fn current_bans(
        &self,
        _: &str,
        _: Option<i64>,
        _: f64,
    ) -> Result<Vec<Ticket>, crate::jail::StoreError> {
        Ok(Vec::new())
    }
}

/// An sshd jail's actions (ban time 900 s) recording in `store`.
fn sshd_storing_in(store: Arc<dyn crate::jail::BanStore>) -> Actions {
    Actions::new("sshd", 900, None, Some(store))
}

#[test]
fn bans_are_stored_with_the_ban_time_in_force_and_restored_ones_are_not() {
    let store = Arc::new(RecordingStore::default());
    let mut a = sshd_storing_in(store.clone());
    a.ban_ticket(ticket("198.18.0.1"), NOW);
    let mut r = ticket("198.18.0.2");
    r.restored = true;
    a.ban_ticket(r, NOW);
    assert_eq!(
        *store.added.lock().unwrap(),
        [("198.18.0.1".to_string(), Some(900), false)]
    );
    a.unban(Some(&["198.18.0.2".into()]), false, NOW).unwrap();
    a.unban(None, false, NOW).unwrap();
    assert_eq!(
        *store.deleted.lock().unwrap(),
        [Some("198.18.0.2".to_string()), None]
    );
}

/// A store that refuses writes while `full` is set; `writes` has those it
/// took, in order (`+id` a ban, `-id` an unban, `-*` every ban).
#[derive(Default)]
struct FullDisk {
    full: std::sync::atomic::AtomicBool,
    inner: RecordingStore,
    writes: Mutex<Vec<String>>,
}
impl crate::jail::BanStore for FullDisk {
    fn get_ban(
        &self,
        j: &str,
        ip: &str,
        o: bool,
    ) -> Result<Option<crate::jail::BanRecord>, crate::jail::StoreError> {
        self.inner.get_ban(j, ip, o)
    }
    fn add_ban(&self, j: &str, t: &Ticket) -> Result<(), crate::jail::StoreError> {
        if self.full.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(crate::jail::StoreError("database or disk is full".into()));
        }
        self.writes.lock().unwrap().push(format!("+{}", t.fid));
        self.inner.add_ban(j, t)
    }
    fn del_ban(&self, j: &str, ip: Option<&str>) -> Result<(), crate::jail::StoreError> {
        if self.full.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(crate::jail::StoreError("database or disk is full".into()));
        }
        self.writes
            .lock()
            .unwrap()
            .push(format!("-{}", ip.unwrap_or("*")));
        self.inner.del_ban(j, ip)
    }
    fn bans_merged(
        &self,
        ip: &str,
        j: Option<&str>,
    ) -> Result<Option<crate::jail::MergedBans>, crate::jail::StoreError> {
        self.inner.bans_merged(ip, j)
    }
    fn current_bans(
        &self,
        j: &str,
        b: Option<i64>,
        now: f64,
    ) -> Result<Vec<Ticket>, crate::jail::StoreError> {
        self.inner.current_bans(j, b, now)
    }
}

#[test]
fn bans_the_store_refused_are_stored_once_it_takes_them_again() {
    use std::sync::atomic::Ordering;
    let store = Arc::new(FullDisk::default());
    let mut a = sshd_storing_in(store.clone());
    store.full.store(true, Ordering::Relaxed);
    for ip in ["198.18.0.1", "198.18.0.2", "198.18.0.3"] {
        assert!(a.ban_ticket(ticket(ip), NOW).added, "enforced all the same");
    }
    assert_eq!(a.store_refused(), 0, "still full: nothing taken");
    a.unban(Some(&["198.18.0.2".into()]), false, NOW).unwrap();
    store.full.store(false, Ordering::Relaxed);
    assert_eq!(
        a.store_refused(),
        3,
        "the lifted ban is let go, its unban made"
    );
    assert_eq!(
        *store.inner.added.lock().unwrap(),
        [
            ("198.18.0.1".to_string(), Some(900), false),
            ("198.18.0.3".to_string(), Some(900), false)
        ]
    );
    assert_eq!(
        *store.writes.lock().unwrap(),
        ["+198.18.0.1", "+198.18.0.3", "-198.18.0.2"]
    );
    assert_eq!(a.store_refused(), 0, "each is stored once");
}

#[test]
fn an_unban_the_store_refused_is_made_later_and_before_what_followed_it() {
    use std::sync::atomic::Ordering;
    let store = Arc::new(FullDisk::default());
    let mut a = sshd_storing_in(store.clone());
    a.ban_ticket(ticket("198.18.0.1"), NOW);
    a.ban_ticket(ticket("198.18.0.2"), NOW);
    // The disk fills: the unbans are refused, so a restart would restore
    // both bans, unless they are made later.
    store.full.store(true, Ordering::Relaxed);
    a.unban(Some(&["198.18.0.1".into()]), false, NOW).unwrap();
    a.unban(None, false, NOW).unwrap();
    assert_eq!(a.store_refused(), 0, "still full: nothing taken");
    // Space returns, and 198.18.0.1 is banned again before the retry: the
    // old unbans are made first, so they do not delete its new ban.
    store.full.store(false, Ordering::Relaxed);
    assert!(a.ban_ticket(ticket("198.18.0.1"), NOW + 1.0).added);
    assert_eq!(
        *store.writes.lock().unwrap(),
        [
            "+198.18.0.1",
            "+198.18.0.2",
            "-198.18.0.1",
            "-*",
            "+198.18.0.1"
        ]
    );
    assert_eq!(a.store_refused(), 0, "each is made once");
    // Full again: a ban refused, then its unban waits behind it, and the
    // retry lets the lifted ban go and makes the unban.
    store.full.store(true, Ordering::Relaxed);
    assert!(a.ban_ticket(ticket("198.18.0.3"), NOW).added);
    a.unban(Some(&["198.18.0.3".into()]), false, NOW).unwrap();
    store.full.store(false, Ordering::Relaxed);
    assert_eq!(a.store_refused(), 1);
    assert_eq!(store.writes.lock().unwrap().last().unwrap(), "-198.18.0.3");
}
