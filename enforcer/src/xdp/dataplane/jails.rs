//! Jail slots (id 0..=63 by name, persisted in a pinned map so ids survive
//! restarts) and their scopes, compiled into the program's rule table.
use aya::maps::PerCpuValues;
use common::{
    Counters, JailName, MAP_COUNTERS, MAP_JAIL_NAMES, MAP_RULES, MAP_SCOPES, MAX_JAIL_NAME,
    MAX_JAILS,
};

use super::{Dataplane, Maps};
use crate::xdp::{JailScope, XdpError};

pub(super) fn check_jail(jail_id: u8) -> Result<u64, XdpError> {
    if (jail_id as usize) < MAX_JAILS {
        Ok(1u64 << jail_id)
    } else {
        Err(XdpError::JailIdOutOfRange(jail_id))
    }
}

impl Dataplane {
    /// Jail slot for a name (0..=63), allocated on first use and persisted
    /// in a pinned map, so ids survive restarts.
    pub fn jail_id(&self, jail: &str) -> Result<u8, XdpError> {
        if jail.is_empty() || jail.len() > MAX_JAIL_NAME {
            return Err(XdpError::BadJailName(jail.to_string()));
        }
        let mut m = self.lock();
        let mut free = None;
        for id in 0..MAX_JAILS as u32 {
            let n = m
                .jails
                .get(&id, 0)
                .map_err(|e| XdpError::map(MAP_JAIL_NAMES, e))?;
            if n.len == 0 {
                free = free.or(Some(id));
            } else if &n.name[..n.len as usize] == jail.as_bytes() {
                return Ok(id as u8);
            }
        }
        let id = free.ok_or_else(|| XdpError::JailSlotsFull(jail.to_string()))?;
        let mut name = JailName {
            len: jail.len() as u8,
            ..Default::default()
        };
        name.name[..jail.len()].copy_from_slice(jail.as_bytes());
        m.jails
            .set(id, name, 0)
            .map_err(|e| XdpError::map(MAP_JAIL_NAMES, e))?;
        // A fresh slot starts with the default scope (everything).
        m.scopes
            .set(id, common::JailScope::default(), 0)
            .map_err(|e| XdpError::map(MAP_SCOPES, e))?;
        compile_into(&mut m)?;
        Ok(id as u8)
    }

    /// Frees jail `jail`'s slot (a jail gone from the configuration): lifts
    /// its bans (entries banned only by it are deleted), resets its scope
    /// and zeroes its counters, so a new jail can take the id. False if no
    /// jail had that name.
    pub fn release_jail(&self, jail: &str) -> Result<bool, XdpError> {
        let Some(id) = self
            .jails()?
            .into_iter()
            .find(|(_, n)| n == jail)
            .map(|(id, _)| id)
        else {
            return Ok(false);
        };
        let bit = 1u64 << id;
        let mut m = self.lock();
        let m = &mut *m;
        let has = |v: &common::BanValue| v.jails & bit != 0;
        let keys = m.bans4.keys_where(has)?;
        m.bans4.unban_many(&keys, bit)?;
        let keys = m.bans6.keys_where(has)?;
        m.bans6.unban_many(&keys, bit)?;
        let keys = m.pfx4.keys_where(has)?;
        m.pfx4.unban_many(&keys, bit)?;
        let keys = m.pfx6.keys_where(has)?;
        m.pfx6.unban_many(&keys, bit)?;
        m.jails
            .set(id.into(), JailName::default(), 0)
            .map_err(|e| XdpError::map(MAP_JAIL_NAMES, e))?;
        m.scopes
            .set(id.into(), common::JailScope::default(), 0)
            .map_err(|e| XdpError::map(MAP_SCOPES, e))?;
        compile_into(m)?;
        // Zero its counters (the kernel may add a packet or two meanwhile).
        let per_cpu = m
            .counters
            .get(&0, 0)
            .map_err(|e| XdpError::map(MAP_COUNTERS, e))?;
        let zeroed: Vec<Counters> = per_cpu
            .iter()
            .map(|c| {
                let mut c = *c;
                c.jail_drops[id as usize] = 0;
                c.jail_observed[id as usize] = 0;
                c.jail_drop_bytes[id as usize] = 0;
                c
            })
            .collect();
        let values = PerCpuValues::try_from(zeroed).map_err(|e| XdpError::Io {
            what: "per-CPU counters",
            path: self.dir.join(MAP_COUNTERS),
            source: e,
        })?;
        m.counters
            .set(0, values, 0)
            .map_err(|e| XdpError::map(MAP_COUNTERS, e))?;
        Ok(true)
    }

    /// Every allocated jail slot: (id, name).
    pub fn jails(&self) -> Result<Vec<(u8, String)>, XdpError> {
        let m = self.lock();
        jail_names(&m).map(|names| {
            names
                .into_iter()
                .enumerate()
                .filter_map(|(i, n)| n.map(|n| (i as u8, n)))
                .collect()
        })
    }

    /// Sets which packets jail `jail_id` drops from its banned sources.
    pub fn set_scope(&self, jail_id: u8, scope: &JailScope) -> Result<(), XdpError> {
        check_jail(jail_id)?;
        let raw = scope.to_raw()?;
        let mut m = self.lock();
        let old = m
            .scopes
            .get(&(jail_id as u32), 0)
            .map_err(|e| XdpError::map(MAP_SCOPES, e))?;
        m.scopes
            .set(jail_id as u32, raw, 0)
            .map_err(|e| XdpError::map(MAP_SCOPES, e))?;
        if let Err(e) = compile_into(&mut m) {
            // Too many distinct rules: keep the previous scope in force.
            let _ = m.scopes.set(jail_id as u32, old, 0);
            return Err(e);
        }
        Ok(())
    }

    /// Recompiles the program's rule table from the per-jail scopes (done
    /// by every scope change and at load).
    pub fn compile_scopes(&self) -> Result<(), XdpError> {
        compile_into(&mut self.lock())
    }

    /// The scope of jail `jail_id`.
    pub fn scope(&self, jail_id: u8) -> Result<JailScope, XdpError> {
        check_jail(jail_id)?;
        let raw = self
            .lock()
            .scopes
            .get(&(jail_id as u32), 0)
            .map_err(|e| XdpError::map(MAP_SCOPES, e))?;
        Ok(JailScope::from_raw(&raw))
    }
}

fn compile_into(m: &mut Maps) -> Result<(), XdpError> {
    let mut scopes = [common::JailScope::default(); MAX_JAILS];
    for (id, s) in scopes.iter_mut().enumerate() {
        *s = m
            .scopes
            .get(&(id as u32), 0)
            .map_err(|e| XdpError::map(MAP_SCOPES, e))?;
    }
    let table = crate::xdp::scope::compile(&scopes)?;
    m.rules
        .set(0, table, 0)
        .map_err(|e| XdpError::map(MAP_RULES, e))
}

pub(super) fn jail_names(m: &Maps) -> Result<Vec<Option<String>>, XdpError> {
    (0..MAX_JAILS as u32)
        .map(|id| {
            let n = m
                .jails
                .get(&id, 0)
                .map_err(|e| XdpError::map(MAP_JAIL_NAMES, e))?;
            let len = (n.len as usize).min(MAX_JAIL_NAME);
            Ok((len > 0).then(|| String::from_utf8_lossy(&n.name[..len]).into_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jail_ids_are_bounded() {
        assert_eq!(check_jail(0).unwrap(), 1);
        assert_eq!(check_jail(63).unwrap(), 1 << 63);
        assert!(check_jail(64).is_err());
    }
}
