//! Owns the strptime side of date templates: the regex each `%X` field
//! stands for (Python's `_strptime.TimeRE` as fail2ban tunes it, including
//! its `%Ex*` and `%k`/`%l` extensions), the display name of a pattern, and
//! turning captured fields into seconds since the epoch (year inference,
//! time-zone abbreviations and offsets, local time from `TZ`).
use std::collections::HashMap;
use std::sync::OnceLock;

use super::DateError;

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const FULL_MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// The `ExY` year regex: the decades fail2ban accepts (2000 up to a few years
/// from now), like its `_getYearCentRE`.
fn exy() -> String {
    let now_year = 1970
        + (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            / 31_556_952) as i64;
    let mut decades: Vec<i64> = (200..=(now_year + 3) / 10).collect();
    decades.dedup();
    let alts: Vec<String> = decades.iter().map(|d| d.to_string()).collect();
    format!(r"(?P<Y>(?:{})\d)", alts.join("|"))
}

/// Regex for one field key, or None when the key is unknown.
fn field_re(key: &str) -> Option<String> {
    let s = match key {
        "%" => "%",
        "a" => r"(?P<a>mon|tue|wed|thu|fri|sat|sun)",
        "A" => r"(?P<A>wednesday|thursday|saturday|tuesday|monday|friday|sunday)",
        "b" => r"(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)",
        "B" => {
            r"(?P<B>september|february|november|december|january|october|august|march|april|june|july|may)"
        }
        "c" => {
            r"(?P<a>mon|tue|wed|thu|fri|sat|sun)\s+(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\s+(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])\s+(?P<H>2[0-3]|[0-1]\d|\d):(?P<M>[0-5]\d|\d):(?P<S>6[0-1]|[0-5]\d|\d)\s+(?P<Y>\d\d\d\d)"
        }
        "d" => r"(?P<d>[1-2]\d|[0 ]?[1-9]|3[0-1])",
        "f" => r"(?P<f>[0-9]{1,6})",
        "G" => r"(?P<G>\d\d\d\d)",
        "H" => r"(?P<H>[0-1]?\d|2[0-3])",
        "I" => r"(?P<I>1[0-2]|0[1-9]|[1-9])",
        "j" => r"(?P<j>36[0-6]|3[0-5]\d|[1-2]\d\d|0[1-9]\d|00[1-9]|[1-9]\d|0[1-9]|[1-9])",
        "k" => r" ?(?P<H>[0-2]?\d)",
        "l" => r" ?(?P<I>1?\d)",
        "m" => r"(?P<m>0?[1-9]|1[0-2])",
        "M" => r"(?P<M>[0-5]?\d)",
        "p" => r"(?P<p>am|pm)",
        "S" => r"(?P<S>[0-5]?\d|6[0-1])",
        "u" => r"(?P<u>[1-7])",
        "U" => r"(?P<U>5[0-3]|[0-4]\d|\d)",
        "V" => r"(?P<V>5[0-3]|0[1-9]|[1-4]\d|\d)",
        "w" => r"(?P<w>[0-6])",
        "W" => r"(?P<W>5[0-3]|[0-4]\d|\d)",
        "x" => r"(?P<m>1[0-2]|0[1-9]|[1-9])/(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])/(?P<y>\d\d)",
        "X" => r"(?P<H>2[0-3]|[0-1]\d|\d):(?P<M>[0-5]\d|\d):(?P<S>6[0-1]|[0-5]\d|\d)",
        "y" => r"(?P<y>\d\d)",
        "Y" => r"(?P<Y>\d{4})",
        "z" => r"(?P<z>Z|UTC|GMT|[+-][01]\d(?::?\d{2})?)",
        "Z" => r"(?P<Z>Z|[A-Z]{3,5})",
        "ExZ" => r"(?P<Z>[A-Z](?:[A-Z]{2,4})?)",
        "Exz" => r"(?P<z>(?:[A-Z](?:[A-Z]{2,4})?)?[+-][01]\d(?::?\d{2})?|[A-Z](?:[A-Z]{2,4})?)",
        "Exd" => r"(?P<d>[1-2]\d|0[1-9]|3[0-1])",
        "Exm" => r"(?P<m>0[1-9]|1[0-2])",
        "ExH" => r"(?P<H>[0-1]\d|2[0-3])",
        "Exk" => r" ?(?P<H>[0-1]?\d|2[0-3])",
        "Exl" => r" ?(?P<I>1[0-2]|\d)",
        "ExM" => r"(?P<M>[0-5]\d)",
        "ExS" => r"(?P<S>[0-5]\d|6[0-1])",
        "Exy" => r"(?P<y>\d{2})",
        "ExY" => {
            static EXY: OnceLock<String> = OnceLock::new();
            return Some(EXY.get_or_init(exy).clone());
        }
        _ => return None,
    };
    Some(s.to_string())
}

