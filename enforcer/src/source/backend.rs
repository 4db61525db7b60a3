//! Owns the jail's `backend` option, with fail2ban's names: `auto`,
//! `pyinotify` (and `inotify`), `gamin` (gone from fail2ban; inotify here),
//! `polling`, and `systemd[journalpath=…, journalfiles=…, namespace=…,
//! journalflags=…]`.
use std::path::PathBuf;

use super::SourceError;

/// How files are watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileBackend {
    /// inotify when it can be set up, else polling.
    Auto,
    /// inotify; refuse to start without it.
    Inotify,
    /// stat the files every poll interval.
    Polling,
}

/// Which journal files to read (fail2ban's `journal.Reader` arguments).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JournalOptions {
    /// `journalpath`: a directory of journal files.
    pub path: Option<PathBuf>,
    /// `journalfiles`: globs of journal files (space or comma separated), expanded.
    pub files: Vec<String>,
    /// `namespace`: a journald namespace.
    pub namespace: Option<String>,
    /// `journalflags`: sd_journal_open flags; fail2ban's default is 4
    /// (SD_JOURNAL_SYSTEM) when neither path nor files is given.
    pub flags: Option<i32>,
}

/// A parsed `backend` option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Files(FileBackend),
    Systemd(JournalOptions),
}

impl Backend {
    /// Parses a `backend` value.
    pub fn parse(value: &str) -> Result<Backend, SourceError> {
        let v = value.trim();
        let (name, args) = match v.find('[') {
            Some(i) if v.ends_with(']') => (v[..i].trim(), Some(&v[i + 1..v.len() - 1])),
            Some(_) => return Err(SourceError::Backend(v.into(), "unbalanced '['".into())),
            None => (v, None),
        };
        let bad = |what: &str| SourceError::Backend(v.into(), what.into());
        let file = match name.to_ascii_lowercase().as_str() {
            "auto" => Some(FileBackend::Auto),
            "pyinotify" | "inotify" | "gamin" => Some(FileBackend::Inotify),
            "polling" => Some(FileBackend::Polling),
            "systemd" => None,
            _ => {
                return Err(bad(
                    "unknown backend (use auto, pyinotify, polling, gamin or systemd)",
                ));
            }
        };
        let opts = split_options(args.unwrap_or("")).map_err(|e| bad(&e))?;
        if let Some(f) = file {
            if let Some((k, _)) = opts.first() {
                return Err(bad(&format!(
                    "option '{k}' is only for the systemd backend"
                )));
            }
            return Ok(Backend::Files(f));
        }
        let mut j = JournalOptions::default();
        for (k, val) in opts {
            match k.as_str() {
                "journalpath" => j.path = Some(PathBuf::from(val)),
                "journalfiles" => j.files.extend(
                    val.split(|c: char| c == ',' || c.is_whitespace())
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                ),
                "namespace" => j.namespace = Some(val),
                "journalflags" => {
                    j.flags = Some(
                        val.trim()
                            .parse()
                            .map_err(|_| bad("journalflags must be an integer"))?,
                    )
                }
                other => return Err(bad(&format!("unknown systemd option '{other}'"))),
            }
        }
        Ok(Backend::Systemd(j))
    }
}

/// Splits `k=v, k2="v, 2"` into pairs; quotes (single or double) are removed.
fn split_options(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut parts = Vec::new();
    for c in s.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == ',' => parts.push(std::mem::take(&mut cur)),
            None => cur.push(c),
        }
    }
    if quote.is_some() {
        return Err("unterminated quote".into());
    }
    parts.push(cur);
    for p in parts {
        if p.trim().is_empty() {
            continue;
        }
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| format!("'{}' is not key=value", p.trim()))?;
        out.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail2ban_names() {
        assert_eq!(
            Backend::parse("auto").unwrap(),
            Backend::Files(FileBackend::Auto)
        );
        assert_eq!(
            Backend::parse("pyinotify").unwrap(),
            Backend::Files(FileBackend::Inotify)
        );
        assert_eq!(
            Backend::parse("gamin").unwrap(),
            Backend::Files(FileBackend::Inotify)
        );
        assert_eq!(
            Backend::parse(" Polling ").unwrap(),
            Backend::Files(FileBackend::Polling)
        );
        assert_eq!(
            Backend::parse("systemd").unwrap(),
            Backend::Systemd(JournalOptions::default())
        );
        assert!(Backend::parse("magic").is_err());
        assert!(Backend::parse("polling[journalpath=/x]").is_err());
    }

    #[test]
    fn systemd_options() {
        let b = Backend::parse(
            r#"systemd[journalpath="/var/log/journal", journalfiles='/a/*.journal /b.journal', namespace=web, journalflags=1]"#,
        )
        .unwrap();
        assert_eq!(
            b,
            Backend::Systemd(JournalOptions {
                path: Some("/var/log/journal".into()),
                files: vec!["/a/*.journal".into(), "/b.journal".into()],
                namespace: Some("web".into()),
                flags: Some(1),
            })
        );
        assert!(Backend::parse("systemd[bogus=1]").is_err());
        assert!(Backend::parse("systemd[journalflags=x]").is_err());
        assert!(Backend::parse("systemd[journalpath=\"/x]").is_err());
        assert!(Backend::parse("systemd[journalpath").is_err());
    }
}
