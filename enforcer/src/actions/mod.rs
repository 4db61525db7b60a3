//! Owns what happens on ban and unban: the per-jail [`Actions`] manager
//! (fail2ban's `server/actions.py`), command actions from action.d, and the
//! built-in XDP action.
//!
//! - [`info`]: ActionInfo, the lazily computed tags of a ban;
//! - [`subst`]: static and dynamic tag substitution (values never become
//!   script text);
//! - [`exec`]: `/bin/sh` with timeout and process-group kill;
//! - [`command`]: the command action lifecycle with check/repair;
//! - [`xdp`]: the XDP action and the [`xdp::BanTable`] it writes through;
//! - [`dataplane`]: [`xdp::BanTable`] on `crate::xdp::Dataplane`;
//! - [`mode`]: `--mode auto|xdp|commands` and the action mapping;
//! - [`status`]: `fail2ban-client status` output;
//! - [`unstored`]: bans and unbans the store refused, offered again (in
//!   order) until it takes them.
//!
//! One `Actions` belongs to one jail and is driven from that jail's thread,
//! so each action sees its commands in order; jails run in parallel.
use std::sync::Arc;

use crate::jail::{BanManager, BanStore, Found, Net, NotAdded};

pub mod command;
pub mod dataplane;
pub mod exec;
pub mod info;
pub mod mode;
pub mod status;
pub mod subst;
pub mod xdp;

mod manager;
mod restore;
mod unstored;

pub use command::CommandAction;
pub use info::{ActionInfo, JailView};
pub use manager::wall_now;
pub use mode::{ActionSpec, Mode, ModeDecision, decide, plan};
pub use status::{Flavor, JailStatus, Section};
pub use xdp::{BanTable, Scope, TableError, XdpAction};

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("action {0} already exists")]
    Exists(String),
    #[error("invalid action name: {0}")]
    Unknown(String),
    #[error("error {op} action {action}: {what}")]
    Failed {
        action: String,
        op: String,
        what: String,
    },
    #[error(transparent)]
    Exec(#[from] exec::ExecError),
    #[error(transparent)]
    Subst(#[from] subst::SubstError),
    #[error("action {action}: XDP: {what}")]
    Xdp { action: String, what: String },
    #[error("action {action}: {what}")]
    Invalid { action: String, what: String },
    #[error("{0}")]
    Mode(String),
    #[error("not banned: {0:?}")]
    NotBanned(Vec<String>),
    #[error("{0:?} is not an IP address or CIDR")]
    BadTarget(String),
}

/// One action of a jail.
#[derive(Debug)]
pub enum ActionImpl {
    Command(CommandAction),
    Xdp(XdpAction),
}

/// What [`Actions::ban_ticket`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BanOutcome {
    /// A new ban (actions ran).
    pub added: bool,
    /// Already banned; its end moved later (prolong ran).
    pub prolonged: bool,
    /// Its ban would already have ended.
    pub expired: bool,
    /// Actions whose command failed (logged).
    pub failed: Vec<String>,
}

/// The per-jail Actions manager.
pub struct Actions {
    jail: String,
    list: Vec<(String, ActionImpl)>,
    bans: BanManager,
    store: Option<Arc<dyn BanStore>>,
    table: Option<Arc<dyn BanTable>>,
    found: Found,
    reloading: Option<Vec<(String, ActionSpec)>>,
    flush_on_stop: bool,
    unstored: unstored::Unstored,
}

impl std::fmt::Debug for Actions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actions")
            .field("jail", &self.jail)
            .field("list", &self.list)
            .field("bans", &self.bans)
            .finish()
    }
}

/// Parses a manual ban/unban target: an address (`::ffff:` stripped) or a CIDR.
pub fn parse_target(s: &str) -> Result<(String, Option<std::net::IpAddr>), ActionError> {
    let net = Net::parse(s).ok_or_else(|| ActionError::BadTarget(s.to_string()))?;
    if net.is_single() {
        Ok((net.addr.to_string(), Some(net.addr)))
    } else {
        Ok((net.to_string(), None))
    }
}

/// `YYYY-mm-dd HH:MM:SS` in local time (fail2ban's `MyTime.time2str`).
pub fn time2str(t: f64) -> String {
    let secs = t.min(253_402_300_799.0) as libc::time_t;
    // SAFETY: zeroed tm is valid; localtime_r writes into it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    if unsafe { libc::localtime_r(&secs, &mut tm) }.is_null() {
        return t.to_string();
    }
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

