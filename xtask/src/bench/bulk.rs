//! `cargo xtask bench bulk`: how long it takes to put 1M bans in force and
//! to lift them all.
//! - enforcer: 1M bans over the control socket into a fresh daemon (20k
//!   per request) and `unban --all`; then the issue's case: the store
//!   holds 1M bans of a configured jail, the daemon starts against empty
//!   maps, and the time until it answers with all of them in the XDP maps;
//!   a restart with them pinned; `unban --all`;
//! - fail2ban-server with the stock nftables action's commands (an inet
//!   table, a set per jail, `nft add element` per ban), bans through
//!   `fail2ban-client banip`, capped (each ban forks nft), then
//!   `unban --all`.
use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::Result;
use serde_json::{Value, json};

use super::{
    enforcer::{Daemon, run_dir, write_config},
    f2b::F2bServer,
    netns::{DST_IF, Topology},
    peers::filler_addr,
    sys::{check_interrupt, run},
};

#[derive(Debug, Clone, clap::Args)]
pub struct BulkArgs {
    /// Bans to load into enforcer.
    #[arg(long, default_value_t = 1_000_000)]
    pub count: usize,
    /// Bans to load into fail2ban (it forks nft per ban).
    #[arg(long, default_value_t = 2_000)]
    pub f2b_count: usize,
    /// Give up on fail2ban's loading after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub f2b_cap_secs: u64,
    /// Also time the restore from the store with this (older) enforcer
    /// binary, on the same database right after the measured one: a
    /// before/after in one run.
    #[arg(long)]
    pub baseline: Option<std::path::PathBuf>,
}

impl BulkArgs {
    pub fn default_args() -> BulkArgs {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            a: BulkArgs,
        }
        P::parse_from(["bulk"]).a
    }
}

fn nft_count(ns: &str) -> usize {
    run(
        "ip",
        &[
            "netns",
            "exec",
            ns,
            "nft",
            "list",
            "set",
            "inet",
            "f2b-table",
            "addr6-set-bulk",
        ],
    )
    .map(|s| s.matches("2001:db8:").count())
    .unwrap_or(0)
}

/// Fills enforcer's database (fail2ban's v4 schema, created by the daemon)
/// with `targets` banned in `jail` for `bantime` s, as fail2ban would have
/// left it: one `bans` and one `bips` row each, the address in its
/// canonical spelling (fail2ban stores `str(IPAddr)`). Python's sqlite3,
/// since the bench must not link SQLite; not timed.
fn fill_store(db: &Path, jail: &str, targets: &[String], bantime: i64) -> Result<()> {
    const FILL: &str = r#"
import ipaddress, sqlite3, sys, time
db, jail, bantime = sys.argv[1], sys.argv[2], int(sys.argv[3])
ips = [str(ipaddress.ip_address(ip)) for ip in sys.stdin.read().split()]
now = int(time.time())
c = sqlite3.connect(db)
c.execute("INSERT OR IGNORE INTO jails(name, enabled) VALUES(?, 1)", (jail,))
c.executemany("INSERT INTO bans(jail, ip, timeofban, bantime, bancount, data) VALUES(?, ?, ?, ?, 1, ?)",
              ((jail, ip, now, bantime, '{"failures": 1}') for ip in ips))
c.executemany("INSERT OR REPLACE INTO bips(ip, jail, timeofban, bantime, bancount, data) VALUES(?, ?, ?, ?, 1, ?)",
              ((ip, jail, now, bantime, '{"failures": 1}') for ip in ips))
c.commit()
print(c.execute("SELECT count(*) FROM bips WHERE jail = ?", (jail,)).fetchone()[0])
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", FILL])
        .arg(db)
        .arg(jail)
        .arg(bantime.to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("piped stdin");
        for t in targets {
            writeln!(stdin, "{t}")?;
        }
    }
    let out = child.wait_with_output()?;
    let n: usize = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    if !out.status.success() || n != targets.len() {
        anyhow::bail!("filling {}: {n} of {} rows", db.display(), targets.len());
    }
    Ok(())
}

