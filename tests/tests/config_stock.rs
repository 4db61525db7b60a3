//! fail2ban's whole stock tree (../shared/fail2ban/config) with every jail
//! enabled reads without a problem, and within a generous time bound: the
//! figure is about 35 ms of CPU for a release build; the bound only catches
//! a gross regression, also with a debug build on a loaded machine.
use std::process::Command;

#[test]
fn stock_tree_every_jail_enabled_reads_cleanly_and_fast() {
    let stock = tests::shared_dir().join("fail2ban/config");
    assert!(stock.is_dir(), "{} is missing", stock.display());
    let mut best = f64::MAX;
    let mut jails = 0;
    for _ in 0..3 {
        let out = Command::new(tests::enforcer_bin())
            .args(["config", "check", "--all-jails", "--config"])
            .arg(&stock)
            .output()
            .expect("running enforcer");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // "DIR: OK, N jails, read in X ms (Y ms CPU)"
        let first = stdout.lines().next().expect("a summary line");
        let words: Vec<&str> = first.split_whitespace().collect();
        jails = words[2].parse::<usize>().expect("jail count");
        let ms: f64 = words[words.len() - 3]
            .trim_start_matches('(')
            .parse()
            .expect("CPU milliseconds");
        best = best.min(ms);
    }
    eprintln!("stock tree: {jails} jails read in {best:.1} ms of CPU (best of 3)");
    let conf = std::fs::read_to_string(stock.join("jail.conf")).expect("jail.conf");
    let sections = conf
        .lines()
        .filter(|l| {
            l.starts_with('[') && !l.starts_with("[INCLUDES]") && !l.starts_with("[DEFAULT]")
        })
        .count();
    assert_eq!(jails, sections, "every jail of the stock jail.conf");
    assert!(best < 2000.0, "reading the stock tree took {best:.1} ms");
}
