use super::*;

fn filter(pref: Option<&str>, fail: &[&str], ignore: &[&str], maxlines: usize) -> Filter {
    build(pref, fail, ignore, maxlines, false)
}

/// [`filter`], counting prefregex on every line when `count_prefregex`.
fn build(
    pref: Option<&str>,
    fail: &[&str],
    ignore: &[&str],
    maxlines: usize,
    count_prefregex: bool,
) -> Filter {
    let parts = FilterParts {
        name: "t".into(),
        prefregex: pref.map(str::to_string),
        failregex: fail.iter().map(|s| s.to_string()).collect(),
        ignoreregex: ignore.iter().map(|s| s.to_string()).collect(),
        maxlines,
        datepattern: None,
    };
    let opts = FilterOptions {
        now: Some(1_124_013_600.0),
        raw_host: true,
        count_prefregex,
        ..Default::default()
    };
    Filter::from_parts(&parts, &opts).unwrap()
}

fn run(f: &mut Filter, lines: &[&str]) -> Vec<Vec<Failure>> {
    lines
        .iter()
        .map(|l| {
            let mut out = Vec::new();
            f.process_line(l.as_bytes(), &mut out);
            out
        })
        .collect()
}

#[test]
fn single_line_failure_with_date_and_user() {
    let mut f = filter(
        None,
        &[r"^\s*\S+ sshd\[\d+\]: Failed password for <F-USER>\S+</F-USER> from <HOST>"],
        &[],
        1,
    );
    let r = run(
        &mut f,
        &["Aug 14 11:59:59 host sshd[1]: Failed password for root from 192.0.2.4 port 22"],
    );
    let x = &r[0][0];
    assert_eq!(x.fid, "192.0.2.4");
    assert_eq!(x.addr, Some("192.0.2.4".parse().unwrap()));
    assert_eq!(x.fields.get("user").map(String::as_str), Some("root"));
    assert_eq!(x.matches.len(), 1);
    assert!(x.matches[0].starts_with("Aug 14 11:59:59 "));
    assert!(x.time > 1_123_900_000.0 && x.time < 1_124_100_000.0);
    assert!(
        run(
            &mut f,
            &["Aug 14 11:59:59 host sshd[1]: Accepted password for root from 192.0.2.4"]
        )[0]
        .is_empty()
    );
}

#[test]
fn prefregex_content_and_ignoreregex() {
    let mut f = filter(
        Some(r"^\s*\S+ app: <F-CONTENT>.+</F-CONTENT>$"),
        &[r"^bad login from <ADDR>$", r"^denied <ADDR>$"],
        &[r"192\.0\.2\.9"],
        1,
    );
    let r = run(
        &mut f,
        &[
            "2005-08-14 10:00:00 h app: bad login from 192.0.2.1",
            "2005-08-14 10:00:00 h app: denied 2001:db8::1",
            "2005-08-14 10:00:00 h app: denied 192.0.2.9",
            "2005-08-14 10:00:00 h other: denied 192.0.2.1",
        ],
    );
    assert_eq!(r[0][0].fid, "192.0.2.1");
    assert_eq!(r[0][0].regex, 0);
    assert_eq!(r[1][0].fid, "2001:db8::1");
    assert_eq!(r[1][0].regex, 1);
    assert!(r[2].is_empty() && f.stats().ignore_hits[0] == 1);
    assert!(r[3].is_empty());
    // fail2ban-regex's "Prefregex: N total": the three `app:` lines
    assert_eq!(f.stats().pref_hits, 3);
}

