//! Fuzzes the whole config reader: the input is split at NUL bytes into
//! jail.conf, jail.local, filter.d/sshd.conf, action.d/drop.conf and
//! fail2ban.conf of an in-memory tree, which is then loaded with every jail
//! enabled. Any input must give a Config or errors, never a panic or a hang.
#![no_main]

use std::path::Path;

use enforcer::config::{self, LoadOptions, store::MemFs};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 5] = [
    "jail.conf",
    "jail.local",
    "filter.d/sshd.conf",
    "action.d/drop.conf",
    "fail2ban.conf",
];

fuzz_target!(|data: &[u8]| {
    let files: Vec<(&str, &[u8])> = NAMES.iter().copied().zip(data.split(|&b| b == 0)).collect();
    let root = Path::new("/fuzz");
    let fs = MemFs::new(root, &files);
    let opts = LoadOptions { force_enable: true };
    if let Err(errs) = config::load_from(&fs, root, &opts) {
        for e in errs {
            let _ = e.to_string();
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = config::parse_time(text);
        let _ = config::tags::extract_options(text);
        let _ = config::tags::split_with_options(text);
    }
});
