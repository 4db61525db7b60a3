//! fail2ban's log line layouts, as Python `%`-format strings over a log
//! record (`%(asctime)s %(name)-24s[%(process)d]: %(levelname)-7s
//! %(message)s`): the default ones fail2ban builds per target
//! (`getVerbosityFormat`: with or without the time, padded or not) and an
//! operator's own `logtarget = X[format=…]`, parsed once at start.

/// One record's fields.
pub struct Fields<'a> {
    /// Unix seconds, wall clock.
    pub time: f64,
    pub name: &'a str,
    pub pid: u32,
    pub level: &'a str,
    pub levelno: u8,
    pub message: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Asctime,
    Name,
    Process,
    Levelname,
    Levelno,
    Message,
    Created,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field {
        key: Key,
        left: bool,
        width: usize,
        precision: Option<usize>,
    },
}

/// A parsed format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineFormat(Vec<Piece>);

/// fail2ban's default (not verbose) layout: the time unless the target
/// adds its own (syslog), fields padded unless turned off.
pub fn default_format(time: bool, padding: bool) -> LineFormat {
    let fmt = match (time, padding) {
        (true, true) => "%(asctime)s %(name)-24s[%(process)d]: %(levelname)-7s %(message)s",
        (true, false) => "%(asctime)s %(name)s[%(process)d]: %(levelname)s %(message)s",
        (false, true) => "%(name)-24s[%(process)d]: %(levelname)-7s %(message)s",
        (false, false) => "%(name)s[%(process)d]: %(levelname)s %(message)s",
    };
    LineFormat::parse(fmt).expect("the built-in formats parse")
}

fn key(name: &str) -> Option<Key> {
    Some(match name {
        "asctime" => Key::Asctime,
        "name" => Key::Name,
        "process" => Key::Process,
        "levelname" => Key::Levelname,
        "levelno" => Key::Levelno,
        "message" => Key::Message,
        "created" => Key::Created,
        _ => return None,
    })
}

impl LineFormat {
    /// Parses `%(key)[-][width][.precision](s|d)` and `%%`; any other `%`
    /// use, or a field enforcer does not have, is an error naming it.
    pub fn parse(fmt: &str) -> Result<LineFormat, String> {
        let mut out = Vec::new();
        let mut text = String::new();
        let mut rest = fmt;
        while let Some(i) = rest.find('%') {
            text.push_str(&rest[..i]);
            rest = &rest[i + 1..];
            if let Some(r) = rest.strip_prefix('%') {
                text.push('%');
                rest = r;
                continue;
            }
            let bad = || format!("format {fmt:?}: use %(name)s fields or %%");
            let r = rest.strip_prefix('(').ok_or_else(bad)?;
            let close = r.find(')').ok_or_else(bad)?;
            let name = &r[..close];
            let key = key(name).ok_or_else(|| {
                format!(
                    "format {fmt:?}: unknown field {name:?} (asctime, name, process, \
                     levelname, levelno, message, created)"
                )
            })?;
            let mut r = &r[close + 1..];
            let left = r.starts_with('-');
            if left {
                r = &r[1..];
            }
            let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
            let n = digits(r);
            let width = r[..n].parse().unwrap_or(0);
            r = &r[n..];
            let precision = match r.strip_prefix('.') {
                Some(p) => {
                    let n = digits(p);
                    r = &p[n..];
                    Some(p[..n].parse().unwrap_or(0))
                }
                None => None,
            };
            let conv = r.chars().next().ok_or_else(bad)?;
            if !matches!(conv, 's' | 'd') {
                return Err(bad());
            }
            rest = &r[1..];
            if !text.is_empty() {
                out.push(Piece::Text(std::mem::take(&mut text)));
            }
            out.push(Piece::Field {
                key,
                left,
                width,
                precision,
            });
        }
        text.push_str(rest);
        if !text.is_empty() {
            out.push(Piece::Text(text));
        }
        Ok(LineFormat(out))
    }

    /// The line for `f`, without a newline.
    pub fn render(&self, f: &Fields) -> String {
        let mut out = String::with_capacity(64 + f.message.len());
        for p in &self.0 {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Field {
                    key,
                    left,
                    width,
                    precision,
                } => {
                    let v = match key {
                        Key::Asctime => asctime(f.time),
                        Key::Name => f.name.to_string(),
                        Key::Process => f.pid.to_string(),
                        Key::Levelname => f.level.to_string(),
                        Key::Levelno => f.levelno.to_string(),
                        Key::Message => f.message.to_string(),
                        Key::Created => format!("{:.6}", f.time),
                    };
                    let v: String = match precision {
                        Some(p) => v.chars().take(*p).collect(),
                        None => v,
                    };
                    let pad = width.saturating_sub(v.chars().count());
                    if !left {
                        out.extend(std::iter::repeat_n(' ', pad));
                    }
                    out.push_str(&v);
                    if *left {
                        out.extend(std::iter::repeat_n(' ', pad));
                    }
                }
            }
        }
        out
    }
}

/// Python logging's `asctime`: `2026-11-22 09:08:27,345` (local time).
fn asctime(now: f64) -> String {
    let secs = now.floor();
    let ms = ((now - secs) * 1000.0) as u32;
    format!("{},{ms:03}", crate::actions::time2str(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(msg: &str) -> Fields<'_> {
        Fields {
            time: 1_000_000.5,
            name: "fail2ban.actions",
            pid: 12708,
            level: "NOTICE",
            levelno: 25,
            message: msg,
        }
    }

    #[test]
    fn default_layouts_are_fail2bans() {
        let f = fields("[sshd] Ban 198.18.0.7");
        assert_eq!(
            default_format(false, true).render(&f),
            "fail2ban.actions        [12708]: NOTICE  [sshd] Ban 198.18.0.7"
        );
        assert_eq!(
            default_format(false, false).render(&f),
            "fail2ban.actions[12708]: NOTICE [sshd] Ban 198.18.0.7"
        );
        let line = default_format(true, true).render(&f);
        assert_eq!(line.len(), 23 + 1 + 62, "{line}");
        assert_eq!(&line[19..24], ",500 ", "{line}");
    }

    #[test]
    fn custom_formats_pad_truncate_and_refuse_unknown_fields() {
        let f = fields("hello");
        let fmt =
            LineFormat::parse("%(levelname).1s|%(name)20s|%(levelno)d %% %(message)-7s|").unwrap();
        assert_eq!(fmt.render(&f), "N|    fail2ban.actions|25 % hello  |");
        for bad in ["%(thread)X", "%(nosuch)s", "%s", "50%", "%(name"] {
            assert!(LineFormat::parse(bad).is_err(), "{bad}");
        }
    }
}
