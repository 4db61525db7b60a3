//! An in-memory data plane for unit tests.
use super::*;

#[derive(Default)]
pub struct FakePlane {
    pub jails: Mutex<Vec<String>>,
    pub bans: Mutex<HashMap<(IpNet, u8), Option<i64>>>,
    pub capacity: usize,
}

impl FakePlane {
    pub fn with_capacity(capacity: usize) -> FakePlane {
        FakePlane {
            capacity,
            ..FakePlane::default()
        }
    }
}

impl BanPlane for FakePlane {
    fn jail_id(&self, jail: &str) -> Result<u8, PlaneError> {
        let mut j = self.jails.lock().unwrap();
        if let Some(i) = j.iter().position(|n| n == jail) {
            return Ok(i as u8);
        }
        if j.len() == 64 {
            return Err(PlaneError::BadJail("too many jails".into()));
        }
        j.push(jail.to_string());
        Ok((j.len() - 1) as u8)
    }
    fn jails(&self) -> Result<Vec<(u8, String)>, PlaneError> {
        let j = self.jails.lock().unwrap();
        Ok(j.iter()
            .enumerate()
            .map(|(i, n)| (i as u8, n.clone()))
            .collect())
    }
    fn ban(&self, net: IpNet, jail: u8, expiry: Option<i64>) -> Result<(), PlaneError> {
        let mut b = self.bans.lock().unwrap();
        if !b.contains_key(&(net, jail)) && b.len() >= self.capacity {
            return Err(PlaneError::Full("ban map full".into()));
        }
        b.insert((net, jail), expiry);
        Ok(())
    }
    fn unban(&self, net: IpNet, jail: u8) -> Result<bool, PlaneError> {
        Ok(self.bans.lock().unwrap().remove(&(net, jail)).is_some())
    }
    fn unban_all_jails(&self, net: IpNet) -> Result<bool, PlaneError> {
        let mut b = self.bans.lock().unwrap();
        let before = b.len();
        b.retain(|k, _| k.0 != net);
        Ok(b.len() != before)
    }
    fn clear(&self) -> Result<usize, PlaneError> {
        let mut b = self.bans.lock().unwrap();
        let n = b.len();
        b.clear();
        Ok(n)
    }
    fn purge_expired(&self) -> Result<usize, PlaneError> {
        let t = now();
        let mut b = self.bans.lock().unwrap();
        let before = b.len();
        b.retain(|_, e| e.is_none_or(|e| e > t));
        Ok(before - b.len())
    }
    fn stats(&self) -> Result<PlaneStats, PlaneError> {
        Ok(PlaneStats::default())
    }
    fn list(&self) -> Result<Vec<Ban>, PlaneError> {
        let mut v: Vec<Ban> = self
            .bans
            .lock()
            .unwrap()
            .iter()
            .map(|(&(net, jail), &expiry)| Ban { net, jail, expiry })
            .collect();
        v.sort_by_key(|b| (b.net, b.jail));
        Ok(v)
    }
}
