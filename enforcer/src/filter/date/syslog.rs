//! Owns a shortcut for the one date template most logs are written in:
//! fail2ban's line-anchored syslog default (`{^LN-BEG}(?:DAY )?MON Day
//! %k:Minute:Second(?:\.Microseconds)?(?: ExYear)?`), whose regex search
//! with captures was most of the date detector's cost (a busy sshd's next
//! second is mostly a new class pattern for [`super::memo`]).
//!
//! [`match_anchored`] reads the common shape byte by byte, `Mar  2
//! 12:35:56` followed by a byte that ends a word, and gives the very spans
//! the regex's first path gives; anything else (a day name, a leading
//! bracket, a one-digit day, fractions, a year, non-ASCII, a hour like `31`
//! the regex would backtrack over) is left to the regex. Exact by the
//! regex's priority order: at each choice the first option is taken, and a
//! later one only where every path through the earlier ones fails on the
//! bytes at hand (see the comments); a test compares it with the regex
//! over every shape of stamp.

/// The template's regex (Python syntax) as [`super::template`] builds it.
pub const ANCHORED: &str = r"(?iu)^(?:\W{0,2})?((?:(?P<a>mon|tue|wed|thu|fri|sat|sun) )?(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec) (?P<d>[1-2]\d|[0 ]?[1-9]|3[0-1])  ?(?P<H>[0-2]?\d):(?P<M>[0-5]?\d):(?P<S>[0-5]?\d|6[0-1])(?:\.(?P<f>[0-9]{1,6}))?(?: (?P<Y>(?:200|201|202)\d))?)(?=\b|\W|$)";

/// Its groups, in order (group 0 and the date group unnamed).
pub const NAMES: [Option<&str>; 10] = [
    None,
    None,
    Some("a"),
    Some("b"),
    Some("d"),
    Some("H"),
    Some("M"),
    Some("S"),
    Some("f"),
    Some("Y"),
];

const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

