//! What the daemon does with each control request. Input is validated whole
//! before anything changes: a request with one bad target, an unknown jail or
//! a nonsensical ban time is refused and the maps stay as they were.
use std::sync::Arc;

use tokio::sync::watch;

use super::bans::{Ban, BanBook, BanPlane, PlaneError, now};
use crate::control::{
    ErrorKind, Handler, IpNet, Request, Response,
    protocol::{BanInfo, BanReply, BannedReply, UnbanReply, VersionReply},
    target::parse_targets,
};

/// The jail of bans made without one.
pub const MANUAL_JAIL: &str = "manual";
/// Longest jail name the data plane stores.
const MAX_JAIL_NAME: usize = 63;

/// The control socket's view of the daemon.
pub struct Control<P> {
    book: Arc<BanBook<P>>,
    shutdown: watch::Sender<bool>,
}

impl<P: BanPlane> Control<P> {
    pub fn new(book: Arc<BanBook<P>>, shutdown: watch::Sender<bool>) -> Control<P> {
        Control { book, shutdown }
    }

    fn ban(&self, jail: Option<String>, targets: &[String], bantime: Option<i64>) -> Response {
        let jail = jail.unwrap_or_else(|| MANUAL_JAIL.to_string());
        if let Err(msg) = check_jail_name(&jail) {
            return Response::bad_request(msg);
        }
        if targets.is_empty() {
            return Response::bad_request("ban: no targets");
        }
        let nets = match parse_targets(targets) {
            Ok(n) => n,
            Err(e) => return Response::bad_request(e.to_string()),
        };
        // A jail's own ban time arrives with jails from the configuration;
        // until then a ban without --bantime is permanent.
        let expiry = match bantime {
            None => None,
            Some(t) if t < 0 => None,
            Some(0) => {
                return Response::bad_request("bantime must be positive, or -1 for permanent");
            }
            Some(t) => match now().checked_add(t) {
                Some(e) => Some(e),
                None => return Response::bad_request(format!("bantime {t} is too large")),
            },
        };
        let id = match self.book.plane().jail_id(&jail) {
            Ok(id) => id,
            Err(e) => return plane_error(e),
        };
        if let Err(e) = self.book.ban(&nets, id, expiry) {
            for net in &nets[..e.applied] {
                log::info!("[{jail}] Ban {}", net);
            }
            let kind = match e.error {
                PlaneError::Full(_) => ErrorKind::MapFull,
                PlaneError::BadJail(_) | PlaneError::Absent(_) => ErrorKind::BadRequest,
                PlaneError::Other(_) => ErrorKind::Internal,
            };
            let done: Vec<String> = nets[..e.applied].iter().map(IpNet::to_string).collect();
            let msg = format!(
                "ban of {} failed: {}; {} of {} banned{}",
                nets[e.applied],
                e.error,
                e.applied,
                e.total,
                if done.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", done.join(" "))
                }
            );
            return Response::error(kind, msg);
        }
        for net in &nets {
            log::info!("[{jail}] Ban {}", net);
        }
        Response::ok(BanReply {
            jail,
            banned: nets.iter().map(IpNet::to_string).collect(),
            expiry,
        })
    }

    fn unban(&self, jail: Option<String>, targets: &[String], all: bool) -> Response {
        let jail_id = match &jail {
            None => None,
            Some(name) => match self.book.plane().find_jail(name) {
                Ok(Some(id)) => Some(id),
                Ok(None) => return Response::bad_request(format!("unknown jail '{name}'")),
                Err(e) => return plane_error(e),
            },
        };
        if all {
            if !targets.is_empty() {
                return Response::bad_request("unban: give targets or all, not both");
            }
            return match self.book.unban_all(jail_id) {
                Ok(n) => {
                    log::info!("Unban all: {n} bans lifted");
                    Response::ok(serde_json::json!({ "unbanned": n }))
                }
                Err(e) => plane_error(e),
            };
        }
        if targets.is_empty() {
            return Response::bad_request("unban: no targets (or all)");
        }
        let nets = match parse_targets(targets) {
            Ok(n) => n,
            Err(e) => return Response::bad_request(e.to_string()),
        };
        let mut reply = UnbanReply {
            unbanned: vec![],
            not_banned: vec![],
        };
        for net in nets {
            match self.book.unban(net, jail_id) {
                Ok(true) => {
                    log::info!("Unban {net}");
                    reply.unbanned.push(net.to_string());
                }
                Ok(false) => reply.not_banned.push(net.to_string()),
                Err(e) => return plane_error(e),
            }
        }
        Response::ok(reply)
    }

    fn banned(&self, jail: Option<String>, targets: &[String]) -> Response {
        match self.banned_reply(jail.as_deref(), targets) {
            Ok(r) => Response::ok(r),
            Err(e) => e,
        }
    }

    /// The maps' bans (of `jail`, covering one of `targets`), sorted by
    /// target, as `banned` answers; Err: the answer is a refusal.
    pub(super) fn banned_reply(
        &self,
        jail: Option<&str>,
        targets: &[String],
    ) -> Result<BannedReply, Response> {
        let filter = parse_targets(targets).map_err(|e| Response::bad_request(e.to_string()))?;
        let jail_id = match jail {
            None => None,
            Some(name) => match self.book.plane().find_jail(name) {
                Ok(Some(id)) => Some(id),
                Ok(None) => return Err(Response::bad_request(format!("unknown jail '{name}'"))),
                Err(e) => return Err(plane_error(e)),
            },
        };
        let mut bans = self.book.list().map_err(plane_error)?;
        bans.retain(|b| jail_id.is_none_or(|j| b.jail == j));
        if !filter.is_empty() {
            bans.retain(|b| filter.iter().any(|f| covers(f, b)));
        }
        bans.sort_by_key(|b| (b.net, b.jail));
        let names = self.book.jail_names().map_err(plane_error)?;
        let bans = bans
            .into_iter()
            .map(|b| BanInfo {
                target: b.net.to_string(),
                jail: names
                    .get(&b.jail)
                    .cloned()
                    .unwrap_or_else(|| format!("#{}", b.jail)),
                expiry: b.expiry,
            })
            .collect();
        Ok(BannedReply {
            bans,
            ..BannedReply::default()
        })
    }
}

