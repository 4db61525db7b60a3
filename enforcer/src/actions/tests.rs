//! Tests of the Actions manager: lifecycle order, bans and unbans, reload
//! without a ban/unban storm, family variants, check/repair, XDP through a
//! fake data plane, status.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::*;
use crate::jail::Ticket;

struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("enforcer-act-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn log(&self) -> PathBuf {
        self.0.join("log")
    }
    fn read(&self) -> Vec<String> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }
    fn clear(&self) {
        let _ = std::fs::remove_file(self.log());
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn echo_action(log: &Path, tag: &str) -> ActionSpec {
    let l = log.display();
    let mut p = BTreeMap::new();
    for op in ["start", "stop", "ban", "unban", "flush-unused", "reload"] {
        if op == "flush-unused" {
            continue;
        }
        let what = if op.ends_with("ban") {
            format!("{op} {tag} <ip>")
        } else {
            format!("{op} {tag}")
        };
        p.insert(format!("action{op}"), format!("echo \"{what}\" >> {l}"));
    }
    ActionSpec::Command {
        file: format!("echo-{tag}"),
        properties: p,
        family: BTreeMap::new(),
    }
}

const NOW: f64 = 1_800_000_000.0;

fn ticket(ip: &str) -> Ticket {
    let mut t = Ticket::new(ip, ip.parse().ok(), NOW);
    t.failures = 3;
    t.matches = vec!["m1".into()];
    t
}

#[test]
fn add_start_stop_order_and_duplicates() {
    let d = TempDir::new("order");
    let mut a = Actions::new("sshd", 600, None, None);
    a.add("a", echo_action(&d.log(), "A")).unwrap();
    a.add("b", echo_action(&d.log(), "B")).unwrap();
    assert!(matches!(
        a.add("a", echo_action(&d.log(), "A")),
        Err(ActionError::Exists(_))
    ));
    assert!(a.start(NOW).is_empty());
    assert!(a.ban_ticket(ticket("198.18.0.1"), NOW).added);
    assert!(a.stop(None, NOW).is_empty());
    assert_eq!(
        d.read(),
        [
            "start A",
            "start B",
            "ban A 198.18.0.1",
            "ban B 198.18.0.1",
            "unban A 198.18.0.1",
            "unban B 198.18.0.1",
            "stop B",
            "stop A"
        ]
    );
    assert!(a.names().is_empty());
    assert_eq!(a.ban_manager().size(), 0);
}

#[test]
fn stop_subset_keeps_the_others() {
    let d = TempDir::new("subset");
    let mut a = Actions::new("sshd", 600, None, None);
    for n in ["a", "b", "c"] {
        a.add(n, echo_action(&d.log(), &n.to_uppercase())).unwrap();
    }
    a.start(NOW);
    a.ban_ticket(ticket("198.18.0.1"), NOW);
    d.clear();
    a.stop(Some(&["c".to_string(), "a".to_string()]), NOW);
    assert_eq!(
        d.read(),
        [
            "unban A 198.18.0.1",
            "unban C 198.18.0.1",
            "stop C",
            "stop A"
        ]
    );
    assert_eq!(a.names(), ["b"]);
    assert!(a.is_banned("198.18.0.1"));
}

#[test]
fn manual_ban_unban_ifexists_cidr_all_and_expiry() {
    let d = TempDir::new("manual");
    let mut a = Actions::new("sshd", 600, None, None);
    a.add("a", echo_action(&d.log(), "A")).unwrap();
    a.start(NOW);
    assert_eq!(
        a.ban(
            &[
                "198.18.0.1".into(),
                "::ffff:198.18.0.2".into(),
                "2001:db8::5".into()
            ],
            NOW
        )
        .unwrap(),
        3
    );
    assert!(a.ban(&["nonsense".into()], NOW).is_err());
    assert_eq!(
        a.ban(&["198.18.0.1".into()], NOW).unwrap(),
        0,
        "already banned"
    );
    assert!(a.is_banned("198.18.0.2"));
    match a.unban(Some(&["198.18.9.9".into()]), false, NOW) {
        Err(ActionError::NotBanned(m)) => assert_eq!(m, ["198.18.9.9"]),
        o => panic!("{o:?}"),
    }
    assert_eq!(a.unban(Some(&["198.18.9.9".into()]), true, NOW).unwrap(), 0);
    assert_eq!(
        a.unban(Some(&["198.18.0.0/24".into()]), false, NOW)
            .unwrap(),
        2
    );
    assert_eq!(a.ban_list(false), ["2001:db8::5"]);
    a.ban(&["198.18.0.7".into()], NOW + 10.0).unwrap();
    assert_eq!(a.check_unban(NOW + 600.5, 100), 1);
    assert_eq!(a.ban_list(false), ["198.18.0.7"]);
    assert_eq!(a.unban(None, false, NOW).unwrap(), 1);
    assert_eq!(a.ban_manager().size(), 0);
    let log = d.read();
    assert!(
        log.contains(&"ban A 2001:db8::5".to_string())
            && log.contains(&"unban A 2001:db8::5".to_string()),
        "{log:?}"
    );
    assert!(log.contains(&"unban A 198.18.0.7".to_string()));
}

#[test]
fn ban_list_with_time_and_bantime() {
    let mut a = Actions::new("sshd", 600, None, None);
    let mut t = ticket("198.18.0.3");
    t.ban_time = Some(1200);
    a.ban_ticket(t, NOW);
    a.ban_ticket(ticket("198.18.0.4"), NOW);
    let l = a.ban_list(true);
    assert_eq!(l.len(), 2);
    assert!(
        l[0].starts_with("198.18.0.4 \t") && l[0].contains(" + 600 = "),
        "{l:?}"
    );
    assert!(
        l[1].starts_with("198.18.0.3 \t") && l[1].contains(" + 1200 = "),
        "{l:?}"
    );
    assert_eq!(a.bantime(), 600);
    a.set_bantime(60);
    assert_eq!(a.bantime(), 60);
    assert_eq!(
        a.check_unban(NOW + 61.0, 100),
        1,
        "default ban time change moves ends"
    );
}

#[test]
fn reload_without_ban_unban_storm() {
    let d = TempDir::new("reload");
    let mut a = Actions::new("sshd", 600, None, None);
    a.add("keep", echo_action(&d.log(), "K")).unwrap();
    a.add("gone", echo_action(&d.log(), "G")).unwrap();
    a.start(NOW);
    a.ban(&["198.18.0.1".into(), "198.18.0.2".into()], NOW)
        .unwrap();
    d.clear();
    a.reload_begin();
    a.add("keep", echo_action(&d.log(), "K")).unwrap();
    a.add("new", echo_action(&d.log(), "N")).unwrap();
    assert!(a.reload_end(NOW).is_empty());
    let mut log = d.read();
    log.sort();
    assert_eq!(
        log,
        [
            "ban N 198.18.0.1",
            "ban N 198.18.0.2",
            "reload K",
            "start N",
            "stop G",
            "unban G 198.18.0.1",
            "unban G 198.18.0.2"
        ]
    );
    assert_eq!(a.names(), ["keep", "new"]);
    assert_eq!(a.ban_manager().size(), 2, "bans stay");
}

#[test]
fn family_variants_and_start_on_demand() {
    let d = TempDir::new("family");
    let l = d.log();
    let l = l.display();
    let mut p = BTreeMap::new();
    p.insert(
        "actionstart".into(),
        format!("echo \"start <family> <cmd>\" >> {l}"),
    );
    p.insert(
        "actionban".into(),
        format!("echo \"ban <family> <cmd> <ip>\" >> {l}"),
    );
    p.insert(
        "actionunban".into(),
        format!("echo \"unban <cmd> <ip>\" >> {l}"),
    );
    p.insert(
        "actionstop".into(),
        format!("echo \"stop <family> <cmd>\" >> {l}"),
    );
    p.insert("cmd".into(), "iptables".into());
    let mut fam = BTreeMap::new();
    fam.insert(
        "inet6".to_string(),
        BTreeMap::from([("cmd".to_string(), "ip6tables".to_string())]),
    );
    let mut a = Actions::new("sshd", 600, None, None);
    a.add(
        "f",
        ActionSpec::Command {
            file: "x".into(),
            properties: p,
            family: fam,
        },
    )
    .unwrap();
    a.start(NOW);
    assert!(d.read().is_empty(), "conditional sections start on demand");
    a.ban(
        &[
            "198.18.0.1".into(),
            "2001:db8::1".into(),
            "198.18.0.2".into(),
        ],
        NOW,
    )
    .unwrap();
    a.unban(Some(&["2001:db8::1".into()]), false, NOW).unwrap();
    a.stop(None, NOW);
    assert_eq!(
        d.read(),
        [
            "start inet4 iptables",
            "ban inet4 iptables 198.18.0.1",
            "start inet6 ip6tables",
            "ban inet6 ip6tables 2001:db8::1",
            "ban inet4 iptables 198.18.0.2",
            "unban ip6tables 2001:db8::1",
            "unban iptables 198.18.0.1",
            "unban iptables 198.18.0.2",
            "stop inet4 iptables",
            "stop inet6 ip6tables",
        ]
    );
}

#[test]
fn failing_ban_runs_check_then_repair_and_retries_once() {
    let d = TempDir::new("repair");
    let l = d.log();
    let flag = d.0.join("ok");
    let (l, f) = (l.display(), flag.display());
    let mut p = BTreeMap::new();
    p.insert("actionstart".into(), format!("echo start >> {l}"));
    p.insert(
        "actionban".into(),
        format!("echo \"ban <ip>\" >> {l}; [ -e {f} ]"),
    );
    p.insert(
        "actioncheck".into(),
        format!("echo check >> {l}; [ -e {f} ]"),
    );
    p.insert(
        "actionrepair".into(),
        format!("echo repair >> {l}; touch {f}"),
    );
    let mut a = Actions::new("sshd", 600, None, None);
    a.add(
        "r",
        ActionSpec::Command {
            file: "x".into(),
            properties: p.clone(),
            family: BTreeMap::new(),
        },
    )
    .unwrap();
    a.start(NOW);
    let out = a.ban_ticket(ticket("198.18.0.1"), NOW);
    assert!(out.added && out.failed.is_empty(), "{out:?}");
    assert_eq!(
        d.read(),
        [
            "start",
            "ban 198.18.0.1",
            "check",
            "repair",
            "check",
            "ban 198.18.0.1"
        ]
    );

    // Without actionrepair: stop + start, then the retry; a ban that keeps
    // failing is reported, not retried forever.
    d.clear();
    let _ = std::fs::remove_file(&flag);
    p.remove("actionrepair");
    p.insert("actionstop".into(), format!("echo stop >> {l}"));
    let mut a = Actions::new("sshd", 600, None, None);
    a.add(
        "r",
        ActionSpec::Command {
            file: "x".into(),
            properties: p,
            family: BTreeMap::new(),
        },
    )
    .unwrap();
    a.start(NOW);
    let out = a.ban_ticket(ticket("198.18.0.2"), NOW);
    assert_eq!(out.failed, ["r"]);
    assert_eq!(
        d.read(),
        ["start", "ban 198.18.0.2", "check", "stop", "start", "check"]
    );
}

#[test]
fn hanging_command_is_killed_at_its_timeout() {
    let mut p = BTreeMap::new();
    p.insert("actionban".into(), "sleep 30".to_string());
    p.insert("timeout".into(), "1".to_string());
    let mut a = Actions::new("sshd", 600, None, None);
    a.add(
        "h",
        ActionSpec::Command {
            file: "x".into(),
            properties: p,
            family: BTreeMap::new(),
        },
    )
    .unwrap();
    let t0 = std::time::Instant::now();
    let out = a.ban_ticket(ticket("198.18.0.1"), NOW);
    assert_eq!(out.failed, ["h"]);
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        t0.elapsed()
    );
}

