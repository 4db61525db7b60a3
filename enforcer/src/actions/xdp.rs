//! Owns the built-in XDP action (`banaction = xdp`, `xdp[port="ssh,2222",
//! protocol=tcp]`, `xdp[type=allports]`): the jail's scope (protocols and
//! port ranges, service names resolved via /etc/services) and the writes of
//! ban entries with their kernel-side expiry, through the [`BanTable`] trait
//! that `crate::xdp::Dataplane` implements. Entries stay in the maps when
//! the daemon stops (bans survive a restart) unless the operator asks for a
//! flush.
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use super::ActionError;
use super::info::ActionInfo;
use crate::jail::{Net, Ticket};

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TableError(pub String);

/// Transport protocols a jail's bans apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Protocols {
    pub tcp: bool,
    pub udp: bool,
    pub sctp: bool,
    /// Every protocol (and packets without ports).
    pub all: bool,
}

/// What a jail's bans block: protocols and up to [`MAX_RANGES`] inclusive
/// port ranges (empty = every port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub protocols: Protocols,
    pub ports: Vec<(u16, u16)>,
}

pub const MAX_RANGES: usize = 8;

impl Scope {
    pub fn all() -> Scope {
        Scope {
            protocols: Protocols {
                all: true,
                ..Default::default()
            },
            ports: Vec::new(),
        }
    }
    pub fn all_ports(&self) -> bool {
        self.ports.is_empty()
    }
}

/// The data plane, as far as the XDP action needs it.
pub trait BanTable: Send + Sync {
    /// The jail's slot in the maps.
    fn jail_id(&self, jail: &str) -> Result<u8, TableError>;
    fn set_scope(&self, jail_id: u8, scope: &Scope) -> Result<(), TableError>;
    /// `expiry`: wall-clock unix seconds, `None` = permanent.
    fn ban(&self, net: Net, jail_id: u8, expiry: Option<i64>) -> Result<(), TableError>;
    fn unban(&self, net: Net, jail_id: u8) -> Result<bool, TableError>;
    /// Lifts the jail's ban on each net; how many it had (the data plane
    /// does this in one pass).
    fn unban_many(&self, nets: &[Net], jail_id: u8) -> Result<usize, TableError> {
        let mut n = 0;
        for net in nets {
            n += usize::from(self.unban(*net, jail_id)?);
        }
        Ok(n)
    }
    /// Bans each `(net, expiry)` in order (the data plane batches them).
    fn ban_many(&self, bans: &[(Net, Option<i64>)], jail_id: u8) -> Result<(), TableError> {
        for (net, expiry) in bans {
            self.ban(*net, jail_id, *expiry)?;
        }
        Ok(())
    }
    /// [`BanTable::ban_many`] for bans arriving in chunks, `hint` in all
    /// (a restore: written while the jail still reads them).
    fn ban_stream(
        &self,
        hint: usize,
        chunks: &mut dyn Iterator<Item = Vec<(Net, Option<i64>)>>,
        jail_id: u8,
    ) -> Result<(), TableError> {
        let _ = hint;
        for c in chunks {
            self.ban_many(&c, jail_id)?;
        }
        Ok(())
    }
}

fn services() -> &'static BTreeMap<(String, String), u16> {
    static S: std::sync::OnceLock<BTreeMap<(String, String), u16>> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        let mut m = BTreeMap::new();
        if let Ok(text) = std::fs::read_to_string("/etc/services") {
            for line in text.lines() {
                let line = line.split('#').next().unwrap_or("");
                let mut w = line.split_whitespace();
                let (Some(name), Some(pp)) = (w.next(), w.next()) else {
                    continue;
                };
                let Some((port, proto)) = pp.split_once('/') else {
                    continue;
                };
                let Ok(port) = port.parse::<u16>() else {
                    continue;
                };
                for n in std::iter::once(name).chain(w) {
                    m.entry((n.to_string(), proto.to_string())).or_insert(port);
                }
            }
        }
        m
    })
}

/// A port number or a service name from /etc/services.
pub fn resolve_port(p: &str, protocols: &Protocols) -> Result<u16, String> {
    let p = p.trim();
    if let Ok(n) = p.parse::<u16>() {
        return Ok(n);
    }
    let s = services();
    let mut protos = Vec::new();
    if protocols.tcp || protocols.all {
        protos.push("tcp");
    }
    if protocols.udp || protocols.all {
        protos.push("udp");
    }
    if protocols.sctp || protocols.all {
        protos.push("sctp");
    }
    protos.extend(["tcp", "udp"]);
    protos
        .iter()
        .find_map(|pr| s.get(&(p.to_string(), pr.to_string())).copied())
        .ok_or_else(|| format!("unknown port or service {p:?} (not in /etc/services)"))
}

