use std::process::Command;

use serde_json::json;

use super::*;

fn ban(jail: &str, ip: &str, t: i64, bantime: i64, count: u32) -> BanRecord {
    BanRecord {
        jail: jail.into(),
        ip: ip.into(),
        time_of_ban: t,
        bantime,
        bancount: count,
        data: json!({"matches": ["a", "b", "c"], "failures": 3}),
    }
}

#[test]
fn dbfile_values_as_fail2ban() {
    assert_eq!(DbFile::parse("None"), DbFile::Disabled);
    assert_eq!(DbFile::parse("none"), DbFile::Disabled);
    assert_eq!(DbFile::parse(":memory:"), DbFile::Memory);
    assert_eq!(
        DbFile::parse("/x/y.sqlite3"),
        DbFile::Path("/x/y.sqlite3".into())
    );
    assert!(Store::open_dbfile(&DbFile::Disabled).unwrap().is_none());
    assert!(Store::open_dbfile(&DbFile::Memory).unwrap().is_some());
}

#[test]
fn creates_v4_schema_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/dir/db.sqlite3");
    let s = Store::open(&path).unwrap();
    s.add_jail("sshd").unwrap();
    drop(s);
    let c = rusqlite::Connection::open(&path).unwrap();
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let v: i64 = c
        .query_row("SELECT version FROM fail2banDb", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 4);
    for t in ["jails", "logs", "bans", "bips"] {
        assert!(schema::table_exists(&c, t).unwrap(), "{t}");
    }
    // Reopening keeps the data and does not re-insert the version.
    let s = Store::open(&path).unwrap();
    assert_eq!(s.jails().unwrap(), vec![("sshd".to_string(), true)]);
    let n: i64 = c
        .query_row("SELECT count(*) FROM fail2banDb", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn other_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite3");
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch("CREATE TABLE fail2banDb(version INTEGER); INSERT INTO fail2banDb VALUES(2);")
        .unwrap();
    drop(c);
    let err = Store::open(&path).unwrap_err().to_string();
    assert!(err.contains("schema version 2"), "{err}");
}

#[test]
fn unusable_path_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    std::fs::write(&file, "x").unwrap();
    // A directory that is a file.
    assert!(matches!(
        Store::open(&file.join("db")),
        Err(StoreError::Dir { .. })
    ));
    // A file that is not a database.
    std::fs::write(&file, vec![b'z'; 4096]).unwrap();
    assert!(Store::open(&file).is_err());
}

#[test]
fn add_remove_and_current_bans() {
    let s = Store::open_in_memory().unwrap();
    let now = 1_000_000;
    s.add_ban(&ban("sshd", "198.18.0.1", now - 100, 600, 1))
        .unwrap();
    s.add_ban(&ban("sshd", "198.18.0.2", now - 1000, 600, 1))
        .unwrap(); // expired
    s.add_ban(&ban("sshd", "198.18.0.3", now - 10_000, -1, 1))
        .unwrap(); // permanent
    s.add_ban(&ban("recidive", "198.18.0.1", now - 50, 86400, 1))
        .unwrap();
    let cur = s.current_bans(Some("sshd"), now, None).unwrap();
    let ips: Vec<_> = cur.iter().map(|b| b.ip.as_str()).collect();
    assert_eq!(ips, ["198.18.0.1", "198.18.0.3"]);
    // Original end time, not a fresh ban time.
    assert_eq!(cur[0].end(), Some(now - 100 + 600));
    assert_eq!(cur[1].end(), None);
    assert_eq!(s.current_bans(None, now, None).unwrap().len(), 3);
    // The jail's longest ban caps permanent and long stored bans.
    let capped = s.current_bans(Some("sshd"), now, Some(500)).unwrap();
    assert_eq!(
        capped.iter().map(|b| b.ip.as_str()).collect::<Vec<_>>(),
        ["198.18.0.1"]
    );
    assert_eq!(capped[0].bantime, 500);

    assert!(s.remove_ban("sshd", "198.18.0.1").unwrap());
    assert!(!s.remove_ban("sshd", "198.18.0.1").unwrap());
    assert_eq!(s.current_bans(Some("sshd"), now, None).unwrap().len(), 1);
    assert_eq!(
        s.remove_ip("198.18.0.1").unwrap(),
        vec!["recidive".to_string()]
    );
    assert_eq!(s.remove_jail_bans("sshd").unwrap(), 2);
    assert!(s.current_bans(None, now, None).unwrap().is_empty());
}

