//! The plan against the regex crate's capture engine, on the same pattern.
use super::Plan;

/// Every group span of the first match of `pat` in `hay`, by the capture
/// engine and by the plan (None: the plan gave up, or no match).
type Slots = Vec<Option<(usize, usize)>>;

fn both(pat: &str, hay: &[u8]) -> Option<(Slots, Option<Slots>)> {
    let re = regex::bytes::RegexBuilder::new(pat)
        .unicode(false)
        .build()
        .unwrap();
    let mut locs = re.capture_locations();
    re.captures_read_at(&mut locs, hay, 0)?;
    let want: Vec<_> = (0..locs.len()).map(|i| locs.get(i)).collect();
    let plan = Plan::new(pat, locs.len());
    let got = plan.and_then(|p| {
        let m = re.find(hay)?;
        let mut slots = vec![None; locs.len()];
        let mut c = p.caches();
        p.captures(hay, (m.start(), m.end()), &mut c, &mut slots)?;
        Some(slots)
    });
    Some((want, got))
}

/// [`both`] for every pattern on every haystack, asserting the plan and
/// the capture engine agree wherever the plan gets through, and that of
/// more than `least` matches, more than `share` got through.
fn agree_everywhere(pats: &[&str], hays: &[&[u8]], (least, share): (usize, f64)) {
    let (mut planned, mut total) = (0, 0);
    for p in pats {
        for h in hays {
            let Some((want, got)) = both(p, h) else {
                continue;
            };
            total += 1;
            if let Some(got) = got {
                planned += 1;
                assert_eq!(got, want, "{p} on {:?}", String::from_utf8_lossy(h));
            }
        }
    }
    assert!(
        total > least && planned as f64 > total as f64 * share,
        "{planned}/{total} planned"
    );
}

#[test]
fn plans_agree_with_the_capture_engine() {
    let pats = [
        r"^(?P<a>x+)(?P<b>x*)y",
        r"^Failed (?:(?P<nofail>publickey)|\S+) for (?P<inv>invalid user )?(?P<user>\S+) from (?P<ip>[\d.]+)(?: port \d+)?",
        r"^[iI](?:llegal|nvalid) user (?P<user>.*?) (?:from )?(?P<ip>(?:\d{1,3}\.){3}\d{1,3})(?: port \d+)?\s*$",
        r"^(?P<u>.*?) (?P<v>\S+)$",
        r"^(?P<a>a|ab)(?P<b>c|bcd)(?P<c>d*)",
        r"(?P<x>b+)(?P<y>c)?",
        r"^(?:(?P<m>)x|y)(?P<n>z+)",
        r"^(?P<u>[^:]+?):(?P<r>.*)",
        r"^(?P<u>.+?) from (?P<h>\S+)",
    ];
    let hays: &[&[u8]] = &[
        b"xxxy",
        b"xy",
        b"Failed password for root from 198.18.0.1 port 22",
        b"Failed publickey for invalid user x from 198.18.0.1",
        b"Failed none for invalid user  from 198.18.0.1 port 5",
        b"Invalid user bob from 198.18.0.9 port 22",
        b"Invalid user bob from x from 198.18.0.9",
        b"invalid user  198.18.0.9",
        b"a b",
        b"a b c",
        b"abcd",
        b"abcdd",
        b"acdd",
        b"xxbbbc",
        b"bb",
        b"xzz",
        b"yzz",
        b"user:rest:more",
        b"a from b from c",
        b" from x",
    ];
    agree_everywhere(&pats, hays, (30, 0.7));
}

/// A filter's line and its newline: `$` is `(?m:$)`, which a lazy group's
/// rest may take as `\n?\z` while no newline comes before the last byte.
#[test]
fn line_end_plans_agree_with_the_capture_engine() {
    let pats = [
        r"^[iI]nvalid user (?P<user>.*?) (?:from )?(?P<ip>(?:\d{1,3}\.){3}\d{1,3})(?: port \d+)?\s*(?m:$)",
        r"^(?P<u>.*?) (?P<v>\S+)(?m:$)",
        r"^(?P<u>.*?) (?P<v>\d+\s)(?m:$)",
        r"^(?P<u>[^,]*?),(?P<v>[^,]*)(?m:$)",
        r"^x,(?P<u>.*?)(?m:$)",
        r"^x,(?P<u>.+?),?(?m:$)",
    ];
    let hays: &[&[u8]] = &[
        b"Invalid user bob from 198.18.0.9 port 22\n",
        b"Invalid user bob from 198.18.0.9 port 22",
        b"Invalid user bob from 198.18.0.9\nport 22\n",
        b"Invalid user b\nob from 198.18.0.9 \n",
        b"a b\n",
        b"a b\nc d\n",
        b"a 80\n",
        b"a 80 \n",
        b"a 80",
        b"x,y\n",
        b"x,y\nz\n",
        b"x,\n",
        // the lazy group's least run reaches the end
        b"a \n",
        b"a ",
        b"\n",
        b"x,\n",
        b"x,y\n",
    ];
    agree_everywhere(&pats, hays, (15, 0.5));
}

