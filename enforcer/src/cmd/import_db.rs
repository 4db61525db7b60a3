//! `enforcer import-fail2ban-db FILE`: copies an existing fail2ban
//! installation's bans (with their original times) and log positions into
//! enforcer's database, so the daemon restores them on its next start.
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::ImportDbArgs;
use crate::store::Store;

pub fn run(a: ImportDbArgs) -> anyhow::Result<ExitCode> {
    let store =
        Store::open(&a.dbfile).with_context(|| format!("opening {}", a.dbfile.display()))?;
    let r = store
        .import_fail2ban_db(&a.file)
        .with_context(|| format!("importing {}", a.file.display()))?;
    if a.json {
        crate::outln!(
            "{}",
            serde_json::json!({
                "from": a.file, "into": a.dbfile, "jails": r.jails,
                "bans": r.bans, "current": r.current, "logs": r.logs,
            })
        );
    } else {
        crate::outln!(
            "imported from {}: {} jail(s), {} ban(s) ({} current), {} log position(s) into {}",
            a.file.display(),
            r.jails,
            r.bans,
            r.current,
            r.logs,
            a.dbfile.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::BanRecord;

    #[test]
    fn imports_into_the_named_database_and_fails_clearly() {
        let dir = tempfile::tempdir().unwrap();
        // A fail2ban-layout database (ours has the same schema).
        let src = dir.path().join("f2b.sqlite3");
        Store::open(&src)
            .unwrap()
            .add_ban(&BanRecord {
                jail: "sshd".into(),
                ip: "198.18.0.3".into(),
                time_of_ban: 2_000_000_000,
                bantime: 600,
                bancount: 1,
                data: serde_json::json!({}),
            })
            .unwrap();
        let into = dir.path().join("sub/enforcer.sqlite3");
        let args = |file| ImportDbArgs {
            file,
            dbfile: into.clone(),
            json: false,
        };
        assert_eq!(run(args(src.clone())).unwrap(), ExitCode::SUCCESS);
        let bans = Store::open(&into)
            .unwrap()
            .current_bans(None, 2_000_000_001, None)
            .unwrap();
        assert_eq!(bans.len(), 1);
        let err = run(args(dir.path().join("missing"))).unwrap_err();
        assert!(format!("{err:#}").contains("missing"), "{err:#}");
    }
}
