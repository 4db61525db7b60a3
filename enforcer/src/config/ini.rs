//! Owns reading one file with fail2ban's (Python configparser's) rules:
//! `[section]` headers and `[DEFAULT]`; option names lower-cased; `=` and `:`
//! delimiters (the first one wins); full-line comments with `#` or `;`; an
//! inline comment only with `;` after whitespace (`#` mid-line is text);
//! indented continuation lines make multi-line values, blank lines inside a
//! value kept and trailing ones dropped; a duplicate option or section in one
//! file is an error. Every value keeps the file:line it was written on.
use std::{path::Path, sync::Arc};

use super::error::{ConfigError, Loc};

/// One option's raw (not yet interpolated) value.
#[derive(Debug, Clone, PartialEq)]
pub struct Val {
    pub text: String,
    pub loc: Loc,
    /// Already resolved text: `%` in it is not interpolation.
    pub literal: bool,
}

impl Val {
    pub fn raw(text: String, loc: Loc) -> Val {
        Val {
            text,
            loc,
            literal: false,
        }
    }

    pub fn literal(text: String, loc: Loc) -> Val {
        Val {
            text,
            loc,
            literal: true,
        }
    }
}

/// A section of one file: name, header location, options in file order.
#[derive(Debug, Clone)]
pub struct IniSection {
    pub name: String,
    pub loc: Loc,
    pub options: Vec<(String, Val)>,
}

/// One parsed file. `[DEFAULT]` options are kept apart, like configparser does.
#[derive(Debug, Clone)]
pub struct IniFile {
    pub path: Arc<Path>,
    pub defaults: Vec<(String, Val)>,
    pub sections: Vec<IniSection>,
}

/// Where the option being read goes.
enum Target {
    None,
    Defaults,
    Section(usize),
}

/// Parses `bytes` (the contents of `path`).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<IniFile, ConfigError> {
    let path: Arc<Path> = Arc::from(path);
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let line = 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            return Err(ConfigError::at(
                &Loc::new(&path, line as u32),
                "file is not valid UTF-8",
            ));
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut file = IniFile {
        path: path.clone(),
        defaults: Vec::new(),
        sections: Vec::new(),
    };
    // (value lines, location) of the option being read
    let mut cur: Option<(String, Vec<String>, Loc)> = None;
    let mut target = Target::None;
    let mut indent_level = usize::MAX;
    for (idx, raw_line) in text.split('\n').enumerate() {
        let lineno = idx as u32 + 1;
        let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        let comment_start = comment_start(line);
        let value = match comment_start {
            Some(c) => line[..c].trim(),
            None => line.trim(),
        };
        if value.is_empty() {
            if comment_start.is_none()
                && let Some((_, lines, _)) = cur.as_mut()
            {
                lines.push(String::new());
            }
            continue;
        }
        let cur_indent = line.len() - line.trim_start().len();
        if cur.is_some() && cur_indent > indent_level {
            if let Some((_, lines, _)) = cur.as_mut() {
                lines.push(value.to_string());
            }
            continue;
        }
        // a new header or option ends the value being read
        finish(&mut file, &target, cur.take());
        indent_level = cur_indent;
        let loc = Loc::new(&path, lineno);
        if value.starts_with('[') {
            let name = match value.rfind(']') {
                Some(end) if end > 1 => &value[1..end],
                Some(_) => return Err(ConfigError::at(&loc, "empty section name '[]'")),
                None => {
                    return Err(ConfigError::at(
                        &loc,
                        format!("section header {value:?} is missing its closing ']'"),
                    ));
                }
            };
            if name == "DEFAULT" {
                target = Target::Defaults;
                continue;
            }
            if file.sections.iter().any(|s| s.name == name) {
                return Err(ConfigError::at(
                    &loc,
                    format!("section [{name}] appears twice in this file"),
                ));
            }
            file.sections.push(IniSection {
                name: name.to_string(),
                loc,
                options: Vec::new(),
            });
            target = Target::Section(file.sections.len() - 1);
            continue;
        }
        if matches!(target, Target::None) {
            return Err(ConfigError::at(
                &loc,
                format!("{value:?} comes before any [section] header"),
            ));
        }
        let Some(delim) = value.find(['=', ':']) else {
            return Err(ConfigError::at(
                &loc,
                format!("expected 'name = value', found {value:?}"),
            ));
        };
        let name = value[..delim].trim_end().to_lowercase();
        if name.is_empty() {
            return Err(ConfigError::at(
                &loc,
                format!("option without a name: {value:?}"),
            ));
        }
        let existing = match &target {
            Target::Defaults => &file.defaults,
            Target::Section(i) => &file.sections[*i].options,
            Target::None => unreachable!("checked above"),
        };
        if let Some((_, first)) = existing.iter().find(|(n, _)| *n == name) {
            let sect = section_name(&file, &target);
            return Err(ConfigError::option(
                &loc,
                &sect,
                &name,
                format!("set twice in this file (first at line {})", first.loc.line),
            ));
        }
        let first = value[delim + 1..].trim().to_string();
        cur = Some((name, vec![first], loc));
    }
    finish(&mut file, &target, cur.take());
    Ok(file)
}

fn section_name(file: &IniFile, target: &Target) -> String {
    match target {
        Target::Section(i) => file.sections[*i].name.clone(),
        _ => "DEFAULT".to_string(),
    }
}

