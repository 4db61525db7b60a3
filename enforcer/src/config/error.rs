//! Owns [`ConfigError`], the one error type of the config room, and [`Loc`],
//! the file:line every value carries so that an error can point at it.
use std::{
    fmt,
    path::{Path, PathBuf},
    sync::Arc,
};

/// Where a value (or a section header) was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    pub file: Arc<Path>,
    /// 1-based; 0 when the problem concerns the file as a whole.
    pub line: u32,
}

impl Loc {
    pub fn new(file: &Arc<Path>, line: u32) -> Loc {
        Loc {
            file: file.clone(),
            line,
        }
    }

    /// A location for a whole file (no line).
    pub fn file(path: &Path) -> Loc {
        Loc {
            file: Arc::from(path),
            line: 0,
        }
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{}:{}", self.file.display(), self.line)
        }
    }
}

/// A problem in a configuration tree. Displays as
/// `FILE:LINE: option 'x' in [sect]: what is wrong` (the option and section
/// parts are left out when they do not apply).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: u32,
    pub section: Option<String>,
    pub option: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        f.write_str(": ")?;
        match (&self.option, &self.section) {
            (Some(o), Some(s)) => write!(f, "option '{o}' in [{s}]: ")?,
            (Some(o), None) => write!(f, "option '{o}': ")?,
            (None, Some(s)) => write!(f, "[{s}]: ")?,
            (None, None) => {}
        }
        f.write_str(&self.message)
    }
}

impl ConfigError {
    /// An error at `loc`, not tied to an option.
    pub fn at(loc: &Loc, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: loc.file.to_path_buf(),
            line: loc.line,
            section: None,
            option: None,
            message: message.into(),
        }
    }

    /// An error about option `option` of section `section`, written at `loc`.
    pub fn option(
        loc: &Loc,
        section: &str,
        option: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: loc.file.to_path_buf(),
            line: loc.line,
            section: Some(section.to_string()),
            option: Some(option.to_string()),
            message: message.into(),
        }
    }

    /// Names the option and section unless the error already does.
    pub fn in_option(mut self, section: &str, option: &str) -> ConfigError {
        if self.option.is_none() {
            self.option = Some(option.to_string());
            self.section = Some(section.to_string());
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_line_option_and_section() {
        let loc = Loc::new(&Arc::from(Path::new("/etc/f/jail.local")), 7);
        let e = ConfigError::option(&loc, "sshd", "bantime", "not a time: 'x'");
        assert_eq!(
            e.to_string(),
            "/etc/f/jail.local:7: option 'bantime' in [sshd]: not a time: 'x'"
        );
        let e = ConfigError::at(&loc, "bad line");
        assert_eq!(e.to_string(), "/etc/f/jail.local:7: bad line");
        let e = ConfigError::at(&Loc::file(Path::new("/x")), "missing");
        assert_eq!(e.to_string(), "/x: missing");
    }
}
