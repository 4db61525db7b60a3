//! Tests of the Actions manager, by concern: [`commands`] (lifecycle order,
//! bans and unbans, reload without a ban/unban storm, family variants,
//! check/repair, timeouts, norestored/prolong), [`xdp_action`] (the XDP
//! action through a fake data plane), [`flavors`] (status) and [`stored`]
//! (the store). The helpers here are theirs.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::*;
use crate::jail::Ticket;

mod commands;
mod flavors;
mod stored;
mod xdp_action;

struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("enforcer-act-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn log(&self) -> PathBuf {
        self.0.join("log")
    }
    fn read(&self) -> Vec<String> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }
    fn clear(&self) {
        let _ = std::fs::remove_file(self.log());
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn echo_action(log: &Path, tag: &str) -> ActionSpec {
    let l = log.display();
    let mut p = BTreeMap::new();
    for op in ["start", "stop", "ban", "unban", "flush-unused", "reload"] {
        if op == "flush-unused" {
            continue;
        }
        let what = if op.ends_with("ban") {
            format!("{op} {tag} <ip>")
        } else {
            format!("{op} {tag}")
        };
        p.insert(format!("action{op}"), format!("echo \"{what}\" >> {l}"));
    }
    ActionSpec::Command {
        file: format!("echo-{tag}"),
        properties: p,
        family: BTreeMap::new(),
    }
}

const NOW: f64 = 1_800_000_000.0;

fn ticket(ip: &str) -> Ticket {
    let mut t = Ticket::new(ip, ip.parse().ok(), NOW);
    t.failures = 3;
    t.matches = vec!["m1".into()];
    t
}
