//! Tests of the jail room against fail2ban's own behaviour. The tables were
//! produced by running fail2ban's `FailManager`/`FailTicket` (server/
//! failmanager.py, ticket.py) on the same inputs.
use std::sync::{Arc, Mutex};

use super::*;

fn fail(ip: &str, t: f64, line: &str) -> Ticket {
    let mut tk = Ticket::new(ip, ip.parse().ok(), t);
    tk.matches = vec![line.to_string()];
    tk
}

/// (retry after each failure, failures, matches, first_time)
fn run(times: &[f64], findtime: i64, maxmatches: u32) -> (Vec<u32>, u32, Vec<String>, f64) {
    let mut fm = FailManager::new(100, findtime, maxmatches);
    let mut out = Vec::new();
    for (i, t) in times.iter().enumerate() {
        out.push(fm.add_failure(fail("198.18.0.1", *t, &format!("line {i}")), 1, false));
    }
    let t = fm.get("198.18.0.1").unwrap();
    (out, t.failures, t.matches.clone(), t.first_time)
}

fn lines(ix: &[usize]) -> Vec<String> {
    ix.iter().map(|i| format!("line {i}")).collect()
}

/// (failure times, findtime, maxmatches, retries, failures, matches, first time)
type Case<'a> = (&'a [f64], i64, u32, &'a [u32], u32, Vec<String>, f64);

#[test]
fn counting_and_rescaling_match_fail2ban() {
    let cases: &[Case] = &[
        (
            &[0., 10., 20., 30.],
            600,
            5,
            &[1, 2, 3, 4],
            4,
            lines(&[0, 1, 2, 3]),
            0.,
        ),
        (
            &[0., 300., 600., 900., 1200., 1500., 1800.],
            600,
            5,
            &[1, 2, 3, 3, 3, 3, 3],
            7,
            lines(&[2, 3, 4, 5, 6]),
            1200.,
        ),
        (
            &[0., 100., 1000., 1100., 1200.],
            600,
            5,
            &[1, 2, 2, 3, 4],
            5,
            lines(&[0, 1, 2, 3, 4]),
            600.,
        ),
        (
            &[0., 700., 1400., 2100.],
            600,
            5,
            &[1, 2, 2, 2],
            4,
            lines(&[0, 1, 2, 3]),
            1500.,
        ),
        (
            &[0., 1., 2., 3., 4., 1000., 1001., 1002.],
            600,
            3,
            &[1, 2, 3, 4, 5, 4, 5, 6],
            8,
            lines(&[5, 6, 7]),
            402.,
        ),
        (
            &[0., 599., 1198., 1797., 2396., 2995.],
            600,
            5,
            &[1, 2, 2, 2, 2, 2],
            6,
            lines(&[1, 2, 3, 4, 5]),
            2395.,
        ),
        (
            &[0., 50., 100., 150., 1000.],
            300,
            0,
            &[1, 2, 3, 4, 2],
            5,
            vec![],
            700.,
        ),
        (
            &[10., 5., 0., 20.],
            600,
            5,
            &[1, 2, 3, 4],
            4,
            lines(&[0, 1, 2, 3]),
            10.,
        ),
    ];
    for (i, (times, findtime, mm, retries, failures, matches, first)) in cases.iter().enumerate() {
        let (r, f, m, ft) = run(times, *findtime, *mm);
        assert_eq!(&r, retries, "case {i}: retries");
        assert_eq!(f, *failures, "case {i}: failures");
        assert_eq!(&m, matches, "case {i}: matches");
        assert_eq!(ft, *first, "case {i}: first time");
    }
}

#[test]
fn to_ban_cleanup_and_totals() {
    let mut fm = FailManager::new(3, 600, 5);
    for (i, ip) in ["198.18.0.1", "198.18.0.2", "198.18.0.1", "198.18.0.1"]
        .iter()
        .enumerate()
    {
        fm.add_failure(fail(ip, 100.0 + i as f64, "x"), 1, false);
    }
    assert_eq!(fm.total(), 4);
    assert!(fm.to_ban(Some("198.18.0.2")).is_none(), "below maxretry");
    let t = fm.to_ban(Some("198.18.0.1")).unwrap();
    assert_eq!((t.retry, t.failures), (3, 3));
    assert_eq!(fm.size(), 1);
    // An observed re-add never creates an entry.
    assert_eq!(fm.add_failure(fail("198.18.0.9", 200.0, "x"), 4, true), 0);
    assert_eq!(fm.size(), 1);
    // Cleanup drops entries whose last failure is at or before now - findtime.
    fm.cleanup(700.0);
    assert_eq!(fm.size(), 1);
    fm.cleanup(701.0);
    assert_eq!(fm.size(), 0);
}

#[derive(Default)]
struct FakeStore {
    bans: Mutex<Vec<(String, String, Ticket)>>, // jail, ip, ticket
}

