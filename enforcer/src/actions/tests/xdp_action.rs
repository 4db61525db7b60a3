//! The XDP action through a fake data plane.
use super::*;

#[derive(Default)]
struct FakeTable {
    log: Mutex<Vec<String>>,
}
impl BanTable for FakeTable {
    fn jail_id(&self, jail: &str) -> Result<u8, TableError> {
        self.log.lock().unwrap().push(format!("id {jail}"));
        Ok(7)
    }
    fn set_scope(&self, id: u8, s: &Scope) -> Result<(), TableError> {
        self.log
            .lock()
            .unwrap()
            .push(format!("scope {id} {:?}", s.ports));
        Ok(())
    }
    fn ban(&self, net: crate::jail::Net, id: u8, expiry: Option<i64>) -> Result<(), TableError> {
        self.log
            .lock()
            .unwrap()
            .push(format!("ban {net} {id} {expiry:?}"));
        Ok(())
    }
    fn unban(&self, net: crate::jail::Net, id: u8) -> Result<bool, TableError> {
        self.log.lock().unwrap().push(format!("unban {net} {id}"));
        Ok(true)
    }
}

/// A jail with one XDP action (every port) on `table`, started.
fn started_on(table: &Arc<FakeTable>) -> Actions {
    let mut a = Actions::new("sshd", 600, Some(table.clone() as Arc<dyn BanTable>), None);
    a.add(
        "xdp",
        ActionSpec::Xdp {
            scope: Scope::all(),
        },
    )
    .unwrap();
    a.start(NOW);
    a
}

#[test]
fn xdp_action_through_the_table() {
    let table = Arc::new(FakeTable::default());
    let mut a = Actions::new("sshd", 600, Some(table.clone() as Arc<dyn BanTable>), None);
    let scope = xdp::parse_scope(Some("ssh,2222"), Some("tcp"), None).unwrap();
    a.add("xdp", ActionSpec::Xdp { scope }).unwrap();
    a.start(NOW);
    let mut perm = ticket("2001:db8::9");
    perm.ban_time = Some(-1);
    a.ban_ticket(ticket("198.18.0.1"), NOW);
    a.ban_ticket(perm, NOW);
    a.ban(&["198.18.4.0/24".into()], NOW).unwrap();
    a.unban(Some(&["198.18.0.1".into()]), false, NOW).unwrap();
    // Reload with a new scope: one scope write, no ban/unban.
    a.reload_begin();
    a.add(
        "xdp",
        ActionSpec::Xdp {
            scope: xdp::parse_scope(Some("ssh"), None, None).unwrap(),
        },
    )
    .unwrap();
    a.reload_end(NOW);
    // Stop keeps the entries (bans survive a restart) …
    a.stop(None, NOW);
    let end = (NOW + 600.0) as i64;
    assert_eq!(
        *table.log.lock().unwrap(),
        [
            "id sshd".to_string(),
            "scope 7 [(22, 22), (2222, 2222)]".into(),
            format!("ban 198.18.0.1 7 Some({end})"),
            "ban 2001:db8::9 7 None".into(),
            format!("ban 198.18.4.0/24 7 Some({end})"),
            "unban 198.18.0.1 7".into(),
            "scope 7 [(22, 22)]".into(),
        ]
    );
    // … unless the operator asks for a flush.
    let table = Arc::new(FakeTable::default());
    let mut a = started_on(&table);
    a.ban(&["198.18.0.1".into()], NOW).unwrap();
    a.set_flush_on_stop(true);
    a.stop(None, NOW);
    assert_eq!(
        table.log.lock().unwrap().last().unwrap(),
        "unban 198.18.0.1 7"
    );
    // Without a data plane an XDP action cannot be added.
    let mut a = Actions::new("sshd", 600, None, None);
    assert!(
        a.add(
            "xdp",
            ActionSpec::Xdp {
                scope: Scope::all()
            }
        )
        .is_err()
    );
}

