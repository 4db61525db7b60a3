//! A real OpenSSH server inside a test namespace, logging through a
//! syslog-format file as a distribution's rsyslog would write auth.log
//! (`Dec  1 19:30:00 host sshd[PID]: message`), and a password guesser
//! (`sshpass`) to fail against it. Killed on drop.
use std::{
    io::{BufRead as _, BufReader, Write as _},
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use crate::netns::NetNs;

/// A running sshd.
pub struct Sshd {
    child: Child,
    pub log: PathBuf,
    pub port: u16,
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().expect("running a helper");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `Dec  1 19:30:00` for now, in local time, as syslog writes it.
pub fn syslog_stamp() -> String {
    let out = Command::new("date")
        .arg("+%b %e %H:%M:%S")
        .output()
        .expect("running date");
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

impl Sshd {
    /// Starts sshd in `ns` on `port` (all addresses, v4 and v6) with a
    /// fresh host key under `dir`; its log lines go to `dir/auth.log`.
    pub fn start(ns: &NetNs, dir: &Path, port: u16) -> Sshd {
        std::fs::create_dir_all("/run/sshd").expect("creating /run/sshd");
        let key = dir.join("host_ed25519");
        if !key.exists() {
            run_ok(
                Command::new("ssh-keygen")
                    .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                    .arg(&key),
            );
        }
        let cfg = dir.join("sshd_config");
        std::fs::write(
            &cfg,
            format!(
                "Port {port}\nListenAddress 0.0.0.0\nListenAddress ::\nHostKey {}\n\
                 PasswordAuthentication yes\nKbdInteractiveAuthentication no\nUsePAM no\n\
                 PermitRootLogin no\nPidFile none\nLogLevel INFO\nMaxStartups 100\n",
                key.display()
            ),
        )
        .expect("writing sshd_config");
        let log = dir.join("auth.log");
        std::fs::write(&log, "").expect("creating auth.log");
        let mut child = ns
            .command("/usr/sbin/sshd")
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning sshd");
        let pid = child.id();
        let stderr = child.stderr.take().expect("sshd stderr");
        let path = log.clone();
        std::thread::spawn(move || {
            let mut out = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .expect("opening auth.log");
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(out, "{} enf-host sshd[{pid}]: {line}", syslog_stamp());
            }
        });
        let s = Sshd { child, log, port };
        s.wait_listening(ns);
        s
    }

    fn wait_listening(&self, ns: &NetNs) {
        let dst: SocketAddr = ([127, 0, 0, 1], self.port).into();
        for _ in 0..100 {
            if crate::traffic::tcp_connects(ns, dst, Duration::from_millis(200)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("sshd did not listen on port {}", self.port);
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One failed password login from inside `ns` to `server:port` as user
/// `user`; false if no SSH session could even start (connection timed out).
pub fn fail_password(ns: &NetNs, server: IpAddr, port: u16, user: &str) -> bool {
    let out = ns
        .command("timeout")
        // A ban drops the packets of a session in progress: it hangs.
        .args(["10", "sshpass", "-p", "wrong-password", "ssh"])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PreferredAuthentications=password",
            "-o",
            "NumberOfPasswordPrompts=1",
            "-o",
            "ConnectTimeout=3",
            "-p",
        ])
        .arg(port.to_string())
        .arg(format!("{user}@{server}"))
        .arg("true")
        .stdin(Stdio::null())
        .output()
        .expect("running sshpass");
    let err = String::from_utf8_lossy(&out.stderr);
    // sshpass exits 5 on a wrong password; ssh says "timed out" when no
    // SYN-ACK came back.
    !err.contains("timed out")
}
