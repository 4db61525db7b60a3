//! `enforcer config dump|check|init`: print the `fail2ban-client -d` stream,
//! validate a tree (exit 2 with every problem as FILE:LINE...), or write the
//! embedded default tree out for editing.
use std::{path::Path, process::ExitCode};

use anyhow::Context;

use crate::{cli::ConfigDirArgs, config};

fn report(errs: &[config::ConfigError]) -> ExitCode {
    for e in errs {
        eprintln!("{e}");
    }
    eprintln!(
        "enforcer: {} problem{} in the configuration",
        errs.len(),
        if errs.len() == 1 { "" } else { "s" }
    );
    ExitCode::from(2)
}

pub fn dump(args: ConfigDirArgs) -> anyhow::Result<ExitCode> {
    let stream = match config::dump_stream(&args.config) {
        Ok(s) => s,
        Err(errs) => return Ok(report(&errs)),
    };
    let mut text = String::new();
    for cmd in stream {
        text.push_str(&cmd.to_string());
        text.push('\n');
    }
    super::out::text(&text);
    Ok(ExitCode::SUCCESS)
}

/// CPU seconds this process has used (wall time misleads on a busy machine).
fn cpu_time() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which we own.
    if unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) } != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

pub fn check(args: ConfigDirArgs) -> anyhow::Result<ExitCode> {
    let opts = config::LoadOptions {
        force_enable: args.all_jails,
    };
    let started = std::time::Instant::now();
    let cpu_start = cpu_time();
    let res = config::load_checked(&args.config, &opts);
    let cpu = cpu_time() - cpu_start;
    let took = started.elapsed();
    match res {
        Ok(cfg) => {
            let mut text = format!(
                "{}: OK, {} {}jail{}, read in {:.1} ms ({:.1} ms CPU)\n",
                args.config.display(),
                cfg.jails.len(),
                if args.all_jails { "" } else { "enabled " },
                if cfg.jails.len() == 1 { "" } else { "s" },
                took.as_secs_f64() * 1000.0,
                cpu * 1000.0
            );
            for j in &cfg.jails {
                let actions: Vec<&str> = j.actions.iter().map(|a| a.name.as_str()).collect();
                text.push_str(&format!(
                    "  {}: filter {}, maxretry {}, findtime {}s, bantime {}s, actions: {}\n",
                    j.name,
                    j.filter.name,
                    j.maxretry,
                    j.findtime,
                    j.bantime,
                    actions.join(", ")
                ));
            }
            super::out::text(&text);
            Ok(ExitCode::SUCCESS)
        }
        Err(errs) => Ok(report(&errs)),
    }
}

pub fn init(dir: &Path) -> anyhow::Result<ExitCode> {
    let files = config::default_files();
    for (rel, _) in files {
        let p = dir.join(rel);
        if p.exists() {
            anyhow::bail!(
                "{} already exists; not overwriting an existing configuration",
                p.display()
            );
        }
    }
    for (rel, bytes) in files {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))?;
    }
    crate::outln!("wrote {} files to {}", files.len(), dir.display());
    Ok(ExitCode::SUCCESS)
}
