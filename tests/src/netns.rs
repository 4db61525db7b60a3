//! Network namespaces and veth links for one test, removed when dropped (also
//! when the test panics). Names are unique per process and per call, so tests
//! never collide with each other or with a previous run's leftovers.
//!
//! Addresses come from 198.18.0.0/15 and 2001:db8::/32 only.
use std::{
    fs::File,
    os::fd::AsRawFd,
    path::PathBuf,
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A short name unique to this process and call: `{tag}{pid}x{n}`, cut to
/// fit an interface name (15 bytes).
pub fn unique_name(tag: &str) -> String {
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let pid = std::process::id() % 100_000;
    let mut name = format!("{tag}{pid}x{n}");
    name.truncate(15);
    name
}

/// Runs `ip ARGS`, panicking with its stderr when it fails.
pub fn ip(args: &[&str]) {
    run_checked(Command::new("ip").args(args));
}

pub(crate) fn run_checked(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A network namespace, deleted on drop with everything in it.
#[derive(Debug)]
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// Creates a namespace with loopback up.
    pub fn new(tag: &str) -> NetNs {
        let name = unique_name(&format!("enf{tag}"));
        ip(&["netns", "add", &name]);
        let ns = NetNs { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/run/netns/NAME`, for `nsenter --net=`.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Runs `ip -n NAME ARGS`, panicking when it fails.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all);
    }

    /// A command that runs `program` inside this namespace (network only:
    /// mounts, including bpffs, stay those of the caller).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net={}", self.path().display()))
            .arg("--")
            .arg(program);
        cmd
    }

    /// Runs `f` on a thread that has entered this namespace. Sockets it
    /// creates belong to the namespace and may be used from any thread.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = self.path();
        std::thread::scope(|s| {
            s.spawn(move || {
                enter(&path);
                f()
            })
            .join()
            .expect("netns thread panicked")
        })
    }

    /// Like [`NetNs::run`], on a thread the caller joins later.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = self.path();
        std::thread::spawn(move || {
            enter(&path);
            f()
        })
    }

    /// Waits until `ip addr` lists `addr` and not as `tentative`.
    pub fn wait_address(&self, addr: &str) {
        for _ in 0..100 {
            let out = Command::new("ip")
                .args(["-n", &self.name, "addr", "show"])
                .output()
                .expect("ip addr show");
            let text = String::from_utf8_lossy(&out.stdout);
            if text
                .lines()
                .any(|l| l.contains(&format!(" {addr}/")) && !l.contains("tentative"))
            {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("{addr} never became usable in {}", self.name);
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

fn enter(path: &std::path::Path) {
    let f = File::open(path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    // SAFETY: setns on a valid namespace fd affects only the calling thread's
    // network namespace.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(
        rc,
        0,
        "setns {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

/// One end of a veth link.
#[derive(Debug, Clone)]
pub struct End {
    pub ifname: String,
    pub v4: String,
    pub v6: String,
}

/// Joins `a` and `b` with a veth pair on subnet number `subnet` (1..=254):
/// 198.18.SUBNET.1/24 and 2001:db8:SUBNET::1/64 on `a`, `.2` / `::2` on `b`.
/// Both ends are up and their addresses usable when this returns. The link
/// goes away with either namespace.
pub fn veth(a: &NetNs, b: &NetNs, subnet: u8) -> (End, End) {
    let an = unique_name("va");
    let bn = unique_name("vb");
    a.ip(&[
        "link",
        "add",
        &an,
        "type",
        "veth",
        "peer",
        "name",
        &bn,
        "netns",
        b.name(),
    ]);
    let ends = [(a, &an, 1), (b, &bn, 2)].map(|(ns, ifname, host)| {
        let v4 = format!("198.18.{subnet}.{host}");
        let v6 = format!("2001:db8:{subnet}::{host}");
        ns.ip(&["addr", "add", &format!("{v4}/24"), "dev", ifname]);
        ns.ip(&[
            "-6",
            "addr",
            "add",
            &format!("{v6}/64"),
            "dev",
            ifname,
            "nodad",
        ]);
        ns.ip(&["link", "set", ifname, "up"]);
        End {
            ifname: ifname.clone(),
            v4,
            v6,
        }
    });
    for (ns, end) in [(a, &ends[0]), (b, &ends[1])] {
        ns.wait_address(&end.v4);
        ns.wait_address(&end.v6);
    }
    let [ea, eb] = ends;
    (ea, eb)
}

/// A bpffs mounted on a fresh directory outside /sys (so it survives
/// `ip netns exec` and is shared by successive daemons), unmounted and
/// removed on drop.
#[derive(Debug)]
pub struct BpfFs {
    dir: PathBuf,
}

impl BpfFs {
    pub fn new() -> BpfFs {
        let dir = std::env::temp_dir().join(unique_name("enfbpf"));
        std::fs::create_dir_all(&dir).expect("creating the bpffs mount point");
        run_checked(Command::new("mount").args(["-t", "bpf", "bpf"]).arg(&dir));
        BpfFs { dir }
    }

    /// Where the daemon pins (`--bpffs`).
    pub fn pin_dir(&self) -> PathBuf {
        self.dir.join("enforcer")
    }
}

impl Default for BpfFs {
    fn default() -> Self {
        BpfFs::new()
    }
}

impl Drop for BpfFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).output();
        let _ = std::fs::remove_dir(&self.dir);
    }
}
