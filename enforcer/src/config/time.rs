//! Owns time values as fail2ban's `str2seconds` reads them: a number with an
//! optional unit (s, m, h, d, w, mo, y and their longer spellings), several
//! of them summed when written side by side (`1h 30m`, `1d12h`), and the
//! arithmetic the stock files use (`1year-6mo`, `-1`, `2*60`) — read by a
//! small parser, never by an interpreter.
use std::fmt;

/// A time value that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeError {
    pub input: String,
    pub reason: String,
}

impl fmt::Display for TimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a time: {:?} ({})", self.input, self.reason)
    }
}

impl std::error::Error for TimeError {}

const MONTH: f64 = (365.0 * 3.0 + 366.0) * 86400.0 / 4.0 / 12.0;
const YEAR: f64 = (365.0 * 3.0 + 366.0) * 86400.0 / 4.0;

/// Seconds of a unit word (case-insensitive), as fail2ban spells them.
fn unit(word: &str) -> Option<f64> {
    let w = word.to_ascii_lowercase();
    Some(match w.as_str() {
        "d" | "dd" | "da" | "day" | "days" => 86400.0,
        "w" | "ww" | "we" | "wee" | "week" | "weeks" => 7.0 * 86400.0,
        "mo" | "mon" | "month" | "months" => MONTH,
        "y" | "yy" | "ye" | "yea" | "year" | "years" => YEAR,
        "s" | "ss" | "se" | "sec" | "second" | "seconds" => 1.0,
        "m" | "mm" | "mi" | "min" | "minute" | "minutes" => 60.0,
        "h" | "hh" | "ho" | "hou" | "hour" | "hours" => 3600.0,
        _ => return None,
    })
}

/// fail2ban's str2seconds: "10m" = 600, "1h 30m" = 5400, "1year-6mo" =
/// 15778800, "-1" = -1 (permanent, for bantime). Fractions are truncated.
pub fn parse_time(s: &str) -> Result<i64, TimeError> {
    let fail = |reason: &str| TimeError {
        input: s.to_string(),
        reason: reason.to_string(),
    };
    let toks = tokenize(s).map_err(|r| fail(&r))?;
    if toks.is_empty() {
        return Err(fail("empty"));
    }
    let mut p = Parser { toks: &toks, i: 0 };
    let v = p.sum().map_err(|r| fail(&r))?;
    if p.i != toks.len() {
        return Err(fail("unexpected text"));
    }
    if !v.is_finite() || v.abs() > 1e15 {
        return Err(fail("out of range"));
    }
    Ok(v as i64)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A number with its unit already applied.
    Num(f64),
    Op(char),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    // a number directly after another (separated by blanks) is added
    let mut last_was_value = false;
    while i < b.len() {
        let c = b[i] as char;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || c == '.' {
            let st = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            let mut n: f64 = s[st..i]
                .parse()
                .map_err(|_| format!("bad number {:?}", &s[st..i]))?;
            let mut j = i;
            while j < b.len() && (b[j] as char).is_whitespace() {
                j += 1;
            }
            let ws = j;
            while j < b.len() && b[j].is_ascii_alphabetic() {
                j += 1;
            }
            if j > ws {
                let word = &s[ws..j];
                n *= unit(word).ok_or_else(|| format!("unknown unit {word:?}"))?;
                i = j;
            }
            if last_was_value {
                out.push(Tok::Op('+'));
            }
            out.push(Tok::Num(n));
            last_was_value = true;
            continue;
        }
        match c {
            '+' | '-' | '*' | '/' | '(' => {
                out.push(Tok::Op(c));
                last_was_value = false;
            }
            ')' => {
                out.push(Tok::Op(c));
                last_was_value = true;
            }
            _ => return Err(format!("unexpected {c:?}")),
        }
        i += 1;
    }
    Ok(out)
}

struct Parser<'a> {
    toks: &'a [Tok],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i)
    }

    fn sum(&mut self) -> Result<f64, String> {
        let mut v = self.product()?;
        while let Some(Tok::Op(c @ ('+' | '-'))) = self.peek() {
            let c = *c;
            self.i += 1;
            let r = self.product()?;
            v = if c == '+' { v + r } else { v - r };
        }
        Ok(v)
    }

    fn product(&mut self) -> Result<f64, String> {
        let mut v = self.unary()?;
        while let Some(Tok::Op(c @ ('*' | '/'))) = self.peek() {
            let c = *c;
            self.i += 1;
            let r = self.unary()?;
            if c == '/' && r == 0.0 {
                return Err("division by zero".into());
            }
            v = if c == '*' { v * r } else { v / r };
        }
        Ok(v)
    }

    fn unary(&mut self) -> Result<f64, String> {
        match self.peek() {
            Some(Tok::Op('-')) => {
                self.i += 1;
                Ok(-self.unary()?)
            }
            Some(Tok::Op('+')) => {
                self.i += 1;
                self.unary()
            }
            Some(Tok::Num(n)) => {
                let n = *n;
                self.i += 1;
                Ok(n)
            }
            Some(Tok::Op('(')) => {
                self.i += 1;
                if self.toks.len() > 200 {
                    return Err("expression too long".into());
                }
                let v = self.sum()?;
                if self.peek() != Some(&Tok::Op(')')) {
                    return Err("missing ')'".into());
                }
                self.i += 1;
                Ok(v)
            }
            _ => Err("expected a number".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_forms() {
        assert_eq!(parse_time("600").unwrap(), 600);
        assert_eq!(parse_time("10m").unwrap(), 600);
        assert_eq!(parse_time("1h").unwrap(), 3600);
        assert_eq!(parse_time("1h 30m").unwrap(), 5400);
        assert_eq!(parse_time("0d 1h 30m").unwrap(), 5400);
        assert_eq!(parse_time("1hour+30min").unwrap(), 5400);
        assert_eq!(parse_time("1d12h").unwrap(), 129600);
        assert_eq!(parse_time("1w").unwrap(), 604800);
        assert_eq!(parse_time("48h").unwrap(), 172800);
        assert_eq!(parse_time("1year-6mo").unwrap(), 15778800);
        assert_eq!(parse_time("6 months").unwrap(), 15778800);
        assert_eq!(parse_time("1y").unwrap(), 31557600);
        assert_eq!(parse_time("-1").unwrap(), -1);
        assert_eq!(parse_time("2*60").unwrap(), 120);
        assert_eq!(parse_time("1.5h").unwrap(), 5400);
        assert_eq!(parse_time("5 S").unwrap(), 5);
        assert_eq!(parse_time("(1h+1m)*2").unwrap(), 7320);
    }

    #[test]
    fn rejects_what_is_not_a_time() {
        for bad in [
            "",
            "abc",
            "10x",
            "m",
            "1h +",
            "__import__('os')",
            "1/0",
            "(1",
            "1..2",
            "10 m m",
        ] {
            assert!(parse_time(bad).is_err(), "{bad:?} should fail");
        }
        assert!(
            parse_time("7q")
                .unwrap_err()
                .to_string()
                .contains("unknown unit")
        );
    }
}
