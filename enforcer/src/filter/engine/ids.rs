//! Owns the last step of a match: its failure ids (F-ID, ip4, ip6, dns,
//! resolved when `usedns = yes`) and the [`Failure`] the jail receives.
use std::net::IpAddr;

use super::Tracker;
use crate::filter::multiline::{FailData, TLine};
use crate::filter::{Failure, UseDns};

impl Tracker {
    /// The failure ids of a match (None: pending, no id yet).
    pub(super) fn failure_ids(
        &mut self,
        _i: usize,
        fd: &mut FailData,
        has_mlfid: bool,
    ) -> Option<Vec<(String, Option<IpAddr>)>> {
        let raw_default = self.opts.raw_host || self.opts.usedns == UseDns::Raw;
        let mut fid = fd.g.get("fid").cloned();
        let (ip, raw) = if let Some(v) = fd.g.get("ip4") {
            (Some(v.clone()), true)
        } else if let Some(v) = fd.g.get("ip6") {
            (Some(v.clone()), true)
        } else if let Some(v) = fd.g.get("dns") {
            (Some(v.clone()), raw_default)
        } else {
            if fid.is_none() && !has_mlfid {
                // fail2ban raises "No group found" here and skips the regex.
                return None;
            }
            (fid.clone(), true)
        };
        let Some(ip) = ip else {
            fd.g.insert("mlfpending".into(), "1".into());
            return None;
        };
        if raw {
            let ip_n = normalize(&ip);
            let id = match fid.take() {
                Some(f) if f != ip => {
                    fd.ip = Some(ip_n.0.clone());
                    normalize(&f)
                }
                _ => ip_n,
            };
            return Some(vec![id]);
        }
        if let Ok(a) = ip.trim_matches(|c| c == '[' || c == ']').parse::<IpAddr>() {
            let a = unmap(a);
            return Some(vec![(a.to_string(), Some(a))]);
        }
        match self.resolver.as_mut() {
            Some(r) => Some(
                r.resolve(&ip)
                    .into_iter()
                    .map(unmap)
                    .map(|a| (a.to_string(), Some(a)))
                    .collect(),
            ),
            None => {
                if !self.dns_warned {
                    self.dns_warned = true;
                    log::warn!(
                        "filter {}: host name {ip:?} not resolved (usedns is not 'yes'); such failures are dropped",
                        self.name
                    );
                }
                Some(Vec::new())
            }
        }
    }
}

fn unmap(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(a),
        v4 => v4,
    }
}

/// fail2ban's `IPAddr(text)`: an address in canonical form, else the text.
fn normalize(s: &str) -> (String, Option<IpAddr>) {
    match s.trim_matches(|c| c == '[' || c == ']').parse::<IpAddr>() {
        Ok(a) => {
            let a = unmap(a);
            (a.to_string(), Some(a))
        }
        Err(_) => (s.to_string(), None),
    }
}

pub(super) fn make_failure(
    regex: usize,
    fid: String,
    addr: Option<IpAddr>,
    fd: &FailData,
    time: f64,
) -> Failure {
    let host = ["ip4", "ip6", "dns"]
        .iter()
        .find_map(|k| fd.g.get(*k))
        .cloned();
    let addr = addr.or_else(|| fd.ip.as_deref().and_then(|ip| normalize(ip).1));
    let fields =
        fd.g.iter()
            .filter(|(k, _)| {
                !matches!(&***k, "nofail" | "mlfpending" | "content") && !k.starts_with("skiplines")
            })
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
    let mut users = fd.users.clone().unwrap_or_default();
    users.sort();
    Failure {
        fid,
        host,
        addr,
        time,
        fields,
        users,
        matches: fd
            .matches
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(TLine::full)
            .collect(),
        nofail: fd.truthy("nofail"),
        regex,
    }
}
