//! The CLI's side of the control socket: connect, send one request line, read
//! one response line. Blocking, with timeouts, so a wedged daemon never hangs
//! the operator's shell forever.
use std::{
    io::{BufRead, BufReader, Read, Write},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    time::Duration,
};

use super::{
    ControlError,
    protocol::{ErrorBody, Request, Response, encode_line},
};

/// Largest response the client accepts (a `banned` list of a million bans
/// fits).
const MAX_RESPONSE_BYTES: u64 = 512 << 20;

/// A connection to a daemon.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<UnixStream>,
    path: PathBuf,
}

impl Client {
    /// Connects to the daemon at `path`.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Client, ControlError> {
        let stream = UnixStream::connect(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::PermissionDenied {
                ControlError::Denied {
                    path: path.to_path_buf(),
                }
            } else {
                ControlError::Connect {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        let io_err = |source| ControlError::Io {
            path: path.to_path_buf(),
            source,
        };
        stream.set_read_timeout(Some(timeout)).map_err(io_err)?;
        stream.set_write_timeout(Some(timeout)).map_err(io_err)?;
        Ok(Client {
            reader: BufReader::new(stream),
            path: path.to_path_buf(),
        })
    }

    /// Sends `request` and returns the daemon's response, whatever it says.
    pub fn call(&mut self, request: &Request) -> Result<Response, ControlError> {
        let io_err = |source| ControlError::Io {
            path: self.path.clone(),
            source,
        };
        self.reader
            .get_mut()
            .write_all(&encode_line(request))
            .map_err(io_err)?;
        let mut line = Vec::new();
        let n = (&mut self.reader)
            .take(MAX_RESPONSE_BYTES)
            .read_until(b'\n', &mut line)
            .map_err(|source| ControlError::Io {
                path: self.path.clone(),
                source,
            })?;
        if n == 0 {
            return Err(ControlError::Protocol(
                "the daemon closed the connection without answering".into(),
            ));
        }
        serde_json::from_slice(&line)
            .map_err(|e| ControlError::Protocol(format!("unreadable response: {e}")))
    }

    /// Sends `request`; a refusal by the daemon becomes [`ControlError::Refused`].
    pub fn request(&mut self, request: &Request) -> Result<serde_json::Value, ControlError> {
        self.request_as(request)
    }

    /// [`Client::request`] with the result decoded straight into `T`.
    pub fn request_as<T: serde::de::DeserializeOwned>(
        &mut self,
        request: &Request,
    ) -> Result<T, ControlError> {
        let response = self.call(request)?;
        if response.ok {
            return response
                .result_as()
                .map_err(|e| ControlError::Protocol(format!("unreadable result: {e}")));
        }
        Err(ControlError::Refused(response.error.unwrap_or(ErrorBody {
            kind: super::protocol::ErrorKind::Internal,
            message: "request failed without a reason".into(),
        })))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::watch;

    use super::*;
    use crate::control::{
        protocol::ErrorKind,
        server::{Handler, Server},
    };

    struct Echo;

    impl Handler for Echo {
        async fn handle(&self, request: Request) -> Response {
            match request {
                Request::Ping {} => Response::ok("pong"),
                Request::Ban { targets, .. } => Response::ok(targets),
                _ => Response::error(ErrorKind::MapFull, "full"),
            }
        }
    }

    #[test]
    fn client_talks_to_server() {
        let dir = std::env::temp_dir().join(format!("enforcer-client-{}", std::process::id()));
        let path = dir.join("ctl.sock");
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (stop, rx) = watch::channel(false);
        let server = rt.block_on(async { Server::bind(&path) }).unwrap();
        let task = rt.spawn(server.serve(Arc::new(Echo), rx));

        let mut c = Client::connect(&path, Duration::from_secs(5)).unwrap();
        assert_eq!(
            c.request(&Request::Ping {}).unwrap(),
            serde_json::json!("pong")
        );
        let ban = Request::Ban {
            jail: None,
            targets: vec!["198.18.0.1".into()],
            bantime: None,
        };
        assert_eq!(c.request(&ban).unwrap(), serde_json::json!(["198.18.0.1"]));
        match c.request(&Request::Stats {}) {
            Err(ControlError::Refused(body)) => assert_eq!(body.kind, ErrorKind::MapFull),
            other => panic!("{other:?}"),
        }

        stop.send(true).unwrap();
        rt.block_on(task).unwrap();
        assert!(matches!(
            Client::connect(&path, Duration::from_secs(1)),
            Err(ControlError::Connect { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
