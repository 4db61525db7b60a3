//! Owns name resolution for `usedns = yes`: a cache of answers (positive
//! and negative, with a lifetime) in front of the system resolver, each
//! lookup bounded by a timeout on a helper thread so a slow DNS server
//! cannot stall the log reader for longer than that.
use std::collections::HashMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Resolver with a cache.
#[derive(Debug)]
pub struct Resolver {
    cache: HashMap<String, (Vec<IpAddr>, Instant)>,
    ttl: Duration,
    timeout: Duration,
    max: usize,
}

impl Default for Resolver {
    fn default() -> Self {
        Resolver::new(Duration::from_secs(300), Duration::from_secs(2), 10_000)
    }
}

impl Resolver {
    pub fn new(ttl: Duration, timeout: Duration, max: usize) -> Resolver {
        Resolver {
            cache: HashMap::new(),
            ttl,
            timeout,
            max,
        }
    }

    /// Addresses of `name` (empty when it does not resolve in time). An
    /// address literal is returned as it is, without a lookup.
    pub fn resolve(&mut self, name: &str) -> Vec<IpAddr> {
        if let Ok(ip) = name
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<IpAddr>()
        {
            return vec![ip];
        }
        let now = Instant::now();
        if let Some((ips, exp)) = self.cache.get(name)
            && *exp > now
        {
            return ips.clone();
        }
        let ips = self.lookup(name);
        if self.cache.len() >= self.max {
            self.cache.retain(|_, (_, exp)| *exp > now);
            if self.cache.len() >= self.max {
                self.cache.clear();
            }
        }
        self.cache
            .insert(name.to_string(), (ips.clone(), now + self.ttl));
        ips
    }

    fn lookup(&self, name: &str) -> Vec<IpAddr> {
        let (tx, rx) = mpsc::channel();
        let host = format!("{name}:0");
        let spawned = std::thread::Builder::new()
            .name("dns".into())
            .spawn(move || {
                let r: Vec<IpAddr> = host
                    .to_socket_addrs()
                    .map(|it| it.map(|a| a.ip()).collect())
                    .unwrap_or_default();
                let _ = tx.send(r);
            });
        if spawned.is_err() {
            return Vec::new();
        }
        let mut ips = rx.recv_timeout(self.timeout).unwrap_or_default();
        ips.sort();
        ips.dedup();
        ips
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_localhost() {
        let mut r = Resolver::default();
        assert_eq!(
            r.resolve("192.0.2.7"),
            vec!["192.0.2.7".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            r.resolve("[2001:db8::1]"),
            vec!["2001:db8::1".parse::<IpAddr>().unwrap()]
        );
        // "localhost" resolves from /etc/hosts without a network.
        assert!(r.resolve("localhost").iter().all(|ip| ip.is_loopback()));
        assert!(r.resolve("name.invalid").is_empty());
    }
}
