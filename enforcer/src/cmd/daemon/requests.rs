//! Control requests with configured jails: `status`, `get`, `set`,
//! `reload`, and bans routed to the jail they name. Everything a configured
//! jail does not own (the `manual` jail, other ad-hoc names, stats, stop)
//! goes to the v1 [`Control`] and its ban book unchanged.
//!
//! Text replies carry both the data (`value`, or the reply of the v1
//! command) and, where fail2ban-client prints a tree, the `text` to print.
use std::sync::Arc;

use hashbrown::{HashMap, HashSet};
use serde_json::{Value, json};

use super::{
    bans::BanPlane,
    handler::{Control, MANUAL_JAIL},
    jails::Jails,
    pipeline::JailState,
};
use crate::{
    actions::{self, Flavor, parse_target, status::filter_section},
    control::{
        Handler, Request, Response,
        protocol::{BanInfo, BanReply, UnbanReply},
    },
    jail::{JailSettings, Net, Ticket},
};

/// How long `banned` waits for a jail's own records: its thread may be
/// running an action until that action's `timeout`.
const BUSY_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The daemon's handler: configured jails first, the v1 control otherwise.
pub struct FullControl<P> {
    v1: Control<P>,
    jails: Arc<Jails>,
}

impl<P: BanPlane> FullControl<P> {
    pub fn new(v1: Control<P>, jails: Arc<Jails>) -> FullControl<P> {
        FullControl { v1, jails }
    }
}

fn no_jail(j: &str) -> Response {
    Response::bad_request(format!("Sorry but the jail '{j}' does not exist"))
}

fn check_targets(targets: &[String]) -> Result<(), Response> {
    for t in targets {
        parse_target(t).map_err(|e| Response::bad_request(e.to_string()))?;
    }
    Ok(())
}

/// Bans on a configured jail's own thread, with the jail's ban time unless
/// `bantime` says otherwise.
fn jail_ban(st: &mut JailState, targets: &[String], bantime: Option<i64>) -> Response {
    // Whole seconds: the store keeps whole seconds, so the end reported
    // here is the end restored after a restart.
    let now = actions::wall_now().floor();
    let mut banned = Vec::new();
    for t in targets {
        let Ok((id, ip)) = parse_target(t) else {
            continue;
        };
        let mut ticket = Ticket::manual(id.clone(), ip, now);
        ticket.ban_time = bantime.map(|b| if b < 0 { -1 } else { b });
        st.actions.ban_ticket(ticket, now);
        banned.push(id);
    }
    let bt = bantime.unwrap_or(st.actions.bantime());
    Response::ok(BanReply {
        jail: st.def.name.clone(),
        banned,
        expiry: (bt >= 0).then(|| now as i64 + bt),
    })
}

/// The targets of `targets` this jail had banned, now lifted.
fn jail_unban(st: &mut JailState, targets: &[String]) -> Vec<String> {
    let now = actions::wall_now();
    let mut done = Vec::new();
    for t in targets {
        if let Ok(n) = st.actions.unban(Some(std::slice::from_ref(t)), true, now)
            && n > 0
        {
            done.push(parse_target(t).map(|p| p.0).unwrap_or_else(|_| t.clone()));
        }
    }
    done
}

fn bans_of(st: &mut JailState) -> Vec<BanInfo> {
    let bt = st.actions.bantime();
    st.actions
        .ban_manager()
        .iter()
        .map(|t| BanInfo {
            target: t.fid.clone(),
            jail: st.def.name.clone(),
            expiry: (t.ban_time_or(bt) >= 0).then(|| t.end_of_ban(bt).ceil() as i64),
        })
        .collect()
}

fn status_of(st: &mut JailState, flavor: Flavor) -> Value {
    let found = st.jail.found();
    let journal = st.def.backend.starts_with("systemd").then(|| {
        if st.def.journalmatch.is_empty() {
            st.def.filter.journalmatch.clone()
        } else {
            st.def.journalmatch.clone()
        }
    });
    let filter = filter_section(found.current, found.total, &st.files, journal.as_deref());
    let s = st.actions.jail_status(filter, flavor);
    json!({ "text": s.text(), "value": s.json() })
}

fn tree(head: &str, items: &[String]) -> String {
    let mut out = vec![head.to_string()];
    for (i, it) in items.iter().enumerate() {
        let mark = if i + 1 == items.len() { "`-" } else { "|-" };
        out.push(format!("{mark} {it}"));
    }
    out.join("\n")
}

