//! `cargo xtask install`: builds the release enforcer (XDP object
//! embedded) and installs it with its systemd unit and, when none is there
//! yet, the default configuration (`enforcer config init`) and flags file.
//! Existing configuration is never overwritten. `--destdir` stages the
//! files under a directory (packaging, tests) and skips systemctl;
//! `--binary` installs an enforcer already built instead of building one.
use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use crate::build_ebpf::{BuildEbpfArgs, build_enforcer, workspace_root};

#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub build: BuildEbpfArgs,
    /// Where the binary goes.
    #[arg(long, default_value = "/usr/local/sbin")]
    pub bindir: PathBuf,
    /// Stage everything under this directory instead of /.
    #[arg(long)]
    pub destdir: Option<PathBuf>,
    /// Interface written into a new /etc/default/enforcer.
    #[arg(long, default_value = "eth0")]
    pub iface: String,
    /// Install this enforcer binary (built with the XDP object) instead of
    /// building one.
    #[arg(long)]
    pub binary: Option<PathBuf>,
}

fn staged(destdir: &Option<PathBuf>, path: &Path) -> PathBuf {
    match destdir {
        Some(d) => d.join(path.strip_prefix("/").unwrap_or(path)),
        None => path.to_path_buf(),
    }
}

fn install_file(src: &Path, dst: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    if let Some(dir) = dst.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Copy beside, then rename: a running binary is replaced, not truncated.
    let tmp = dst.with_extension("xtask-new");
    std::fs::copy(src, &tmp).with_context(|| format!("copying to {}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
    std::fs::rename(&tmp, dst).with_context(|| format!("installing {}", dst.display()))?;
    println!("installed {}", dst.display());
    Ok(())
}

pub fn install(args: &InstallArgs) -> Result<()> {
    let bin = match &args.binary {
        Some(b) => b.clone(),
        None => build_enforcer(&args.build)?,
    };
    let d = &args.destdir;
    let bin_dst = staged(d, &args.bindir.join("enforcer"));
    install_file(&bin, &bin_dst, 0o755)?;

    let unit = std::fs::read_to_string(workspace_root().join("enforcer/systemd/enforcer.service"))
        .context("reading the unit file")?
        .replace("@BINDIR@", &args.bindir.display().to_string());
    let unit_dst = staged(d, Path::new("/etc/systemd/system/enforcer.service"));
    std::fs::create_dir_all(unit_dst.parent().expect("has a parent"))?;
    std::fs::write(&unit_dst, unit).with_context(|| format!("writing {}", unit_dst.display()))?;
    println!("installed {}", unit_dst.display());

    let defaults = staged(d, Path::new("/etc/default/enforcer"));
    if !defaults.exists() {
        std::fs::create_dir_all(defaults.parent().expect("has a parent"))?;
        std::fs::write(
            &defaults,
            format!(
                "# Flags of the enforcer daemon (see `enforcer --help`).\n\
                 # Point --config at /etc/fail2ban to take over fail2ban's jails.\n\
                 ENFORCER_ARGS=\"--iface {} --config /etc/enforcer\"\n",
                args.iface
            ),
        )?;
        println!("installed {}", defaults.display());
    }
    let config = staged(d, Path::new("/etc/enforcer"));
    if !config.exists() {
        let status = Command::new(&bin)
            .args(["config", "init"])
            .arg(&config)
            .status()
            .context("running enforcer config init")?;
        if !status.success() {
            bail!(
                "enforcer config init {} failed ({status})",
                config.display()
            );
        }
        println!(
            "installed the default configuration in {}",
            config.display()
        );
    } else {
        println!("kept the existing configuration in {}", config.display());
    }
    if d.is_none() && Path::new("/run/systemd/system").exists() {
        let _ = Command::new("systemctl").arg("daemon-reload").status();
        println!("start it with: systemctl enable --now enforcer");
    }
    Ok(())
}