/// What a ticket becomes in the maps when banned in bulk: its address (or
/// the CIDR its id is) and its expiry, unix seconds (`None`: permanent);
/// `None` when the id is neither.
pub fn entry_of(t: &Ticket, default_bantime: i64) -> Option<(Net, Option<i64>)> {
    let net = match t.ip {
        Some(ip) => Net::single(ip),
        None => Net::parse(&t.fid)?,
    };
    let expiry = match t.ban_time_or(default_bantime) {
        -1 => None,
        bt => Some((t.time + bt as f64).ceil() as i64),
    };
    Some((net, expiry))
}

/// Parses the action's `port`, `protocol` and `type` options into a scope.
pub fn parse_scope(
    port: Option<&str>,
    protocol: Option<&str>,
    kind: Option<&str>,
) -> Result<Scope, String> {
    let mut protocols = Protocols::default();
    let proto = protocol
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .unwrap_or("tcp");
    for p in proto
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
    {
        match p.to_ascii_lowercase().as_str() {
            "tcp" => protocols.tcp = true,
            "udp" | "udplite" => protocols.udp = true,
            "sctp" => protocols.sctp = true,
            "all" | "any" | "ip" => protocols.all = true,
            other => return Err(format!("unknown protocol {other:?}")),
        }
    }
    let allports = kind.is_some_and(|k| k.trim() == "allports");
    let port = port.map(str::trim).unwrap_or("");
    if allports || port.is_empty() || port == "any" || port == "all" {
        return Ok(Scope {
            protocols,
            ports: Vec::new(),
        });
    }
    let spec = port.trim_start_matches('{').trim_end_matches('}');
    let mut ranges = Vec::new();
    for part in spec
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
    {
        let (a, b) = match part.split_once(':').or_else(|| part.split_once('-')) {
            Some((a, b)) => (resolve_port(a, &protocols)?, resolve_port(b, &protocols)?),
            None => {
                let p = resolve_port(part, &protocols)?;
                (p, p)
            }
        };
        if a > b {
            return Err(format!("port range {part:?} is reversed"));
        }
        ranges.push((a, b));
    }
    ranges.sort();
    let mut merged: Vec<(u16, u16)> = Vec::new();
    for (a, b) in ranges {
        match merged.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    if merged == [(0, 65535)] || merged == [(1, 65535)] {
        merged.clear();
    }
    if merged.len() > MAX_RANGES {
        return Err(format!(
            "{} port ranges; the data plane holds at most {MAX_RANGES}",
            merged.len()
        ));
    }
    Ok(Scope {
        protocols,
        ports: merged,
    })
}

/// The built-in XDP action of one jail.
pub struct XdpAction {
    name: String,
    table: Arc<dyn BanTable>,
    jail_id: Option<u8>,
    scope: Scope,
    /// What this action banned one by one (unbans take them out).
    entries: HashSet<Net, foldhash::fast::RandomState>,
    /// What it banned in bulk at start: a list, since a set of a million
    /// cost a tenth of the restore. Unbans leave them here; a flush lifts
    /// the jail's ban on each, which is a no-op for one already lifted.
    restored: Vec<Net>,
    /// Remove this action's entries when the jail stops (`enforcer unload`,
    /// `reload --unban`); off by default so bans survive restarts.
    pub flush_on_stop: bool,
}

impl std::fmt::Debug for XdpAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpAction")
            .field("name", &self.name)
            .field("jail_id", &self.jail_id)
            .field("scope", &self.scope)
            .finish()
    }
}

/// The net a ban id stands for: its address, or a CIDR id (`198.18.0.0/24`).
pub fn ban_net(info: &ActionInfo) -> Option<Net> {
    let t = info.ticket();
    match t.ip {
        Some(ip) => Some(Net::single(ip)),
        None => Net::parse(&t.fid),
    }
}