fn enforcer_rows(
    bin: &Path,
    baseline: Option<&Path>,
    topo: &Topology,
    targets: &[String],
    rows: &mut Vec<Value>,
    notes: &mut Vec<String>,
) -> Result<()> {
    const BANTIME: i64 = 86_400;
    let dir = run_dir();
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("config");
    let log = dir.join("bulk.log");
    std::fs::write(&log, "")?;
    let jail_local = format!(
        "[bulk]\nenabled = true\nfilter = sshd\nlogpath = {}\nbackend = polling\nbanaction = xdp\nbantime = {BANTIME}\n",
        log.display()
    );
    write_config(bin, &config, &dir, &jail_local)?;
    let cfg = config.to_string_lossy().into_owned();
    let extra = ["--config", cfg.as_str()];
    let ns = Some(topo.dst.as_str());

    // 1. Over the control socket into a jail that is not configured (the
    //    daemon's own book; each request is committed to the store).
    let mut daemon = Daemon::start(bin, ns, Some(DST_IF), &extra)?;
    let ctl_load = daemon.ban_all_for("bulk-ctl", targets, Some(BANTIME))?;
    let in_maps = daemon.count_bans()?;
    let ctl_unban = daemon.unban_all()?;
    eprintln!(
        "bench bulk: enforcer control socket: {} bans in {:.2} s ({in_maps} in the maps), unban --all {:.2} s",
        targets.len(),
        ctl_load.as_secs_f64(),
        ctl_unban.as_secs_f64()
    );
    daemon.stop();
    rows.push(json!({
        "peer": "enforcer", "bans": targets.len(), "in_maps": in_maps,
        "how": "control socket, 20k targets per request (each committed to the store)",
        "load_secs": ctl_load.as_secs_f64(),
        "unban_all_secs": ctl_unban.as_secs_f64(),
    }));

    // 2. Restore from the store at start, into empty maps: the program is
    //    unloaded (pins gone), the database holds the jail's bans.
    daemon.unload();
    let db = dir.join("enforcer.sqlite3");
    fill_store(&db, "bulk", targets, BANTIME)?;
    let filled = dir.join("filled.sqlite3");
    if baseline.is_some() {
        std::fs::copy(&db, &filled)?;
    }
    let start = Instant::now();
    let mut daemon2 = Daemon::start(bin, ns, Some(DST_IF), &extra)?;
    let restore = start.elapsed();
    let restored = daemon2.count_bans()?;
    eprintln!(
        "bench bulk: enforcer restore of {} from the store at start: ready in {:.2} s, {restored} in the maps",
        targets.len(),
        restore.as_secs_f64()
    );
    let (banned, listed) = daemon2.banned_cli()?;
    eprintln!(
        "bench bulk: enforcer banned (the CLI) listed {listed} in {:.2} s",
        banned.as_secs_f64()
    );
    // 3. A restart with the bans both pinned and in the store.
    daemon2.stop();
    let start = Instant::now();
    let daemon3 = Daemon::start(bin, ns, Some(DST_IF), &extra)?;
    let restart = start.elapsed();
    let again = daemon3.count_bans()?;
    let unban = daemon3.unban_all()?;
    let left = daemon3.count_bans()?;
    eprintln!(
        "bench bulk: enforcer restart with them pinned {:.2} s ({again} in the maps), unban --all {:.2} s ({left} left)",
        restart.as_secs_f64(),
        unban.as_secs_f64()
    );
    rows.push(json!({
        "peer": "enforcer", "bans": targets.len(), "in_maps": restored,
        "how": "restore from the store at start (jail with banaction xdp, fail2ban v4 db), empty maps: start until ready",
        "load_secs": restore.as_secs_f64(),
        "restart_secs": restart.as_secs_f64(),
        "banned_cli_secs": banned.as_secs_f64(),
        "banned_cli_listed": listed,
        "unban_all_secs": unban.as_secs_f64(),
        "left_after_unban": left,
    }));
    notes.push(format!(
        "enforcer: load = process start until the control socket answers (program loaded and attached, every jail started, its bans restored into the XDP maps); {restored} of {} were in the maps then; restart = the same with the bans still pinned (merged, not rewritten one by one); `banned` = the `enforcer banned` command after the restore, to the end of its listing ({listed} lines)",
        targets.len()
    ));
    // 4. The same restore by the baseline binary: the same rows, empty maps.
    let mut daemon3 = daemon3;
    let mut last = None;
    if let Some(base) = baseline {
        daemon3.unload();
        for ext in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(dir.join(format!("enforcer.sqlite3{ext}")));
        }
        std::fs::copy(&filled, &db)?;
        let start = Instant::now();
        let daemon4 = Daemon::start(base, ns, Some(DST_IF), &extra)?;
        let took = start.elapsed();
        let n = daemon4.count_bans()?;
        let (base_banned, base_listed) = daemon4.banned_cli()?;
        eprintln!(
            "bench bulk: baseline {} restore of {}: ready in {:.2} s, {n} in the maps; its banned listed {base_listed} in {:.2} s",
            base.display(),
            targets.len(),
            took.as_secs_f64(),
            base_banned.as_secs_f64()
        );
        rows.push(json!({
            "peer": "enforcer (baseline)", "bans": targets.len(), "in_maps": n,
            "how": format!("the same restore by the baseline binary {}, right after", base.display()),
            "load_secs": took.as_secs_f64(),
            "banned_cli_secs": base_banned.as_secs_f64(),
            "banned_cli_listed": base_listed,
        }));
        notes.push(format!(
            "baseline: {} restored the same {} rows into empty maps in {:.2} s; the measured binary took {:.2} s ({:.1}x)",
            base.display(),
            targets.len(),
            took.as_secs_f64(),
            restore.as_secs_f64(),
            took.as_secs_f64() / restore.as_secs_f64().max(1e-9)
        ));
        last = Some(daemon4);
    }
    // The guards share one run directory: the last one cleans up.
    std::mem::forget(daemon);
    std::mem::forget(daemon2);
    match last {
        Some(d) => {
            std::mem::forget(daemon3);
            drop(d);
        }
        None => drop(daemon3),
    }
    Ok(())
}