#[test]
fn rebanning_keeps_history_and_latest_current_row() {
    let s = Store::open_in_memory().unwrap();
    s.add_ban(&ban("sshd", "198.18.0.9", 100, 600, 1)).unwrap();
    s.add_ban(&ban("sshd", "198.18.0.9", 1000, 1200, 2))
        .unwrap();
    s.add_ban(&ban("recidive", "198.18.0.9", 1100, 3600, 1))
        .unwrap();
    assert_eq!(
        s.ban_log(Some("sshd"), Some("198.18.0.9")).unwrap().len(),
        2
    );
    let h = s
        .ban_history("198.18.0.9", Some("sshd"), false, None)
        .unwrap()
        .unwrap();
    assert_eq!((h.bancount, h.last_time_of_ban, h.bantime), (2, 1000, 1200));
    let all = s
        .ban_history("198.18.0.9", Some("sshd"), true, None)
        .unwrap()
        .unwrap();
    assert_eq!(
        (all.bancount, all.last_time_of_ban, all.bantime),
        (3, 1100, 4800)
    );
    let since = s
        .ban_history("198.18.0.9", None, true, Some(1050))
        .unwrap()
        .unwrap();
    assert_eq!(since.bancount, 1);
    assert!(
        s.ban_history("198.18.0.10", Some("sshd"), false, None)
            .unwrap()
            .is_none()
    );
}

#[test]
fn max_matches_trims_stored_and_restored_matches() {
    let mut s = Store::open_in_memory().unwrap();
    s.set_max_matches(2);
    s.add_ban(&ban("sshd", "198.18.0.1", 100, -1, 1)).unwrap();
    let b = &s.current_bans(None, 200, None).unwrap()[0];
    assert_eq!(b.matches(), ["b", "c"]);
    assert_eq!(b.failures(), 3);
    s.set_max_matches(1);
    assert_eq!(s.current_bans(None, 200, None).unwrap()[0].matches(), ["c"]);
    s.set_max_matches(0);
    s.add_ban(&ban("sshd", "198.18.0.2", 100, -1, 1)).unwrap();
    let b = s.current_bans(Some("sshd"), 200, None).unwrap();
    assert!(b.iter().all(|b| b.matches().is_empty()));
    assert!(b[1].data.get("matches").is_none());
}

#[test]
fn purge_drops_old_history_and_outdated_current_rows() {
    let mut s = Store::open_in_memory().unwrap();
    s.set_purge_age(1000);
    let now = 100_000;
    s.add_ban(&ban("sshd", "198.18.0.1", now - 5000, 60, 1))
        .unwrap(); // old, out of date
    s.add_ban(&ban("sshd", "198.18.0.2", now - 5000, 2000, 1))
        .unwrap(); // old, bips kept (3x bantime)
    s.add_ban(&ban("sshd", "198.18.0.3", now - 5000, -1, 1))
        .unwrap(); // permanent
    s.add_ban(&ban("sshd", "198.18.0.4", now - 10, 60, 1))
        .unwrap(); // recent
    s.add_jail("gone").unwrap();
    s.disable_jail("gone").unwrap();
    assert_eq!(s.purge(now).unwrap(), 3);
    assert_eq!(s.ban_log(None, None).unwrap().len(), 1);
    let left: Vec<_> = ["198.18.0.1", "198.18.0.2", "198.18.0.3", "198.18.0.4"]
        .iter()
        .map(|ip| {
            s.ban_history(ip, Some("sshd"), false, None)
                .unwrap()
                .is_some()
        })
        .collect();
    assert_eq!(left, [false, true, true, true]);
    assert!(s.jails().unwrap().iter().all(|(j, _)| j != "gone"));
}

#[test]
fn log_and_journal_positions() {
    let s = Store::open_in_memory().unwrap();
    assert!(
        s.log_position("sshd", "/var/log/auth.log")
            .unwrap()
            .is_none()
    );
    let p = LogPosition {
        first_line_md5: "0123".into(),
        pos: 4567,
    };
    s.set_log_position("sshd", "/var/log/auth.log", &p).unwrap();
    assert_eq!(
        s.log_position("sshd", "/var/log/auth.log").unwrap(),
        Some(p)
    );
    let p2 = LogPosition {
        first_line_md5: "89ab".into(),
        pos: 1,
    };
    s.set_log_position("sshd", "/var/log/auth.log", &p2)
        .unwrap();
    assert_eq!(
        s.log_position("sshd", "/var/log/auth.log").unwrap(),
        Some(p2)
    );
    assert!(
        s.log_position("other", "/var/log/auth.log")
            .unwrap()
            .is_none()
    );
    assert_eq!(s.log_paths("sshd").unwrap(), ["/var/log/auth.log"]);

    let j = JournalPosition {
        cursor: Some("s=abc;i=1;b=def;m=1;t=2;x=3".into()),
        time: 1_700_000_000,
    };
    s.set_journal_position("sshd", &j).unwrap();
    assert_eq!(s.journal_position("sshd").unwrap(), Some(j));
}