/// Runs `p`'s plan (if it has one) on every haystack the capture engine
/// matches, asserting the two agree wherever the plan gets through:
/// Some((matched, planned)), None without a plan. `what` names the
/// pattern in messages; `PLAN_DEBUG` in the environment lists give-ups.
pub(crate) fn agree_on(
    p: &crate::filter::pattern::Pattern,
    hays: &[Vec<u8>],
    what: &str,
) -> Option<(usize, usize)> {
    let (plan, re) = p.plan_parts()?;
    let (mut matched, mut planned) = (0, 0);
    let mut locs = re.capture_locations();
    let mut caches = plan.caches();
    let mut slots = vec![None; locs.len()];
    for h in hays {
        let Some(m) = re.captures_read(&mut locs, h) else {
            continue;
        };
        matched += 1;
        if plan
            .captures(h, (m.start(), m.end()), &mut caches, &mut slots)
            .is_some()
        {
            planned += 1;
            let want: Vec<_> = (0..locs.len()).map(|i| locs.get(i)).collect();
            assert_eq!(slots, want, "{what} on {:?}", String::from_utf8_lossy(h));
        } else if std::env::var_os("PLAN_DEBUG").is_some() {
            eprintln!("gave up: {what}\n   on {:?}", String::from_utf8_lossy(h));
        }
    }
    Some((matched, planned))
}

/// Every failregex of every stock filter, on every line of the sample
/// logs and on the line's text from each space on (what a prefregex's
/// F-CONTENT leaves starts at such a place): the plan never disagrees.
#[test]
fn plans_agree_on_stock_filters_and_sample_logs() {
    use crate::filter::pattern::Pattern;
    use crate::filter::tags;
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fail2ban");
    let config = shared.join("config");
    let logs = shared.join("fail2ban/tests/files/logs");
    assert!(config.is_dir(), "{} is missing", config.display());
    let mut hays: Vec<Vec<u8>> = Vec::new();
    for e in std::fs::read_dir(&logs).unwrap() {
        let Ok(text) = std::fs::read(e.unwrap().path()) else {
            continue;
        };
        for line in text.split(|&c| c == b'\n').filter(|l| l.is_ascii()) {
            hays.push(line.to_vec());
            for (i, _) in line
                .iter()
                .enumerate()
                .filter(|(_, c)| **c == b' ')
                .take(12)
            {
                hays.push(line[i + 1..].to_vec());
            }
        }
    }
    let (mut planned, mut matched, mut patterns) = (0usize, 0usize, 0usize);
    let mut names: Vec<_> = std::fs::read_dir(config.join("filter.d"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".conf").map(str::to_string))
        .collect();
    names.sort();
    for name in names {
        let Ok(def) = crate::config::load_filter(&config, &name, &[]) else {
            continue;
        };
        for py in def.failregex.iter().chain(def.prefregex.iter()) {
            let Ok(p) = Pattern::new_linear(&tags::expand(py, false)) else {
                continue;
            };
            let Some((m, pl)) = agree_on(&p, &hays, &format!("{name}: {py}")) else {
                continue;
            };
            patterns += 1;
            matched += m;
            planned += pl;
        }
    }
    eprintln!("{patterns} patterns with a plan; {planned} of {matched} matches planned");
    assert!(
        patterns > 100 && planned * 10 > matched * 7,
        "{planned}/{matched}"
    );
}

/// Runs `p`'s plan through its anchored entry on each of `hays` and
/// asserts it agrees with the capture engine wherever it gets through;
/// returns the plan and, per haystack that got through, the groups.
fn anchored_agree(p: &str, hays: &[&[u8]]) -> (Plan, Vec<Slots>) {
    let re = regex::bytes::RegexBuilder::new(p)
        .unicode(false)
        .build()
        .unwrap();
    let mut locs = re.capture_locations();
    let plan = Plan::new(p, locs.len()).unwrap();
    let mut c = plan.caches();
    let mut through = Vec::new();
    for h in hays {
        let want = re
            .captures_read(&mut locs, h)
            .map(|_| (0..locs.len()).map(|i| locs.get(i)).collect::<Vec<_>>());
        let mut slots = vec![None; locs.len()];
        if plan.captures_anchored(h, &mut c, &mut slots).is_some() {
            assert_eq!(
                Some(&slots),
                want.as_ref(),
                "{p} on {:?}",
                String::from_utf8_lossy(h)
            );
            through.push(slots);
        }
    }
    (plan, through)
}

