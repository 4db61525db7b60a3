//! The allow list: addresses and prefixes whose packets pass whatever the
//! bans say (`ignoreip` pushed down to the program).
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use aya::maps::lpm_trie::Key;
use common::{AllowValue, MAP_ALLOW_V4, MAP_ALLOW_V6};

use super::{
    Dataplane, lpm_net,
    table::{BPF_ANY, remove_ok, update_err},
    v4, v6,
};
use crate::xdp::{IpNet, XdpError};

impl Dataplane {
    /// Allow-lists `net`: its packets pass whatever bans say.
    pub fn allow_add(&self, net: IpNet) -> Result<(), XdpError> {
        let mut m = self.lock();
        let v = AllowValue { flags: 0 };
        match net.addr() {
            IpAddr::V4(a) => {
                let cap = m.allow_cap[0];
                m.allow4
                    .insert(&Key::new(net.prefix_len().into(), v4(a)), v, BPF_ANY)
                    .map_err(|e| update_err(MAP_ALLOW_V4, cap, e))
            }
            IpAddr::V6(a) => {
                let cap = m.allow_cap[1];
                m.allow6
                    .insert(&Key::new(net.prefix_len().into(), v6(a)), v, BPF_ANY)
                    .map_err(|e| update_err(MAP_ALLOW_V6, cap, e))
            }
        }
    }

    /// Removes exactly `net` from the allow list; true if it was there.
    pub fn allow_remove(&self, net: IpNet) -> Result<bool, XdpError> {
        let mut m = self.lock();
        let r = match net.addr() {
            IpAddr::V4(a) => m.allow4.remove(&Key::new(net.prefix_len().into(), v4(a))),
            IpAddr::V6(a) => m.allow6.remove(&Key::new(net.prefix_len().into(), v6(a))),
        };
        let map = if net.addr().is_ipv4() {
            MAP_ALLOW_V4
        } else {
            MAP_ALLOW_V6
        };
        Ok(remove_ok(r, map)? == 1)
    }

    /// The allow list.
    pub fn allow_list(&self) -> Result<Vec<IpNet>, XdpError> {
        let m = self.lock();
        let mut out = Vec::new();
        for r in m.allow4.keys() {
            let k = r.map_err(|e| XdpError::map(MAP_ALLOW_V4, e))?;
            out.push(lpm_net(
                Ipv4Addr::from(k.data().addr).into(),
                k.prefix_len(),
            ));
        }
        for r in m.allow6.keys() {
            let k = r.map_err(|e| XdpError::map(MAP_ALLOW_V6, e))?;
            out.push(lpm_net(
                Ipv6Addr::from(k.data().addr).into(),
                k.prefix_len(),
            ));
        }
        out.sort();
        Ok(out)
    }
}
