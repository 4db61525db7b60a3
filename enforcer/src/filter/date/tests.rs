//! The detector's own tests (the memo's are in `memo_tests.rs`).
use super::*;

fn text(d: &mut DateDetector, line: &str) -> Option<String> {
    d.match_time(line)
        .map(|f| line[f.m.dstart..f.m.dend].to_string())
}

#[test]
fn defaults_find_common_stamps() {
    let mut d = DateDetector::with_defaults();
    assert_eq!(
        text(&mut d, "Aug 14 11:59:59 host sshd[1]: x").as_deref(),
        Some("Aug 14 11:59:59")
    );
    assert_eq!(
        text(&mut d, "2005-08-14 11:59:59 x").as_deref(),
        Some("2005-08-14 11:59:59")
    );
    assert_eq!(
        text(&mut d, "1.2.3.4 - - [14/Aug/2005:11:59:59 +0200] \"GET /\"").as_deref(),
        Some("14/Aug/2005:11:59:59 +0200")
    );
    assert_eq!(text(&mut d, "no date here"), None);
}

/// The last match's boundaries are character positions, as in
/// fail2ban: after a line with "é" before its date, the next line's
/// date is searched from the fifth character, not the seventh byte.
#[test]
fn last_boundaries_count_characters() {
    let mut d = DateDetector::with_defaults();
    assert_eq!(
        text(&mut d, "S\u{e9}t Dec 28 19:05:38 2013 - x").as_deref(),
        Some("Dec 28 19:05:38 2013")
    );
    assert_eq!(
        text(&mut d, "Sat Dec 28 19:05:38 2013 - y").as_deref(),
        Some("Dec 28 19:05:38 2013")
    );
    let mut d = DateDetector::with_defaults();
    assert_eq!(
        text(&mut d, "Sat Dec 28 19:05:38 2013 - y").as_deref(),
        Some("Sat Dec 28 19:05:38 2013")
    );
    assert_eq!(
        (char_index("\u{e9}ab", 3), byte_index("\u{e9}ab", 2)),
        (2, 3)
    );
    assert_eq!(
        (
            byte_index("ab", 5),
            py_char("ab", 5),
            py_char_before("ab", 0)
        ),
        (2, None, None)
    );
}

#[test]
fn line_begin_only_and_none() {
    let mut d = DateDetector::from_datepattern("{^LN-BEG}").unwrap();
    assert_eq!(text(&mut d, "x Aug 14 11:59:59 y"), None);
    assert_eq!(
        text(&mut d, "Aug 14 11:59:59 y").as_deref(),
        Some("Aug 14 11:59:59")
    );
    let mut d = DateDetector::from_datepattern("{NONE}").unwrap();
    let f = d.match_time("Aug 14 11:59:59 y").unwrap();
    assert_eq!(f.m.dstart, f.m.dend);
}

#[test]
fn date_placeholder_and_custom_pattern() {
    let mut d = DateDetector::from_datepattern(r"^\s*{DATE}\s+\[").unwrap();
    // As in fail2ban, the whole pre-match is the date text (cut from the line).
    assert_eq!(
        text(&mut d, "  2005-08-14 11:59:59 [x]").as_deref(),
        Some("  2005-08-14 11:59:59 [")
    );
    let mut d = DateDetector::from_datepattern("%d.%m.%Y %H:%M").unwrap();
    let line = "x 14.08.2005 10:00 y";
    let f = d.match_time(line).unwrap();
    d.default_tz = Some(0);
    assert_eq!(d.get_time(line, &f, 1_124_013_600.0), Some(1_124_013_600.0));
}

#[test]
fn prematch_templates_are_not_line_end() {
    let d = DateDetector::from_datepattern(r"^[^\[]*\[({DATE})").unwrap();
    for s in &d.slots {
        assert_eq!(s.t.flags & LINE_END, 0, "{} {}", s.t.name, s.t.regex);
    }
}

#[test]
fn a_date_beyond_the_window_is_not_searched_for() {
    let mut d = DateDetector::from_datepattern("%Y-%m-%d %H:%M:%S").unwrap();
    let near = format!("{} 2005-08-14 10:00:00", "x".repeat(100));
    assert!(d.match_time(&near).is_some());
    let far = format!("{} 2005-08-14 10:00:00", "x".repeat(SEARCH_WINDOW));
    assert!(d.match_time(&far).is_none());
}
