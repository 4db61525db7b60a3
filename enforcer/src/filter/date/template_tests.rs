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
