//! Fuzzes the date detector: the first line of the input is a filter's
//! `datepattern` (several patterns separated by `|` become lines), the rest
//! are log lines. Each line goes through a detector for that pattern (when
//! it is valid) and through one with fail2ban's default templates; finding
//! and converting a date must never panic or hang, whatever the line.
#![no_main]

use std::sync::Mutex;

use enforcer::filter::date::DateDetector;
use libfuzzer_sys::fuzz_target;

/// Building the default templates compiles dozens of regexes: once.
static DEFAULTS: Mutex<Option<DateDetector>> = Mutex::new(None);

/// A fixed "now" (2026-01-01), so a run can be repeated.
const NOW: f64 = 1_767_225_600.0;

fn run(d: &mut DateDetector, line: &str) {
    if let Some(found) = d.match_time(line) {
        let _ = d.get_time(line, &found, NOW);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (dp, lines) = text.split_once('\n').unwrap_or((text, ""));
    let dp = dp.replace('|', "\n");
    let mut custom = DateDetector::from_datepattern(&dp).ok();
    let mut defaults = DEFAULTS.lock().unwrap_or_else(|e| e.into_inner());
    let defaults = defaults.get_or_insert_with(DateDetector::with_defaults);
    for line in lines.split('\n').take(64) {
        if let Some(d) = custom.as_mut() {
            run(d, line);
        }
        run(defaults, line);
    }
});