fn field_name(key: &str) -> String {
    let base = |k: &str| -> Option<&'static str> {
        Some(match k {
            "a" => "DAY",
            "A" => "DAYNAME",
            "b" => "MON",
            "B" => "MONTH",
            "d" => "Day",
            "H" => "24hour",
            "I" => "12hour",
            "j" => "Yearday",
            "m" => "Month",
            "M" => "Minute",
            "p" => "AMPM",
            "S" => "Second",
            "U" | "W" => "Yearweek",
            "w" => "Weekday",
            "y" => "Year2",
            "Y" => "Year",
            "%" => "%",
            "z" => "Zone offset",
            "f" => "Microseconds",
            "Z" => "Zone name",
            _ => return None,
        })
    };
    if let Some(n) = base(key) {
        return n.to_string();
    }
    if let Some(rest) = key.strip_prefix("Ex")
        && let Some(n) = base(rest)
    {
        return format!("Ex{n}");
    }
    format!("%{key}")
}

/// Whether a pattern has alphabetic fields (`%a %A %b %B %p %c`), which make
/// the whole template case-insensitive.
pub fn has_alpha_field(pattern: &str) -> bool {
    let b = pattern.as_bytes();
    (0..b.len().saturating_sub(1))
        .any(|i| b[i] == b'%' && (i == 0 || b[i - 1] != b'%') && b"aAbBpc".contains(&b[i + 1]))
}

/// Expands the `%X` fields of a date pattern: (regex, display name).
pub fn expand_fields(pattern: &str) -> Result<(String, String), DateError> {
    let mut re = String::new();
    let mut name = String::new();
    let mut rest = pattern;
    while let Some(p) = rest.find('%') {
        re.push_str(&rest[..p]);
        name.push_str(&rest[..p]);
        let after = &rest[p + 1..];
        let key = if after.starts_with("Ex") && after.len() >= 3 && field_re(&after[..3]).is_some()
        {
            &after[..3]
        } else if let Some(c) = after.chars().next().filter(|c| c.is_ascii()) {
            &after[..c.len_utf8()]
        } else {
            ""
        };
        match field_re(key) {
            Some(r) if !key.is_empty() => {
                re.push_str(&r);
                name.push_str(&field_name(key));
                rest = &after[key.len()..];
            }
            _ => {
                return Err(DateError(format!(
                    "datepattern {pattern:?}: unknown or unescaped '%' field"
                )));
            }
        }
    }
    re.push_str(rest);
    name.push_str(rest);
    Ok((re, name))
}

