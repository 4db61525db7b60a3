//! The wire protocol of the control socket: one JSON object per line each way.
//!
//! A request names its command in `cmd`; every other field belongs to that
//! command. Unknown commands and unknown fields are refused, so a typo never
//! silently does something else:
//!
//! ```text
//! {"cmd":"ping"}
//! {"cmd":"version"}
//! {"cmd":"ban","jail":"sshd","targets":["198.18.0.7","2001:db8::/48"],"bantime":600}
//! {"cmd":"unban","targets":["198.18.0.7"]}            (every jail)
//! {"cmd":"unban","jail":"sshd","targets":["198.18.0.7"]}
//! {"cmd":"unban","all":true}
//! {"cmd":"banned"}                                    (optionally "jail", "targets")
//! {"cmd":"stats"}
//! {"cmd":"stop"}
//! ```
//!
//! A response is `{"ok":true,"result":…}` or
//! `{"ok":false,"error":{"kind":"bad_request","message":"…"}}`. The error kind
//! tells a client whether the caller's input was wrong ([`ErrorKind::BadRequest`],
//! exit 2) or the daemon could not do it ([`ErrorKind::MapFull`],
//! [`ErrorKind::Internal`]). Later commands (`status`, `get`, `set`, `reload`)
//! are new variants of [`Request`]; existing ones keep their fields.
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Largest request line the server reads (bytes, newline included).
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// One request, tagged by `cmd`. Commands without arguments are empty struct
/// variants so that unknown fields are refused for them too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Liveness check; answers `"pong"`.
    Ping {},
    /// The daemon's version string.
    Version {},
    /// Ban every target (address or CIDR) in `jail`.
    Ban {
        /// Jail name; `manual` when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        jail: Option<String>,
        targets: Vec<String>,
        /// Seconds; absent = the jail's default; negative = permanent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bantime: Option<i64>,
    },
    /// Lift bans of `targets` (in `jail`, or in every jail), or all bans.
    Unban {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        jail: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        targets: Vec<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        all: bool,
    },
    /// Current bans, optionally only those of `jail` or of `targets`.
    Banned {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        jail: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        targets: Vec<String>,
    },
    /// Data plane counters.
    Stats {},
    /// Graceful shutdown (enforcement stays pinned in the kernel).
    Stop {},
    /// `status` (jail list) or `status JAIL` with a flavor
    /// (basic, short, stats, cymru).
    Status {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        jail: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        flavor: Option<String>,
    },
    /// `get JAIL KEY` (bantime, findtime, maxretry, banip, actions, ...).
    Get {
        jail: String,
        key: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        with_time: bool,
    },
    /// `set JAIL KEY VALUE…` (bantime, banip, unbanip, addignoreip, ...).
    Set {
        jail: String,
        key: String,
        values: Vec<String>,
    },
    /// Re-read the configuration: every jail, or one; `unban` lifts its
    /// bans first; `restart` stops and starts the jails (their failure
    /// counts start over) instead of reloading them in place.
    Reload {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        jail: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        unban: bool,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        restart: bool,
    },
}

impl Request {
    /// The command name, as on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Ping {} => "ping",
            Request::Version {} => "version",
            Request::Ban { .. } => "ban",
            Request::Unban { .. } => "unban",
            Request::Banned { .. } => "banned",
            Request::Stats {} => "stats",
            Request::Stop {} => "stop",
            Request::Status { .. } => "status",
            Request::Get { .. } => "get",
            Request::Set { .. } => "set",
            Request::Reload { .. } => "reload",
        }
    }
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request itself is wrong (malformed, unknown command, bad address,
    /// unknown jail): nothing was changed.
    BadRequest,
    /// A ban map is full; the message says which targets were applied.
    MapFull,
    /// The daemon failed doing it.
    Internal,
}

/// The error half of a response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub kind: ErrorKind,
    pub message: String,
}

/// One response line. The result is kept encoded ([`RawValue`]): it is
/// written as it was encoded and decoded once, straight into the type its
/// reader wants ([`Response::result_as`]), with no `Value` tree between
/// (for a million bans, most of the time `banned` took).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "no_result")]
    pub result: Option<Box<RawValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// A `null` result is left out, as it always was.
fn no_result(r: &Option<Box<RawValue>>) -> bool {
    r.as_deref().is_none_or(|r| r.get() == "null")
}

impl PartialEq for Response {
    fn eq(&self, other: &Response) -> bool {
        fn raw(r: &Response) -> Option<&str> {
            r.result.as_deref().map(RawValue::get)
        }
        self.ok == other.ok && self.error == other.error && raw(self) == raw(other)
    }
}

impl Response {
    /// A success carrying `result`.
    pub fn ok(result: impl Serialize) -> Response {
        match serde_json::value::to_raw_value(&result) {
            Ok(result) => Response {
                ok: true,
                result: Some(result),
                error: None,
            },
            Err(e) => Response::error(ErrorKind::Internal, format!("encoding the result: {e}")),
        }
    }

