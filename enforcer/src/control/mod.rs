//! Owns the control socket: the line-delimited JSON protocol, the server side
//! inside the daemon and the client used by the CLI.
