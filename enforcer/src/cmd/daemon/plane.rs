//! The daemon's [`BanPlane`]s: the pinned XDP maps of `crate::xdp`
//! ([`XdpPlane`]), or [`NoPlane`] when the program cannot load (no
//! CAP_BPF, a kernel without BPF): then only configured jails ban, with
//! their command actions, and what needs the maps is refused with why.
use super::bans::{Ban, BanPlane, JailStats, PlaneError, PlaneStats};
use crate::{
    control::IpNet,
    xdp::{Dataplane, XdpError},
};

/// The XDP data plane as the ban book sees it.
pub struct XdpPlane(pub Dataplane);

fn plane_error(e: XdpError) -> PlaneError {
    match e {
        XdpError::MapFull { .. } => PlaneError::Full(e.to_string()),
        XdpError::JailSlotsFull(_) | XdpError::BadJailName(_) | XdpError::JailIdOutOfRange(_) => {
            PlaneError::BadJail(e.to_string())
        }
        other => PlaneError::Other(other.to_string()),
    }
}

impl BanPlane for XdpPlane {
    fn jail_id(&self, jail: &str) -> Result<u8, PlaneError> {
        self.0.jail_id(jail).map_err(plane_error)
    }

    fn jails(&self) -> Result<Vec<(u8, String)>, PlaneError> {
        self.0.jails().map_err(plane_error)
    }

    fn ban(&self, net: IpNet, jail: u8, expiry: Option<i64>) -> Result<(), PlaneError> {
        self.0.ban(net, jail, expiry).map_err(plane_error)
    }

    fn ban_many(
        &self,
        nets: &[IpNet],
        jail: u8,
        expiry: Option<i64>,
    ) -> Result<(), (usize, PlaneError)> {
        let bans: Vec<(IpNet, Option<i64>)> = nets.iter().map(|n| (*n, expiry)).collect();
        self.0
            .ban_many(&bans, jail)
            .map_err(|(done, e)| (done, plane_error(e)))
    }

    fn ban_many_at(
        &self,
        bans: &[(IpNet, Option<i64>)],
        jail: u8,
    ) -> Result<(), (usize, PlaneError)> {
        self.0
            .ban_many(bans, jail)
            .map_err(|(done, e)| (done, plane_error(e)))
    }

    fn unban(&self, net: IpNet, jail: u8) -> Result<bool, PlaneError> {
        self.0.unban(net, jail).map_err(plane_error)
    }

    fn unban_all_jails(&self, net: IpNet) -> Result<bool, PlaneError> {
        self.0.unban_all_jails(net).map_err(plane_error)
    }

    fn clear(&self) -> Result<usize, PlaneError> {
        self.0.clear().map_err(plane_error)
    }

    fn purge_expired(&self) -> Result<usize, PlaneError> {
        self.0.purge_expired().map_err(plane_error)
    }

    fn list(&self) -> Result<Vec<Ban>, PlaneError> {
        let entries = self.0.list().map_err(plane_error)?;
        Ok(entries
            .into_iter()
            .flat_map(|e| {
                e.jail_ids.into_iter().map(move |jail| Ban {
                    net: e.net,
                    jail,
                    expiry: e.expiry,
                })
            })
            .collect())
    }

    fn list_of(&self, mask: u64) -> Result<Vec<Ban>, PlaneError> {
        let bans = self.0.bans_of(mask).map_err(plane_error)?;
        Ok(bans
            .into_iter()
            .map(|(net, jail, expiry)| Ban { net, jail, expiry })
            .collect())
    }

    fn stats(&self) -> Result<PlaneStats, PlaneError> {
        let s = self.0.stats().map_err(plane_error)?;
        Ok(PlaneStats {
            seen_packets: s.packets,
            seen_bytes: s.bytes,
            passed_packets: s.passed,
            passed_bytes: s.passed_bytes,
            dropped_packets: s.dropped,
            dropped_bytes: s.dropped_bytes,
            observed_packets: s.observed,
            observed_bytes: s.observed_bytes,
            jails: s
                .jails
                .into_iter()
                .map(|j| JailStats {
                    jail: j.name.unwrap_or_else(|| format!("#{}", j.id)),
                    dropped_packets: j.dropped,
                    dropped_bytes: j.dropped_bytes,
                    observed_packets: j.observed,
                })
                .collect(),
        })
    }
}

/// No data plane: the XDP program did not load (`why`).
pub struct NoPlane {
    pub why: String,
}

impl NoPlane {
    fn absent(&self, what: &str) -> PlaneError {
        PlaneError::Absent(format!(
            "{what} needs the XDP maps, and the XDP program did not load ({}); \
             only configured jails ban, with their command actions",
            self.why
        ))
    }
}

impl BanPlane for NoPlane {
    fn jail_id(&self, jail: &str) -> Result<u8, PlaneError> {
        Err(self.absent(&format!("a ban outside the configured jails ('{jail}')")))
    }

    fn jails(&self) -> Result<Vec<(u8, String)>, PlaneError> {
        Ok(Vec::new())
    }

    fn ban(&self, _: IpNet, _: u8, _: Option<i64>) -> Result<(), PlaneError> {
        Err(self.absent("a ban outside the configured jails"))
    }

    fn unban(&self, _: IpNet, _: u8) -> Result<bool, PlaneError> {
        Ok(false)
    }

    fn unban_all_jails(&self, _: IpNet) -> Result<bool, PlaneError> {
        Ok(false)
    }

    fn clear(&self) -> Result<usize, PlaneError> {
        Ok(0)
    }

    fn purge_expired(&self) -> Result<usize, PlaneError> {
        Ok(0)
    }

    fn list(&self) -> Result<Vec<Ban>, PlaneError> {
        Ok(Vec::new())
    }

    fn stats(&self) -> Result<PlaneStats, PlaneError> {
        Err(self.absent("stats (the XDP program's counters)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_plane_refuses_what_needs_maps_and_says_why() {
        let p = NoPlane {
            why: "bpf(): Operation not permitted".into(),
        };
        let net: IpNet = "198.18.0.9".parse().unwrap();
        for e in [
            p.jail_id("manual").unwrap_err(),
            p.ban(net, 0, None).unwrap_err(),
            p.stats().unwrap_err(),
        ] {
            let PlaneError::Absent(m) = e else {
                panic!("{e:?}")
            };
            assert!(m.contains("Operation not permitted"), "{m}");
            assert!(m.contains("configured jails"), "{m}");
        }
        // Nothing is in force, so there is nothing to list or lift.
        assert!(p.list().unwrap().is_empty());
        assert!(p.jails().unwrap().is_empty());
        assert!(!p.unban_all_jails(net).unwrap());
        assert_eq!(p.purge_expired().unwrap(), 0);
    }
}
