//! A configuration tree for one test, in a temporary directory removed on
//! drop: enforcer's own defaults (`enforcer config init`) or a copy of
//! fail2ban's stock tree from ../shared (read at test time, never kept in
//! the repository), plus the test's `fail2ban.local` and `jail.local`.
//! [`JailLab`] is the opening the daemon's end-to-end tests share.
use std::path::{Path, PathBuf};

use crate::{daemon::Daemon, enforcer_bin, lab::Lab, netns::unique_name};

pub struct JailConf {
    pub dir: PathBuf,
    /// Scratch space beside the tree (logs, database) for the test.
    pub work: PathBuf,
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creating a config dir");
    for e in std::fs::read_dir(from).expect("reading the stock config") {
        let e = e.expect("dir entry");
        let dst = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).expect("copying a config file");
        }
    }
}

impl JailConf {
    fn fresh() -> (PathBuf, PathBuf) {
        let root = std::env::temp_dir().join(unique_name("enfconf"));
        let work = root.join("work");
        std::fs::create_dir_all(&work).expect("creating the test's work dir");
        (root.join("config"), work)
    }

    /// enforcer's embedded default tree.
    pub fn ours() -> JailConf {
        let (dir, work) = JailConf::fresh();
        let out = std::process::Command::new(enforcer_bin())
            .args(["config", "init"])
            .arg(&dir)
            .output()
            .expect("running enforcer config init");
        assert!(
            out.status.success(),
            "config init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        JailConf { dir, work }
    }

    /// fail2ban's stock tree from ../shared/fail2ban/config.
    pub fn stock() -> JailConf {
        let (dir, work) = JailConf::fresh();
        copy_tree(&crate::shared_dir().join("fail2ban/config"), &dir);
        JailConf { dir, work }
    }

    /// Writes `name` (e.g. `jail.local`) in the tree.
    pub fn write(&self, name: &str, text: &str) -> &JailConf {
        std::fs::write(self.dir.join(name), text).expect("writing a config file");
        self
    }

    /// `fail2ban.local` sending the daemon's log and database to the work dir.
    pub fn own_log_and_db(&self) -> &JailConf {
        self.write(
            "fail2ban.local",
            &format!(
                "[Definition]\nloglevel = INFO\nlogtarget = {}\ndbfile = {}\n",
                self.log().display(),
                self.work.join("enforcer.sqlite3").display()
            ),
        )
    }

    /// Our default tree with [`JailConf::own_log_and_db`] and an enabled
    /// sshd jail on an empty `auth.log` in the work dir, its `options`
    /// (`key = value` lines) added; returns the tree and that log's path.
    pub fn ours_with_sshd(options: &str) -> (JailConf, PathBuf) {
        let conf = JailConf::ours();
        conf.own_log_and_db();
        let auth = conf.work.join("auth.log");
        std::fs::write(&auth, "").expect("creating auth.log");
        conf.write(
            "jail.local",
            &format!(
                "[sshd]\nenabled = true\nlogpath = {}\n{options}",
                auth.display()
            ),
        );
        (conf, auth)
    }

    /// The daemon's own fail2ban-format log.
    pub fn log(&self) -> PathBuf {
        self.work.join("enforcer.log")
    }

    pub fn dir_str(&self) -> &str {
        self.dir.to_str().expect("temp path is UTF-8")
    }
}

impl Drop for JailConf {
    fn drop(&mut self) {
        if let Some(root) = self.dir.parent() {
            let _ = std::fs::remove_dir_all(root);
        }
    }
}

/// A [`Lab`] and a configuration tree for a daemon reading a test-owned
/// `auth.log`: the daemon's own log and database in the tree's work dir,
/// an empty `auth.log` beside them, and the test's `jail.local`.
pub struct JailLab {
    pub lab: Lab,
    pub conf: JailConf,
    /// The (initially empty) log the test writes failures to.
    pub auth: PathBuf,
}

impl JailLab {
    /// `jail_local` with `@AUTH@` standing for the auth.log path and
    /// `@LOG@` for the daemon's own log (for a recidive jail).
    pub fn new(conf: JailConf, jail_local: &str) -> JailLab {
        let lab = Lab::new();
        conf.own_log_and_db();
        let auth = conf.work.join("auth.log");
        std::fs::write(&auth, "").expect("creating auth.log");
        let text = jail_local
            .replace("@AUTH@", auth.to_str().expect("temp path is UTF-8"))
            .replace("@LOG@", conf.log().to_str().expect("temp path is UTF-8"));
        conf.write("jail.local", &text);
        JailLab { lab, conf, auth }
    }

    /// `--iface <the link facing banned> --config <the tree>`.
    pub fn args(&self) -> [&str; 4] {
        [
            "--iface",
            &self.lab.p_banned.ifname,
            "--config",
            self.conf.dir_str(),
        ]
    }

    /// Starts the daemon with [`JailLab::args`].
    pub fn daemon(&self) -> Daemon {
        self.lab.daemon(&self.args())
    }
}