impl BanStore for FakeStore {
    fn get_ban(
        &self,
        ip: &str,
        jail: &str,
        overall: bool,
    ) -> Result<Option<BanRecord>, StoreError> {
        let b = self.bans.lock().unwrap();
        let mine: Vec<&(String, String, Ticket)> = b
            .iter()
            .filter(|(j, i, _)| i == ip && (overall || j == jail))
            .collect();
        if mine.is_empty() {
            return Ok(None);
        }
        Ok(Some(BanRecord {
            ban_count: mine.iter().map(|(_, _, t)| t.ban_count).max().unwrap(),
            time_of_ban: mine.iter().map(|(_, _, t)| t.time).fold(f64::MIN, f64::max),
            ban_time: mine.last().unwrap().2.ban_time.unwrap_or(600),
        }))
    }
    fn add_ban(&self, jail: &str, t: &Ticket) -> Result<(), StoreError> {
        self.bans
            .lock()
            .unwrap()
            .push((jail.into(), t.fid.clone(), t.clone()));
        Ok(())
    }
    fn del_ban(&self, _: &str, _: Option<&str>) -> Result<(), StoreError> {
        Ok(())
    }
    fn bans_merged(&self, _: &str, _: Option<&str>) -> Result<Option<MergedBans>, StoreError> {
        Ok(None)
    }
    fn current_bans(&self, jail: &str, _: Option<i64>, _: f64) -> Result<Vec<Ticket>, StoreError> {
        Ok(self
            .bans
            .lock()
            .unwrap()
            .iter()
            .filter(|(j, _, _)| j == jail)
            .map(|(_, _, t)| t.clone())
            .collect())
    }
}

fn settings(maxretry: u32) -> JailSettings {
    let mut s = JailSettings::new("sshd");
    s.maxretry = maxretry;
    s.ignoreself = false;
    s
}