impl XdpAction {
    pub fn new(name: &str, table: Arc<dyn BanTable>, scope: Scope) -> XdpAction {
        XdpAction {
            name: name.into(),
            table,
            jail_id: None,
            scope,
            entries: HashSet::default(),
            restored: Vec::new(),
            flush_on_stop: false,
        }
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn scope(&self) -> &Scope {
        &self.scope
    }
    fn err(&self, e: TableError) -> ActionError {
        ActionError::Xdp {
            action: self.name.clone(),
            what: e.to_string(),
        }
    }

    /// Allocates the jail's slot and writes its scope.
    pub fn start(&mut self, jail: &str) -> Result<(), ActionError> {
        let id = self.table.jail_id(jail).map_err(|e| self.err(e))?;
        self.table
            .set_scope(id, &self.scope)
            .map_err(|e| self.err(e))?;
        self.jail_id = Some(id);
        Ok(())
    }

    /// New scope on reload: one map write, no ban/unban storm.
    pub fn reconfigure(&mut self, scope: Scope) -> Result<(), ActionError> {
        if scope != self.scope {
            if let Some(id) = self.jail_id {
                self.table.set_scope(id, &scope).map_err(|e| self.err(e))?;
            }
            self.scope = scope;
        }
        Ok(())
    }

    fn id(&self) -> Result<u8, ActionError> {
        self.jail_id.ok_or_else(|| ActionError::Xdp {
            action: self.name.clone(),
            what: "not started".into(),
        })
    }

    pub fn ban(&mut self, info: &ActionInfo, default_bantime: i64) -> Result<(), ActionError> {
        let id = self.id()?;
        let t = info.ticket();
        let net = ban_net(info).ok_or_else(|| ActionError::Xdp {
            action: self.name.clone(),
            what: format!("{:?} is not an address or CIDR", t.fid),
        })?;
        let expiry = match t.ban_time_or(default_bantime) {
            -1 => None,
            bt => Some((t.time + bt as f64).ceil() as i64),
        };
        self.table.ban(net, id, expiry).map_err(|e| self.err(e))?;
        self.entries.insert(net);
        Ok(())
    }

    /// Bans many tickets at once (a restore at start); tickets that are
    /// not an address or CIDR are skipped.
    pub fn ban_many(
        &mut self,
        tickets: &[Ticket],
        default_bantime: i64,
    ) -> Result<(), ActionError> {
        self.id()?;
        let bans = tickets
            .iter()
            .filter_map(|t| entry_of(t, default_bantime))
            .collect();
        self.ban_entries(bans)
    }

    /// Bans `(net, expiry)` entries made by [`entry_of`], by the batch.
    pub fn ban_entries(&mut self, bans: Vec<(Net, Option<i64>)>) -> Result<(), ActionError> {
        let id = self.id()?;
        self.table.ban_many(&bans, id).map_err(|e| self.err(e))?;
        self.restored.extend(bans.iter().map(|(n, _)| *n));
        Ok(())
    }

    /// [`XdpAction::ban_entries`] for entries arriving in chunks, `hint`
    /// in all: the data plane writes them while the sender makes more.
    pub fn ban_stream(
        &mut self,
        hint: usize,
        chunks: impl Iterator<Item = Vec<(Net, Option<i64>)>>,
    ) -> Result<(), ActionError> {
        let id = self.id()?;
        let restored = &mut self.restored;
        let mut chunks = chunks.inspect(|c| restored.extend(c.iter().map(|(n, _)| *n)));
        let r = self.table.ban_stream(hint, &mut chunks, id);
        drop(chunks);
        r.map_err(|e| self.err(e))
    }

    pub fn unban(&mut self, info: &ActionInfo) -> Result<(), ActionError> {
        let id = self.id()?;
        if let Some(net) = ban_net(info) {
            self.table.unban(net, id).map_err(|e| self.err(e))?;
            self.entries.remove(&net);
        }
        Ok(())
    }

    /// Flush on stop: keeps entries unless `flush_on_stop` (or `force`, for
    /// an action removed by reload).
    pub fn flush(&mut self, force: bool) -> Result<(), ActionError> {
        if !(force || self.flush_on_stop) {
            return Ok(());
        }
        let id = self.id()?;
        let mut nets: Vec<Net> = std::mem::take(&mut self.restored);
        nets.extend(std::mem::take(&mut self.entries));
        self.table.unban_many(&nets, id).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// What this action banned (bans restored in bulk and since lifted
    /// one by one included).
    pub fn entries(&self) -> impl Iterator<Item = &Net> {
        self.restored.iter().chain(self.entries.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_from_options() {
        let s = parse_scope(Some("ssh,2222"), Some("tcp"), None).unwrap();
        assert_eq!(s.ports, vec![(22, 22), (2222, 2222)]);
        assert!(s.protocols.tcp && !s.protocols.udp && !s.protocols.all);
        let s = parse_scope(Some("http,https"), None, None).unwrap();
        assert_eq!(s.ports, vec![(80, 80), (443, 443)]);
        let s = parse_scope(Some("1000:2000,1500-2500,2501"), Some("udp"), None).unwrap();
        assert_eq!(s.ports, vec![(1000, 2501)]);
        assert!(s.protocols.udp);
        assert!(
            parse_scope(Some("0:65535"), None, None)
                .unwrap()
                .all_ports()
        );
        assert!(
            parse_scope(Some("ssh"), None, Some("allports"))
                .unwrap()
                .all_ports()
        );
        assert!(parse_scope(None, Some("all"), None).unwrap().protocols.all);
        assert!(parse_scope(Some("nosuchservice"), None, None).is_err());
        assert!(parse_scope(Some("20:10"), None, None).is_err());
        assert!(parse_scope(Some("ssh"), Some("gre"), None).is_err());
        let nine = (1..=9)
            .map(|i| (i * 10).to_string())
            .collect::<Vec<_>>()
            .join(",");
        assert!(parse_scope(Some(&nine), None, None).is_err());
    }
}