/// The anchored entry (no search first) against the capture engine.
#[test]
fn anchored_plans_agree_with_the_capture_engine() {
    let pats = [
        r"^Failed (?:(?P<nofail>publickey)|\S+) for (?P<inv>invalid user )?(?P<user>\S+) from (?P<ip>[\d.]+)(?: port \d+)?",
        r"^[iI](?:llegal|nvalid) user (?P<user>.*?) (?:from )?(?P<ip>(?:\d{1,3}\.){3}\d{1,3})(?: port \d+)?\s*$",
        r"^(?P<u>[^:]+):(?P<r>.*)",
    ];
    let hays: &[&[u8]] = &[
        b"Failed password for root from 198.18.0.1 port 22",
        b"Failed publickey for invalid user x from 198.18.0.1",
        b"Failed",
        b"Invalid user bob from 198.18.0.9 port 22",
        b"Invalid user bob from x from 198.18.0.9",
        b"xInvalid user bob from 198.18.0.9",
        b"user:rest:more",
        b":x",
    ];
    let mut planned = 0;
    for p in pats {
        let (plan, through) = anchored_agree(p, hays);
        assert!(plan.is_anchored());
        planned += through.len();
    }
    assert!(planned >= 5, "{planned} planned");
}

/// Branches told apart by a literal only one of them needs (a distributed
/// `(?(g): |…)`, IPv4 against IPv6): the branch is passed over where the
/// rest of the text lacks it, and the groups still agree.
#[test]
fn branches_that_need_a_missing_literal_are_passed_over() {
    let pats = [
        r"^Failed \S+ for (?:(?P<u>\S+) from (?P<h>\S+)(?: port \d+)?: |(?P<v>[^:]+?) from (?P<g>\S+)(?: port \d+)?(?P<t>.*)$)",
        r"^(?:(?:::f{4,6}:)?(?P<ip4>(?:\d{1,3}\.){3}\d{1,3})|(?P<ip6>[0-9a-f:]+))(?: port \d+)?$",
        r"^(?:(?P<a>x+)y: |(?P<b>x+)z)",
    ];
    assert_eq!(
        super::required(&regex_syntax::parse(r"(?P<a>ab)+c?d(?:e|f)").unwrap()),
        [b"ab".to_vec(), b"d".to_vec()]
    );
    let hays: &[&[u8]] = &[
        b"Failed password for root from 198.18.0.1 port 22 ssh2",
        b"Failed password for root from 198.18.0.1 port 22: x",
        b"Failed password for a b from 198.18.0.1",
        b"Failed none for x from y: ",
        b"198.18.0.1 port 22",
        b"2001:db8::1 port 22",
        b"2001:db8::1",
        b"::ffff:198.18.0.1",
        b"1.2.3",
        b"xxy: ",
        b"xxz",
        b"xxy:z",
        b"xxyz: ",
    ];
    let mut passed_over = 0;
    for p in pats {
        let (plan, through) = anchored_agree(p, hays);
        let needs = format!("{:?}", plan.root).matches("needs: Some").count();
        assert!(needs > 0, "{p}: no branch needs a literal");
        // the second branch's groups set: the first was passed over
        passed_over += through.iter().filter(|w| w[1].is_none()).count();
    }
    assert!(passed_over >= 4, "{passed_over} passed over");
}

/// A lazy group's least run from the text's last byte: the plan looks at
/// nothing past the end (an anchored plan runs before any match is known).
#[test]
fn a_lazy_run_may_start_at_the_end() {
    use crate::filter::translate::{Dollar, Pattern};
    let p = Pattern::new_linear_for(r"^a: (?P<c>.+?),?\s*$", Dollar::LineEnd).unwrap();
    assert!(p.plan_parts().is_some());
    let mut c = p.caps();
    let re = regex::Regex::new(r"^a: (?P<c>.+?),?\s*(?m:$)").unwrap();
    for hay in ["a: \n", "a: ", "a: x\n"] {
        assert_eq!(p.captures(hay, &mut c), re.is_match(hay), "{hay:?}");
    }
}
