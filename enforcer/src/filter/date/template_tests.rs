//! Unit tests of [`super`] (template.rs).
use super::*;

fn date_text(t: &Template, line: &str) -> Option<String> {
    let mut c = t.caps();
    t.match_date(line, 0, line.len(), &mut c)
        .map(|m| line[m.dstart..m.dend].to_string())
}

#[test]
fn syslog_template_and_anchoring() {
    let t = Template::from_pattern(r"(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?").unwrap();
    assert_eq!(t.flags & WORD_BEGIN, WORD_BEGIN);
    assert!(!t.is_fancy(), "{}", t.regex);
    assert_eq!(
        date_text(&t, "Aug 14 11:59:59 host sshd[1]: x").as_deref(),
        Some("Aug 14 11:59:59")
    );
    let a = t.anchored().unwrap();
    assert_eq!(a.flags & LINE_BEGIN, LINE_BEGIN);
    assert!(a.name.starts_with("{^LN-BEG}"));
    assert_eq!(date_text(&a, "x Aug 14 11:59:59 host"), None);
    assert_eq!(
        date_text(&a, "[Aug 14 11:59:59] host").as_deref(),
        Some("Aug 14 11:59:59")
    );
}

#[test]
fn iso_template_with_separator_backref() {
    let t = Template::from_pattern(
        r"%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T|  ?)%H:%M:%S(?:[.,]%f)?(?:\s*%z)?",
    )
    .unwrap();
    assert!(!t.is_fancy());
    assert_eq!(
        date_text(&t, "at 2005/08/14 10:00:00 x").as_deref(),
        Some("2005/08/14 10:00:00")
    );
    assert_eq!(
        date_text(&t, "2005-08-14T10:00:00+0200 x").as_deref(),
        Some("2005-08-14T10:00:00+0200")
    );
    assert_eq!(date_text(&t, "2005-08/14 10:00:00"), None);
    let mut c = t.caps();
    let line = "2005-08-14 10:00:00 +0200";
    t.match_date(line, 0, line.len(), &mut c).unwrap();
    assert_eq!(
        t.get_date(line, &c.slots, 1_124_013_600.0, None),
        Some(1_124_006_400.0)
    );
}

#[test]
fn epoch_forms() {
    let t = Template::from_pattern("EPOCH").unwrap();
    assert_eq!(date_text(&t, "1124013600 x").as_deref(), Some("1124013600"));
    assert_eq!(
        date_text(&t, "[1124013600.123] x").as_deref(),
        Some("1124013600.123")
    );
    assert_eq!(
        date_text(&t, "type=X audit(1124013600.500:7): y").as_deref(),
        Some("1124013600.500")
    );
    assert_eq!(date_text(&t, "x 1124013600 x"), None);
    // fail2ban's look-aheads after "[" and "audit(" constrain nothing
    assert_eq!(
        date_text(&t, "[1124013600 x").as_deref(),
        Some("1124013600")
    );
    assert_eq!(
        date_text(&t, "type=X audit(1124013600.5 x").as_deref(),
        Some("1124013600")
    );
    assert_eq!(date_text(&t, "x[1124013600] x"), None);
    // a search from `pos` to `endpos` (the detector's last boundaries) sees
    // the look-behind before `pos`; the match is the date alone
    let line = "type=X audit(1124013600.500:7): y";
    let mut c = t.caps();
    let m = t.match_date(line, 13, 23, &mut c).unwrap();
    assert_eq!((m.start, m.end, m.dstart, m.dend), (13, 23, 13, 23));
    assert!(t.match_date(line, 14, line.len(), &mut c).is_none());
    let m = t.match_date("[1124013600] x", 1, 14, &mut c).unwrap();
    assert_eq!((m.start, m.end), (1, 11));
    let l = Template::from_pattern("LEPOCH").unwrap();
    let line = "1124013600123 x";
    let mut c = l.caps();
    l.match_date(line, 0, line.len(), &mut c).unwrap();
    assert_eq!(
        l.get_date(line, &c.slots, 0.0, None),
        Some(1_124_013_600.123)
    );
    let p = Template::from_pattern(r"^\[{EPOCH}\]").unwrap();
    assert_eq!(
        date_text(&p, "[1124013600] x").as_deref(),
        Some("[1124013600]")
    );
}

#[test]
fn tai64n() {
    let t = Template::from_pattern("TAI64N").unwrap();
    let line = "@4000000042fee4ae0bfda2c4 x";
    let mut c = t.caps();
    t.match_date(line, 0, line.len(), &mut c).unwrap();
    assert_eq!(t.get_date(line, &c.slots, 0.0, None), Some(1_124_000_942.0));
}

/// Every default template's plan (its groups by DFA scans, see
/// [`crate::filter::plan`]) against the capture engine, on every ASCII line
/// of the sample logs: where the plan gets through, it agrees; and it gets
/// through on most matches (the syslog template, whose `(?u)\b` the
/// plan's DFAs take on ASCII text, included).
#[test]
fn default_template_plans_agree_on_sample_logs() {
    let logs = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fail2ban/fail2ban/tests/files/logs");
    assert!(logs.is_dir(), "{} is missing", logs.display());
    let mut lines: Vec<Vec<u8>> = Vec::new();
    for e in std::fs::read_dir(&logs).unwrap() {
        let Ok(text) = std::fs::read(e.unwrap().path()) else {
            continue;
        };
        lines.extend(
            text.split(|&c| c == b'\n')
                .filter(|l| l.is_ascii() && !l.starts_with(b"#"))
                .map(<[u8]>::to_vec),
        );
    }
    let (mut planned, mut matched, mut with_plan) = (0usize, 0usize, 0usize);
    let defaults = super::super::defaults();
    for t in &defaults.all {
        let re = &t.compiled().unwrap().re;
        let Some((m, p)) = crate::filter::plan::tests::agree_on(re, &lines, &t.name) else {
            continue;
        };
        with_plan += 1;
        matched += m;
        planned += p;
    }
    eprintln!("{with_plan} templates with a plan; {planned} of {matched} matches planned");
    assert!(
        with_plan * 2 > defaults.all.len() && planned * 2 > matched,
        "{with_plan} of {} templates, {planned}/{matched}",
        defaults.all.len()
    );
}
