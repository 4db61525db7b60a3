//! Owns the control socket: the line-delimited JSON protocol ([`protocol`]),
//! the server side inside the daemon ([`server`]), the client used by the CLI
//! ([`client`]) and the parsing of ban targets both sides share ([`target`]).
//! What a request *does* is the daemon's business (a [`server::Handler`]);
//! this room only carries requests and answers safely.
use std::path::PathBuf;

pub mod client;
pub mod protocol;
pub mod server;
pub mod target;

pub use client::Client;
pub use protocol::{ErrorBody, ErrorKind, Request, Response};
pub use server::{Handler, Server};
pub use target::{IpNet, TargetError, parse_target, parse_targets};

/// Default path of the daemon's socket.
pub const DEFAULT_SOCKET: &str = "/run/enforcer/enforcer.sock";

/// Failures of the control socket, on either side.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot reach the daemon at {}: {source} (is `enforcer --iface …` running?)", path.display())]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: permission denied: the control socket is root's only (mode 0600); run this as root", path.display())]
    Denied { path: PathBuf },
    #[error("{}: another enforcer daemon is answering on this socket", .0.display())]
    AlreadyRunning(PathBuf),
    #[error("control protocol: {0}")]
    Protocol(String),
    #[error("{}", .0.message)]
    Refused(ErrorBody),
}