/// Time-zone abbreviations fail2ban knows, in minutes east of UTC.
fn tz_abbr() -> &'static HashMap<&'static str, i32> {
    static T: OnceLock<HashMap<&'static str, i32>> = OnceLock::new();
    T.get_or_init(|| {
        const TABLE: &str = "-12 Y
-11 X NUT SST
-10 W CKT HAST HST TAHT TKT
-9 V AKST GAMT GIT HADT HNY
-8 U AKDT CIST HAY HNP PST PT
-7 T HAP HNR MST PDT
-6 S CST EAST GALT HAR HNC MDT
-5 R CDT COT EASST ECT EST ET HAC HNE PET
-4 Q AST BOT CLT COST EDT FKT GYT HAE HNA PYT
-3 P ADT ART BRT CLST FKST GFT HAA PMST PYST SRT UYT WGT
-2 O BRST FNT PMDT UYST WGST
-1 N AZOT CVT EGT
0 Z EGST GMT UTC WET WT
1 A CET DFT WAT WEDT WEST
2 B CAT CEDT CEST EET SAST WAST
3 C EAT EEDT EEST IDT MSK
4 D AMT AZT GET GST KUYT MSD MUT RET SAMT SCT
5 E AMST AQTT AZST HMT MAWT MVT PKT TFT TJT TMT UZT YEKT
6 F ALMT BIOT BTT IOT KGT NOVT OMST YEKST
7 G CXT DAVT HOVT ICT KRAT NOVST OMSST THA WIB
8 H ACT AWST BDT BNT CAST HKT IRKT KRAST MYT PHT SGT ULAT WITA WST
9 I AWDT IRKST JST KST PWT TLT WDT WIT YAKT
10 K AEST ChST PGT VLAT YAKST YAPT
11 L AEDT LHDT MAGT NCT PONT SBT VLAST VUT
12 M ANAST ANAT FJT GILT MAGST MHT NZST PETST PETT TVT WFT
13 FJST NZDT
11.5 NFT
10.5 ACDT LHST
9.5 ACST
6.5 CCT MMT
5.75 NPT
5.5 SLT
4.5 AFT IRDT
3.5 IRST
-2.5 HAT NDT
-3.5 HNT NST NT
-4.5 HLV VET
-9.5 MART MIT";
        let mut m = HashMap::new();
        for line in TABLE.lines() {
            let mut it = line.split_whitespace();
            let off: f64 = it.next().and_then(|s| s.parse().ok()).unwrap_or(0.0);
            for z in it {
                m.insert(z, (off * 60.0) as i32);
            }
        }
        m
    })
}

/// A zone as fail2ban accepts it (`logtimezone`, `%z`, `%Z`): an optional
/// abbreviation and an optional `[+-]hh[:]mm` offset. Minutes east of UTC.
pub fn zone_offset(tz: &str) -> Result<i32, DateError> {
    let bad = || DateError(format!("unknown or unsupported time zone: {tz:?}"));
    let s = tz.trim();
    let split = s.find(['+', '-']).unwrap_or(s.len());
    let (abbr, off) = s.split_at(split);
    let base = if abbr.is_empty() {
        0
    } else {
        let ok = abbr.len() == 1 || (3..=5).contains(&abbr.len());
        if !ok || !abbr.bytes().next().is_some_and(|c| c.is_ascii_uppercase()) {
            return Err(bad());
        }
        *tz_abbr().get(abbr).ok_or_else(bad)?
    };
    if off.is_empty() {
        return Ok(base);
    }
    let sign = if off.starts_with('-') { -1 } else { 1 };
    let digits = &off[1..];
    let (hh, mm) = match digits.len() {
        2 => (&digits[..2], "0"),
        4 => (&digits[..2], &digits[2..]),
        5 if digits.as_bytes()[2] == b':' => (&digits[..2], &digits[3..]),
        _ => return Err(bad()),
    };
    let h: i32 = hh.parse().map_err(|_| bad())?;
    let m: i32 = mm.parse().map_err(|_| bad())?;
    if h > 19 {
        return Err(bad());
    }
    Ok(base + sign * (h * 60 + m))
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of days since the epoch.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Seconds since the epoch of a local wall-clock time in the process's
/// time zone (`TZ`, POSIX TZ strings included), like Python's
/// `time.mktime` with `tm_isdst = -1`. Cached per local hour.
pub fn local_mktime(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
    thread_local! {
        static CACHE: std::cell::RefCell<(i64, i64)> = const { std::cell::RefCell::new((i64::MIN, 0)) };
    }
    let key = ((y * 16 + mo as i64) * 32 + d as i64) * 32 + h as i64;
    let hour_start = CACHE.with(|c| {
        let c = c.borrow();
        (c.0 == key).then_some(c.1)
    });
    let base = match hour_start {
        Some(b) => b,
        None => {
            // SAFETY: a zeroed tm is a valid value; mktime only reads and
            // normalises the struct we own.
            let b = unsafe {
                let mut tm: libc::tm = std::mem::zeroed();
                tm.tm_year = (y - 1900) as libc::c_int;
                tm.tm_mon = mo as libc::c_int - 1;
                tm.tm_mday = d as libc::c_int;
                tm.tm_hour = h as libc::c_int;
                tm.tm_isdst = -1;
                libc::mktime(&mut tm) as i64
            };
            CACHE.with(|c| *c.borrow_mut() = (key, b));
            b
        }
    };
    base + mi as i64 * 60 + s as i64
}

/// Local (year, month, day, hour, minute, second).
pub type LocalParts = (i64, u32, u32, u32, u32, u32);

/// Local (year, month, day, hour, minute, second) of an epoch time.
pub fn local_parts(t: f64) -> LocalParts {
    let tt = t.floor() as libc::time_t;
    // SAFETY: localtime_r writes into the tm we own.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&tt, &mut tm);
        (
            tm.tm_year as i64 + 1900,
            tm.tm_mon as u32 + 1,
            tm.tm_mday as u32,
            tm.tm_hour as u32,
            tm.tm_min as u32,
            tm.tm_sec as u32,
        )
    }
}