#[test]
fn bans_on_maxretry_and_honours_findtime_and_ignores() {
    let mut s = settings(3);
    s.ignoreip = vec!["198.18.5.0/24".into()];
    let mut j = Jail::new(&s, None).unwrap();
    let now = 10_000.0;
    assert_eq!(
        j.process(fail("198.18.0.1", now - 5000.0, "old"), now),
        Outcome::TooOld
    );
    assert_eq!(
        j.process(fail("198.18.5.5", now, "x"), now),
        Outcome::Ignored(IgnoreReason::Ip)
    );
    assert_eq!(
        j.process(fail("198.18.0.1", now - 2.0, "a"), now),
        Outcome::Counted(1)
    );
    assert_eq!(
        j.process(fail("198.18.0.1", now - 1.0, "b"), now),
        Outcome::Counted(2)
    );
    match j.process(fail("198.18.0.1", now + 50.0, "c"), now) {
        Outcome::Ban(b) => {
            assert_eq!(b.len(), 1);
            assert_eq!(b[0].matches, ["a", "b", "c"]);
            assert_eq!(b[0].time, now, "future times are clamped to now");
            assert_eq!(
                b[0].ban_time, None,
                "no increment: the jail's bantime applies"
            );
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(
        j.found(),
        Found {
            current: 0,
            total: 3
        }
    );
}

#[test]
fn increment_raises_ban_time_and_retry_for_known_bad_addresses() {
    let store = Arc::new(FakeStore::default());
    let mut s = settings(3);
    s.bantime = BanTimeSettings {
        bantime: 600,
        increment: true,
        ..Default::default()
    };
    let mut j = Jail::new(&s, Some(store.clone() as Arc<dyn BanStore>)).unwrap();
    let mut bm = BanManager::new(600);
    let mut now = 1_000_000.0;
    let mut seen = Vec::new();
    for round in 0..4 {
        let mut n = 0;
        let ticket = loop {
            n += 1;
            now += 1.0;
            match j.process(fail("198.18.0.9", now, "x"), now) {
                Outcome::Ban(mut b) => break b.remove(0),
                Outcome::Counted(_) => continue,
                o => panic!("{o:?}"),
            }
        };
        let added = bm.add(ticket, now).unwrap().clone();
        store.add_ban("sshd", &added).unwrap();
        bm.remove(&added.fid);
        seen.push((n, added.ban_count, added.ban_time_or(600)));
        let _ = round;
    }
    // Round 1: 3 failures, 600 s. Then the observer counts a known address
    // 2, 3, 5 … times per failure (capped at maxretry), and the default
    // formula doubles the time per previous ban.
    assert_eq!(
        seen,
        [(3, 1, 600), (2, 2, 1200), (1, 3, 2400), (1, 4, 4800)]
    );
}

#[test]
fn restore_skips_expired_and_ignored() {
    let store = Arc::new(FakeStore::default());
    let now = 50_000.0;
    for (ip, t, bt) in [
        ("198.18.0.1", now - 100.0, 600),
        ("198.18.0.2", now - 1000.0, 600),
        ("198.18.0.3", now - 1e6, -1),
    ] {
        let mut tk = Ticket::manual(ip, ip.parse().ok(), t);
        tk.ban_time = Some(bt);
        store.add_ban("sshd", &tk).unwrap();
    }
    let mut s = settings(3);
    s.ignoreip = vec!["198.18.0.3".into()];
    let mut j = Jail::new(&s, Some(store as Arc<dyn BanStore>)).unwrap();
    let r = j.restore(now);
    assert_eq!(
        r.iter().map(|t| t.fid.as_str()).collect::<Vec<_>>(),
        ["198.18.0.1"]
    );
    assert!(r[0].restored);
}

#[test]
fn invalid_settings_are_errors() {
    let mut s = settings(3);
    s.findtime = 0;
    assert!(Jail::new(&s, None).is_err());
    let mut s = settings(3);
    s.bantime.bantime = 0;
    assert!(Jail::new(&s, None).is_err());
    let mut s = settings(3);
    s.bantime.formula = Some("import os".into());
    assert!(Jail::new(&s, None).is_err());
    let mut s = settings(3);
    s.ignorecache = Some("max-count=3".into());
    assert!(Jail::new(&s, None).is_err());
}

#[test]
fn overalljails_counts_bans_of_every_jail() {
    let store = Arc::new(FakeStore::default());
    let mut prev = Ticket::manual("198.18.0.44", "198.18.0.44".parse().ok(), 1000.0);
    prev.ban_count = 2;
    store.add_ban("nginx", &prev).unwrap();
    let run = |overall: bool| {
        let mut s = settings(1);
        s.bantime = BanTimeSettings {
            bantime: 600,
            increment: true,
            overalljails: overall,
            ..Default::default()
        };
        let mut j = Jail::new(&s, Some(store.clone() as Arc<dyn BanStore>)).unwrap();
        match j.process(fail("198.18.0.44", 5000.0, "x"), 5000.0) {
            Outcome::Ban(b) => (b[0].ban_count, b[0].ban_time),
            o => panic!("{o:?}"),
        }
    };
    assert_eq!(run(false), (0, None), "another jail's bans do not count");
    assert_eq!(
        run(true),
        (2, Some(2400)),
        "600 * 2^2 with the default formula"
    );
}

/// fail2ban's `set JAIL maxretry|findtime|addignoreip …` change the
/// FailManager and ignore list of the running jail: the failures already
/// counted stay, and the next failure is judged by the new limits.
#[test]
fn applied_settings_keep_the_failures_counted_so_far() {
    let mut s = settings(5);
    let mut j = Jail::new(&s, None).unwrap();
    let now = 10_000.0;
    for (i, t) in [now - 3.0, now - 2.0].iter().enumerate() {
        assert_eq!(
            j.process(fail("198.18.0.1", *t, &format!("f{i}")), now),
            Outcome::Counted(i as u32 + 1)
        );
    }
    j.process(fail("198.18.0.2", now - 1.0, "other"), now);
    assert_eq!(j.found().current, 2);

    s.findtime = 1200;
    s.ignoreip = vec!["198.18.9.0/24".into()];
    j.apply(&s).unwrap();
    assert_eq!(
        j.found(),
        Found {
            current: 2,
            total: 3
        },
        "findtime/ignoreip kept counts"
    );
    assert_eq!(j.fail_manager().findtime(), 1200);
    assert_eq!(
        j.process(fail("198.18.9.9", now, "x"), now),
        Outcome::Ignored(IgnoreReason::Ip),
        "the new ignore list applies"
    );

    s.maxretry = 3;
    j.apply(&s).unwrap();
    match j.process(fail("198.18.0.1", now, "f2"), now) {
        Outcome::Ban(b) => assert_eq!(b[0].matches, ["f0", "f1", "f2"]),
        o => panic!("third failure under maxretry 3 bans: {o:?}"),
    }

    let mut bad = s.clone();
    bad.findtime = 0;
    assert!(j.apply(&bad).is_err());
    assert_eq!(
        j.fail_manager().findtime(),
        1200,
        "a refused setting changes nothing"
    );
    assert_eq!(j.fail_manager().max_retry(), 3);
}

#[test]
fn a_reloaded_jail_adopts_the_failures_counted_so_far() {
    let mut old = Jail::new(&settings(5), None).unwrap();
    let now = 10_000.0;
    for (i, t) in [now - 3.0, now - 2.0].iter().enumerate() {
        old.process(fail("198.18.0.1", *t, &format!("f{i}")), now);
    }
    old.process(fail("198.18.0.2", now - 1.0, "other"), now);
    // the reloaded configuration: maxretry 3, a longer findtime
    let mut s = settings(3);
    s.findtime = 1200;
    let mut new = Jail::new(&s, None).unwrap();
    new.adopt_failures(&mut old);
    assert_eq!(
        new.found(),
        Found {
            current: 2,
            total: 3
        },
        "counts and total carried over"
    );
    assert_eq!(new.fail_manager().max_retry(), 3, "the new limits apply");
    assert_eq!(new.fail_manager().findtime(), 1200);
    match new.process(fail("198.18.0.1", now, "f2"), now) {
        Outcome::Ban(b) => assert_eq!(b[0].matches, ["f0", "f1", "f2"]),
        o => panic!("third failure under the reloaded maxretry 3 bans: {o:?}"),
    }
}