#[test]
fn prefregex_hits_are_counted_on_every_line_when_asked() {
    let counting = |pref: &str, fail: &[&str], ignore: &[&str], maxlines: usize| {
        build(Some(pref), fail, ignore, maxlines, true)
    };
    let pref = r"^\s*\S+ app: <F-CONTENT>.+</F-CONTENT>$";
    let lines = [
        "2005-08-14 10:00:00 h app: hello",
        "2005-08-14 10:00:00 h other: x",
        "2005-08-14 10:00:00 h app: bad login from 192.0.2.1",
    ];
    // maxlines > 1: prefregex runs in the matcher over the buffer, also
    // where no failregex literal is there
    let mut f = counting(pref, &[r"^bad login from <ADDR>$"], &[], 2);
    run(&mut f, &lines[..2]);
    assert_eq!(f.stats().pref_hits, 1);
    // the early ignoreregex pass (fewer ignoreregexes than failregexes
    // less 2) comes first: a line it ignores counts what prefregex last said
    let fails = [
        r"^bad login from <ADDR>$",
        r"^denied <ADDR>$",
        r"^refused <ADDR>$",
        r"^blocked <ADDR>$",
    ];
    let mut f = counting(pref, &fails, &["ignored"], 1);
    let r = run(
        &mut f,
        &[
            lines[0],
            "2005-08-14 10:00:00 h app: ignored",
            lines[1],
            "2005-08-14 10:00:00 h ignored",
        ],
    );
    assert!(r.iter().all(Vec::is_empty));
    // hello (1), ignored after a match (2), other: x (no), ignored after a miss (no)
    assert_eq!(f.stats().pref_hits, 2);
    // and what is found is the same as without counting
    let mut plain = filter(Some(pref), &fails, &["ignored"], 1);
    let mut f = counting(pref, &fails, &["ignored"], 1);
    let (a, b) = (run(&mut plain, &lines), run(&mut f, &lines));
    assert_eq!(a, b);
    assert_eq!(a[2][0].fid, "192.0.2.1");
    assert!(
        f.prefregex_info()
            .is_some_and(|(p, engine)| p.contains("(?P<content>") && engine.is_empty())
    );
    let f = filter(None, &[r"^bad login from <ADDR>$"], &[], 1);
    assert_eq!((f.stats().pref_hits, f.prefregex_info()), (0, None));
}

#[test]
fn prefregex_count_of_early_ignored_lines_follows_line_order_across_clones() {
    // `enforcer regex` on two cores: a clone of the matcher takes some
    // batches, the tracker sees every line in order.
    let pref = r"^\s*\S+ app: <F-CONTENT>.+</F-CONTENT>$";
    let fails = [
        r"^bad login from <ADDR>$",
        r"^denied <ADDR>$",
        r"^refused <ADDR>$",
        r"^blocked <ADDR>$",
    ];
    let lines = [
        "2005-08-14 10:00:00 h app: hello",
        // the clone's first line: prefregex last said "yes" (on the first
        // matcher; the clone itself has not run it yet)
        "2005-08-14 10:00:00 h app: ignored",
        "2005-08-14 10:00:00 h other: x",
        "2005-08-14 10:00:00 h app: hello",
        // back on the first matcher: prefregex last said "yes" (on the
        // clone; the first matcher's own last line said "yes" too)
        "2005-08-14 10:00:00 h ignored",
    ];
    let mut one = build(Some(pref), &fails, &["ignored"], 1, true);
    run(&mut one, &lines);
    let (mut splitter, mut matcher, mut tracker) =
        build(Some(pref), &fails, &["ignored"], 1, true).split();
    let mut helper = matcher.clone();
    let (mut p, mut m, mut out) = (Prepared::default(), Matches::default(), Vec::new());
    for (i, l) in lines.iter().enumerate() {
        splitter.split_line(l.as_bytes(), &mut p);
        let by = if (1..4).contains(&i) {
            &mut helper
        } else {
            &mut matcher
        };
        by.match_prepared(&mut p, &mut m);
        tracker.apply(&m, &mut out);
    }
    matcher.add_counts(&helper);
    let two = Filter::join("t".into(), splitter, matcher, tracker);
    // hello, ignored after it, hello, ignored after it
    assert_eq!(one.stats().pref_hits, 4);
    assert_eq!(two.stats().pref_hits, one.stats().pref_hits);
}

#[test]
fn failregex_without_id_is_an_error() {
    let parts = FilterParts {
        failregex: vec!["^no id here$".into()],
        maxlines: 1,
        ..Default::default()
    };
    let e = Filter::from_parts(&parts, &FilterOptions::default())
        .err()
        .unwrap();
    assert!(matches!(e, FilterError::NoFailureId { .. }));
    let parts = FilterParts {
        prefregex: Some("^<F-MLFID>\\S+</F-MLFID> <F-CONTENT>.+</F-CONTENT>$".into()),
        failregex: vec!["^no id here$".into()],
        maxlines: 1,
        ..Default::default()
    };
    assert!(Filter::from_parts(&parts, &FilterOptions::default()).is_ok());
}