impl Actions {
    /// An empty manager; `table` is the data plane (needed for XDP actions),
    /// `store` the ban database.
    pub fn new(
        jail: &str,
        bantime: i64,
        table: Option<Arc<dyn BanTable>>,
        store: Option<Arc<dyn BanStore>>,
    ) -> Actions {
        Actions {
            jail: jail.to_string(),
            list: Vec::new(),
            bans: BanManager::new(bantime),
            store,
            table,
            found: Found::default(),
            reloading: None,
            flush_on_stop: false,
            unstored: unstored::Unstored::default(),
        }
    }

    pub fn jail(&self) -> &str {
        &self.jail
    }
    pub fn names(&self) -> Vec<&str> {
        self.list.iter().map(|(n, _)| n.as_str()).collect()
    }
    pub fn get(&self, name: &str) -> Option<&ActionImpl> {
        self.list.iter().find(|(n, _)| n == name).map(|(_, a)| a)
    }
    pub fn get_mut(&mut self, name: &str) -> Option<&mut ActionImpl> {
        self.list
            .iter_mut()
            .find(|(n, _)| n == name)
            .map(|(_, a)| a)
    }
    pub fn bantime(&self) -> i64 {
        self.bans.bantime()
    }
    pub fn ban_manager(&self) -> &BanManager {
        &self.bans
    }
    /// The jail's failure counters, for the `jail.found*` tags.
    pub fn set_found(&mut self, found: Found) {
        self.found = found;
    }
    /// Remove XDP entries when the jail stops (`enforcer unload`,
    /// `reload --unban`).
    pub fn set_flush_on_stop(&mut self, v: bool) {
        self.flush_on_stop = v;
        for (_, a) in &mut self.list {
            if let ActionImpl::Xdp(x) = a {
                x.flush_on_stop = v;
            }
        }
    }
    pub fn is_banned(&self, id: &str) -> bool {
        self.bans.contains(id)
    }
    /// When the next ban ends (for the caller's timer).
    pub fn next_unban(&self) -> Option<f64> {
        self.bans.next_unban()
    }

    fn build(&self, name: &str, spec: &ActionSpec) -> Result<ActionImpl, ActionError> {
        Ok(match spec {
            ActionSpec::Command {
                file,
                properties,
                family,
            } => ActionImpl::Command(CommandAction::new(
                name, file, &self.jail, properties, family,
            )?),
            ActionSpec::Xdp { scope } => {
                let table = self.table.clone().ok_or_else(|| ActionError::Xdp {
                    action: name.to_string(),
                    what: "no data plane (XDP not attached)".into(),
                })?;
                let mut x = XdpAction::new(name, table, scope.clone());
                x.flush_on_stop = self.flush_on_stop;
                ActionImpl::Xdp(x)
            }
        })
    }

    /// fail2ban's `add`: a new action, an error if the name exists (during
    /// a reload, an existing name is kept and reconfigured at the end).
    pub fn add(&mut self, name: &str, spec: ActionSpec) -> Result<(), ActionError> {
        if let Some(r) = self.reloading.as_mut() {
            if r.iter().any(|(n, _)| n == name) {
                return Err(ActionError::Exists(name.to_string()));
            }
            r.push((name.to_string(), spec));
            return Ok(());
        }
        if self.get(name).is_some() {
            return Err(ActionError::Exists(name.to_string()));
        }
        let a = self.build(name, &spec)?;
        self.list.push((name.to_string(), a));
        Ok(())
    }

    /// The Actions of a configured jail: every action of `def`, in order,
    /// mapped by the mode decision. Nothing is started yet.
    pub fn from_def(
        def: &crate::config::JailDef,
        decision: &ModeDecision,
        table: Option<Arc<dyn BanTable>>,
        store: Option<Arc<dyn BanStore>>,
    ) -> Result<Actions, ActionError> {
        let mut a = Actions::new(&def.name, def.bantime, table, store);
        for d in &def.actions {
            a.add_def(d, decision)?;
        }
        Ok(a)
    }

    /// Adds a configured action, mapped by the mode decision (a blocking
    /// action becomes the XDP action when XDP is attached).
    pub fn add_def(
        &mut self,
        def: &crate::config::ActionDef,
        decision: &ModeDecision,
    ) -> Result<(), ActionError> {
        let spec = plan(&def.name, &def.file, &def.properties, &def.family, decision)?;
        self.add(&def.name, spec)
    }
}

#[cfg(test)]
mod tests;

impl From<NotAdded> for BanOutcome {
    fn from(n: NotAdded) -> BanOutcome {
        match n {
            NotAdded::Expired => BanOutcome {
                expired: true,
                ..Default::default()
            },
            NotAdded::AlreadyBanned { prolonged } => BanOutcome {
                prolonged,
                ..Default::default()
            },
        }
    }
}