/// The spans of the regex's match of `hay` (its slots, one per group of
/// [`NAMES`], into `slots`), and where it ends; None when the shape is not
/// the common one (the regex decides, maybe that there is no match).
pub fn match_anchored(hay: &[u8], slots: &mut [Option<(usize, usize)>]) -> Option<usize> {
    if slots.len() != NAMES.len() || hay.len() < 15 {
        return None;
    }
    let digit = |i: usize| hay.get(i).is_some_and(u8::is_ascii_digit);
    let within = |i: usize, lo: u8, hi: u8| hay.get(i).is_some_and(|&b| (lo..=hi).contains(&b));
    // A month first: `\W{0,2}` then takes nothing (a letter is a word
    // byte), and no day name is a month name, so `(?:DAY )?` takes nothing.
    let m = [hay[0], hay[1], hay[2]].map(|b| b.to_ascii_lowercase());
    if !MONTHS.contains(&&m) || hay[3] != b' ' {
        return None;
    }
    // The day: `[1-2]\d` first; else `[0 ]?[1-9]` (its `[0 ]` taken where it
    // can be); else `3[0-1]` (after `3`, `[0 ]?[1-9]` would need the space
    // that `3[0-1]` does not leave).
    let day = match (hay[4], hay[5]) {
        (b'1'..=b'2', b'0'..=b'9') | (b'0' | b' ', b'1'..=b'9') | (b'3', b'0'..=b'1') => (4, 6),
        _ => return None,
    };
    if hay[6] != b' ' {
        return None;
    }
    // ` ?` takes a second space where there is one.
    let h = if hay[7] == b' ' { 8 } else { 7 };
    // `[0-2]?\d:` then `[0-5]?\d:` then `[0-5]?\d`, each `?` taking its
    // byte (the first path), which the next byte then allows.
    let (mi, s) = (h + 3, h + 6);
    if !(within(h, b'0', b'2') && digit(h + 1) && hay.get(h + 2) == Some(&b':')) {
        return None;
    }
    if !(within(mi, b'0', b'5') && digit(mi + 1) && hay.get(mi + 2) == Some(&b':')) {
        return None;
    }
    if !(within(s, b'0', b'5') && digit(s + 1)) {
        return None;
    }
    let end = s + 2;
    // `(?:\.f)?` and `(?: Y)?` are left to the regex where they may match;
    // else the stamp ends at a byte that is not a word byte, or the text's
    // end (`(?=\b|\W|$)` after a digit). A non-ASCII byte may be a Unicode
    // word character: the regex decides.
    match hay.get(end) {
        None => {}
        Some(b'.') => return None,
        Some(b' ') if hay.get(end + 1) == Some(&b'2') => return None,
        Some(&b) if !b.is_ascii() || b.is_ascii_alphanumeric() || b == b'_' => return None,
        Some(_) => {}
    }
    let spans = [
        Some((0, end)),
        Some((0, end)),
        None,
        Some((0, 3)),
        Some(day),
        Some((h, h + 2)),
        Some((mi, mi + 2)),
        Some((s, s + 2)),
        None,
        None,
    ];
    slots.copy_from_slice(&spans);
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::translate::Pattern;

    /// Every shape of stamp: prefixes, month cases, day forms, spacing,
    /// times in and out of range, and what follows.
    fn stamps() -> Vec<String> {
        let pre = ["", "[", "  ", "Mon ", "mon ", "x", "<1>"];
        let month = ["Mar", "mar", "MAY", "Sep", "Foo", "Ma"];
        let day = [
            " 2", "12", "02", "31", "30", "3", "32", "00", " 0", "1 ", "29", "0",
        ];
        let gap = [" ", "  ", "   ", ""];
        let hms = [
            "12:35:56",
            "00:00:00",
            "23:59:59",
            "29:69:60",
            "31:05:06",
            "1:02:03",
            "12:3:45",
            "12:34:5",
            "12:34:61",
            "12:34:60",
            "09:60:00",
            "12:34",
            "3:4:5",
            "12:34:56:",
        ];
        let post = [
            "", " host", ".123", ".", " 2024", " 2031", " 2", "x", "_", "1", ":", "\u{e9}", " ",
            "\t", "-", " 20", " 1999",
        ];
        let mut out = Vec::new();
        for p in pre {
            for m in month {
                for d in day {
                    for g in gap {
                        for t in hms {
                            for q in post {
                                out.push(format!("{p}{m} {d}{g}{t}{q}"));
                            }
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn the_shortcut_gives_what_the_regex_gives() {
        let re = Pattern::new(ANCHORED).unwrap();
        let names: Vec<Option<&str>> = re.names.iter().map(|n| n.as_deref()).collect();
        assert_eq!(names, NAMES);
        let (mut caps, mut slots) = (re.caps(), vec![None; NAMES.len()]);
        let (mut taken, mut all) = (0, 0);
        for line in stamps() {
            all += 1;
            let Some(end) = match_anchored(line.as_bytes(), &mut slots) else {
                continue;
            };
            taken += 1;
            assert!(re.captures_at(&line, 0, &mut caps), "{line:?}");
            assert_eq!(slots, caps.slots, "{line:?}");
            assert_eq!(caps.get(0), Some((0, end)), "{line:?}");
        }
        // the common shapes are taken (most generated ones are not common)
        assert!(taken > 1000, "{taken} of {all}");
        let mut s = vec![None; NAMES.len()];
        assert_eq!(
            match_anchored(b"Mar  2 12:35:56 edge-1 sshd[1]: x", &mut s),
            Some(15)
        );
        assert_eq!(s[4], Some((4, 6)));
        assert_eq!(match_anchored(b"Mar 31 12:35:56", &mut s), Some(15));
        assert_eq!(match_anchored(b"Mon Mar  2 12:35:56 x", &mut s), None);
    }
}