    /// The result decoded as `T` (no result: as `null`).
    pub fn result_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.result.as_deref().map_or("null", RawValue::get))
    }

    /// The result as a JSON value (`null` when there is none or it does
    /// not decode).
    pub fn value(&self) -> serde_json::Value {
        self.result_as().unwrap_or_default()
    }

    /// A failure.
    pub fn error(kind: ErrorKind, message: impl Into<String>) -> Response {
        Response {
            ok: false,
            result: None,
            error: Some(ErrorBody {
                kind,
                message: message.into(),
            }),
        }
    }

    /// A failure caused by the caller's input.
    pub fn bad_request(message: impl Into<String>) -> Response {
        Response::error(ErrorKind::BadRequest, message)
    }
}

/// Result of `ban`: what each target became.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BanReply {
    pub jail: String,
    /// Normalised targets, in request order.
    pub banned: Vec<String>,
    /// Unix seconds when the bans end; `None` = permanent.
    pub expiry: Option<i64>,
}

/// Result of `unban`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnbanReply {
    /// Targets that were banned and no longer are.
    pub unbanned: Vec<String>,
    /// Targets that were not banned (in the jail asked for).
    pub not_banned: Vec<String>,
}

/// One current ban, as `banned` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BanInfo {
    /// An address (`198.18.0.7`) or a prefix (`198.18.0.0/16`).
    pub target: String,
    pub jail: String,
    /// Unix seconds when the ban ends; `None` = permanent.
    pub expiry: Option<i64>,
}

/// Result of `banned`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BannedReply {
    pub bans: Vec<BanInfo>,
    /// Jails that did not answer in time (busy with an action): bans they
    /// enforce by commands only are missing from `bans`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub busy: Vec<String>,
}

/// Result of `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionReply {
    pub version: String,
}

/// Parses one request line (without or with its trailing newline).
pub fn parse_request(line: &[u8]) -> Result<Request, String> {
    let text = std::str::from_utf8(line).map_err(|_| "request is not UTF-8".to_string())?;
    let text = text.trim();
    if text.is_empty() {
        return Err("empty request".into());
    }
    serde_json::from_str(text).map_err(|e| format!("bad request: {e}"))
}

/// Encodes a value as one line, newline included.
pub fn encode_line(value: &impl Serialize) -> Vec<u8> {
    let mut out = serde_json::to_vec(value).unwrap_or_else(|e| {
        serde_json::to_vec(&Response::error(
            ErrorKind::Internal,
            format!("encoding: {e}"),
        ))
        .expect("an error response always encodes")
    });
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_in_the_documented_shape() {
        let ban = Request::Ban {
            jail: Some("sshd".into()),
            targets: vec!["198.18.0.7".into()],
            bantime: Some(600),
        };
        let line = serde_json::to_string(&ban).unwrap();
        assert_eq!(
            line,
            r#"{"cmd":"ban","jail":"sshd","targets":["198.18.0.7"],"bantime":600}"#
        );
        assert_eq!(parse_request(line.as_bytes()).unwrap(), ban);
        assert_eq!(
            parse_request(br#"{"cmd":"unban","all":true}"#).unwrap(),
            Request::Unban {
                jail: None,
                targets: vec![],
                all: true
            }
        );
        assert_eq!(
            parse_request(b"{\"cmd\":\"ping\"}\n").unwrap(),
            Request::Ping {}
        );
    }

    #[test]
    fn malformed_requests_are_refused_with_a_reason() {
        for bad in [
            &b""[..],
            b"   ",
            b"not json",
            b"{}",
            br#"{"cmd":"explode"}"#,
            br#"{"cmd":"ban"}"#,
            br#"{"cmd":"ban","targets":"198.18.0.1"}"#,
            br#"{"cmd":"ban","targets":[],"bantiem":5}"#,
            br#"{"cmd":"ping","extra":1}"#,
            b"\xff\xfe",
            br#"[1,2,3]"#,
        ] {
            let err = parse_request(bad).unwrap_err();
            assert!(!err.is_empty(), "{bad:?}");
        }
    }

    #[test]
    fn responses_encode_as_one_line() {
        let line = encode_line(&Response::ok("pong"));
        assert_eq!(line, b"{\"ok\":true,\"result\":\"pong\"}\n");
        let back: Response = serde_json::from_slice(&line).unwrap();
        assert_eq!(back.result_as::<String>().unwrap(), "pong");
        assert_eq!(back, Response::ok("pong"));
        // no result: the field is left out, and reads back as null
        let line = encode_line(&Response::ok(()));
        assert_eq!(line, b"{\"ok\":true}\n");
        let back: Response = serde_json::from_slice(&line).unwrap();
        assert_eq!(back.value(), serde_json::Value::Null);
        let back: Response = serde_json::from_slice(b"{\"ok\":true,\"result\":null}").unwrap();
        assert_eq!(back.result_as::<Option<u8>>().unwrap(), None);
        let line = encode_line(&Response::bad_request("nope"));
        let back: Response = serde_json::from_slice(&line).unwrap();
        assert!(!back.ok);
        assert_eq!(back.error.unwrap().kind, ErrorKind::BadRequest);
    }
}