#[test]
fn mlfid_nofail_line_lends_its_address() {
    let mut f = filter(
        Some(r"^\s*\S+ conn=<F-MLFID>\d+</F-MLFID> <F-CONTENT>.+</F-CONTENT>$"),
        &[
            r"^<F-NOFAIL>connect from</F-NOFAIL> <ADDR>$",
            r"^auth failed for <F-USER>\S+</F-USER>$",
        ],
        &[],
        1,
    );
    let r = run(
        &mut f,
        &[
            "2005-08-14 10:00:00 h conn=7 connect from 192.0.2.5",
            "2005-08-14 10:00:01 h conn=8 connect from 192.0.2.6",
            "2005-08-14 10:00:02 h conn=7 auth failed for bob",
        ],
    );
    assert!(r[0].iter().all(|x| x.nofail) && r[1].iter().all(|x| x.nofail));
    let x = &r[2][0];
    assert!(!x.nofail);
    assert_eq!(x.fid, "192.0.2.5");
    assert_eq!(x.fields.get("user").map(String::as_str), Some("bob"));
    assert_eq!(x.matches.len(), 2);
}

#[test]
fn failures_without_their_lines_are_the_same_failures() {
    let parts = FilterParts {
        name: "t".into(),
        prefregex: Some(r"^\s*\S+ conn=<F-MLFID>\d+</F-MLFID> <F-CONTENT>.+</F-CONTENT>$".into()),
        failregex: vec![
            r"^<F-NOFAIL>connect from</F-NOFAIL> <ADDR>$".into(),
            r"^auth failed for <F-USER>\S+</F-USER>$".into(),
            r"^bad <ADDR>$".into(),
        ],
        ignoreregex: vec![],
        maxlines: 1,
        datepattern: None,
    };
    let lines = [
        "2005-08-14 10:00:00 h conn=7 connect from 192.0.2.5",
        "2005-08-14 10:00:01 h conn=8 connect from 192.0.2.6",
        "2005-08-14 10:00:02 h conn=7 auth failed for bob",
        "2005-08-14 10:00:03 h conn=9 bad 192.0.2.7",
        "2005-08-14 10:00:04 h conn=8 auth failed for eve",
    ];
    let with = |keep_matches| {
        let opts = FilterOptions {
            now: Some(1_124_013_600.0),
            raw_host: true,
            keep_matches,
            ..Default::default()
        };
        run(&mut Filter::from_parts(&parts, &opts).unwrap(), &lines)
    };
    let (kept, bare) = (with(true), with(false));
    let key = |r: &[Vec<Failure>]| -> Vec<Vec<(String, bool, Option<String>)>> {
        r.iter()
            .map(|l| {
                l.iter()
                    .map(|x| (x.fid.clone(), x.nofail, x.fields.get("user").cloned()))
                    .collect()
            })
            .collect()
    };
    assert_eq!(key(&kept), key(&bare));
    assert_eq!(kept[2][0].matches.len(), 2);
    assert!(bare.iter().flatten().all(|x| x.matches.is_empty()));
    assert_eq!(bare.iter().flatten().filter(|x| !x.nofail).count(), 3);

    // a multi-line match: its lines are the buffer's, not the line's
    let multi = FilterParts {
        name: "t".into(),
        prefregex: None,
        failregex: vec![r"^.*session start<SKIPLINES>.*login failed from <HOST>$".into()],
        ignoreregex: vec![],
        maxlines: 3,
        datepattern: None,
    };
    let lines = [
        "2005-08-14 10:00:00 session start",
        "2005-08-14 10:00:01 noise",
        "2005-08-14 10:00:02 login failed from 192.0.2.7",
    ];
    let opts = FilterOptions {
        now: Some(1_124_013_600.0),
        raw_host: true,
        keep_matches: false,
        ..Default::default()
    };
    let r = run(&mut Filter::from_parts(&multi, &opts).unwrap(), &lines);
    assert!(r[0].is_empty() && r[1].is_empty());
    assert_eq!(r[2][0].fid, "192.0.2.7");
    assert!(r[2][0].matches.is_empty(), "{:?}", r[2][0].matches);
}