/// Field values captured by a date template, by strptime key.
#[derive(Debug, Default)]
pub struct Fields<'a> {
    pub v: [Option<&'a str>; 20],
}

/// The strptime keys [`Fields`] holds, by index.
const KEYS: [&str; 18] = [
    "y", "Y", "m", "B", "b", "d", "H", "I", "M", "S", "f", "A", "a", "w", "j", "z", "Z", "p",
];

/// Index of a strptime key in [`Fields`].
pub fn key_index(k: &str) -> Option<usize> {
    KEYS.iter().position(|x| *x == k)
}

/// [`key_index`] of a key known to be there, at compile time (a stamp's
/// fields are read for every new second of a log).
const fn key(k: &str) -> usize {
    let mut i = 0;
    while i < KEYS.len() {
        let (a, b) = (KEYS[i].as_bytes(), k.as_bytes());
        if a.len() == b.len() {
            let mut j = 0;
            while j < a.len() && a[j] == b[j] {
                j += 1;
            }
            if j == a.len() {
                return i;
            }
        }
        i += 1;
    }
    panic!("not a strptime key")
}

/// The now-independent part of a stamp's captured fields: numbers parsed,
/// month names looked up, the zone resolved (see [`Parsed::epoch`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Parsed {
    year: Option<i64>,
    month: Option<u32>,
    day: Option<u32>,
    hour: i64,
    minute: i64,
    second: i64,
    tz: Option<i32>,
    julian: Option<i64>,
}

/// Parses captured fields (None when their zone is unknown: no date at all).
pub fn parse(f: &Fields) -> Option<Parsed> {
    // a key's index, found at compile time
    macro_rules! at {
        ($k:literal) => {
            const { key($k) }
        };
    }
    let g = |i: usize| f.v[i];
    let num = |i: usize| g(i).and_then(|v| v.trim().parse::<i64>().ok());
    let mut year = None;
    if let Some(y) = num(at!("y")) {
        year = Some(if y <= 2000 { y + 2000 } else { y });
    }
    if let Some(y) = num(at!("Y")) {
        year = Some(y);
    }
    let mut month = num(at!("m")).map(|m| m as u32);
    if let Some(b) = g(at!("B")) {
        month = FULL_MONTHS
            .iter()
            .position(|m| m.eq_ignore_ascii_case(b))
            .map(|i| i as u32 + 1);
    }
    if let Some(b) = g(at!("b")) {
        month = MONTHS
            .iter()
            .position(|m| m.eq_ignore_ascii_case(b))
            .map(|i| i as u32 + 1);
    }
    let day = num(at!("d")).map(|d| d as u32);
    let mut hour = num(at!("H")).unwrap_or(0);
    if let Some(i) = num(at!("I")) {
        hour = i;
        let ampm = g(at!("p")).unwrap_or("").to_ascii_lowercase();
        if ampm.is_empty() || ampm == "am" {
            if hour == 12 {
                hour = 0;
            }
        } else if ampm == "pm" && hour != 12 {
            hour += 12;
        }
    }
    let minute = num(at!("M")).unwrap_or(0);
    let second = num(at!("S")).unwrap_or(0);
    let _ = DAYS;
    let mut tz: Option<i32> = None;
    for k in [at!("z"), at!("Z")] {
        if let Some(z) = g(k) {
            tz = Some(if matches!(z, "Z" | "UTC" | "GMT") {
                0
            } else {
                zone_offset(z).ok()?
            });
        }
    }
    Some(Parsed {
        year,
        month,
        day,
        hour,
        minute,
        second,
        tz,
        julian: num(at!("j")),
    })
}

/// fail2ban's `reGroupDictStrptime`: seconds since the epoch of the
/// captured fields. `now` drives year and day inference; `default_tz`
/// (minutes east) applies when the stamp has no zone of its own.
pub fn to_epoch(f: &Fields, now: f64, default_tz: Option<i32>) -> Option<f64> {
    parse(f)?.epoch_uncached(now, default_tz)
}

