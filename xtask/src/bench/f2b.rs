//! fail2ban as a peer: `fail2ban-server -f -x` with a minimal config in a
//! temporary directory (no stock jails; WARNING log to a file; an in-memory
//! database), optionally inside a namespace, driven by `fail2ban-client`.
use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use super::sys::{check_interrupt, ensure_package, interrupted};

/// Addresses per `fail2ban-client set JAIL banip …` call.
pub const BATCH: usize = 2_000;

/// Installs python3-pyinotify for fail2ban's pyinotify backend when the
/// system python (the one fail2ban runs on) lacks it.
pub fn ensure_pyinotify() -> Result<()> {
    let has = || {
        Command::new("/usr/bin/python3")
            .args(["-c", "import pyinotify"])
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if has() {
        return Ok(());
    }
    let status = Command::new("apt-get")
        .args(["install", "-y", "-q", "python3-pyinotify"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status()
        .context("running apt-get")?;
    if !status.success() || !has() {
        bail!("could not install python3-pyinotify");
    }
    Ok(())
}

pub struct F2bServer {
    child: Child,
    pub dir: PathBuf,
    sock: PathBuf,
}

impl F2bServer {
    pub fn start(ns: Option<&str>) -> Result<F2bServer> {
        ensure_package("fail2ban-server", "fail2ban")?;
        let dir = std::env::temp_dir().join(format!("enforcer-bench-f2b-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let sock = dir.join("f2b.sock");
        std::fs::write(
            dir.join("fail2ban.conf"),
            format!(
                "[Definition]\nloglevel = WARNING\nlogtarget = {}\nsocket = {}\npidfile = {}\ndbfile = :memory:\n",
                dir.join("f2b.log").display(),
                sock.display(),
                dir.join("f2b.pid").display()
            ),
        )?;
        std::fs::write(dir.join("jail.conf"), "[DEFAULT]\n")?;
        let mut cmd = match ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "fail2ban-server"]);
                c
            }
            None => Command::new("fail2ban-server"),
        };
        cmd.args(["-f", "-x", "-c"])
            .arg(&dir)
            .arg("-s")
            .arg(&sock)
            .arg("-p")
            .arg(dir.join("f2b.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().context("starting fail2ban-server")?;
        let mut server = F2bServer { child, dir, sock };
        let start = Instant::now();
        loop {
            check_interrupt()?;
            if let Some(status) = server.child.try_wait()? {
                bail!("fail2ban-server exited at start ({status})");
            }
            if server.client(&["ping"]).is_ok() {
                return Ok(server);
            }
            if start.elapsed() > Duration::from_secs(60) {
                bail!("fail2ban-server did not answer ping within 60 s");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `fail2ban-client -s SOCK ARGS…`, stdout discarded.
    pub fn client(&self, args: &[&str]) -> Result<()> {
        let out = Command::new("fail2ban-client")
            .arg("-s")
            .arg(&self.sock)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .context("running fail2ban-client")?;
        if !out.status.success() {
            bail!(
                "fail2ban-client {} failed: {}",
                args.first().copied().unwrap_or(""),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// A jail with no filter input and no actions (bans live in fail2ban's
    /// ban list only), permanent bans.
    pub fn add_jail(&self, name: &str, backend: &str) -> Result<()> {
        self.client(&["add", name, backend])?;
        self.client(&["set", name, "bantime", "-1"])?;
        Ok(())
    }

    pub fn start_jail(&self, name: &str) -> Result<()> {
        self.client(&["start", name])
    }

    /// Bans `targets` in `jail`, `BATCH` per client call, until done or
    /// `cap` has passed; returns how many were banned and how long it took.
    pub fn ban_capped(
        &self,
        jail: &str,
        targets: &[String],
        cap: Duration,
    ) -> Result<(usize, Duration)> {
        let start = Instant::now();
        let mut done = 0;
        for chunk in targets.chunks(BATCH) {
            if start.elapsed() > cap || interrupted() {
                break;
            }
            let mut args = vec!["set", jail, "banip"];
            args.extend(chunk.iter().map(String::as_str));
            self.client(&args)?;
            done += chunk.len();
        }
        check_interrupt()?;
        Ok((done, start.elapsed()))
    }
}

impl Drop for F2bServer {
    fn drop(&mut self) {
        let _ = self.client(&["stop"]);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