pub fn run_bulk(args: &BulkArgs, enforcer: Option<&Path>) -> Result<Value> {
    let topo = Topology::create()?;
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let targets: Vec<String> = (0..args.count).map(filler_addr).collect();

    let res = super::enforcer::binary(enforcer).and_then(|bin| {
        enforcer_rows(
            &bin,
            args.baseline.as_deref(),
            &topo,
            &targets,
            &mut rows,
            &mut notes,
        )
    });
    if let Err(e) = res {
        check_interrupt()?;
        notes.push(format!("enforcer unavailable: {e:#}"));
    }

    let f2b = F2bServer::start(Some(&topo.dst))?;
    f2b.add_jail("bulk", "polling")?;
    f2b.client(&["set", "bulk", "addaction", "nftables"])?;
    let set = "addr6-set-bulk";
    let props = [
        (
            "actionstart",
            format!(
                "nft add table inet f2b-table; nft -- add chain inet f2b-table f2b-chain {{ type filter hook input priority -1 \\; }}; nft add set inet f2b-table {set} {{ type ipv6_addr\\; }}; nft add rule inet f2b-table f2b-chain meta l4proto {{ tcp, udp }} ip6 saddr @{set} drop"
            ),
        ),
        ("actionstop", "nft delete table inet f2b-table".to_string()),
        (
            "actionban",
            format!("nft add element inet f2b-table {set} {{ <ip> }}"),
        ),
        (
            "actionunban",
            format!("nft delete element inet f2b-table {set} {{ <ip> }}"),
        ),
    ];
    for (k, v) in &props {
        f2b.client(&["set", "bulk", "action", "nftables", k, v])?;
    }
    f2b.start_jail("bulk")?;
    let f2b_targets = &targets[..args.f2b_count.min(targets.len())];
    let (done, took) =
        f2b.ban_capped("bulk", f2b_targets, Duration::from_secs(args.f2b_cap_secs))?;
    // Bans are queued to fail2ban's action thread: wait until nft has them.
    let deadline = Instant::now() + Duration::from_secs(args.f2b_cap_secs);
    let start_wait = Instant::now();
    let mut in_set = nft_count(&topo.dst);
    while in_set < done && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        in_set = nft_count(&topo.dst);
    }
    let load = took + start_wait.elapsed();
    eprintln!(
        "bench bulk: fail2ban banned {done} ({in_set} in the nft set) in {:.2} s",
        load.as_secs_f64()
    );
    let start = Instant::now();
    f2b.client(&["unban", "--all"])?;
    let mut left = nft_count(&topo.dst);
    while left > 0 && start.elapsed() < Duration::from_secs(args.f2b_cap_secs) {
        std::thread::sleep(Duration::from_millis(500));
        left = nft_count(&topo.dst);
    }
    let unban = start.elapsed();
    eprintln!(
        "bench bulk: fail2ban unban --all {:.2} s ({left} left)",
        unban.as_secs_f64()
    );
    if done < args.f2b_count {
        notes.push(format!(
            "fail2ban: stopped at {done} of {} bans after the {} s cap",
            args.f2b_count, args.f2b_cap_secs
        ));
    }
    notes.push(format!(
        "fail2ban loads {} bans here, not 1M: it forks `nft add element` once per ban; compare bans/s",
        args.f2b_count
    ));
    rows.push(json!({
        "peer": "fail2ban-nftables", "bans": done, "in_nft_set": in_set,
        "load_secs": load.as_secs_f64(), "how": "fail2ban-client banip (2000 per call), nftables action commands",
        "unban_all_secs": unban.as_secs_f64(), "left_after_unban": left,
    }));
    drop(f2b);
    Ok(json!({ "rows": rows, "notes": notes }))
}