#[test]
fn norestored_and_prolong() {
    let d = TempDir::new("restored");
    let l = d.log();
    let l = l.display();
    let mut p = BTreeMap::new();
    p.insert(
        "actionban".into(),
        format!("echo \"ban <ip> <bantime> <restored>\" >> {l}"),
    );
    p.insert(
        "actionprolong".into(),
        format!("echo \"prolong <ip> <bantime>\" >> {l}"),
    );
    p.insert("norestored".into(), "true".into());
    let mut a = Actions::new("sshd", 600, None, None);
    a.add(
        "n",
        ActionSpec::Command {
            file: "x".into(),
            properties: p,
            family: BTreeMap::new(),
        },
    )
    .unwrap();
    let mut r = ticket("198.18.0.1");
    r.restored = true;
    assert!(a.ban_ticket(r, NOW).added);
    a.ban_ticket(ticket("198.18.0.2"), NOW);
    let mut longer = ticket("198.18.0.2");
    longer.ban_time = Some(3600);
    longer.time = NOW + 5.0;
    assert!(a.ban_ticket(longer, NOW + 5.0).prolonged);
    assert_eq!(
        d.read(),
        ["ban 198.18.0.2 600 0", "prolong 198.18.0.2 3605"]
    );
}

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
    let mut a = Actions::new("sshd", 600, Some(table.clone() as Arc<dyn BanTable>), None);
    a.add(
        "xdp",
        ActionSpec::Xdp {
            scope: Scope::all(),
        },
    )
    .unwrap();
    a.start(NOW);
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

