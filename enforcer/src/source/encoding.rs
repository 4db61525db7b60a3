//! Owns `logencoding`: turning a file's bytes into UTF-8 for the filters.
//! `auto` takes the charset of the locale (LC_ALL, LC_CTYPE, LANG), UTF-8
//! when unset; UTF-8 keeps invalid bytes as U+FFFD (fail2ban falls back to
//! `replace` too); latin-1 maps every byte to the code point of its value.
use std::borrow::Cow;

use super::SourceError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Latin1,
    /// 7-bit: bytes above 0x7f become U+FFFD.
    Ascii,
}

impl Encoding {
    /// Parses a `logencoding` value (Python codec names, case-insensitive).
    pub fn parse(value: &str) -> Result<Encoding, SourceError> {
        let norm: String = value
            .trim()
            .to_ascii_lowercase()
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .collect();
        match norm.as_str() {
            "auto" => Ok(Encoding::from_locale()),
            "utf8" | "u8" | "utf" => Ok(Encoding::Utf8),
            "latin1" | "iso88591" | "l1" | "latin" | "cp819" | "8859" => Ok(Encoding::Latin1),
            "ascii" | "usascii" | "646" => Ok(Encoding::Ascii),
            _ => Err(SourceError::Encoding(value.trim().to_string())),
        }
    }

    /// The locale's charset, as Python's preferred encoding.
    pub fn from_locale() -> Encoding {
        let var = ["LC_ALL", "LC_CTYPE", "LANG"]
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .find(|v| !v.is_empty());
        Encoding::for_locale(var.as_deref())
    }

    fn for_locale(locale: Option<&str>) -> Encoding {
        let Some(l) = locale else {
            return Encoding::Utf8;
        };
        let charset = l
            .split('.')
            .nth(1)
            .unwrap_or("")
            .split('@')
            .next()
            .unwrap_or("");
        match Encoding::parse(charset) {
            Ok(e) if !charset.is_empty() => e,
            _ if l == "C" || l == "POSIX" => Encoding::Utf8, // Python 3.7+ coerces C to UTF-8
            _ => Encoding::Utf8,
        }
    }

    /// Decodes one line to UTF-8; borrows when nothing changes.
    pub fn decode<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        match self {
            Encoding::Utf8 => match String::from_utf8_lossy(bytes) {
                Cow::Borrowed(_) => Cow::Borrowed(bytes),
                Cow::Owned(s) => Cow::Owned(s.into_bytes()),
            },
            Encoding::Latin1 if bytes.is_ascii() => Cow::Borrowed(bytes),
            Encoding::Latin1 => Cow::Owned(
                bytes
                    .iter()
                    .map(|&b| b as char)
                    .collect::<String>()
                    .into_bytes(),
            ),
            Encoding::Ascii if bytes.is_ascii() => Cow::Borrowed(bytes),
            Encoding::Ascii => Cow::Owned(
                bytes
                    .iter()
                    .map(|&b| if b.is_ascii() { b as char } else { '\u{fffd}' })
                    .collect::<String>()
                    .into_bytes(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(Encoding::parse("UTF-8").unwrap(), Encoding::Utf8);
        assert_eq!(Encoding::parse("latin-1").unwrap(), Encoding::Latin1);
        assert_eq!(Encoding::parse("ISO-8859-1").unwrap(), Encoding::Latin1);
        assert_eq!(Encoding::parse("ascii").unwrap(), Encoding::Ascii);
        assert!(Encoding::parse("klingon").is_err());
        assert_eq!(
            Encoding::for_locale(Some("de_DE.ISO-8859-1")),
            Encoding::Latin1
        );
        assert_eq!(Encoding::for_locale(Some("en_US.UTF-8")), Encoding::Utf8);
        assert_eq!(Encoding::for_locale(Some("C")), Encoding::Utf8);
        assert_eq!(Encoding::for_locale(None), Encoding::Utf8);
    }

    #[test]
    fn decoding() {
        let ok = "héllo".as_bytes();
        assert!(matches!(Encoding::Utf8.decode(ok), Cow::Borrowed(_)));
        assert_eq!(&*Encoding::Utf8.decode(b"a\xffb"), "a\u{fffd}b".as_bytes());
        assert_eq!(&*Encoding::Latin1.decode(b"caf\xe9"), "café".as_bytes());
        assert_eq!(&*Encoding::Ascii.decode(b"x\xe9"), "x\u{fffd}".as_bytes());
    }
}
