//! Owns turning a jail's configuration ([`JailDef`]) and its stored
//! positions into a running source: `backend`, `logpath`, `logencoding`,
//! `journalmatch` (the jail's, else its filter's), and where to start.
use std::collections::HashMap;

use super::backend::Backend;
use super::{
    Encoding, FileSource, FileSourceConfig, JournalSource, JournalSourceConfig, LineSender,
    SourceError, SourceHandle, SourceId,
};
use crate::config::JailDef;
use crate::store::Store;

/// A jail's source, configured but not started.
#[derive(Debug, Clone)]
pub enum JailSource {
    Files(FileSourceConfig),
    Journal(JournalSourceConfig),
}

impl JailSource {
    /// Builds the source of `jail`. Stored positions (file offsets, journal
    /// cursor) come from `store`; without a cursor the journal is read from
    /// `max(stored time, now - findtime)` as fail2ban does. A file backend
    /// whose logpath matches no file is an error, as in fail2ban ("Have not
    /// found any log file").
    pub fn for_jail(
        id: SourceId,
        jail: &JailDef,
        store: Option<&Store>,
        now: f64,
    ) -> Result<JailSource, SourceError> {
        let encoding = Encoding::parse(&jail.logencoding)?;
        match Backend::parse(&jail.backend)? {
            Backend::Files(backend) => {
                if super::files::expand(&jail.logpath)?.is_empty() {
                    return Err(SourceError::Glob(
                        jail.logpath.join(" "),
                        format!("have not found any log file for the {} jail", jail.name),
                    ));
                }
                let mut cfg = FileSourceConfig::new(id, &jail.name, jail.logpath.clone());
                cfg.backend = backend;
                cfg.encoding = encoding;
                if let Some(s) = store {
                    cfg.positions = s.log_positions(&jail.name).map_err(store_err)?;
                }
                Ok(JailSource::Files(cfg))
            }
            Backend::Systemd(options) => {
                let mut cfg = JournalSourceConfig::new(id, &jail.name, options);
                cfg.encoding = encoding;
                cfg.matches = if jail.journalmatch.is_empty() {
                    jail.filter.journalmatch.clone()
                } else {
                    jail.journalmatch.clone()
                };
                let stored = match store {
                    Some(s) => s.journal_position(&jail.name).map_err(store_err)?,
                    None => None,
                };
                let from = now - jail.findtime.max(0) as f64;
                cfg.since = Some(stored.as_ref().map_or(from, |p| (p.time as f64).max(from)));
                cfg.cursor = stored.and_then(|p| p.cursor);
                Ok(JailSource::Journal(cfg))
            }
        }
    }

    /// Starts the reader; lines go to `tx`.
    pub fn spawn(self, tx: LineSender) -> Result<SourceHandle, SourceError> {
        match self {
            JailSource::Files(c) => FileSource::spawn(c, tx),
            JailSource::Journal(c) => JournalSource::spawn(c, tx),
        }
    }
}

fn store_err(e: crate::store::StoreError) -> SourceError {
    SourceError::Store(e.to_string())
}

impl Store {
    /// Every stored file position of `jail`, keyed by path (for
    /// [`FileSourceConfig::positions`]).
    pub fn log_positions(
        &self,
        jail: &str,
    ) -> Result<HashMap<std::path::PathBuf, crate::store::LogPosition>, crate::store::StoreError>
    {
        let mut out = HashMap::new();
        for p in self.log_paths(jail)? {
            if p == crate::store::logs::JOURNAL_NAME {
                continue;
            }
            if let Some(pos) = self.log_position(jail, &p)? {
                out.insert(p.into(), pos);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{JournalPosition, LogPosition};

    fn jail(backend: &str, logpath: Vec<String>) -> JailDef {
        JailDef {
            name: "sshd".into(),
            enabled: true,
            filter: crate::config::FilterDef {
                name: "sshd".into(),
                prefregex: None,
                failregex: vec!["^fail from <HOST>$".into()],
                ignoreregex: vec![],
                maxlines: 1,
                datepattern: None,
                journalmatch: vec![],
                options: Default::default(),
                source: "filter.d/sshd.conf".into(),
            },
            logpath,
            logencoding: "auto".into(),
            backend: backend.into(),
            journalmatch: vec![],
            maxretry: 5,
            maxmatches: 5,
            findtime: 600,
            bantime: 600,
            bantime_increment: false,
            bantime_factor: 1.0,
            bantime_formula: None,
            bantime_multipliers: None,
            bantime_maxtime: None,
            bantime_rndtime: None,
            bantime_overalljails: false,
            ignoreip: vec![],
            ignoreself: true,
            ignorecommand: None,
            ignorecache: None,
            usedns: "warn".into(),
            actions: vec![],
            options: Default::default(),
        }
    }

    #[test]
    fn file_jail_gets_backend_encoding_and_stored_positions() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("auth.log");
        std::fs::write(&log, "x\n").unwrap();
        let store = Store::open_in_memory().unwrap();
        let pos = LogPosition {
            first_line_md5: "ab".into(),
            pos: 7,
        };
        store
            .set_log_position("sshd", &log.to_string_lossy(), &pos)
            .unwrap();
        let mut j = jail("polling", vec![log.display().to_string()]);
        j.logencoding = "latin-1".into();
        let JailSource::Files(c) =
            JailSource::for_jail(SourceId(1), &j, Some(&store), 0.0).unwrap()
        else {
            panic!("files expected")
        };
        assert_eq!(c.backend, super::super::FileBackend::Polling);
        assert_eq!(c.encoding, Encoding::Latin1);
        assert_eq!(c.positions.get(&log), Some(&pos));

        let missing = jail(
            "auto",
            vec![dir.path().join("nope*.log").display().to_string()],
        );
        let err = JailSource::for_jail(SourceId(1), &missing, None, 0.0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("have not found any log file"), "{err}");
        assert!(JailSource::for_jail(SourceId(1), &jail("bogus", vec![]), None, 0.0).is_err());
    }

    #[test]
    fn journal_jail_starts_after_cursor_or_findtime() {
        let store = Store::open_in_memory().unwrap();
        let mut j = jail("systemd[journalpath=/run/log/journal]", vec![]);
        j.filter.journalmatch = vec![
            "_SYSTEMD_UNIT=ssh.service".into(),
            "+".into(),
            "_COMM=sshd".into(),
        ];
        let JailSource::Journal(c) =
            JailSource::for_jail(SourceId(2), &j, Some(&store), 10_000.0).unwrap()
        else {
            panic!("journal expected")
        };
        assert_eq!(c.since, Some(9_400.0));
        assert_eq!(c.cursor, None);
        assert_eq!(c.matches, j.filter.journalmatch);
        store
            .set_journal_position(
                "sshd",
                &JournalPosition {
                    cursor: Some("s=1;i=2".into()),
                    time: 9_900,
                },
            )
            .unwrap();
        j.journalmatch = vec!["_COMM=sshd-session".into()];
        let JailSource::Journal(c) =
            JailSource::for_jail(SourceId(2), &j, Some(&store), 10_000.0).unwrap()
        else {
            panic!("journal expected")
        };
        assert_eq!(
            (c.since, c.cursor.as_deref()),
            (Some(9_900.0), Some("s=1;i=2"))
        );
        assert_eq!(c.matches, ["_COMM=sshd-session"]);
    }
}