fn get(st: &mut JailState, key: &str, with_time: bool) -> Response {
    let name = st.def.name.clone();
    let (value, text) = match key {
        "bantime" => {
            let v = st.actions.bantime();
            (json!(v), v.to_string())
        }
        "findtime" => (json!(st.def.findtime), st.def.findtime.to_string()),
        "maxretry" => (json!(st.def.maxretry), st.def.maxretry.to_string()),
        "maxmatches" => (json!(st.def.maxmatches), st.def.maxmatches.to_string()),
        "banip" => {
            let l = st.actions.ban_list(with_time);
            let text = if with_time { l.join("\n") } else { l.join(" ") };
            (json!(l), text)
        }
        "actions" => {
            let l: Vec<String> = st.actions.names().iter().map(|s| s.to_string()).collect();
            let text = format!(
                "The jail {name} has the following actions:\n{}",
                l.join(", ")
            );
            (json!(l), text)
        }
        "logpath" => (
            json!(st.files),
            tree("Current monitored log file(s):", &st.files),
        ),
        "ignoreip" => (
            json!(st.def.ignoreip),
            tree("These IP addresses/networks are ignored:", &st.def.ignoreip),
        ),
        "ignoreself" => (json!(st.def.ignoreself), st.def.ignoreself.to_string()),
        "backend" => (json!(st.def.backend), st.def.backend.clone()),
        other => return Response::bad_request(format!("get: unknown setting {other:?}")),
    };
    Response::ok(json!({ "value": value, "text": text }))
}

/// Settings that live in the failure side are applied to the running
/// jail in place: as in fail2ban, the failures counted so far are kept.
fn apply_jail(st: &mut JailState) -> Result<(), String> {
    st.jail
        .apply(&JailSettings::from_def(&st.def))
        .map_err(|e| e.to_string())
}

fn set(st: &mut JailState, key: &str, values: &[String]) -> Response {
    let one = || -> Result<&String, Response> {
        match values {
            [v] => Ok(v),
            _ => Err(Response::bad_request(format!("set {key}: give one value"))),
        }
    };
    let now = actions::wall_now();
    match key {
        "bantime" | "findtime" => {
            let v = match one() {
                Ok(v) => v,
                Err(r) => return r,
            };
            let secs = match crate::config::parse_time(v) {
                Ok(s) if key == "bantime" && (s > 0 || s == -1) => s,
                Ok(s) if key == "findtime" && s > 0 => s,
                Ok(s) => return Response::bad_request(format!("{key} {s} is out of range")),
                Err(_) => return Response::bad_request(format!("{key}: bad time {v:?}")),
            };
            if key == "bantime" {
                st.def.bantime = secs;
                st.jail.set_bantime(secs);
                st.actions.set_bantime(secs);
                return Response::ok(json!({ "value": secs, "text": secs.to_string() }));
            }
            st.def.findtime = secs;
        }
        "maxretry" | "maxmatches" => {
            let v = match one().map(|v| v.parse::<u32>()) {
                Ok(Ok(n)) if n > 0 => n,
                Ok(_) => return Response::bad_request(format!("{key}: not a positive number")),
                Err(r) => return r,
            };
            if key == "maxretry" {
                st.def.maxretry = v;
            } else {
                st.def.maxmatches = v;
            }
        }
        "banip" => {
            if let Err(r) = check_targets(values) {
                return r;
            }
            return match st.actions.ban(values, now) {
                Ok(n) => Response::ok(json!({ "value": n, "text": n.to_string() })),
                Err(e) => Response::bad_request(e.to_string()),
            };
        }
        "unbanip" => {
            return match st.actions.unban(Some(values), false, now) {
                Ok(n) => Response::ok(json!({ "value": n, "text": n.to_string() })),
                Err(e) => Response::bad_request(e.to_string()),
            };
        }
        "addignoreip" | "delignoreip" => {
            for v in values {
                if crate::jail::Net::parse(v).is_none() && v.parse::<std::net::IpAddr>().is_err() {
                    return Response::bad_request(format!("{key}: {v:?} is not an address"));
                }
                if key == "addignoreip" {
                    if !st.def.ignoreip.contains(v) {
                        st.def.ignoreip.push(v.clone());
                    }
                } else {
                    st.def.ignoreip.retain(|i| i != v);
                }
            }
        }
        other => return Response::bad_request(format!("set: unknown setting {other:?}")),
    }
    if let Err(e) = apply_jail(st) {
        return Response::bad_request(e);
    }
    get(
        st,
        key.trim_start_matches("add").trim_start_matches("del"),
        false,
    )
}