/// Whether asking about `query` should show `ban`: the same target, or an
/// address asked about that a prefix ban covers.
fn covers(query: &IpNet, ban: &Ban) -> bool {
    if *query == ban.net {
        return true;
    }
    query.is_host() && ban.net.contains(query.addr())
}

fn check_jail_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("jail name is empty".into());
    }
    if name.len() > MAX_JAIL_NAME {
        return Err(format!("jail name longer than {MAX_JAIL_NAME} bytes"));
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err(format!(
            "jail name {name:?} contains spaces, control characters or '/'"
        ));
    }
    Ok(())
}

fn plane_error(e: PlaneError) -> Response {
    match e {
        PlaneError::Full(m) => Response::error(ErrorKind::MapFull, m),
        PlaneError::BadJail(m) | PlaneError::Absent(m) => Response::bad_request(m),
        PlaneError::Other(m) => Response::error(ErrorKind::Internal, m),
    }
}

impl<P: BanPlane> Handler for Control<P> {
    async fn handle(&self, request: Request) -> Response {
        match request {
            Request::Ping {} => Response::ok("pong"),
            Request::Version {} => Response::ok(VersionReply {
                version: env!("CARGO_PKG_VERSION").to_string(),
            }),
            Request::Ban {
                jail,
                targets,
                bantime,
            } => self.ban(jail, &targets, bantime),
            Request::Unban { jail, targets, all } => self.unban(jail, &targets, all),
            Request::Banned { jail, targets } => self.banned(jail, &targets),
            Request::Stats {} => match self.book.plane().stats() {
                Ok(s) => Response::ok(s),
                Err(e) => plane_error(e),
            },
            Request::Stop {} => {
                log::info!("stop requested over the control socket");
                let _ = self.shutdown.send(true);
                Response::ok("stopping")
            }
            other => Response::bad_request(format!(
                "{}: the daemon runs no configured jails",
                other.name()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{super::bans::fake::FakePlane, *};

    fn control(capacity: usize) -> (Control<FakePlane>, watch::Receiver<bool>) {
        let book = Arc::new(BanBook::new(FakePlane::with_capacity(capacity)));
        let (tx, rx) = watch::channel(false);
        (Control::new(book, tx), rx)
    }

    fn call(c: &Control<FakePlane>, json: &str) -> Response {
        let req = crate::control::protocol::parse_request(json.as_bytes()).unwrap();
        block_on(c.handle(req))
    }

    /// Runs a future that never waits on I/O (the handler's) to completion.
    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn bans(c: &Control<FakePlane>) -> Vec<BanInfo> {
        let r = call(c, r#"{"cmd":"banned"}"#);
        r.result_as::<BannedReply>().unwrap().bans
    }

    #[test]
    fn ban_defaults_to_the_manual_jail_and_lists_it() {
        let (c, _) = control(10);
        let r = call(
            &c,
            r#"{"cmd":"ban","targets":["198.18.0.7","2001:db8::/48"],"bantime":60}"#,
        );
        assert!(r.ok, "{r:?}");
        let b = bans(&c);
        assert_eq!(b.len(), 2);
        assert!(b.iter().all(|b| b.jail == "manual"));
        assert_eq!(b[0].target, "198.18.0.7");
        assert_eq!(b[1].target, "2001:db8::/48");
        let e = b[0].expiry.unwrap();
        assert!((now() + 59..=now() + 61).contains(&e));
        let r = call(&c, r#"{"cmd":"banned","targets":["2001:db8::5"]}"#);
        let only = r.result_as::<BannedReply>().unwrap().bans;
        assert_eq!(
            only.len(),
            1,
            "an address asked about shows the prefix covering it"
        );
    }

    #[test]
    fn bad_input_changes_nothing() {
        let (c, _) = control(10);
        for bad in [
            r#"{"cmd":"ban","targets":["198.18.0.1","not-an-ip"]}"#,
            r#"{"cmd":"ban","targets":["198.18.0.1","198.18.0.0/33"]}"#,
            r#"{"cmd":"ban","targets":[]}"#,
            r#"{"cmd":"ban","targets":["198.18.0.1"],"bantime":0}"#,
            r#"{"cmd":"ban","jail":"","targets":["198.18.0.1"]}"#,
            r#"{"cmd":"ban","jail":"a b","targets":["198.18.0.1"]}"#,
            r#"{"cmd":"ban","targets":["198.18.0.1"],"bantime":9223372036854775807}"#,
            r#"{"cmd":"unban","targets":["198.18.0.1"],"all":true}"#,
            r#"{"cmd":"unban","jail":"nosuch","all":true}"#,
            r#"{"cmd":"unban"}"#,
        ] {
            let r = call(&c, bad);
            assert!(!r.ok, "{bad}");
            assert_eq!(r.error.unwrap().kind, ErrorKind::BadRequest, "{bad}");
        }
        assert!(bans(&c).is_empty());
    }

    #[test]
    fn a_full_map_is_an_error_for_the_caller() {
        let (c, _) = control(1);
        let r = call(&c, r#"{"cmd":"ban","targets":["198.18.0.1","198.18.0.2"]}"#);
        let err = r.error.unwrap();
        assert_eq!(err.kind, ErrorKind::MapFull);
        assert!(
            err.message.contains("1 of 2 banned (198.18.0.1)"),
            "{}",
            err.message
        );
    }

    #[test]
    fn unban_reports_what_was_and_was_not_banned() {
        let (c, _) = control(10);
        call(
            &c,
            r#"{"cmd":"ban","jail":"sshd","targets":["198.18.0.1"]}"#,
        );
        call(&c, r#"{"cmd":"ban","targets":["198.18.0.2","198.18.0.3"]}"#);
        let r = call(
            &c,
            r#"{"cmd":"unban","targets":["198.18.0.1","198.18.0.9"]}"#,
        );
        let reply: UnbanReply = r.result_as().unwrap();
        assert_eq!(reply.unbanned, ["198.18.0.1"]);
        assert_eq!(reply.not_banned, ["198.18.0.9"]);
        let r = call(&c, r#"{"cmd":"unban","all":true}"#);
        assert_eq!(r.value()["unbanned"], 2);
        assert!(bans(&c).is_empty());
    }

    #[test]
    fn stop_requests_shutdown() {
        let (c, rx) = control(1);
        assert!(call(&c, r#"{"cmd":"stop"}"#).ok);
        assert!(*rx.borrow());
        assert_eq!(call(&c, r#"{"cmd":"ping"}"#).value(), "pong");
    }
}