/// Stores a finished option: lines joined with `\n`, trailing blanks dropped.
fn finish(file: &mut IniFile, target: &Target, cur: Option<(String, Vec<String>, Loc)>) {
    let Some((name, lines, loc)) = cur else {
        return;
    };
    let text = lines.join("\n").trim_end().to_string();
    let val = Val::raw(text, loc);
    match target {
        Target::Defaults => file.defaults.push((name, val)),
        Target::Section(i) => file.sections[*i].options.push((name, val)),
        Target::None => {}
    }
}

/// Where a comment starts on `line`: a line whose first non-blank is `#` or
/// `;`, or `;` at the start or after whitespace.
fn comment_start(line: &str) -> Option<usize> {
    let t = line.trim_start();
    if t.starts_with('#') || t.starts_with(';') {
        return Some(0);
    }
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        if c == ';' && prev_space {
            return Some(i);
        }
        prev_space = c.is_whitespace();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<IniFile, ConfigError> {
        parse(Path::new("/t/x.conf"), text.as_bytes())
    }

    fn get<'a>(f: &'a IniFile, sect: &str, opt: &str) -> &'a Val {
        let opts = if sect == "DEFAULT" {
            &f.defaults
        } else {
            &f.sections.iter().find(|s| s.name == sect).unwrap().options
        };
        &opts.iter().find(|(n, _)| n == opt).unwrap().1
    }

    #[test]
    fn sections_default_and_lowercased_names() {
        let f = p("[DEFAULT]\nA = 1\n[Sect]\nMaxRetry: 3\n").unwrap();
        assert_eq!(get(&f, "DEFAULT", "a").text, "1");
        assert_eq!(get(&f, "Sect", "maxretry").text, "3");
        assert_eq!(get(&f, "Sect", "maxretry").loc.line, 4);
        assert_eq!(f.sections.len(), 1);
    }

    #[test]
    fn first_delimiter_wins() {
        let f = p("[s]\nurl = http://x:80/\nk: a = b\n").unwrap();
        assert_eq!(get(&f, "s", "url").text, "http://x:80/");
        assert_eq!(get(&f, "s", "k").text, "a = b");
    }

    #[test]
    fn comments_semicolon_inline_only_after_space_hash_never_inline() {
        let f =
            p("# c\n; c\n[s]\na = x ; note\nb = x;y\nc = x # not a comment\nd = ;all\n").unwrap();
        assert_eq!(get(&f, "s", "a").text, "x");
        assert_eq!(get(&f, "s", "b").text, "x;y");
        assert_eq!(get(&f, "s", "c").text, "x # not a comment");
        assert_eq!(get(&f, "s", "d").text, "");
    }

    #[test]
    fn continuation_lines_keep_inner_blank_lines() {
        let f = p("[s]\nre = one\n  two\n\n  three\n   # comment inside\n  four\n\n\nnext = 1\n")
            .unwrap();
        assert_eq!(get(&f, "s", "re").text, "one\ntwo\n\nthree\nfour");
        assert_eq!(get(&f, "s", "next").text, "1");
    }

    #[test]
    fn empty_first_line_value_then_continuation() {
        let f = p("[s]\nre =\n    ^a$\n    ^b$\n").unwrap();
        assert_eq!(get(&f, "s", "re").text, "\n^a$\n^b$");
    }

    #[test]
    fn indented_option_after_header_is_an_option() {
        let f = p("[s]\n  a = 1\n  b = 2\n").unwrap();
        assert_eq!(get(&f, "s", "a").text, "1");
        assert_eq!(get(&f, "s", "b").text, "2");
    }

    #[test]
    fn percent_is_kept_raw() {
        let f = p("[s]\ndp = %%Y-%%m\n").unwrap();
        assert_eq!(get(&f, "s", "dp").text, "%%Y-%%m");
    }

    #[test]
    fn duplicate_option_is_an_error_with_line() {
        let e = p("[s]\na = 1\nA = 2\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert_eq!(e.option.as_deref(), Some("a"));
        assert!(e.to_string().contains("first at line 2"), "{e}");
    }

    #[test]
    fn duplicate_section_is_an_error_but_default_may_repeat() {
        assert_eq!(p("[s]\na=1\n[s]\nb=2\n").unwrap_err().line, 3);
        let f = p("[DEFAULT]\na=1\n[DEFAULT]\nb=2\n").unwrap();
        assert_eq!(f.defaults.len(), 2);
    }

    #[test]
    fn malformed_lines() {
        assert_eq!(p("a = 1\n").unwrap_err().line, 1);
        assert_eq!(p("[s]\n[t\n").unwrap_err().line, 2);
        assert_eq!(p("[s]\njunk\n").unwrap_err().line, 2);
        assert_eq!(p("[s]\n= v\n").unwrap_err().line, 2);
        assert_eq!(p("[]\n").unwrap_err().line, 1);
    }

    #[test]
    fn non_utf8_names_the_line() {
        let e = parse(Path::new("/t/x"), b"[s]\na = 1\nb = \xff\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("UTF-8"));
    }

    #[test]
    fn crlf_and_bom() {
        let f = parse(Path::new("/t/x"), "\u{feff}[s]\r\na = 1\r\n".as_bytes()).unwrap();
        assert_eq!(get(&f, "s", "a").text, "1");
    }
}