impl<P: BanPlane> FullControl<P> {
    async fn status(&self, jail: Option<String>, flavor: Option<String>) -> Response {
        let flavor: Flavor = match flavor.as_deref().unwrap_or("basic").parse() {
            Ok(f) => f,
            Err(e) => return Response::bad_request(e),
        };
        let Some(j) = jail else {
            let names = self.jails.names().await;
            let text = format!(
                "Status\n|- Number of jail:\t{}\n`- Jail list:\t{}",
                names.len(),
                names.join(", ")
            );
            return Response::ok(json!({ "jails": names, "text": text }));
        };
        match self.jails.call(&j, move |st| status_of(st, flavor)).await {
            Some(v) => Response::ok(v),
            None => no_jail(&j),
        }
    }

    async fn unban(&self, jail: Option<String>, targets: Vec<String>, all: bool) -> Response {
        if let Some(j) = &jail
            && self.jails.contains(j).await
        {
            if all {
                let n = self
                    .jails
                    .call(j, |st| st.actions.unban(None, true, actions::wall_now()))
                    .await;
                return Response::ok(json!({ "unbanned": n.and_then(|r| r.ok()).unwrap_or(0) }));
            }
            if let Err(r) = check_targets(&targets) {
                return r;
            }
            let t = targets.clone();
            let done = self
                .jails
                .call(j, move |st| jail_unban(st, &t))
                .await
                .unwrap_or_default();
            let not_banned = targets
                .iter()
                .filter_map(|t| parse_target(t).ok().map(|p| p.0))
                .filter(|t| !done.contains(t))
                .collect();
            return Response::ok(UnbanReply {
                unbanned: done,
                not_banned,
            });
        }
        if jail.is_some() {
            return self.v1.handle(Request::Unban { jail, targets, all }).await;
        }
        if !all {
            if targets.is_empty() {
                return Response::bad_request("unban: no targets (or --all)");
            }
            if let Err(r) = check_targets(&targets) {
                return r;
            }
        }
        let t = targets.clone();
        let from_jails: Vec<String> = self
            .jails
            .call_all(move |st| {
                if all {
                    let n = st
                        .actions
                        .unban(None, true, actions::wall_now())
                        .unwrap_or(0);
                    vec![String::new(); n]
                } else {
                    jail_unban(st, &t)
                }
            })
            .await
            .into_iter()
            .flat_map(|(_, v)| v)
            .collect();
        let r = self.v1.handle(Request::Unban { jail, targets, all }).await;
        if !r.ok {
            return r;
        }
        if all {
            let n = r.value()["unbanned"].as_u64().unwrap_or(0) + from_jails.len() as u64;
            return Response::ok(json!({ "unbanned": n }));
        }
        let mut reply: UnbanReply = match r.result_as() {
            Ok(u) => u,
            Err(e) => return Response::bad_request(e.to_string()),
        };
        for t in from_jails {
            reply.not_banned.retain(|n| *n != t);
            if !reply.unbanned.contains(&t) {
                reply.unbanned.push(t);
            }
        }
        Response::ok(reply)
    }

    async fn banned(&self, jail: Option<String>, targets: Vec<String>) -> Response {
        if let Some(j) = &jail
            && !self.jails.contains(j).await
            && j != MANUAL_JAIL
        {
            return self.v1.handle(Request::Banned { jail, targets }).await;
        }
        let mut reply = match self.v1.banned_reply(None, &targets) {
            Ok(r) => r,
            Err(refused) => return refused,
        };
        // A configured jail's own record is authoritative (its end as
        // stored, not as converted through the kernel's clock); bans
        // carried out by commands only (no XDP entry) come from it too.
        // Only the jail asked for, when one is: another jail busy with a
        // slow action must not hold up this answer; nor, past BUSY_WAIT,
        // may the jails asked (the maps' bans are listed all the same).
        let records = match &jail {
            Some(j) if j != MANUAL_JAIL => {
                match self.jails.call_within(j, bans_of, BUSY_WAIT).await {
                    Ok(b) => b.map(|b| vec![(j.clone(), b)]).unwrap_or_default(),
                    Err(_) => {
                        reply.busy.push(j.clone());
                        Vec::new()
                    }
                }
            }
            _ => {
                let (records, busy) = self.jails.call_all_within(bans_of, BUSY_WAIT).await;
                reply.busy = busy;
                records
            }
        };
        // Merged by address, not by spelling: the maps list a target
        // canonical ("2001:db8:1::1a"); restored bans are canonical too, but
        // a jail's live ban keeps its id as the log wrote it ("2001:DB8::1A");
        // indexed, since a restored jail holds a million.
        let wanted: HashSet<Target> = targets.iter().map(|t| Target::of(t)).collect();
        // (jails are few, and a list is mostly runs of one jail)
        let mut jails: Vec<String> = Vec::new();
        let mut jail_id = |name: &str| match jails.iter().rposition(|j| j == name) {
            Some(id) => id,
            None => {
                jails.push(name.to_string());
                jails.len() - 1
            }
        };
        let mut index: HashMap<(usize, Target), usize> = HashMap::with_capacity(reply.bans.len());
        for (i, b) in reply.bans.iter().enumerate() {
            index.insert((jail_id(&b.jail), Target::of(&b.target)), i);
        }
        for (_, bans) in records {
            for b in bans {
                let key = (jail_id(&b.jail), Target::of(&b.target));
                match index.get(&key) {
                    Some(&i) => reply.bans[i].expiry = b.expiry,
                    None if wanted.is_empty() || wanted.contains(&key.1) => {
                        index.insert(key, reply.bans.len());
                        reply.bans.push(b);
                    }
                    None => {}
                }
            }
        }
        drop(index);
        if let Some(j) = &jail {
            reply.bans.retain(|b| &b.jail == j);
        }
        reply
            .bans
            .sort_unstable_by(|a, b| (&a.jail, &a.target).cmp(&(&b.jail, &b.target)));
        Response::ok(reply)
    }
}

