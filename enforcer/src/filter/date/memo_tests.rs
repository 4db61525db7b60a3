//! The memoised detector against the plain one (memo off), line by line:
//! same found date, template, time and detector state.
use super::DateDetector;
use super::memo::Cover;

fn pair(dp: Option<&str>) -> (DateDetector, DateDetector) {
    let make = || match dp {
        Some(p) => DateDetector::from_datepattern(p).unwrap(),
        None => DateDetector::with_defaults(),
    };
    let (fast, mut plain) = (make(), make());
    plain.memo = false;
    plain.syslog = false;
    (fast, plain)
}

fn state(d: &DateDetector) -> String {
    let slots: Vec<String> = d
        .slots
        .iter()
        .map(|s| format!("{}:{}:{}:{}", s.t.name, s.hits, s.tpl_hits, s.distance))
        .collect();
    format!(
        "{:?} {:?} {} {} {:?}",
        d.last_pos, d.last_end, d.last_idx, d.first_unused, slots
    )
}

/// Runs `lines` through both, with `now(k)` for line k, comparing all.
fn same(dp: Option<&str>, tz: Option<i32>, lines: &[String], now: impl Fn(usize) -> f64) {
    let (mut fast, mut plain) = pair(dp);
    fast.default_tz = tz;
    plain.default_tz = tz;
    for (k, line) in lines.iter().enumerate() {
        let a = fast.match_time(line);
        let b = plain.match_time(line);
        let key = |f: &Option<super::Found>| {
            f.map(|f| (f.m.start, f.m.end, f.m.dstart, f.m.dend, f.template))
        };
        assert_eq!(key(&a), key(&b), "line {k} {line:?} ({dp:?})");
        assert_eq!(state(&fast), state(&plain), "line {k} {line:?} ({dp:?})");
        if let (Some(a), Some(b)) = (a, b) {
            assert_eq!(fast.best, plain.best, "slots, line {k} {line:?}");
            for n in [now(k), now(k) + 0.5, now(k) - 86_400.0 * 200.0] {
                let (x, y) = (fast.get_time(line, &a, n), plain.get_time(line, &b, n));
                assert_eq!(x, y, "time, line {k} {line:?} now {n} ({dp:?}, {tz:?})");
            }
        }
    }
    assert_eq!(fast.stats(), plain.stats());
}

const DPS: [Option<&str>; 5] = [
    None,
    Some("{^LN-BEG}"),
    Some("{^LN-BEG}\n%d/%b/%Y:%H:%M:%S %z"),
    Some(r"^%Y-%m-%d %H:%M:%S"),
    Some("EPOCH\n{^LN-BEG}TAI64N\n%b %d %H:%M:%S"),
];

