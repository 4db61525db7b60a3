//! The enforcer daemon as a child process of a test, inside a network
//! namespace (network only: `nsenter --net=`), killed on drop. Its stderr goes
//! to a file that a failing test prints.
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Output, Stdio},
    time::{Duration, Instant},
};

use crate::{enforcer_bin, netns::NetNs, netns::unique_name};

/// Where a test's daemon keeps its socket and log.
#[derive(Debug, Clone)]
pub struct Paths {
    pub socket: PathBuf,
    pub bpffs: PathBuf,
    pub log: PathBuf,
}

impl Paths {
    /// A fresh socket and log path under the temp dir, pins under `bpffs`.
    pub fn new(bpffs: &Path) -> Paths {
        let dir = std::env::temp_dir().join(unique_name("enfd"));
        std::fs::create_dir_all(&dir).expect("creating the daemon's temp dir");
        Paths {
            socket: dir.join("enforcer.sock"),
            bpffs: bpffs.to_path_buf(),
            log: dir.join("daemon.log"),
        }
    }

    /// Runs `enforcer --socket S --bpffs B ARGS` (a client command) and
    /// returns its output.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(enforcer_bin())
            .arg("--socket")
            .arg(&self.socket)
            .arg("--bpffs")
            .arg(&self.bpffs)
            .args(args)
            .output()
            .expect("running the enforcer CLI")
    }

    /// Like [`Paths::cli`], panicking unless it exits 0; returns stdout.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "enforcer {args:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `Currently failed` and `Total failed` of `enforcer status JAIL`
    /// (fail2ban-client's layout); panics when either is missing.
    pub fn failed(&self, jail: &str) -> (u64, u64) {
        let s = self.cli_ok(&["status", jail]);
        let field = |name: &str| {
            s.lines()
                .find_map(|l| l.split_once(name).and_then(|(_, v)| v.trim().parse().ok()))
                .unwrap_or_else(|| panic!("no {name} in {s}"))
        };
        (field("Currently failed:"), field("Total failed:"))
    }

    /// `enforcer stats --json`, parsed.
    pub fn stats(&self) -> serde_json::Value {
        serde_json::from_str(&self.cli_ok(&["stats", "--json"])).expect("stats --json is JSON")
    }
}

/// A running daemon.
#[derive(Debug)]
pub struct Daemon {
    child: Option<Child>,
    pub paths: Paths,
}

impl Daemon {
    /// Starts `enforcer --socket S --bpffs B ARGS` inside `ns` and waits until
    /// it answers on its socket (up to 20 s); panics with its log otherwise.
    pub fn start(ns: &NetNs, paths: &Paths, args: &[&str]) -> Daemon {
        Daemon::start_under(ns, paths, &[], args)
    }

    /// As [`Daemon::start`], the daemon run by the command `wrapper` (as
    /// `setpriv --bounding-set -bpf -- enforcer …`; empty: none).
    pub fn start_under(ns: &NetNs, paths: &Paths, wrapper: &[&str], args: &[&str]) -> Daemon {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&paths.log)
            .expect("opening the daemon log");
        // Without a configuration of its own the daemon would use the
        // system's database (/var/lib/enforcer), shared by every test.
        let db = paths.socket.with_file_name("enforcer.sqlite3");
        let own_db = ["--dbfile".to_string(), db.to_string_lossy().into_owned()];
        let child = daemon_command(ns, wrapper)
            .arg("--socket")
            .arg(&paths.socket)
            .arg("--bpffs")
            .arg(&paths.bpffs)
            // The log in the test's file, unless the test brings its own
            // configuration (and so its own logtarget).
            .args(if args.contains(&"--config") {
                &[][..]
            } else {
                &["--logtarget", "STDERR"][..]
            })
            .args(if args.contains(&"--config") {
                &[][..]
            } else {
                &own_db[..]
            })
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("cloning the log fd"))
            .stderr(log)
            .spawn()
            .expect("spawning the daemon");
        let mut d = Daemon {
            child: Some(child),
            paths: paths.clone(),
        };
        d.wait_ready(Duration::from_secs(20));
        d
    }

    fn wait_ready(&mut self, timeout: Duration) {
        let start = Instant::now();
        loop {
            let out = self.paths.cli(&["banned", "--json"]);
            if out.status.success() {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "the daemon exited ({status}) before answering:\n{}",
                    self.log()
                );
            }
            if start.elapsed() > timeout {
                panic!(
                    "the daemon did not answer within {timeout:?}:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.paths.log).unwrap_or_default()
    }

    /// SIGTERM, then waits (up to 10 s) for a graceful exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("daemon already stopped");
        // SAFETY: kill with a pid we spawned and have not reaped.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("waiting for the daemon") {
                return status;
            }
            if start.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the daemon ignored SIGTERM for 10 s:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: the daemon dies without any cleanup.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("daemon already stopped");
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- daemon log ---\n{}", self.log());
        }
    }
}

/// Detaches everything and removes the pins (`enforcer unload`), so the
/// next test starts clean even if this one failed. Runs on drop.
#[derive(Debug)]
pub struct Unload(pub Paths);

impl Drop for Unload {
    fn drop(&mut self) {
        let _ = self.0.cli(&["unload"]);
        if let Some(dir) = self.0.socket.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Asserts that the daemon log at `log` says why XDP is not in force
/// (`cause`) and that the jails' command actions enforce instead.
pub fn assert_falls_back_to_commands(log: &Path, cause: &str) {
    let log = std::fs::read_to_string(log).unwrap_or_default();
    assert!(log.contains(cause), "{log}");
    assert!(
        log.contains("falling back to the jails' command actions"),
        "{log}"
    );
    assert!(log.contains("every action runs as its command"), "{log}");
}

/// Runs the daemon with `--mode xdp` in `ns` (under `wrapper`, as
/// [`Daemon::start_under`]) and asserts that it refuses to start, saying
/// `--mode xdp` and `cause` on stderr.
pub fn assert_mode_xdp_refuses(
    ns: &NetNs,
    paths: &Paths,
    wrapper: &[&str],
    args: &[&str],
    cause: &str,
) {
    let out = daemon_command(ns, wrapper)
        .arg("--socket")
        .arg(&paths.socket)
        .arg("--bpffs")
        .arg(&paths.bpffs)
        .args(["--mode", "xdp", "--logtarget", "STDERR"])
        .args(args)
        .output()
        .expect("running the daemon");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("--mode xdp"), "{stderr}");
    assert!(stderr.contains(cause), "{stderr}");
}

/// `enforcer` in `ns`, run by `wrapper` when it is not empty.
fn daemon_command(ns: &NetNs, wrapper: &[&str]) -> Command {
    match wrapper.split_first() {
        None => ns.command(enforcer_bin()),
        Some((program, rest)) => {
            let mut c = ns.command(program);
            c.args(rest).arg(enforcer_bin());
            c
        }
    }
}
