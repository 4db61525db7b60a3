//! Raw command-line flags, exactly as the user typed them. Validation into the
//! types the rooms use happens in each command (`cmd/`), not here.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// fail2ban-compatible bans enforced by XDP at the driver.
#[derive(Debug, Parser)]
#[command(name = "enforcer", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    /// Flags of the daemon, used when no subcommand is given.
    #[command(flatten)]
    pub daemon: DaemonArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags accepted before or after any subcommand.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Control socket of the daemon.
    #[arg(long, global = true, default_value = "/run/enforcer/enforcer.sock")]
    pub socket: PathBuf,
    /// Directory on a bpffs where maps and links are pinned.
    #[arg(long, global = true, default_value = "/sys/fs/bpf/enforcer")]
    pub bpffs: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum XdpMode {
    /// Native (driver) mode, falling back to generic with a warning.
    Auto,
    Native,
    Generic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ActionMode {
    /// XDP when it is attached, command actions otherwise.
    Auto,
    /// Refuse to start without XDP.
    Xdp,
    /// Run every action as its command (iptables, nftables, ...).
    Commands,
}

#[derive(Debug, Clone, Args)]
pub struct DaemonArgs {
    /// Interface to attach the XDP program to (repeatable).
    #[arg(long = "iface", value_name = "IF")]
    pub ifaces: Vec<String>,
    #[arg(long, value_enum, default_value_t = XdpMode::Auto)]
    pub xdp_mode: XdpMode,
    /// How ban actions are carried out.
    #[arg(long, value_enum, default_value_t = ActionMode::Auto)]
    pub mode: ActionMode,
    /// fail2ban-format configuration directory (jail.conf, filter.d, action.d).
    /// When it does not exist the embedded default configuration is used.
    #[arg(long, default_value = "/etc/enforcer")]
    pub config: PathBuf,
    /// Capacity of the exact-address ban maps (per family).
    #[arg(long, default_value_t = 1_000_000)]
    pub max_bans: u32,
    /// Capacity of the prefix (CIDR) ban tries (per family).
    #[arg(long, default_value_t = 100_000)]
    pub max_prefixes: u32,
    /// Log target, overriding fail2ban.conf's `logtarget` (a file, STDERR,
    /// STDOUT, SYSLOG).
    #[arg(long, value_name = "TARGET")]
    pub logtarget: Option<String>,
    /// Log level, overriding fail2ban.conf's `loglevel`.
    #[arg(long, value_name = "LEVEL")]
    pub loglevel: Option<String>,
    /// Database, overriding fail2ban.conf's `dbfile` (a path, `:memory:`
    /// or `None`).
    #[arg(long, value_name = "FILE")]
    pub dbfile: Option<String>,
    /// Serve Prometheus metrics on ADDR:PORT (off by default).
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ban addresses or CIDRs.
    Ban(BanArgs),
    /// Lift bans.
    Unban(UnbanArgs),
    /// List current bans.
    Banned(BannedArgs),
    /// Show the data plane's counters.
    Stats(StatsArgs),
    /// Detach the XDP program everywhere and remove all pins.
    Unload,
    /// Jail list, or one jail's status (as fail2ban-client status).
    Status(StatusArgs),
    /// One setting of a running jail.
    Get(GetArgs),
    /// Change a setting of a running jail.
    Set(SetArgs),
    /// Re-read the configuration (all jails, or one).
    Reload(ReloadArgs),
    /// Check that the daemon answers.
    Ping(JsonArgs),
    /// The running daemon's version.
    Version(JsonArgs),
    /// Stop the daemon (XDP enforcement stays pinned).
    Stop(JsonArgs),
    /// Inspect fail2ban-format configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Test a filter against a log, like fail2ban-regex.
    Regex(RegexArgs),
    /// Copy bans and log positions from fail2ban's database into enforcer's.
    ImportFail2banDb(ImportDbArgs),
}

#[derive(Debug, Args)]
pub struct ImportDbArgs {
    /// fail2ban's database (e.g. /var/lib/fail2ban/fail2ban.sqlite3).
    pub file: PathBuf,
    /// enforcer's database to import into (created when missing).
    #[arg(long, default_value = "/var/lib/enforcer/enforcer.sqlite3")]
    pub dbfile: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BanArgs {
    /// Jail the ban belongs to.
    #[arg(long, default_value = "manual")]
    pub jail: String,
    /// Ban time in seconds (default: the jail's; -1 = permanent).
    #[arg(long, allow_negative_numbers = true)]
    pub bantime: Option<i64>,
    #[arg(required = true, value_name = "ADDR|CIDR")]
    pub targets: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UnbanArgs {
    #[arg(
        value_name = "ADDR|CIDR",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub targets: Vec<String>,
    /// Lift every ban.
    #[arg(long)]
    pub all: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BannedArgs {
    /// Only bans of these addresses (a prefix ban covering one counts).
    #[arg(value_name = "ADDR|CIDR")]
    pub targets: Vec<String>,
    /// Only bans of this jail.
    #[arg(long)]
    pub jail: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    pub jail: Option<String>,
    #[arg(long, default_value = "basic")]
    pub flavor: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    pub jail: String,
    /// bantime, findtime, maxretry, maxmatches, banip, actions, logpath, ignoreip, ...
    pub key: String,
    /// `banip`: with each ban's start, length and end.
    #[arg(long)]
    pub with_time: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    pub jail: String,
    /// bantime, findtime, maxretry, maxmatches, banip, unbanip, addignoreip, delignoreip
    pub key: String,
    #[arg(required = true, allow_negative_numbers = true)]
    pub values: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReloadArgs {
    pub jail: Option<String>,
    /// Lift the reloaded jails' bans first.
    #[arg(long)]
    pub unban: bool,
    /// Stop and start the jails instead of reloading them in place: their
    /// failure counts start over (stored bans are restored).
    #[arg(long)]
    pub restart: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct JsonArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print what fail2ban-client -d prints: one JSON array per line.
    Dump(ConfigDirArgs),
    /// Validate; list enabled jails or each problem as FILE:LINE.
    Check(ConfigDirArgs),
    /// Write the embedded default configuration to DIR for editing.
    Init { dir: PathBuf },
}

#[derive(Debug, Args)]
pub struct ConfigDirArgs {
    #[arg(long, default_value = "/etc/enforcer")]
    pub config: PathBuf,
    /// `check` only: read every jail as if enabled, to check a whole tree.
    #[arg(long)]
    pub all_jails: bool,
}

#[derive(Debug, Args)]
pub struct RegexArgs {
    /// Configuration directory holding filter.d.
    #[arg(long, default_value = "/etc/enforcer")]
    pub config: PathBuf,
    /// Set a filter option (e.g. mode=aggressive, logtype=journal); repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Current time (seconds since the epoch) for year inference.
    #[arg(long, value_name = "EPOCH")]
    pub now: Option<f64>,
    /// Lines are journal entries (logtype = journal).
    #[arg(long)]
    pub journal: bool,
    /// One JSON object per failure.
    #[arg(long)]
    pub json: bool,
    /// List every matched line.
    #[arg(long)]
    pub print_all_matched: bool,
    /// List every missed line (by default the first 20 are listed).
    #[arg(long, conflicts_with = "print_no_missed")]
    pub print_all_missed: bool,
    /// List every ignored line (by default the first 20 are listed).
    #[arg(long, conflicts_with = "print_no_ignored")]
    pub print_all_ignored: bool,
    /// List no missed line.
    #[arg(long)]
    pub print_no_missed: bool,
    /// List no ignored line.
    #[arg(long)]
    pub print_no_ignored: bool,
    /// Stop at a line's first matching failregex, as the daemon does (by
    /// default every failregex is tried, as fail2ban-regex does).
    #[arg(long)]
    pub no_check_all: bool,
    /// Also list regexes without hits, with the engine each runs on.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Run the filter on one thread (by default the date detector, the
    /// regexes and the counting each get a thread).
    #[arg(long)]
    pub single_thread: bool,
    /// A log file, or a single log line.
    #[arg(value_name = "LOG|LINE")]
    pub log: String,
    /// A filter name in CONFIG/filter.d, a filter file, or a literal regex.
    #[arg(value_name = "FILTER|REGEX")]
    pub filter: String,
    #[arg(value_name = "IGNOREREGEX")]
    pub ignoreregex: Option<String>,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("enforcer").chain(args.iter().copied()))
    }

    #[test]
    fn socket_and_bpffs_are_accepted_before_or_after_the_subcommand() {
        for args in [
            &[
                "--socket",
                "/tmp/s",
                "--bpffs",
                "/tmp/b",
                "ban",
                "198.18.0.1",
            ][..],
            &[
                "ban",
                "--socket",
                "/tmp/s",
                "198.18.0.1",
                "--bpffs",
                "/tmp/b",
            ],
            &[
                "--socket",
                "/tmp/s",
                "ban",
                "--bpffs",
                "/tmp/b",
                "198.18.0.1",
            ],
        ] {
            let cli = parse(args).unwrap();
            assert_eq!(cli.global.socket, PathBuf::from("/tmp/s"), "{args:?}");
            assert_eq!(cli.global.bpffs, PathBuf::from("/tmp/b"), "{args:?}");
            let Some(Command::Ban(ban)) = cli.command else {
                panic!("{args:?}")
            };
            assert_eq!(ban.jail, "manual");
            assert_eq!(ban.targets, ["198.18.0.1"]);
        }
        let cli = parse(&["unload", "--bpffs", "/tmp/b"]).unwrap();
        assert_eq!(cli.global.bpffs, PathBuf::from("/tmp/b"));
    }

    #[test]
    fn daemon_flags_parse_without_a_subcommand() {
        let cli = parse(&["--iface", "a", "--iface", "b", "--xdp-mode", "generic"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.daemon.ifaces, ["a", "b"]);
        assert_eq!(cli.daemon.xdp_mode, XdpMode::Generic);
        assert_eq!(cli.daemon.max_bans, 1_000_000);
        assert_eq!(cli.daemon.max_prefixes, 100_000);
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        for args in [
            &["ban"][..],
            &["ban", "--nope", "198.18.0.1"],
            &["unban"],
            &["unban", "--all", "198.18.0.1"],
            &["ban", "--bantime", "soon", "198.18.0.1"],
            &["--xdp-mode", "fast"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
        let ban = parse(&["ban", "--bantime", "-1", "198.18.0.1"]).unwrap();
        let Some(Command::Ban(ban)) = ban.command else {
            panic!()
        };
        assert_eq!(ban.bantime, Some(-1));
    }
}