/// [`local_parts`] of the last second asked for on this thread: `now` is
/// asked for once or twice per line, and many lines fall in one second.
fn local_parts_cached(t: f64) -> LocalParts {
    thread_local! {
        static LAST: std::cell::Cell<(f64, LocalParts)> =
            const { std::cell::Cell::new((f64::NAN, (0, 0, 0, 0, 0, 0))) };
    }
    let sec = t.floor();
    let (k, v) = LAST.get();
    if k == sec {
        return v;
    }
    let v = local_parts(sec);
    LAST.set((sec, v));
    v
}

type EpochKey = (Parsed, Option<i32>, f64);

impl Parsed {
    /// The stamp's seconds since the epoch at time `now` (see [`to_epoch`]).
    /// `now` counts only through its local date and time to the second, so
    /// the last answer on this thread is reused for the same stamp, zone and
    /// second of `now`.
    pub fn epoch(&self, now: f64, default_tz: Option<i32>) -> Option<f64> {
        thread_local! {
            static LAST: std::cell::Cell<Option<(EpochKey, Option<f64>)>> =
                const { std::cell::Cell::new(None) };
        }
        let key = (*self, default_tz, now.floor());
        if let Some((k, v)) = LAST.get()
            && k == key
        {
            return v;
        }
        let v = self.epoch_uncached(now, default_tz);
        LAST.set(Some((key, v)));
        v
    }

    fn epoch_uncached(&self, now: f64, default_tz: Option<i32>) -> Option<f64> {
        let Parsed {
            year,
            mut month,
            mut day,
            hour,
            minute,
            second,
            tz,
            julian,
        } = *self;
        // fail2ban compares with MyTime.now(), a local naive datetime, even
        // when the stamp was shifted to UTC by a zone: kept as is.
        let now_parts = || {
            let (y, m, d, ..) = local_parts_cached(now);
            (y, m, d)
        };
        let assume_year = year.is_none();
        let mut year = year.unwrap_or_else(|| now_parts().0);
        if (month.is_none() || day.is_none())
            && let Some(j) = julian
        {
            let (y, m, d) = civil_from_days(days_from_civil(year, 1, 1) + j - 1);
            year = y;
            month = Some(m);
            day = Some(d);
        }
        let mut assume_today = false;
        if month.is_none() && day.is_none() {
            let (_, m, d) = now_parts();
            month = Some(m);
            day = Some(d);
            assume_today = true;
        }
        let (month, day) = (month?, day?);
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return None;
        }
        // (%S reads 60 and 61, but Python's datetime takes 0..=59 only:
        // fail2ban's getTime then finds no time for the stamp)
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let tzoff = tz.or(default_tz);
        // Naive wall-clock seconds (as if UTC), then shifted like Python does.
        let naive = |y: i64, m: u32, d: u32| {
            days_from_civil(y, m, d) * 86400 + hour * 3600 + minute * 60 + second
        };
        let mut wall = naive(year, month, day);
        if let Some(off) = tzoff {
            wall -= off as i64 * 60;
        }
        // `now` as the same kind of naive value for the comparisons.
        let now_naive = {
            let (y, m, d, h, mi, s) = local_parts_cached(now);
            days_from_civil(y, m, d) * 86400 + (h * 3600 + mi * 60 + s) as i64
        };
        if assume_today && wall > now_naive {
            wall -= 86400;
        }
        if assume_year && wall > now_naive + 86400 {
            let y = year - 1;
            if day > days_in_month(y, month) {
                return None;
            }
            // Python's replace(year=, month=, day=) keeps the shifted time of day.
            wall = days_from_civil(y, month, day) * 86400 + wall.rem_euclid(86400);
        }
        if tzoff.is_some() {
            Some(wall as f64)
        } else {
            let days = wall.div_euclid(86400);
            let rem = wall.rem_euclid(86400);
            let (y, m, d) = civil_from_days(days);
            Some(local_mktime(
                y,
                m,
                d,
                (rem / 3600) as u32,
                ((rem / 60) % 60) as u32,
                (rem % 60) as u32,
            ) as f64)
        }
    }
}

#[cfg(test)]
#[path = "strptime_tests.rs"]
mod tests;
