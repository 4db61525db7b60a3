//! The usual test topology: a protected namespace where the daemon runs,
//! joined by one veth each to a namespace whose address gets banned and to a
//! friend namespace that never is.
//!
//! ```text
//!   banned 198.18.1.2 / 2001:db8:1::2 ── veth ── 198.18.1.1 / 2001:db8:1::1 ┐
//!                                                                 protected │
//!   friend 198.18.2.2 / 2001:db8:2::2 ── veth ── 198.18.2.1 / 2001:db8:2::1 ┘
//! ```
//!
//! Dropping a [`Lab`] runs `enforcer unload` on its pins, then removes the
//! namespaces and the bpffs (fields drop in declaration order).
use std::net::IpAddr;

use crate::{
    daemon::{Daemon, Paths, Unload},
    netns::{BpfFs, End, NetNs, veth},
};

pub struct Lab {
    pub unload: Unload,
    /// The protected side of the veth to `banned`.
    pub p_banned: End,
    /// The protected side of the veth to `friend`.
    pub p_friend: End,
    /// `banned`'s end.
    pub banned_end: End,
    /// `friend`'s end.
    pub friend_end: End,
    pub protected: NetNs,
    pub banned: NetNs,
    pub friend: NetNs,
    pub bpffs: BpfFs,
}

impl Lab {
    pub fn new() -> Lab {
        let bpffs = BpfFs::new();
        let protected = NetNs::new("p");
        let banned = NetNs::new("b");
        let friend = NetNs::new("f");
        let (p_banned, banned_end) = veth(&protected, &banned, 1);
        let (p_friend, friend_end) = veth(&protected, &friend, 2);
        let paths = Paths::new(&bpffs.pin_dir());
        Lab {
            unload: Unload(paths),
            p_banned,
            p_friend,
            banned_end,
            friend_end,
            protected,
            banned,
            friend,
            bpffs,
        }
    }

    pub fn paths(&self) -> &Paths {
        &self.unload.0
    }

    /// Starts the daemon in the protected namespace with `args` (e.g.
    /// `--iface IF`).
    pub fn daemon(&self, args: &[&str]) -> Daemon {
        Daemon::start(&self.protected, self.paths(), args)
    }

    /// Starts the daemon attached to the veth facing `banned`.
    pub fn daemon_on_banned_link(&self) -> Daemon {
        self.daemon(&["--iface", &self.p_banned.ifname])
    }

    pub fn banned_v4(&self) -> IpAddr {
        self.banned_end.v4.parse().expect("literal address")
    }

    pub fn banned_v6(&self) -> IpAddr {
        self.banned_end.v6.parse().expect("literal address")
    }

    pub fn friend_v4(&self) -> IpAddr {
        self.friend_end.v4.parse().expect("literal address")
    }

    /// `nft list table inet NAME` in the protected namespace (empty when
    /// there is no such table): the fallback set of action.d/xdp.conf.
    pub fn nft_table(&self, name: &str) -> String {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", self.protected.name()])
            .args(["nft", "list", "table", "inet", name])
            .output()
            .expect("running nft");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A listener on port 22 of the protected side (all addresses), for
    /// [`Lab::banned_reaches_22`] and [`Lab::friend_reaches_22`].
    pub fn listen_22(&self) -> std::net::TcpListener {
        self.protected
            .run(|| std::net::TcpListener::bind(("::", 22)).expect("binding port 22"))
    }

    /// Whether a TCP connection from the banned side to port 22 gets
    /// through (2 s).
    pub fn banned_reaches_22(&self) -> bool {
        let dst = std::net::SocketAddr::new(self.p_banned.v4.parse().expect("literal"), 22);
        crate::traffic::tcp_connects(&self.banned, dst, std::time::Duration::from_secs(2))
    }

    /// As [`Lab::banned_reaches_22`], from the friend side.
    pub fn friend_reaches_22(&self) -> bool {
        let dst = std::net::SocketAddr::new(self.p_friend.v4.parse().expect("literal"), 22);
        crate::traffic::tcp_connects(&self.friend, dst, std::time::Duration::from_secs(2))
    }

    /// `ip -d link show` of a protected-side interface.
    pub fn link_details(&self, ifname: &str) -> String {
        let out = std::process::Command::new("ip")
            .args([
                "-n",
                self.protected.name(),
                "-d",
                "link",
                "show",
                "dev",
                ifname,
            ])
            .output()
            .expect("ip link show");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Default for Lab {
    fn default() -> Self {
        Lab::new()
    }
}
