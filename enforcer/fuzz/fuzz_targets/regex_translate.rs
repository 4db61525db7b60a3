//! Fuzzes the Python-to-Rust regex translator and the engine choice: the
//! input is a pattern, then (after the first NUL) a line to search. Any
//! pattern must translate, then compile or be refused with an error; a
//! compiled one must search any line, from any char boundary, without a
//! panic or a run-away (fancy-regex runs under a backtrack limit).
#![no_main]

use enforcer::filter::translate::{Pattern, translate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (pat, hay) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let (Ok(pat), Ok(hay)) = (std::str::from_utf8(pat), std::str::from_utf8(hay)) else {
        return;
    };
    let t = translate(pat);
    for p in [Pattern::from_translated(pat, &t), Pattern::new_linear(pat)] {
        let Ok(p) = p else { continue };
        let mut caps = p.caps();
        if p.captures(hay, &mut caps) {
            for i in 0..p.names.len() {
                if let Some((s, e)) = caps.get(i) {
                    assert!(s <= e && e <= hay.len(), "group {i} out of the line");
                    let _ = &hay[s..e];
                }
            }
        }
        let mid = (0..=hay.len() / 2)
            .rev()
            .find(|&i| hay.is_char_boundary(i))
            .unwrap_or(0);
        let _ = p.captures_at(hay, mid, &mut caps);
        let _ = p.is_match(hay);
    }
});