fn lines(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn repeated_and_changing_stamps() {
    let mut v = Vec::new();
    for s in 0..20 {
        for pid in 0..5 {
            v.push(format!(
                "Mar  1 00:00:{s:02} edge-1 sshd[{}]: Failed password for root from 198.51.100.{pid} port 22 ssh2",
                1000 + s * 5 + pid
            ));
        }
    }
    for dp in DPS {
        same(dp, None, &v, |k| 1_772_323_200.0 + k as f64 * 0.37);
        same(dp, Some(0), &v, |k| 1_772_323_200.0 + k as f64 * 0.37);
    }
}

#[test]
fn endings_that_change_the_match() {
    // Same leading stamp, then what decides the optional parts and the
    // closing boundary: fractions, a year, the line end, a word character.
    let v = lines(&[
        "Aug 14 11:59:59 host x",
        "Aug 14 11:59:59.123 host x",
        "Aug 14 11:59:59 2005 host x",
        "Aug 14 11:59:59 2005",
        "Aug 14 11:59:59 200",
        "Aug 14 11:59:59",
        "Aug 14 11:59:59",
        "Aug 14 11:59:5",
        "Aug 14 11:59:59x",
        "Aug 14 11:59:59 host x",
        "Aug 14 11:59:59.1234567 y",
        "Aug 14 11:59:59 hôst",
        "Aug 14 11:59:59é x",
        "Aug 14 11:59:59 hôst",
        "Aug 14 11:59:59\u{2028}x",
        "Aug 14 11:59:59 host x",
        "Sun Aug 14 11:59:59 host x",
        "Sun Aug 14 11:59:59 host x",
        "sun aug 14 11:59:59 host x",
        "Aug  4 11:59:59 host x",
        "Aug 4 11:59:59 host x",
        "  Aug 14 11:59:59 host x",
        "",
        "Aug 14 11:59:59 host x",
    ]);
    for dp in DPS {
        same(dp, None, &v, |_| 1_124_020_000.0);
        same(dp, Some(-300), &v, |_| 1_124_020_000.0);
    }
}

#[test]
fn template_switch_and_moving_date() {
    let v = lines(&[
        "Aug 14 11:59:59 host sshd[1]: x",
        "Aug 14 11:59:59 host sshd[2]: x",
        "2005-08-14 11:59:59 host x",
        "2005-08-14 11:59:59 host y",
        "2005-08-14 11:59:59,123 host y",
        "2005-08-14T11:59:59+0200 host y",
        "Aug 14 11:59:59 host sshd[3]: x",
        "[Aug 14 11:59:59] host x",
        "[Aug 14 11:59:59] host x",
        "host Aug 14 11:59:59 x",
        "host Aug 14 11:59:59 x",
        "hostx Aug 14 11:59:59 x",
        "1.2.3.4 - - [14/Aug/2005:11:59:59 +0200] \"GET /\"",
        "1.2.3.5 - - [14/Aug/2005:11:59:59 +0200] \"GET /\"",
        "1124020000 x",
        "1124020000 y",
        "[1124020000.123] y",
        "@4000000042fee4ae0bfda2c4 x",
        "@4000000042fee4ae0bfda2c4 y",
        "14-08-2005 11:59:59 x",
        "14-08-05 11:59:59 x",
        "no date here",
        "no date here",
        "Aug 14 11:59:59 host sshd[4]: x",
    ]);
    for dp in DPS {
        same(dp, None, &v, |k| 1_124_020_000.0 + k as f64);
        same(dp, Some(120), &v, |k| 1_124_020_000.0 + k as f64);
    }
}

#[test]
fn year_boundary_with_now_either_side() {
    let v = lines(&[
        "Dec 31 23:59:58 h x",
        "Dec 31 23:59:58 h y",
        "Dec 31 23:59:59 h x",
        "Jan  1 00:00:00 h x",
        "Jan  1 00:00:00 h y",
        "Jan  1 00:00:01 h x",
        "Dec 31 23:59:59 h z",
        "Feb 29 12:00:00 h x",
        "Feb 29 12:00:00 h y",
        "Jan  2 00:00:00 h y",
    ]);
    // 2025-12-31T23:59:50Z, stepping over midnight and back a day.
    let base = 1_767_225_590.0;
    for dp in DPS {
        for tz in [None, Some(0), Some(60), Some(-600)] {
            same(dp, tz, &v, |k| base + k as f64 * 3.3);
            same(dp, tz, &v, |k| base + 86_400.0 * 2.0 - k as f64 * 7_000.0);
            // 2024 is a leap year: Feb 29 exists only some years.
            same(dp, tz, &v, |k| 1_709_208_000.0 + k as f64 * 40_000.0);
        }
    }
}

#[test]
fn pseudo_random_mix() {
    let stamps = [
        "Mar  1 00:00:00",
        "Mar  1 00:00:01",
        "Mar 11 10:00:01",
        "Mar 11 10:00:01.5",
        "2026-03-01 00:00:00",
        "2026-03-01 00:00:00.250",
        "2026/03/01 00:00:00",
        "[01/Mar/2026:00:00:00 +0100]",
        "1772323200",
        "",
    ];
    let heads = ["", "", "", " ", "<13>", "x "];
    let tails = [
        " edge-1 sshd[1000]: Failed password",
        " edge-1 sshd[1001]: Failed password",
        " 2026 edge",
        "",
        "x",
        " é",
        ".",
    ];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    let mut v = Vec::new();
    let (mut h, mut s) = (0, 0);
    for _ in 0..3000 {
        // Runs of one stamp, as in real logs.
        if next(4) == 0 {
            s = next(stamps.len());
            h = if next(3) == 0 { next(heads.len()) } else { 0 };
        }
        v.push(format!(
            "{}{}{}",
            heads[h],
            stamps[s],
            tails[next(tails.len())]
        ));
    }
    for dp in DPS {
        same(dp, None, &v, |k| 1_772_323_200.0 + k as f64 * 0.7);
    }
    same(Some(r"^<\d+>{DATE}"), Some(0), &v, |k| {
        1_772_323_200.0 + k as f64
    });
}

#[test]
fn the_memo_is_used() {
    // (a stamp with a day name: the syslog shortcut leaves it to the
    // regex, and so to the memo)
    let mut d = DateDetector::from_datepattern("{^LN-BEG}").unwrap();
    d.match_time("Sun Mar  1 00:00:00 edge-1 sshd[1000]: x")
        .unwrap();
    d.match_time("Sun Mar  1 00:00:00 edge-1 sshd[1001]: x")
        .unwrap();
    let i = d.last_idx;
    let m = d.slots[i].memo.as_ref().expect("memo kept");
    assert_eq!(m.covers(b"Sun Mar  1 00:00:00 edge-2 y"), Cover::Same);
    assert_ne!(m.covers(b"Sun Mar  1 00:00:01 edge-1 y"), Cover::Same);
    assert_eq!(m.covers(b"Sun Mar  1 00:00:0x edge-1 y"), Cover::No);
    // the common shape takes the shortcut: no memo
    d.match_time("Mar  1 00:00:00 edge-1 sshd[1000]: x")
        .unwrap();
    assert!(d.slots[d.last_idx].memo.is_none());
}

#[test]
fn alike_stamps_get_their_own_time() {
    // Every second of a day's first hours, several lines each: many a
    // stamp is alike to the one before (same spans, other digits); each
    // must get its own time, as the detector without memo gives it.
    let mut v = Vec::new();
    for t in 0..3600 {
        let (h, m, s) = (t / 3600, t / 60 % 60, t % 60);
        for pid in 0..2 {
            v.push(format!("Mar  1 {h:02}:{m:02}:{s:02} edge-1 sshd[{pid}]: x"));
        }
    }
    // the syslog shortcut's stamps, then the memo's (with a day name)
    same(Some("{^LN-BEG}"), None, &v, |_| 1_772_400_000.0);
    same(None, Some(60), &v, |_| 1_772_400_000.0);
    let v: Vec<String> = v.iter().map(|l| format!("Sun {l}")).collect();
    same(Some("{^LN-BEG}"), None, &v, |_| 1_772_400_000.0);
    same(None, Some(60), &v, |_| 1_772_400_000.0);
    let mut d = DateDetector::from_datepattern("{^LN-BEG}").unwrap();
    let (mut alike, mut prev) = (0, None::<Vec<u8>>);
    for l in &v {
        if let Some(m) = d.slots.get(d.last_idx).and_then(|s| s.memo.as_ref())
            && m.covers(l.as_bytes()) == Cover::Alike
            && prev.as_deref() != Some(&l.as_bytes()[..19])
        {
            alike += 1;
        }
        prev = Some(l.as_bytes()[..19].to_vec());
        d.match_time(l).unwrap();
    }
    assert!(alike > v.len() / 30, "{alike} alike stamps of {}", v.len());
}

#[test]
fn every_default_template_compiles() {
    // They compile on first use; none may fail then.
    for t in &super::defaults().all {
        t.check().unwrap_or_else(|e| panic!("{}: {e}", t.name));
    }
}

#[test]
fn a_bad_user_pattern_fails_at_load() {
    assert!(DateDetector::from_datepattern(r"%Y-%m-%d (").is_err());
    assert!(DateDetector::from_datepattern(r"^x(?P<a>y){DATE}").is_ok());
    assert!(DateDetector::from_datepattern(r"^x(?P<a>{DATE}").is_err());
}

#[test]
fn dfa_caches_stay_small() {
    let mut d = DateDetector::from_datepattern("{^LN-BEG}").unwrap();
    let mut lines = vec![
        "Mar  1 00:00:00 edge-1 sshd[1000]: x".to_string(),
        "2026-03-01 10:00:00 x".to_string(),
    ];
    // Every byte after a stamp prefix, to visit many DFA states.
    for b in 0u8..=255 {
        let tail = String::from_utf8_lossy(&[b, b'x']).into_owned();
        lines.push(format!("Mar  1 00:00:0{tail}"));
        lines.push(format!("2026-03-01 10:00:0{tail}"));
    }
    for l in &lines {
        d.match_time(l);
        d.match_time(l);
    }
    let mut seen = 0;
    for s in &d.slots {
        if let Some(c) = &s.dfa_cache {
            seen += 1;
            assert!(
                c.memory_usage() <= super::memo::CACHE_CAPACITY,
                "{}",
                s.t.name
            );
        }
    }
    assert!(seen >= 2);
}

#[test]
fn the_memo_rests_when_lines_never_start_alike() {
    // 144 stamps of as many class patterns (months, a space or a digit
    // class where the day starts, hours' first digits), in turn: each
    // comes back after more others than the memo keeps.
    const DAYS: [&str; 4] = [" 1", "12", "23", "31"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    assert!(MONTHS.len() * DAYS.len() * 3 > super::memo::ENTRIES);
    let v: Vec<String> = (0..600)
        .map(|k| {
            let p = k % 144;
            format!(
                "Sun {} {} {:02}:{:02}:{:02} h x",
                MONTHS[p % 12],
                DAYS[p / 12 % 4],
                p / 48 * 11,
                k / 60 % 60,
                k % 60
            )
        })
        .collect();
    same(Some("{^LN-BEG}"), None, &v, |_| 1_772_400_000.0);
    let mut d = DateDetector::from_datepattern("{^LN-BEG}").unwrap();
    for l in &v {
        d.match_time(l).unwrap();
    }
    assert!(d.slots[d.last_idx].memo.is_none());
    // It probes again after a few thousand searches, and repeated stamps
    // are then answered from it.
    for _ in 0..4000 {
        d.match_time(&v[0]).unwrap();
    }
    let s = &d.slots[d.last_idx];
    assert!(
        s.memo
            .as_ref()
            .is_some_and(|m| m.covers(v[0].as_bytes()) == Cover::Same)
    );
}

#[test]
fn stamps_of_other_patterns_in_turn_are_served_too() {
    // Two days in turn (a space where a digit was: never alike to the
    // line before), over and over the same 20 seconds: each of the (at
    // most 40) patterns keeps its own entry.
    let v: Vec<String> = (0..1200)
        .map(|k| {
            format!(
                "Sun Mar {} 10:00:{:02} h x",
                if k % 2 == 0 { " 1" } else { "12" },
                k / 2 % 20
            )
        })
        .collect();
    same(Some("{^LN-BEG}"), None, &v, |_| 1_772_400_000.0);
    let mut d = DateDetector::from_datepattern("{^LN-BEG}").unwrap();
    let mut other = 0;
    for l in &v {
        if let Some(m) = d.slots.get_mut(d.last_idx).and_then(|s| s.memo.as_mut())
            && m.find(l.as_bytes()) == Cover::Other
        {
            other += 1;
        }
        d.match_time(l).unwrap();
    }
    let s = &d.slots[d.last_idx];
    assert!(other > v.len() / 2, "{other} lines served by another entry");
    assert!(
        s.memo_hits > s.memo_tries / 10 * 9,
        "{} of {}",
        s.memo_hits,
        s.memo_tries
    );
}