#[test]
fn maxlines_buffer_and_skiplines() {
    let mut f = filter(
        None,
        &[r"^.*session start<SKIPLINES>.*login failed from <HOST>$"],
        &[],
        3,
    );
    let r = run(
        &mut f,
        &[
            "2005-08-14 10:00:00 session start",
            "2005-08-14 10:00:01 noise",
            "2005-08-14 10:00:02 login failed from 192.0.2.7",
        ],
    );
    assert!(r[0].is_empty() && r[1].is_empty());
    let x = &r[2][0];
    assert_eq!(x.fid, "192.0.2.7");
    assert_eq!(
        x.matches.len(),
        2,
        "the skipped line is not carried: {:?}",
        x.matches
    );
}

/// The earlier lines a multi-line match takes out of the buffer are
/// reported (fail2ban-regex recounts them as matched), the skipped one
/// and those left in the buffer are not.
#[test]
fn a_multi_line_match_reports_the_earlier_lines_it_took() {
    let mut f = filter(
        None,
        &[r"^.*session start<SKIPLINES>.*login failed from <HOST>$"],
        &[],
        3,
    );
    let lines = [
        "2005-08-14 10:00:00 session start",
        "2005-08-14 10:00:01 noise",
        "2005-08-14 10:00:02 login failed from 192.0.2.7",
    ];
    let mut taken = Vec::new();
    for l in lines {
        let mut out = Vec::new();
        f.process_line(l.as_bytes(), &mut out);
        taken.push(f.matches.taken().to_vec());
    }
    assert!(taken[0].is_empty() && taken[1].is_empty());
    assert_eq!(taken[2], [lines[0]]);
    // a line that takes nothing: a single-line match in a buffer of one
    let mut f = filter(None, &[r"^.*login failed from <HOST>$"], &[], 1);
    let mut out = Vec::new();
    f.process_line(lines[2].as_bytes(), &mut out);
    assert_eq!(out.len(), 1);
    assert!(f.matches.taken().is_empty());
}

#[test]
fn hostile_bytes_do_not_panic() {
    let mut f = filter(None, &[r"^.*from <HOST>( port \d+)?$"], &[], 1);
    let mut out = Vec::new();
    f.process_line(b"\xff\xfe from \x00 192.0.2.1", &mut out);
    f.process_line(&vec![b'a'; 100_000], &mut out);
    f.process_line(b"", &mut out);
    assert!(out.is_empty());
}

#[test]
fn long_lines_are_cut_before_matching() {
    let mut f = filter(None, &[r"^x+ from <HOST>"], &[], 1);
    let mut line = "x".repeat(20 * 1024);
    line.push_str(" from 192.0.2.1");
    assert!(run(&mut f, &[&line])[0].is_empty(), "beyond max_line");
    let mut short = "x".repeat(1000);
    short.push_str(" from 192.0.2.1");
    assert_eq!(run(&mut f, &[&short])[0].len(), 1);
    // a cut never splits a UTF-8 character
    let mut f = filter(None, &[r"^(?:é)+ from <HOST>"], &[], 1);
    let long = "é".repeat(10 * 1024);
    assert!(run(&mut f, &[&long])[0].is_empty());
}

/// The candidate check ([`Which`], in its first-match mode when
/// `check_all` is off and by first bytes and literal prefixes when on)
/// finds what the literal prefilter finds, on stock filters over their
/// sample logs.
#[test]
fn which_regexes_match_is_exact_on_stock_filters() {
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fail2ban");
    let config = shared.join("config");
    let logs = shared.join("fail2ban/tests/files/logs");
    assert!(config.is_dir(), "{} is missing", config.display());
    let mut compared = 0;
    for name in [
        "sshd",
        "postfix",
        "dovecot",
        "nginx-http-auth",
        "apache-auth",
        "recidive",
    ] {
        let def = crate::config::load_filter(&config, name, &[]).unwrap();
        let text = std::fs::read(logs.join(name)).unwrap();
        for check_all in [false, true] {
            let opts = FilterOptions {
                now: Some(1_700_000_000.0),
                raw_host: true,
                check_all,
                ..Default::default()
            };
            let mut with = Filter::new(&def, &opts).unwrap();
            let mut without = Filter::new(&def, &opts).unwrap();
            assert!(with.splitter.which.is_some(), "{name}: no one-search check");
            without.splitter.which = None;
            for line in text.split(|&c| c == b'\n') {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                with.process_line(line, &mut a);
                without.process_line(line, &mut b);
                let key = |v: &[Failure]| {
                    v.iter()
                        .map(|f| (f.fid.clone(), f.regex, f.nofail, f.time.to_bits()))
                        .collect::<Vec<_>>()
                };
                assert_eq!(
                    key(&a),
                    key(&b),
                    "{name} (check_all {check_all}): {}",
                    String::from_utf8_lossy(line)
                );
                compared += a.len();
            }
        }
    }
    assert!(compared > 200, "{compared} failures compared");
}

