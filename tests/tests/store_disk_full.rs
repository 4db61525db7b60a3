//! A full disk is an error the daemon can report, never a panic, and the
//! bans stored before it stay readable. Uses a tiny tmpfs (root only).
use std::path::{Path, PathBuf};
use std::process::Command;

use enforcer::store::{BanRecord, Store, StoreError};

struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn mount_tmpfs(dir: &Path, size: &str) -> Mount {
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mount tmpfs on {}", dir.display());
    Mount(dir.to_path_buf())
}

#[test]
fn disk_full_is_an_error_and_earlier_bans_survive() {
    if !tests::privileged("store_disk_full") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let _m = mount_tmpfs(dir.path(), "512k");
    let store = Store::open(&dir.path().join("enforcer.sqlite3")).unwrap();
    let big = "x".repeat(4000);
    let mut stored = 0u32;
    let err = loop {
        let ban = BanRecord {
            jail: "sshd".into(),
            ip: format!("198.18.{}.{}", stored / 250, stored % 250),
            time_of_ban: 2_000_000_000,
            bantime: 600,
            bancount: 1,
            data: serde_json::json!({ "matches": [big] }),
        };
        match store.add_ban(&ban) {
            Ok(()) => stored += 1,
            Err(e) => break e,
        }
        assert!(stored < 10_000, "512 KiB never filled up");
    };
    assert!(matches!(err, StoreError::Sqlite { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("enforcer.sqlite3"),
        "the error names the file: {msg}"
    );
    assert!(stored > 0);
    let bans = store
        .current_bans(Some("sshd"), 2_000_000_001, None)
        .unwrap();
    let tally = tests::suite::Tally {
        payloads: u64::from(stored),
        faults: 1,
        bans_lost: u64::from(stored).saturating_sub(bans.len() as u64),
    };
    tests::suite::report("store_disk_full", tally);
    assert_eq!(
        bans.len() as u32,
        stored,
        "every ban reported stored is readable"
    );
}
