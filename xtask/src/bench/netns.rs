//! The bench topology: two network namespaces joined by one veth pair, all
//! addresses from 2001:db8::/32 (the documentation range; IPv6 so that a
//! million distinct banned addresses exist — 198.18.0.0/15 holds only 131,072).
//!
//! ```text
//!   [src ns] enfb-s  2001:db8::2 (friend), 2001:db8::3 (banned)
//!        |  veth
//!   [dst ns] enfb-d  2001:db8::1   <- the protected namespace (XDP / netfilter here)
//! ```
//! [`Topology`] removes both namespaces (and with them the veth, every
//! netfilter rule and every XDP attachment) on drop, also on panic.
use anyhow::Result;

use super::sys::{run, run_quiet};

pub const DST_ADDR: &str = "2001:db8::1";
pub const FRIEND_ADDR: &str = "2001:db8::2";
pub const BANNED_ADDR: &str = "2001:db8::3";
pub const SINK_PORT: u16 = 9;
/// The protected namespace's interface (where XDP attaches).
pub const DST_IF: &str = "enfb-d";
const SRC_IF: &str = "enfb-s";

/// Two namespaces and a veth; deleted on drop.
pub struct Topology {
    pub src: String,
    pub dst: String,
}

impl Topology {
    pub fn create() -> Result<Topology> {
        let pid = std::process::id();
        let topo = Topology {
            src: format!("enfb-{pid}-src"),
            dst: format!("enfb-{pid}-dst"),
        };
        run("ip", &["netns", "add", &topo.src])?;
        run("ip", &["netns", "add", &topo.dst])?;
        run(
            "ip",
            &[
                "-n", &topo.src, "link", "add", SRC_IF, "type", "veth", "peer", "name", DST_IF,
                "netns", &topo.dst,
            ],
        )?;
        for (ns, ifname) in [(&topo.src, SRC_IF), (&topo.dst, DST_IF)] {
            run("ip", &["-n", ns, "link", "set", "lo", "up"])?;
            run("ip", &["-n", ns, "link", "set", ifname, "up"])?;
        }
        run(
            "ip",
            &[
                "-n",
                &topo.dst,
                "-6",
                "addr",
                "add",
                &format!("{DST_ADDR}/64"),
                "dev",
                DST_IF,
                "nodad",
            ],
        )?;
        for addr in [FRIEND_ADDR, BANNED_ADDR] {
            run(
                "ip",
                &[
                    "-n",
                    &topo.src,
                    "-6",
                    "addr",
                    "add",
                    &format!("{addr}/64"),
                    "dev",
                    SRC_IF,
                    "nodad",
                ],
            )?;
        }
        // Static neighbours: no NDP exchange is needed (or can be dropped)
        // while the ban lists are loaded.
        let mac = |ns: &str, ifname: &str| -> Result<String> {
            let out = run("ip", &["-n", ns, "-br", "link", "show", ifname])?;
            out.split_whitespace()
                .nth(2)
                .map(str::to_string)
                .ok_or_else(|| anyhow::anyhow!("no MAC in `ip -br link show {ifname}`: {out}"))
        };
        let dst_mac = mac(&topo.dst, DST_IF)?;
        let src_mac = mac(&topo.src, SRC_IF)?;
        run(
            "ip",
            &[
                "-n",
                &topo.src,
                "neigh",
                "replace",
                DST_ADDR,
                "lladdr",
                &dst_mac,
                "dev",
                SRC_IF,
                "nud",
                "permanent",
            ],
        )?;
        for addr in [FRIEND_ADDR, BANNED_ADDR] {
            run(
                "ip",
                &[
                    "-n",
                    &topo.dst,
                    "neigh",
                    "replace",
                    addr,
                    "lladdr",
                    &src_mac,
                    "dev",
                    DST_IF,
                    "nud",
                    "permanent",
                ],
            )?;
        }
        Ok(topo)
    }

    /// The id of the XDP program attached to the protected interface.
    pub fn xdp_prog_id(&self) -> Option<u32> {
        let out = run("ip", &["-n", &self.dst, "-d", "link", "show", DST_IF]).ok()?;
        let mut words = out.split_whitespace();
        while let Some(w) = words.next() {
            if w.starts_with("prog/xdp") && words.next() == Some("id") {
                return words.next()?.parse().ok();
            }
        }
        None
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        run_quiet("ip", &["netns", "del", &self.src]);
        run_quiet("ip", &["netns", "del", &self.dst]);
    }
}

/// A counter snapshot of the protected namespace's UDP6 layer: datagrams
/// that got past every filter and reached UDP (queued to the socket, or
/// dropped because the socket buffer was full).
#[derive(Debug, Clone, Copy, Default)]
pub struct UdpCounters {
    pub delivered: u64,
    pub rcvbuf_errors: u64,
}

impl UdpCounters {
    pub fn read(ns: &str) -> Result<UdpCounters> {
        let text = run("ip", &["netns", "exec", ns, "cat", "/proc/net/snmp6"])?;
        let get = |name: &str| -> u64 {
            text.lines()
                .find_map(|l| {
                    let mut it = l.split_whitespace();
                    (it.next() == Some(name)).then(|| it.next()?.parse().ok())?
                })
                .unwrap_or(0)
        };
        Ok(UdpCounters {
            delivered: get("Udp6InDatagrams"),
            rcvbuf_errors: get("Udp6RcvbufErrors"),
        })
    }

    /// Packets that reached UDP between `self` (earlier) and `later`.
    pub fn reached_since(&self, later: &UdpCounters) -> u64 {
        (later.delivered + later.rcvbuf_errors).saturating_sub(self.delivered + self.rcvbuf_errors)
    }
}