/// A non-ASCII line runs on the Unicode build, compiled only then.
#[test]
fn non_ascii_lines_match_on_the_unicode_build() {
    let mut f = filter(
        None,
        &[r"^Failed for <F-USER>\w+</F-USER> from <HOST>"],
        &[],
        1,
    );
    let r = run(
        &mut f,
        &[
            "Failed for bob from 198.18.0.1",
            "Failed for jürgen from 198.18.0.2",
        ],
    );
    assert_eq!(r[0][0].fields.get("user").map(String::as_str), Some("bob"));
    assert_eq!(
        r[1][0].fields.get("user").map(String::as_str),
        Some("jürgen")
    );
    assert_eq!(r[1][0].fid, "198.18.0.2");
}

/// fail2ban runs its regexes on the buffer and a final newline
/// (`_tupleLinesBuf`), which a trailing `\s` or a negated class may take,
/// and Python's `$` matches before it as at the very end.
#[test]
fn regexes_see_the_buffer_and_its_final_newline() {
    let counts = |r: &[Vec<Failure>]| r.iter().map(Vec::len).collect::<Vec<_>>();
    // 3proxy's `\d+\s` on a line cut short after the port
    let mut f = filter(None, &[r"^\S+ from <HOST>:\d+\s"], &[], 1);
    let r = run(
        &mut f,
        &[
            "x from 198.18.0.1:80",
            "x from 198.18.0.2:80 y",
            "x from 198.18.0.3:80y",
        ],
    );
    assert_eq!(counts(&r), [1, 1, 0]);
    // a negated class to the end takes the newline with it
    let mut f = filter(None, &[r"^<HOST> u=<F-USER>[^,]*</F-USER>$"], &[], 1);
    let r = run(&mut f, &["198.18.0.1 u=bob"]);
    assert_eq!(
        r[0][0].fields.get("user").map(String::as_str),
        Some("bob\n")
    );
    // after prefregex, F-CONTENT and a newline
    let pref = Some(r"^(?P<mlfid>\w+): <F-CONTENT>.+</F-CONTENT>$");
    let mut f = filter(pref, &[r"^fail <HOST>\s"], &[], 1);
    assert_eq!(
        counts(&run(&mut f, &["a: fail 198.18.0.1", "a: fail 198.18.0.2:"])),
        [1, 0]
    );
    // F-CONTENT that takes the line's newline leaves two: `$` is at the end
    // or before the last one only
    let pref = Some(r"^(?P<mlfid>\w+): <F-CONTENT>[^,]+</F-CONTENT>");
    let mut f = filter(pref, &[r"^fail <HOST>$", r"^fail2 <HOST>\s$"], &[], 1);
    let r = run(&mut f, &["a: fail 198.18.0.1", "a: fail2 198.18.0.2"]);
    assert_eq!(counts(&r), [0, 1]);
    // ... for ignoreregex too (it runs on the same text)
    let ignore = [r"198\.18\.0\.1$"];
    let mut f = filter(pref, &[r"^fail <HOST>\s$"], &ignore, 1);
    assert_eq!(counts(&run(&mut f, &["a: fail 198.18.0.1"])), [1]);
    // several lines: MULTILINE failregexes, `$` of prefregex at the end only
    let mut f = filter(None, &[r"^fail <HOST>\s$"], &[], 2);
    assert_eq!(counts(&run(&mut f, &["a", "fail 198.18.0.1"])), [0, 1]);
    let pref = Some(r"^(?:.*\n)?<F-CONTENT>fail .+</F-CONTENT>$");
    let mut f = filter(pref, &[r"^fail <HOST>$"], &[], 2);
    assert_eq!(counts(&run(&mut f, &["a", "fail 198.18.0.1"])), [0, 1]);
}