/// Runs Debian's Python (not a pyenv one) with fail2ban's own database module.
fn fail2ban_python(script: &str) {
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "fail2ban's python module (Debian package fail2ban) must be installed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn imports_a_database_written_by_fail2ban() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("fail2ban.sqlite3");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    fail2ban_python(&format!(
        r#"
from fail2ban.server.database import Fail2BanDb
from fail2ban.server.ticket import FailTicket
from fail2ban.tests.dummyjail import DummyJail
class Log:
    def __init__(s, n, h, p): s.n, s.h, s.p = n, h, p
    def getFileName(s): return s.n
    def getHash(s): return s.h
    def getPos(s): return s.p
db = Fail2BanDb({src:?})
sshd, rec = DummyJail(name='sshd'), DummyJail(name='recidive')
db.addJail(sshd); db.addJail(rec)
t = FailTicket('198.18.0.7', {now} - 100, ['line one', 'line two'])
t.setBanTime(3600); t.setBanCount(2); t.setAttempt(5)
db.addBan(sshd, t)
t = FailTicket('2001:db8::1', {now} - 100000, ['old'])
t.setBanTime(600)
db.addBan(sshd, t)
t = FailTicket('198.18.0.8', {now} - 10, ['x'])
t.setBanTime(-1)
db.addBan(rec, t)
db.updateLog(sshd, Log('/var/log/auth.log', 'd41d8cd98f00b204e9800998ecf8427e', 1234))
db.close()
"#
    ));
    let ours = Store::open(&dir.path().join("enforcer.sqlite3")).unwrap();
    let r = ours.import_fail2ban_db(&src).unwrap();
    assert_eq!(
        r,
        ImportReport {
            jails: 2,
            bans: 3,
            current: 3,
            logs: 1
        }
    );
    let cur = ours.current_bans(None, now, None).unwrap();
    let got: Vec<_> = cur
        .iter()
        .map(|b| (b.jail.as_str(), b.ip.as_str(), b.end(), b.bancount))
        .collect();
    assert_eq!(
        got,
        [
            ("recidive", "198.18.0.8", None, 0), // fail2ban counts from 0
            ("sshd", "198.18.0.7", Some(now - 100 + 3600), 2)
        ]
    );
    assert_eq!(cur[1].matches(), ["line one", "line two"]);
    assert_eq!(cur[1].failures(), 5);
    assert_eq!(
        ours.log_position("sshd", "/var/log/auth.log").unwrap(),
        Some(LogPosition {
            first_line_md5: "d41d8cd98f00b204e9800998ecf8427e".into(),
            pos: 1234
        })
    );
    // Importing again adds nothing.
    let again = ours.import_fail2ban_db(&src).unwrap();
    assert_eq!((again.jails, again.bans, again.current), (0, 0, 3));
    assert_eq!(ours.ban_log(None, None).unwrap().len(), 3);
}

#[test]
fn fail2ban_reads_our_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ours.sqlite3");
    let s = Store::open(&path).unwrap();
    s.add_ban(&ban("sshd", "198.18.0.5", 2_000_000_000, 600, 1))
        .unwrap();
    let at = LogPosition {
        first_line_md5: "d41d8cd98f00b204e9800998ecf8427e".into(),
        pos: 77,
    };
    s.set_log_position("sshd", "/var/log/auth.log", &at)
        .unwrap();
    let j = JournalPosition {
        cursor: Some("s=abc;i=1".into()),
        time: 1_700_000_000,
    };
    s.set_journal_position("sshd", &j).unwrap();
    drop(s);
    fail2ban_python(&format!(
        r#"
from fail2ban.server.database import Fail2BanDb
from fail2ban.tests.dummyjail import DummyJail
db = Fail2BanDb({path:?})
t = db.getCurrentBans(jail=DummyJail(name='sshd'), fromtime=2000000001, correctBanTime=False)
assert [x.getID() for x in t] == ['198.18.0.5'], t
assert t[0].getMatches() == ['a', 'b', 'c'], t[0].getMatches()
class Log:
    def getFileName(s): return '/var/log/auth.log'
    def getHash(s): return 'd41d8cd98f00b204e9800998ecf8427e'
    def getPos(s): return 0
jail = DummyJail(name='sshd')
assert db.addLog(jail, Log()) == 77, db.addLog(jail, Log())
assert db.getJournalPos(jail, 'systemd-journal') == 1700000000
"#
    ));
}

#[test]
fn import_refuses_what_is_not_fail2ban() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open_in_memory().unwrap();
    assert!(s.import_fail2ban_db(&dir.path().join("missing")).is_err());
    let other = dir.path().join("other.sqlite3");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t(x)")
        .unwrap();
    let err = s.import_fail2ban_db(&other).unwrap_err().to_string();
    assert!(err.contains("not a fail2ban database"), "{err}");
}
