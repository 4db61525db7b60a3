//! `enforcer config dump|check|init`: print the `fail2ban-client -d` stream,
//! validate a tree (exit 2 with every problem as FILE:LINE...), or write the
//! embedded default tree out for editing.
use std::{io::Write, path::Path, process::ExitCode};

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
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for cmd in stream {
        writeln!(out, "{cmd}").context("writing the stream")?;
    }
    out.flush().context("writing the stream")?;
    Ok(ExitCode::SUCCESS)
}

pub fn check(args: ConfigDirArgs) -> anyhow::Result<ExitCode> {
    match config::load_checked(&args.config, &config::LoadOptions::default()) {
        Ok(cfg) => {
            println!(
                "{}: OK, {} enabled jail{}",
                args.config.display(),
                cfg.jails.len(),
                if cfg.jails.len() == 1 { "" } else { "s" }
            );
            for j in &cfg.jails {
                let actions: Vec<&str> = j.actions.iter().map(|a| a.name.as_str()).collect();
                println!(
                    "  {}: filter {}, maxretry {}, findtime {}s, bantime {}s, actions: {}",
                    j.name,
                    j.filter.name,
                    j.maxretry,
                    j.findtime,
                    j.bantime,
                    actions.join(", ")
                );
            }
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
    println!("wrote {} files to {}", files.len(), dir.display());
    Ok(ExitCode::SUCCESS)
}