/// fail2ban's tickets without a ban time of their own end at `time +
/// bantime` of the moment: `set JAIL bantime` moves their ends, the
/// next bans get the new time, and bans with their own time keep it. The
/// kernel entries follow (their expiry is the kernel's to enforce).
#[test]
fn set_bantime_moves_the_ends_of_default_bans_in_the_kernel_too() {
    let table = Arc::new(FakeTable::default());
    let mut a = started_on(&table);
    a.ban_ticket(ticket("198.18.0.1"), NOW);
    let mut own = ticket("198.18.0.2");
    own.ban_time = Some(60);
    a.ban_ticket(own, NOW);
    table.log.lock().unwrap().clear();

    a.set_bantime(3600);
    assert_eq!(a.bantime(), 3600);
    let end = (NOW + 3600.0) as i64;
    assert_eq!(
        *table.log.lock().unwrap(),
        [format!("ban 198.18.0.1 7 Some({end})")],
        "only the ban following the jail's ban time is rewritten"
    );
    assert_eq!(
        a.ban_manager()
            .get("198.18.0.1")
            .unwrap()
            .end_of_ban(a.bantime()),
        NOW + 3600.0
    );
    assert_eq!(
        a.ban_manager()
            .get("198.18.0.2")
            .unwrap()
            .end_of_ban(a.bantime()),
        NOW + 60.0
    );
    // Not unbanned at the old end; unbanned at the new one.
    assert_eq!(a.check_unban(NOW + 601.0, 100), 1, "only the 60 s ban ends");
    assert!(a.is_banned("198.18.0.1"));
    assert_eq!(a.check_unban(NOW + 3601.0, 100), 1);

    table.log.lock().unwrap().clear();
    let mut later = ticket("198.18.0.3");
    later.time = NOW + 10.0;
    a.ban_ticket(later, NOW + 10.0);
    let end = (NOW + 10.0 + 3600.0) as i64;
    assert_eq!(
        *table.log.lock().unwrap(),
        [format!("ban 198.18.0.3 7 Some({end})")],
        "a new ban gets the new ban time"
    );
}

/// A restore of more bans than one chunk: every new ban reaches the maps
/// once, with its end, while the books take them in; duplicates and
/// ended bans do not; a flush then lifts every one.
#[test]
fn a_restore_by_the_chunk_writes_what_a_whole_one_does() {
    let tickets = |n: usize| -> Vec<Ticket> {
        let mut v: Vec<Ticket> = (0..n)
            .map(|i| ticket(&format!("2001:db8:1::{:x}:{:x}", i >> 16, i & 0xffff)))
            .collect();
        v.push(ticket("2001:db8:1::0:5")); // again, in a later chunk
        v
    };
    let n = 40_000;
    let whole = Arc::new(FakeTable::default());
    let mut a = started_on(&whole);
    whole.log.lock().unwrap().clear();
    assert_eq!(a.restore_tickets(tickets(n), NOW), n);
    let chunked = Arc::new(FakeTable::default());
    let mut b = started_on(&chunked);
    chunked.log.lock().unwrap().clear();
    let all = tickets(n);
    let chunks: Vec<Vec<Ticket>> = all.chunks(7_000).map(<[Ticket]>::to_vec).collect();
    assert!(chunks.len() > 5);
    assert_eq!(b.restore_stream(10, chunks.into_iter(), NOW), n);
    assert_eq!(b.ban_manager().size(), n);
    assert_eq!(*chunked.log.lock().unwrap(), *whole.log.lock().unwrap());
}

#[test]
fn restore_writes_every_ban_through_the_chunked_writer() {
    let table = Arc::new(FakeTable::default());
    let mut a = started_on(&table);
    table.log.lock().unwrap().clear();
    let n = 70_000;
    let mut tickets: Vec<Ticket> = (0..n)
        .map(|i| ticket(&format!("2001:db8:1::{:x}:{:x}", i >> 16, i & 0xffff)))
        .collect();
    tickets.push(ticket("2001:db8:1::0:5")); // again, as written before
    let mut old = ticket("198.18.0.9");
    old.time = NOW - 700.0; // ended under the jail's 600 s
    tickets.push(old);
    assert_eq!(a.restore_tickets(tickets, NOW), n);
    assert_eq!(a.ban_manager().size(), n);
    let end = (NOW + 600.0) as i64;
    let log = table.log.lock().unwrap().clone();
    assert_eq!(log.len(), n, "one write per new ban");
    assert_eq!(log[0], format!("ban 2001:db8:1:: 7 Some({end})"));
    assert_eq!(log[n - 1], format!("ban 2001:db8:1::1:116f 7 Some({end})"));
    assert!(a.ban_manager().get("198.18.0.9").is_none());
    table.log.lock().unwrap().clear();
    a.set_flush_on_stop(true);
    a.stop(None, NOW);
    assert_eq!(
        table.log.lock().unwrap().len(),
        n,
        "the flush lifts them all"
    );
}
