//! Scenario (issue 7, faults): the disk holding the daemon's database
//! (`dbfile` on a 2 MB tmpfs) fills up. Bans made meanwhile are still
//! enforced by XDP and the failed write is logged; once space returns, new
//! bans are stored again, and so are the refused ones (offered again once
//! a second), an unban made meanwhile among them; after a restart every
//! ban is still listed, and the lifted one is not. The store-level half is
//! `store_disk_full`.
use std::{
    io::Write,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use enforcer::store::Store;
use tests::{
    jailconf::JailConf,
    kill9,
    lab::Lab,
    suite::{self, Tally},
    traffic,
};

struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes zeros to `path` until the file system is full.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    for _ in 0..10_000 {
        if f.write_all(&chunk).and_then(|_| f.sync_all()).is_err() {
            return;
        }
    }
    panic!("the tmpfs never filled up");
}

fn stored(db: &Path) -> Vec<String> {
    let s = Store::open(db).expect("opening the database read side");
    s.current_bans(Some("sshd"), 0, None)
        .unwrap()
        .into_iter()
        .map(|b| b.ip)
        .collect()
}

#[test]
fn full_disk_for_the_db_keeps_bans_enforced_and_recovers() {
    if !tests::privileged("daemon_db_disk_full") {
        return;
    }
    let lab = Lab::new();
    let conf = JailConf::ours();
    let dbdir = conf.work.join("db");
    std::fs::create_dir_all(&dbdir).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&dbdir)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mount tmpfs");
    let _mount = Mount(dbdir.clone());
    let db = dbdir.join("enforcer.sqlite3");
    conf.write(
        "fail2ban.local",
        &format!(
            "[Definition]\nloglevel = INFO\nlogtarget = {}\ndbfile = {}\n",
            conf.log().display(),
            db.display()
        ),
    );
    let auth = conf.work.join("auth.log");
    std::fs::write(&auth, "").unwrap();
    conf.write(
        "jail.local",
        &format!(
            "[sshd]\nenabled = true\nlogpath = {}\nbantime = 2h\n",
            auth.display()
        ),
    );
    let args = ["--iface", &lab.p_banned.ifname, "--config", conf.dir_str()];
    let daemon = lab.daemon(&args);
    lab.paths().cli_ok(&["ban", "sshd", "198.18.7.1"]);
    assert_eq!(stored(&db), ["198.18.7.1"]);

    // The disk fills up; the attacker is banned meanwhile.
    let filler = dbdir.join("filler");
    fill(&filler);
    let attacker = lab.banned_v4().to_string();
    let mut during = vec![attacker.clone()];
    lab.paths().cli_ok(&["ban", "sshd", &attacker]);
    for i in 2..6 {
        let a = format!("198.18.7.{i}");
        lab.paths().cli_ok(&["ban", "sshd", &a]);
        during.push(a);
    }
    let _listener = lab
        .protected
        .run(|| std::net::TcpListener::bind(("::", 22)).expect("binding port 22"));
    let dst: SocketAddr = format!("{}:22", lab.p_banned.v4).parse().unwrap();
    assert!(
        !traffic::tcp_connects(&lab.banned, dst, Duration::from_secs(2)),
        "a ban made with the disk full is not enforced"
    );
    let log = std::fs::read_to_string(conf.log()).unwrap_or_default();
    assert!(
        log.lines()
            .any(|l| l.contains("ERROR") && l.contains("[sshd]") && l.contains("sqlite3")),
        "the failed write is logged: {log}"
    );
    let missed = during.iter().filter(|a| !stored(&db).contains(a)).count();
    // An unban meanwhile: the database cannot forget the ban yet (the
    // unban waits behind the refused bans).
    lab.paths().cli_ok(&["unban", "198.18.7.1"]);
    assert!(stored(&db).contains(&"198.18.7.1".to_string()));

    // Space returns: the next ban is stored again.
    std::fs::remove_file(&filler).unwrap();
    lab.paths().cli_ok(&["ban", "sshd", "198.18.7.9"]);
    assert!(
        stored(&db).contains(&"198.18.7.9".to_string()),
        "{:?}",
        stored(&db)
    );
    // ... and those it refused meanwhile, offered again once a second,
    // the unban among them.
    let mut tries = 0;
    while during.iter().any(|a| !stored(&db).contains(a))
        || stored(&db).contains(&"198.18.7.1".to_string())
    {
        tries += 1;
        assert!(tries < 100, "refused writes never made: {:?}", stored(&db));
        std::thread::sleep(Duration::from_millis(100));
    }

    // After a restart nothing is lost: the maps carry what the db missed.
    drop(daemon);
    let _daemon = lab.daemon(&args);
    let listed = kill9::listed(lab.paths());
    let mut all = vec!["198.18.7.9".to_string()];
    all.extend(during);
    let lost: Vec<_> = all.iter().filter(|a| !listed.contains_key(*a)).collect();
    assert!(
        !listed.contains_key("198.18.7.1"),
        "the ban lifted with the disk full came back: {listed:?}"
    );
    assert!(
        !traffic::tcp_connects(&lab.banned, dst, Duration::from_secs(2)),
        "enforced after the restart"
    );
    eprintln!("{missed} bans made with the disk full were not in the database");
    suite::report(
        "daemon_db_disk_full",
        Tally {
            payloads: all.len() as u64,
            faults: 1,
            bans_lost: lost.len() as u64,
        },
    );
    assert!(lost.is_empty(), "lost across the restart: {lost:?}");
}
