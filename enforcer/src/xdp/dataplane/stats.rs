//! The program's counters (summed over CPUs, per jail) and observe mode.
use common::{CONFIG_F_OBSERVE, MAP_CONFIG, MAP_COUNTERS, MAX_JAILS};

use super::{Dataplane, jails::jail_names};
use crate::xdp::XdpError;

/// Counters summed over CPUs.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    pub packets: u64,
    pub bytes: u64,
    pub passed: u64,
    pub passed_bytes: u64,
    pub dropped: u64,
    pub dropped_bytes: u64,
    /// Would-drops passed in observe mode (included in `passed`).
    pub observed: u64,
    pub observed_bytes: u64,
    /// Jails with a name or a non-zero counter, by id.
    pub jails: Vec<JailStats>,
    pub observe_mode: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct JailStats {
    pub id: u8,
    pub name: Option<String>,
    pub dropped: u64,
    pub dropped_bytes: u64,
    pub observed: u64,
}

impl Dataplane {
    /// Observe mode: count would-drops, pass everything.
    pub fn set_observe(&self, on: bool) -> Result<(), XdpError> {
        let mut m = self.lock();
        let mut c = m
            .config
            .get(&0, 0)
            .map_err(|e| XdpError::map(MAP_CONFIG, e))?;
        if on {
            c.flags |= CONFIG_F_OBSERVE;
        } else {
            c.flags &= !CONFIG_F_OBSERVE;
        }
        m.config
            .set(0, c, 0)
            .map_err(|e| XdpError::map(MAP_CONFIG, e))
    }

    pub fn observe(&self) -> Result<bool, XdpError> {
        let c = self
            .lock()
            .config
            .get(&0, 0)
            .map_err(|e| XdpError::map(MAP_CONFIG, e))?;
        Ok(c.flags & CONFIG_F_OBSERVE != 0)
    }

    /// The program's counters, summed over CPUs.
    pub fn stats(&self) -> Result<Stats, XdpError> {
        let m = self.lock();
        let per_cpu = m
            .counters
            .get(&0, 0)
            .map_err(|e| XdpError::map(MAP_COUNTERS, e))?;
        let mut s = Stats::default();
        let mut drops = [0u64; MAX_JAILS];
        let mut observed = [0u64; MAX_JAILS];
        let mut drop_bytes = [0u64; MAX_JAILS];
        for c in per_cpu.iter() {
            s.packets += c.seen_packets;
            s.bytes += c.seen_bytes;
            s.passed += c.passed_packets;
            s.passed_bytes += c.passed_bytes;
            s.dropped += c.dropped_packets;
            s.dropped_bytes += c.dropped_bytes;
            s.observed += c.observed_packets;
            s.observed_bytes += c.observed_bytes;
            for j in 0..MAX_JAILS {
                drops[j] += c.jail_drops[j];
                observed[j] += c.jail_observed[j];
                drop_bytes[j] += c.jail_drop_bytes[j];
            }
        }
        let names = jail_names(&m)?;
        for j in 0..MAX_JAILS {
            if names[j].is_some() || drops[j] != 0 || observed[j] != 0 {
                s.jails.push(JailStats {
                    id: j as u8,
                    name: names[j].clone(),
                    dropped: drops[j],
                    dropped_bytes: drop_bytes[j],
                    observed: observed[j],
                });
            }
        }
        let c = m
            .config
            .get(&0, 0)
            .map_err(|e| XdpError::map(MAP_CONFIG, e))?;
        s.observe_mode = c.flags & CONFIG_F_OBSERVE != 0;
        Ok(s)
    }
}
