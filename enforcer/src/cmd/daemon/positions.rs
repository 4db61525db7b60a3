//! Owns where a jail's processed lines end: each file's offset (with its
//! first-line hash) and the journal's cursor and time. They go to the
//! store once a second and when the jail stops (fail2ban's `logs` table:
//! a restart resumes there), and a reloaded jail's new source starts
//! there, not at what was stored up to a second before.
use std::collections::HashMap;
use std::path::PathBuf;

use crate::source::{JailSource, Line};
use crate::store::{JournalPosition, LogPosition, Store};

#[derive(Debug, Default)]
pub struct Positions {
    /// Each file's position, and whether it moved since it was stored (a
    /// jail may read many files, few of them busy).
    files: HashMap<PathBuf, (LogPosition, bool)>,
    journal: Option<JournalPosition>,
    /// Whether any moved since they were last stored.
    moved: bool,
}

impl Positions {
    /// Notes that `line` is processed.
    pub fn note(&mut self, line: &Line) {
        if let Some((path, pos)) = line.log_position() {
            match self.files.get_mut(path) {
                Some(p) => *p = (pos, true),
                None => {
                    self.files.insert(path.to_path_buf(), (pos, true));
                }
            }
            self.moved = true;
        } else if let Some(c) = line.journal_cursor() {
            let j = self.journal.get_or_insert(JournalPosition {
                cursor: None,
                time: 0,
            });
            match &mut j.cursor {
                Some(s) => {
                    s.clear();
                    s.push_str(c);
                }
                None => j.cursor = Some(c.to_string()),
            }
            if let Some(t) = line.time {
                j.time = t as i64;
            }
            self.moved = true;
        }
    }

    /// Stores what moved since the last call (errors are logged).
    pub fn save(&mut self, store: Option<&Store>, jail: &str) {
        let Some(store) = store else {
            return;
        };
        if !std::mem::take(&mut self.moved) {
            return;
        }
        for (path, (pos, moved)) in &mut self.files {
            if std::mem::take(moved)
                && let Err(e) = store.set_log_position(jail, &path.to_string_lossy(), pos)
            {
                log::error!("[{jail}] {e}");
            }
        }
        if let Some(j) = &self.journal
            && let Err(e) = store.set_journal_position(jail, j)
        {
            log::error!("[{jail}] {e}");
        }
    }

    /// Makes `source` start where the processed lines end.
    pub fn resume(&self, source: &mut JailSource) {
        match source {
            JailSource::Files(c) => {
                for (path, (pos, _)) in &self.files {
                    c.positions.insert(path.clone(), pos.clone());
                }
            }
            JailSource::Journal(c) => {
                if let Some(j) = &self.journal {
                    c.cursor.clone_from(&j.cursor);
                    c.since = Some(c.since.map_or(j.time as f64, |s| s.max(j.time as f64)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::source::{FileMark, Origin, SourceId};

    fn line(origin: Origin, time: Option<f64>) -> Line {
        Line {
            source: SourceId(1),
            bytes: b"x".to_vec(),
            truncated: false,
            in_operation: true,
            time,
            origin,
        }
    }

    #[test]
    fn processed_lines_are_stored_and_resumed_from() {
        let store = Store::open_in_memory().unwrap();
        let mut p = Positions::default();
        let mark = Arc::new(FileMark {
            path: "/var/log/auth.log".into(),
            first_line_md5: "ab".into(),
        });
        for pos in [10, 20] {
            p.note(&line(
                Origin::File {
                    file: mark.clone(),
                    pos,
                },
                None,
            ));
        }
        for (c, t) in [("s=1;i=1", 100.0), ("s=1;i=2", 101.0)] {
            p.note(&line(Origin::Journal { cursor: c.into() }, Some(t)));
        }
        p.save(Some(&store), "sshd");
        assert_eq!(
            store.log_positions("sshd").unwrap()[&PathBuf::from("/var/log/auth.log")].pos,
            20
        );
        let j = store.journal_position("sshd").unwrap().unwrap();
        assert_eq!((j.cursor.as_deref(), j.time), (Some("s=1;i=2"), 101));

        // only what moved is written again
        let other = LogPosition {
            first_line_md5: "ab".into(),
            pos: 99,
        };
        store
            .set_log_position("sshd", "/var/log/auth.log", &other)
            .unwrap();
        p.note(&line(
            Origin::Journal {
                cursor: "s=1;i=3".into(),
            },
            Some(102.0),
        ));
        p.save(Some(&store), "sshd");
        assert_eq!(
            store.log_positions("sshd").unwrap()[&PathBuf::from("/var/log/auth.log")].pos,
            99,
            "the file did not move: not written"
        );

        // a source built from older stored positions resumes at the new ones
        let mut files = crate::source::FileSourceConfig::new(SourceId(2), "sshd", vec![]);
        files.positions.insert(
            "/var/log/auth.log".into(),
            LogPosition {
                first_line_md5: "ab".into(),
                pos: 5,
            },
        );
        let mut src = JailSource::Files(files);
        p.resume(&mut src);
        let JailSource::Files(f) = src else {
            unreachable!()
        };
        assert_eq!(f.positions[&PathBuf::from("/var/log/auth.log")].pos, 20);
    }

    #[test]
    fn nothing_is_written_while_nothing_moved() {
        let store = Store::open_in_memory().unwrap();
        let mut p = Positions::default();
        p.save(Some(&store), "sshd");
        assert!(store.journal_position("sshd").unwrap().is_none());
        p.note(&line(
            Origin::Journal {
                cursor: "s=1;i=9".into(),
            },
            Some(5.0),
        ));
        p.save(None, "sshd");
        p.save(Some(&store), "sshd");
        assert!(store.journal_position("sshd").unwrap().is_some());
    }
}
