//! Owns the glue between the XDP action and the data plane: [`BanTable`]
//! implemented on `crate::xdp::Dataplane` (scope bits, nets, errors).
use super::xdp::{BanTable, Scope, TableError};
use crate::jail::Net;
use crate::xdp::{self, Dataplane, IpNet, JailScope};

fn err(e: xdp::XdpError) -> TableError {
    TableError(e.to_string())
}

fn net(n: Net) -> Result<IpNet, TableError> {
    IpNet::new(n.addr, n.prefix).map_err(|e| TableError(e.to_string()))
}

/// The data plane's scope for an action scope.
pub fn jail_scope(s: &Scope) -> JailScope {
    let p = &s.protocols;
    let protocols = if p.all {
        0
    } else {
        (if p.tcp { xdp::scope::PROTO_TCP } else { 0 })
            | (if p.udp { xdp::scope::PROTO_UDP } else { 0 })
            | (if p.sctp { xdp::scope::PROTO_SCTP } else { 0 })
    };
    JailScope {
        protocols,
        ports: s.ports.clone(),
    }
}

impl BanTable for Dataplane {
    fn jail_id(&self, jail: &str) -> Result<u8, TableError> {
        Dataplane::jail_id(self, jail).map_err(err)
    }
    fn set_scope(&self, jail_id: u8, scope: &Scope) -> Result<(), TableError> {
        Dataplane::set_scope(self, jail_id, &jail_scope(scope)).map_err(err)
    }
    fn ban(&self, n: Net, jail_id: u8, expiry: Option<i64>) -> Result<(), TableError> {
        Dataplane::ban(self, net(n)?, jail_id, expiry).map_err(err)
    }
    fn unban(&self, n: Net, jail_id: u8) -> Result<bool, TableError> {
        Dataplane::unban(self, net(n)?, jail_id).map_err(err)
    }
    fn unban_many(&self, nets: &[Net], jail_id: u8) -> Result<usize, TableError> {
        let nets = nets
            .iter()
            .map(|n| net(*n))
            .collect::<Result<Vec<_>, _>>()?;
        Dataplane::unban_many(self, &nets, jail_id).map_err(err)
    }
    /// Batched in the maps (one syscall per thousands of new addresses).
    fn ban_many(&self, bans: &[(Net, Option<i64>)], jail_id: u8) -> Result<(), TableError> {
        let bans = bans
            .iter()
            .map(|(n, e)| Ok((net(*n)?, *e)))
            .collect::<Result<Vec<_>, TableError>>()?;
        Dataplane::ban_many(self, &bans, jail_id).map_err(|(_, e)| err(e))
    }
    /// One read of the maps for the whole stream (see `Dataplane::ban_stream`).
    fn ban_stream(
        &self,
        hint: usize,
        chunks: &mut dyn Iterator<Item = Vec<(Net, Option<i64>)>>,
        jail_id: u8,
    ) -> Result<(), TableError> {
        let mut bad = None;
        let mut nets = chunks.map_while(|c| {
            match c
                .into_iter()
                .map(|(n, e)| Ok((net(n)?, e)))
                .collect::<Result<Vec<_>, TableError>>()
            {
                Ok(v) => Some(v),
                Err(e) => {
                    bad = Some(e);
                    None
                }
            }
        });
        let r = Dataplane::ban_stream(self, hint, &mut nets, jail_id).map_err(|(_, e)| err(e));
        drop(nets);
        match bad {
            Some(e) => Err(e),
            None => r.map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::xdp::parse_scope;

    #[test]
    fn scopes_map_to_protocol_bits() {
        let s = parse_scope(Some("ssh,2222"), Some("tcp,udp"), None).unwrap();
        assert_eq!(
            jail_scope(&s),
            JailScope {
                protocols: xdp::scope::PROTO_TCP | xdp::scope::PROTO_UDP,
                ports: vec![(22, 22), (2222, 2222)]
            }
        );
        assert_eq!(jail_scope(&Scope::all()), JailScope::all());
        let s = parse_scope(None, Some("sctp"), Some("allports")).unwrap();
        assert_eq!(
            jail_scope(&s),
            JailScope {
                protocols: xdp::scope::PROTO_SCTP,
                ports: vec![]
            }
        );
    }
}
