//! The ban tables under comparison, each loaded into the protected
//! namespace with the same N addresses: fail2ban's iptables-multiport shape
//! (a chain with one `-s ADDR -j DROP` rule per ban), ipset (hash:ip and one
//! rule), an nftables set, and enforcer's XDP maps (see [`super::enforcer`]).
//! Everything here lives in the namespace and dies with it.
use std::{
    fmt::Write as _,
    io::Write as _,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};

use super::{
    netns::BANNED_ADDR,
    sys::{Capped, run, run_capped_with_stdin},
};

/// The `i`-th filler ban: 2001:db8:1::/48 plus `i` (never the friend).
pub fn filler_addr(i: usize) -> String {
    format!("2001:db8:1::{:x}:{:x}", (i >> 16) & 0xffff, i & 0xffff)
}

/// N bans in the order they were made: N-1 filler addresses, then the
/// flooding source (the newest ban: an attacker still flooding was just
/// banned, so in fail2ban's insert-at-top chain its rule is the first one;
/// legitimate traffic still walks every rule).
pub fn ban_list(n: usize) -> Vec<String> {
    let mut v: Vec<String> = (0..n.saturating_sub(1)).map(filler_addr).collect();
    v.push(BANNED_ADDR.to_string());
    v
}

/// A netfilter-based peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Netfilter {
    /// fail2ban iptables-multiport: chain with one rule per address.
    IptablesChain,
    /// fail2ban iptables-ipset: hash:ip set and one rule.
    Ipset,
    /// fail2ban nftables: a set in an inet table.
    Nftables,
}

impl Netfilter {
    pub fn name(self) -> &'static str {
        match self {
            Netfilter::IptablesChain => "iptables-chain",
            Netfilter::Ipset => "ipset",
            Netfilter::Nftables => "nftables-set",
        }
    }
}

/// How loading a table went.
#[derive(Debug, Clone, Copy)]
pub struct Loaded {
    pub secs: f64,
    /// false: the load did not finish within the cap (the table is removed).
    pub finished: bool,
}

/// Loads `bans` into `ns` with one restore/`-f` call, capped in time.
pub fn load(
    peer: Netfilter,
    ns: &str,
    bans: &[String],
    cap: Duration,
    tmp: &Path,
) -> Result<Loaded> {
    let file = tmp.join(format!("{}.rules", peer.name()));
    let mut text = String::with_capacity(bans.len() * 40 + 1024);
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns]);
    match peer {
        Netfilter::IptablesChain => {
            text.push_str("*filter\n:f2b-bench - [0:0]\n-A INPUT -p udp -j f2b-bench\n");
            // fail2ban inserts each new ban at the top (-I 1): the newest
            // ban is the first rule.
            for a in bans.iter().rev() {
                let _ = writeln!(text, "-A f2b-bench -s {a}/128 -j DROP");
            }
            text.push_str("-A f2b-bench -j RETURN\nCOMMIT\n");
            cmd.args(["ip6tables-restore", "--noflush"]);
        }
        Netfilter::Ipset => {
            let _ = writeln!(
                text,
                "create f2b-bench hash:ip family inet6 hashsize 65536 maxelem {}",
                bans.len().max(65536) * 2
            );
            for a in bans {
                let _ = writeln!(text, "add f2b-bench {a}");
            }
            cmd.args(["ipset", "restore"]);
        }
        Netfilter::Nftables => {
            text.push_str(
                "table inet f2b-bench {\n set addr6 { type ipv6_addr; }\n \
                 chain input { type filter hook input priority filter; policy accept;\n  \
                 meta l4proto udp ip6 saddr @addr6 drop\n }\n}\n",
            );
            for chunk in bans.chunks(10_000) {
                text.push_str("add element inet f2b-bench addr6 { ");
                text.push_str(&chunk.join(", "));
                text.push_str(" }\n");
            }
            cmd.args(["nft", "-f", "-"]);
        }
    }
    std::fs::File::create(&file)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("writing {}", file.display()))?;
    drop(text);
    let start = Instant::now();
    let outcome = run_capped_with_stdin(cmd, &file, cap)?;
    let _ = std::fs::remove_file(&file);
    let mut loaded = match outcome {
        Capped::Done(d) => Loaded {
            secs: d.as_secs_f64(),
            finished: true,
        },
        Capped::TimedOut(d) => Loaded {
            secs: d.as_secs_f64(),
            finished: false,
        },
    };
    if loaded.finished && peer == Netfilter::Ipset {
        run(
            "ip",
            &[
                "netns",
                "exec",
                ns,
                "ip6tables",
                "-I",
                "INPUT",
                "-p",
                "udp",
                "-m",
                "set",
                "--match-set",
                "f2b-bench",
                "src",
                "-j",
                "DROP",
            ],
        )?;
        loaded.secs = start.elapsed().as_secs_f64();
    }
    if !loaded.finished {
        // An unfinished restore committed nothing; drop whatever exists.
        let _ = remove(peer, ns, cap, tmp);
    }
    Ok(loaded)
}

/// Removes a peer's table from `ns`, timing it (the "unban all" cost).
/// The ip6tables peers flush the filter table with one `ip6tables-restore`
/// (one transaction: deleting rules one by one from a 1M-rule chain takes
/// many minutes with iptables-nft); capped at `cap`.
pub fn remove(peer: Netfilter, ns: &str, cap: Duration, tmp: &Path) -> Result<f64> {
    let start = Instant::now();
    let flush = || -> Result<()> {
        let file = tmp.join("flush.rules");
        std::fs::write(
            &file,
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n",
        )?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, "ip6tables-restore"]);
        let out = run_capped_with_stdin(cmd, &file, cap)?;
        let _ = std::fs::remove_file(&file);
        if let Capped::TimedOut(d) = out {
            anyhow::bail!(
                "flushing the filter table did not finish in {:.0} s",
                d.as_secs_f64()
            );
        }
        Ok(())
    };
    match peer {
        Netfilter::IptablesChain => flush()?,
        Netfilter::Ipset => {
            flush()?;
            run(
                "ip",
                &["netns", "exec", ns, "ipset", "destroy", "f2b-bench"],
            )?;
        }
        Netfilter::Nftables => {
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    ns,
                    "nft",
                    "delete",
                    "table",
                    "inet",
                    "f2b-bench",
                ],
            )?;
        }
    }
    Ok(start.elapsed().as_secs_f64())
}
