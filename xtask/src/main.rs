//! `cargo xtask`: the project's build, run and test entry points.
//!
//! One file per task: [`build_ebpf`] builds the XDP object and the enforcer
//! binary that embeds it (`build-ebpf`, `build`); [`prereqs`] installs what
//! building and testing need; [`run`] builds and runs the daemon; [`test`]
//! runs every test as CI does; [`soak`] runs the reliability suite's long
//! forms; [`bench`] measures against the alternatives; [`difffuzz`] looks
//! for lines `enforcer regex` counts otherwise than fail2ban-regex.
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod build_ebpf;
mod difffuzz;
mod install;
mod prereqs;
mod run;
mod soak;
mod test;

#[derive(Debug, Parser)]
#[command(name = "xtask", about = "Build, run and test enforcer")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Build the XDP program (nightly, bpfel-unknown-none, release, BTF).
    BuildEbpf(build_ebpf::BuildEbpfArgs),
    /// Build the release enforcer binary with the XDP program embedded.
    Build(build_ebpf::BuildEbpfArgs),
    /// Benchmarks against fail2ban, iptables, ipset and nftables.
    Bench(bench::BenchArgs),
    /// Install missing prerequisites (rust-src, llvm-22-dev, bpf-linker,
    /// test packages); does nothing when all are there.
    Prereqs,
    /// Build everything and run `enforcer ARGS…` as root.
    Run(run::RunArgs),
    /// Unit tests, then the privileged integration tests, as CI runs them.
    Test(test::TestArgs),
    /// The reliability suite's long forms: kill -9 and hostile control
    /// request loops (not in CI).
    Soak(soak::SoakArgs),
    /// Install the binary, its systemd unit and the default configuration.
    Install(install::InstallArgs),
    /// Mutated sample logs through enforcer regex and fail2ban-regex; the
    /// logs they count differently, cut down (not in CI).
    Difffuzz(difffuzz::DiffFuzzArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Task::BuildEbpf(args) => build_ebpf::build_ebpf(&args).map(|obj| {
            println!("{}", obj.display());
        }),
        Task::Build(args) => build_ebpf::build_enforcer(&args).map(|bin| {
            println!("{}", bin.display());
        }),
        Task::Bench(args) => bench::run(&args),
        Task::Prereqs => prereqs::ensure(),
        Task::Run(args) => run::run(&args),
        Task::Test(args) => test::test(&args),
        Task::Soak(args) => soak::soak(&args),
        Task::Install(args) => install::install(&args),
        Task::Difffuzz(args) => difffuzz::difffuzz(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}
