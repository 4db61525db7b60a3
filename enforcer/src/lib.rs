//! enforcer: a fail2ban replacement whose bans are enforced by an XDP program.
//!
//! Data flows one way, and each step is one module:
//!
//! - [`config`]: reads fail2ban's configuration trees (`jail.conf`, `filter.d`,
//!   `action.d`, `.local` overlays, includes, interpolation) into a typed model.
//! - [`source`]: follows log files and the journal, hands lines on.
//! - [`filter`]: fail2ban filters (Python regexes translated for Rust engines),
//!   the date detector, and the matching pipeline that turns lines into failures.
//! - [`jail`]: counts failures per id within findtime, decides bans and ban times.
//! - [`actions`]: the per-jail Actions manager, command actions and the XDP action.
//! - [`xdp`]: loads and attaches the XDP program, owns the pinned BPF maps.
//! - [`store`]: persistence of bans across restarts.
//! - [`control`]: the control socket protocol, server and client.
//! - [`metrics`]: counters exported for Prometheus.
//!
//! [`cli`] holds the raw command-line flags; [`cmd`] has one file per command.
pub mod actions;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod control;
pub mod filter;
pub mod jail;
pub mod metrics;
pub mod source;
pub mod store;
pub mod xdp;