/// What a ban is merged by: its address or prefix, whatever the spelling
/// (`2001:db8:0::1` = `2001:db8::1`), or its text when it is neither.
#[derive(Debug, PartialEq, Eq, Hash)]
enum Target {
    Net(Net),
    Text(String),
}

impl Target {
    fn of(text: &str) -> Target {
        Net::parse(text).map_or_else(|| Target::Text(text.to_string()), Target::Net)
    }
}

impl<P: BanPlane> Handler for FullControl<P> {
    async fn handle(&self, request: Request) -> Response {
        match request {
            Request::Ban {
                jail,
                targets,
                bantime,
            } => {
                let name = jail.clone().unwrap_or_else(|| MANUAL_JAIL.to_string());
                if !self.jails.contains(&name).await {
                    return self
                        .v1
                        .handle(Request::Ban {
                            jail,
                            targets,
                            bantime,
                        })
                        .await;
                }
                if targets.is_empty() {
                    return Response::bad_request("ban: no targets");
                }
                if let Err(r) = check_targets(&targets) {
                    return r;
                }
                if bantime == Some(0) {
                    return Response::bad_request("bantime must be positive, or -1 for permanent");
                }
                self.jails
                    .call(&name, move |st| jail_ban(st, &targets, bantime))
                    .await
                    .unwrap_or_else(|| no_jail(&name))
            }
            Request::Unban { jail, targets, all } => self.unban(jail, targets, all).await,
            Request::Banned { jail, targets } => self.banned(jail, targets).await,
            Request::Status { jail, flavor } => self.status(jail, flavor).await,
            Request::Get {
                jail,
                key,
                with_time,
            } => self
                .jails
                .call(&jail, move |st| get(st, &key, with_time))
                .await
                .unwrap_or_else(|| no_jail(&jail)),
            Request::Set { jail, key, values } => self
                .jails
                .call(&jail, move |st| set(st, &key, &values))
                .await
                .unwrap_or_else(|| no_jail(&jail)),
            Request::Reload {
                jail,
                unban,
                restart,
            } => match self.jails.reload(jail.as_deref(), unban, restart).await {
                Ok(done) => Response::ok(json!({ "reloaded": done, "text": "OK" })),
                Err(e) => Response::bad_request(e),
            },
            other => self.v1.handle(other).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Target;

    #[test]
    fn targets_merge_by_address_not_spelling() {
        let same = |a, b| assert_eq!(Target::of(a), Target::of(b), "{a} = {b}");
        same("2001:db8:1::0:1a", "2001:db8:1::1a");
        same("2001:DB8::1", "2001:db8::1");
        same("198.18.0.0/15", "198.18.0.0/15");
        same("::ffff:198.18.0.7", "198.18.0.7");
        same("198.18.0.7/32", "198.18.0.7");
        assert_ne!(Target::of("198.18.0.7"), Target::of("198.18.0.8"));
        assert_ne!(Target::of("198.18.0.0/16"), Target::of("198.18.0.0/15"));
        assert_eq!(
            Target::of("not an address"),
            Target::Text("not an address".into())
        );
    }
}
