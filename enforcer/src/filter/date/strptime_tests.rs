//! Unit tests of [`super`] (strptime.rs).
use super::*;

#[test]
fn civil_roundtrip() {
    for d in [-1000, 0, 1, 59, 10_000, 20_000] {
        let (y, m, dd) = civil_from_days(d);
        assert_eq!(days_from_civil(y, m, dd), d);
    }
    assert_eq!(days_from_civil(2005, 8, 14), 13_009);
}

#[test]
fn zones() {
    assert_eq!(zone_offset("UTC").unwrap(), 0);
    assert_eq!(zone_offset("+0200").unwrap(), 120);
    assert_eq!(zone_offset("-05:30").unwrap(), -330);
    assert_eq!(zone_offset("CET").unwrap(), 60);
    assert_eq!(zone_offset("CET+01").unwrap(), 120);
    assert_eq!(zone_offset("UTC-0400").unwrap(), -240);
    assert!(zone_offset("Mars/Olympus").is_err());
}

#[test]
fn field_expansion() {
    let (re, name) = expand_fields("%Y-%m-%d %H:%M:%S").unwrap();
    assert!(re.starts_with(r"(?P<Y>\d{4})-(?P<m>"));
    assert_eq!(name, "Year-Month-Day 24hour:Minute:Second");
    let (_, name) = expand_fields("%ExY%Exm").unwrap();
    assert_eq!(name, "ExYearExMonth");
    assert!(expand_fields("%Q").is_err());
    assert!(has_alpha_field("%b %d"));
    assert!(!has_alpha_field("%%b %d"));
}

/// Fields from (strptime key, captured text) pairs.
fn fields<'a>(pairs: &[(&str, &'a str)]) -> Fields<'a> {
    let mut f = Fields::default();
    for &(k, v) in pairs {
        f.v[key_index(k).unwrap()] = Some(v);
    }
    f
}

#[test]
fn epoch_with_explicit_zone_and_year_inference() {
    let day = [("Y", "2005"), ("m", "08"), ("d", "14"), ("H", "10")];
    let f = fields(&[&day[..], &[("z", "+0200")]].concat());
    assert_eq!(to_epoch(&f, 1_124_013_600.0, None), Some(1_124_006_400.0));
    // No year: a stamp more than a day in the future is last year's.
    let f = fields(&[("b", "Dec"), ("d", "31")]);
    let t = to_epoch(&f, 1_124_013_600.0, Some(0)).unwrap();
    assert_eq!(t, (days_from_civil(2004, 12, 31) * 86400) as f64);
}

/// `%S` matches 60 and 61, but fail2ban's datetime() refuses them: no time.
#[test]
fn leap_seconds_give_no_time() {
    let at = |sec: &'static str| {
        let day = [("Y", "2005"), ("m", "08"), ("d", "14"), ("H", "10")];
        let f = fields(&[&day[..], &[("M", "59"), ("S", sec)]].concat());
        to_epoch(&f, 1_124_013_600.0, Some(0))
    };
    assert_eq!(
        at("59"),
        Some((days_from_civil(2005, 8, 14) * 86400 + 39_599) as f64)
    );
    assert_eq!(at("60"), None);
    assert_eq!(at("61"), None);
}
