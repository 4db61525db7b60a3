//! The loader's lifecycle on real interfaces (a veth pair in a private
//! network namespace; no traffic): attach native and generic, the pinned
//! link keeps the program attached after the loader is gone, a second load
//! swaps its program into the same link (a new program id, never a moment
//! without one) and re-uses the pinned maps, a mode change re-attaches, a
//! recreated interface gets a fresh link, and `unload` detaches everything
//! even while a loader still holds the links.
use std::{path::PathBuf, process::Command};

use enforcer::xdp::{
    AttachMode, AttachedMode, Capacities, IpNet, Program, XdpError, bpffs, unload,
};

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// (XDP program id, mode word) on `dev`, from `ip -d link`; None = none.
fn xdp_prog(dev: &str) -> Option<(u32, String)> {
    let out = Command::new("ip")
        .args(["-d", "link", "show", "dev", dev])
        .output()
        .expect("run ip");
    let text = String::from_utf8_lossy(&out.stdout);
    // e.g. "prog/xdp id 42" plus "xdp" / "xdpgeneric" on the first line.
    let id = text
        .split("prog/xdp id ")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let mode = if text.contains("xdpgeneric") {
        "generic"
    } else {
        "native"
    };
    Some((id, mode.to_string()))
}

/// Unmounts the test's bpffs (after unloading) even on panic.
struct Bpffs(PathBuf);

impl Drop for Bpffs {
    fn drop(&mut self) {
        let _ = unload(&self.0);
        let _ = bpffs::unmount(&self.0);
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn caps() -> Capacities {
    Capacities {
        max_bans: 1024,
        max_prefixes: 64,
        max_allow: 16,
    }
}

#[test]
fn attach_pin_replace_and_unload() {
    if !tests::privileged("xdp_attach") {
        return;
    }
    // The network namespace is per thread: the veths and every `ip` this
    // thread runs live in it, and vanish with it.
    std::thread::spawn(|| {
        // SAFETY: unshare has no memory-safety preconditions.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0, "unshare");
        scenario();
    })
    .join()
    .expect("scenario thread");
}

fn scenario() {
    ip(&[
        "link", "add", "enf-a", "type", "veth", "peer", "name", "enf-b",
    ]);
    ip(&["link", "set", "enf-a", "up"]);
    ip(&["link", "set", "enf-b", "up"]);
    let dir = std::env::temp_dir().join(format!("enforcer-xdp-attach-{}", std::process::id()));
    let _guard = Bpffs(dir.clone());
    let obj = tests::xdp_object();

    // First load: native on one end, generic on the other.
    let mut p1 = Program::load_object(&obj, &dir, &caps()).unwrap();
    let a = p1.attach("enf-a", AttachMode::Native).unwrap();
    assert_eq!((a.mode, a.replaced), (AttachedMode::Native, false));
    let b = p1.attach("enf-b", AttachMode::Generic).unwrap();
    assert_eq!((b.mode, b.replaced), (AttachedMode::Generic, false));
    let (id1, mode) = xdp_prog("enf-a").expect("attached to enf-a");
    assert_eq!(mode, "native");
    assert_eq!(xdp_prog("enf-b").unwrap().1, "generic");
    let dp = p1.dataplane().unwrap();
    let j = dp.jail_id("sshd").unwrap();
    let banned: IpNet = "198.18.0.66".parse().unwrap();
    dp.ban(banned, j, None).unwrap();
    assert!(dir.join("links/enf-a@native").exists());

    // The loader goes away (SIGTERM): the pinned link keeps it attached.
    drop(dp);
    drop(p1);
    assert_eq!(xdp_prog("enf-a").map(|x| x.0), Some(id1), "still attached");

    // Second load: same link, new program, same maps.
    let mut p2 = Program::load_object(&obj, &dir, &caps()).unwrap();
    let a = p2.attach("enf-a", AttachMode::Auto).unwrap();
    assert_eq!((a.mode, a.replaced), (AttachedMode::Native, true));
    let (id2, _) = xdp_prog("enf-a").unwrap();
    assert_ne!(id2, id1, "the new program is in place");
    let dp = p2.dataplane().unwrap();
    assert_eq!(dp.jail_id("sshd").unwrap(), j, "jail ids persist");
    assert_eq!(dp.list().unwrap()[0].net, banned, "bans persist");

    // Asking for another mode re-attaches in that mode.
    let b = p2.attach("enf-b", AttachMode::Native).unwrap();
    assert_eq!((b.mode, b.replaced), (AttachedMode::Native, false));
    assert_eq!(xdp_prog("enf-b").unwrap().1, "native");
    assert!(!dir.join("links/enf-b@generic").exists());

    // A recreated interface: the old link is defunct, a new one is made.
    ip(&["link", "del", "enf-a"]);
    ip(&[
        "link", "add", "enf-a", "type", "veth", "peer", "name", "enf-b",
    ]);
    ip(&["link", "set", "enf-a", "up"]);
    ip(&["link", "set", "enf-b", "up"]);
    let a = p2.attach("enf-a", AttachMode::Auto).unwrap();
    assert_eq!((a.mode, a.replaced), (AttachedMode::Native, false));
    assert!(xdp_prog("enf-a").is_some());

    assert!(matches!(
        p2.attach("enf-nosuch", AttachMode::Auto),
        Err(XdpError::UnknownInterface(_))
    ));

    // Unload while p2 still holds its links: everything is detached.
    // (enf-b's native link died with the old pair: its pin goes too.)
    let done = unload(&dir).unwrap();
    assert_eq!(done.links, vec!["enf-a@native", "enf-b@native"], "{done:?}");
    assert!(done.maps.iter().any(|m| m == "ENF_BANS4"), "{done:?}");
    assert_eq!(xdp_prog("enf-a"), None, "detached");
    assert!(!dir.join("ENF_BANS4").exists());
    drop(dp);
    drop(p2);
    assert!(matches!(
        enforcer::xdp::Dataplane::open_pinned(&dir),
        Err(XdpError::NotLoaded(_))
    ));
}