#[test]
fn status_flavors() {
    let mut a = Actions::new("sshd", 600, None, None);
    a.ban(&["198.18.0.1".into(), "198.18.0.2".into()], NOW)
        .unwrap();
    a.unban(Some(&["198.18.0.1".into()]), false, NOW).unwrap();
    let f = status::filter_section(1, 10, &["/var/log/auth.log".into()], None);
    let st = a.jail_status(f.clone(), Flavor::Basic);
    assert_eq!(
        st.text(),
        "Status for the jail: sshd\n|- Filter\n|  |- Currently failed:\t1\n|  |- Total failed:\t10\n|  `- File list:\t/var/log/auth.log\n`- Actions\n   |- Currently banned:\t1\n   |- Total banned:\t2\n   `- Banned IP list:\t198.18.0.2"
    );
    let short = a.jail_status(f, Flavor::Short);
    assert!(!short.text().contains("Banned IP list"));
    assert_eq!(short.json()["Actions"]["Total banned"], 2);
    assert_eq!("stats".parse::<Flavor>().unwrap(), Flavor::Stats);
    assert!("bogus".parse::<Flavor>().is_err());
}

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

#[test]
fn bans_are_stored_with_the_ban_time_in_force_and_restored_ones_are_not() {
    let store = Arc::new(RecordingStore::default());
    let mut a = Actions::new(
        "sshd",
        900,
        None,
        Some(store.clone() as Arc<dyn crate::jail::BanStore>),
    );
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

/// fail2ban's tickets without a ban time of their own end at `time +
/// bantime` of the moment: `set JAIL bantime` moves their ends, the
/// next bans get the new time, and bans with their own time keep it. The
/// kernel entries follow (their expiry is the kernel's to enforce).
#[test]
fn set_bantime_moves_the_ends_of_default_bans_in_the_kernel_too() {
    let table = Arc::new(FakeTable::default());
    let mut a = Actions::new("sshd", 600, Some(table.clone() as Arc<dyn BanTable>), None);
    a.add(
        "xdp",
        ActionSpec::Xdp {
            scope: Scope::all(),
        },
    )
    .unwrap();
    a.start(NOW);
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
