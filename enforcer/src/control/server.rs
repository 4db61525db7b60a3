//! The daemon's side of the control socket.
//!
//! [`Server::bind`] creates the socket's directory, refuses to steal the socket
//! of a daemon that still answers, replaces a stale one, and makes the socket
//! mode 0600. [`Server::serve`] answers each connection's request lines with a
//! [`Handler`] until shutdown. A request line longer than
//! [`MAX_REQUEST_BYTES`] is answered with an error and the connection closed; a
//! malformed one gets an error and the connection stays usable. Nothing a client
//! sends reaches the handler unless it parsed.
//!
//! A client cannot lock the operator out: each request line must arrive
//! within [`IDLE_TIMEOUT`], and when all [`MAX_CONNECTIONS`] slots are taken
//! the oldest connection that is not inside the handler (one that sends
//! nothing, or trickles a line) is closed to make room for the new one.
use std::{
    future::Future,
    io,
    os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{UnixListener, UnixStream},
    sync::{Notify, Semaphore, watch},
    task::JoinSet,
};

use super::{
    ControlError,
    protocol::{MAX_REQUEST_BYTES, Request, Response, encode_line, parse_request},
};

/// Connections served at once; more are told to retry and closed.
const MAX_CONNECTIONS: usize = 64;
/// A connection that sends nothing for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a new connection waits for the slot of an evicted one.
const EVICT_WAIT: Duration = Duration::from_secs(1);

/// Connections that may be closed to make room: every one that is waiting
/// for (or reading) a request line, keyed by accept order, so the oldest
/// goes first. A connection inside the handler is not in here.
#[derive(Default)]
struct Evictable(Mutex<std::collections::BTreeMap<u64, Arc<Notify>>>);

impl Evictable {
    fn insert(&self, id: u64, notify: &Arc<Notify>) {
        self.lock().insert(id, notify.clone());
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Tells the oldest evictable connection to close; false if none.
    fn evict_oldest(&self) -> bool {
        match self.lock().pop_first() {
            Some((_, notify)) => {
                notify.notify_one();
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<u64, Arc<Notify>>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the daemon does with a parsed request.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, request: Request) -> impl Future<Output = Response> + Send;
}

/// A bound control socket.
#[derive(Debug)]
pub struct Server {
    listener: UnixListener,
    path: PathBuf,
    inode: u64,
}

impl Server {
    /// Binds `path` (mode 0600), creating its directory (mode 0755) when
    /// missing. Must be called inside a tokio runtime.
    pub fn bind(path: &Path) -> Result<Server, ControlError> {
        let io_err = |source| ControlError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(dir)
                .map_err(|source| ControlError::Io {
                    path: dir.to_path_buf(),
                    source,
                })?;
        }
        if std::fs::symlink_metadata(path).is_ok() {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(ControlError::AlreadyRunning(path.to_path_buf()));
            }
            std::fs::remove_file(path).map_err(io_err)?;
        }
        // The socket is created with the umask's mode; keep it private from
        // the start, then set 0600 explicitly.
        // SAFETY: umask only swaps the process's file mode mask.
        let old = unsafe { libc::umask(0o177) };
        let bound = UnixListener::bind(path);
        // SAFETY: as above, restoring the previous mask.
        unsafe { libc::umask(old) };
        let listener = bound.map_err(io_err)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io_err)?;
        let inode = std::fs::metadata(path).map_err(io_err)?.ino();
        Ok(Server {
            listener,
            path: path.to_path_buf(),
            inode,
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves until `shutdown` turns true, then lets requests in flight finish
    /// (up to a few seconds) and removes the socket file if it is still ours.
    pub async fn serve<H: Handler>(self, handler: Arc<H>, mut shutdown: watch::Receiver<bool>) {
        let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let evictable = Arc::new(Evictable::default());
        let mut next_id = 0u64;
        let mut conns = JoinSet::new();
        loop {
            if *shutdown.borrow() {
                break;
            }
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() { break; }
                }
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let permit = match permits.clone().try_acquire_owned() {
                            Ok(p) => Some(p),
                            Err(_) if evictable.evict_oldest() => {
                                log::warn!(
                                    "control socket: {MAX_CONNECTIONS} connections open; \
                                     closed the oldest idle one"
                                );
                                let wait = permits.clone().acquire_owned();
                                tokio::time::timeout(EVICT_WAIT, wait).await.ok().and_then(Result::ok)
                            }
                            Err(_) => None,
                        };
                        let Some(permit) = permit else {
                            conns.spawn(refuse(stream));
                            continue;
                        };
                        let handler = handler.clone();
                        let shutdown = shutdown.clone();
                        let slot = Slot { id: next_id, evictable: evictable.clone() };
                        next_id += 1;
                        conns.spawn(async move {
                            let _permit = permit;
                            if let Err(e) = connection(stream, &*handler, shutdown, slot).await {
                                log::debug!("control connection: {e}");
                            }
                        });
                    }
                    Err(e) => {
                        log::warn!("control socket accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
        let drain = async { while conns.join_next().await.is_some() {} };
        if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() {
            conns.abort_all();
        }
    }

    fn remove_socket(&self) {
        let ours = std::fs::metadata(&self.path).is_ok_and(|m| m.ino() == self.inode);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The socket file goes with the server, served or not (a daemon that fails
/// to load XDP after binding leaves nothing behind).
impl Drop for Server {
    fn drop(&mut self) {
        self.remove_socket();
    }
}

async fn refuse(mut stream: UnixStream) {
    let line = encode_line(&Response::error(
        super::protocol::ErrorKind::Internal,
        "too many control connections; retry",
    ));
    let _ = stream.write_all(&line).await;
}

/// Outcome of reading one request line.
enum Line {
    /// A complete line (or a last one without newline).
    Complete,
    /// End of stream with nothing pending.
    Eof,
    /// Longer than the limit.
    TooLong,
}

async fn read_line<R>(reader: &mut BufReader<R>, buf: &mut Vec<u8>) -> io::Result<Line>
where
    R: tokio::io::AsyncRead + Unpin,
{
    buf.clear();
    let limit = MAX_REQUEST_BYTES as u64;
    let n = (&mut *reader).take(limit).read_until(b'\n', buf).await?;
    if n == 0 {
        return Ok(Line::Eof);
    }
    if buf.last() == Some(&b'\n') {
        return Ok(Line::Complete);
    }
    if n as u64 >= limit {
        return Ok(Line::TooLong);
    }
    Ok(Line::Complete)
}

/// A connection's place in the eviction order; leaves it on drop.
struct Slot {
    id: u64,
    evictable: Arc<Evictable>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.evictable.remove(self.id);
    }
}

async fn connection<H: Handler>(
    stream: UnixStream,
    handler: &H,
    mut shutdown: watch::Receiver<bool>,
    slot: Slot,
) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut buf = Vec::with_capacity(256);
    let evict = Arc::new(Notify::new());
    loop {
        slot.evictable.insert(slot.id, &evict);
        let line = tokio::select! {
            line = read_line(&mut reader, &mut buf) => line?,
            _ = shutdown.changed() => return Ok(()),
            _ = tokio::time::sleep(IDLE_TIMEOUT) => return Ok(()),
            _ = evict.notified() => return Ok(()),
        };
        // Inside the handler a connection is never evicted: its request
        // runs to the end and is answered.
        slot.evictable.remove(slot.id);
        let response = match line {
            Line::Eof => return Ok(()),
            Line::TooLong => {
                let msg = format!("request longer than {MAX_REQUEST_BYTES} bytes");
                write
                    .write_all(&encode_line(&Response::bad_request(msg)))
                    .await?;
                return Ok(());
            }
            Line::Complete => match parse_request(&buf) {
                Ok(request) => handler.handle(request).await,
                Err(msg) => Response::bad_request(msg),
            },
        };
        write.write_all(&encode_line(&response)).await?;
        if buf.last() != Some(&b'\n') {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::AsyncBufReadExt;

    use super::*;

    /// Answers ping, counts every request it was handed.
    #[derive(Default)]
    struct Counting(AtomicUsize);

    impl Handler for Counting {
        async fn handle(&self, request: Request) -> Response {
            self.0.fetch_add(1, Ordering::SeqCst);
            match request {
                Request::Ping {} => Response::ok("pong"),
                other => Response::bad_request(format!("unsupported: {}", other.name())),
            }
        }
    }

    fn temp_socket(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("enforcer-control-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("sub").join("ctl.sock")
    }

    async fn roundtrip(stream: &mut BufReader<UnixStream>, line: &[u8]) -> Response {
        stream.get_mut().write_all(line).await.unwrap();
        let mut out = String::new();
        stream.read_line(&mut out).await.unwrap();
        serde_json::from_str(&out).unwrap()
    }

    #[tokio::test]
    async fn serves_lines_survives_garbage_and_cleans_up() {
        let path = temp_socket("serve");
        let server = Server::bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let handler = Arc::new(Counting::default());
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(server.serve(handler.clone(), rx));

        let mut c = BufReader::new(UnixStream::connect(&path).await.unwrap());
        let r = roundtrip(&mut c, b"{\"cmd\":\"ping\"}\n").await;
        assert!(r.ok);
        assert_eq!(r.value(), serde_json::json!("pong"));
        let r = roundtrip(&mut c, b"{\"cmd\":\"ping\"\n").await;
        assert!(!r.ok, "truncated JSON is refused");
        let r = roundtrip(&mut c, b"\x00\xff garbage\n").await;
        assert!(!r.ok);
        let r = roundtrip(&mut c, b"{\"cmd\":\"ping\"}\n").await;
        assert!(r.ok, "the connection stays usable after bad lines");
        assert_eq!(
            handler.0.load(Ordering::SeqCst),
            2,
            "garbage never reaches the handler"
        );

        // A second server on the same path refuses while this one answers.
        assert!(matches!(
            Server::bind(&path),
            Err(ControlError::AlreadyRunning(_))
        ));

        stop.send(true).unwrap();
        task.await.unwrap();
        assert!(!path.exists(), "socket removed on shutdown");
        std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap()).unwrap();
    }

    #[tokio::test]
    async fn oversized_requests_are_refused_and_the_connection_closed() {
        let path = temp_socket("big");
        let server = Server::bind(&path).unwrap();
        let handler = Arc::new(Counting::default());
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(server.serve(handler.clone(), rx));

        let mut c = BufReader::new(UnixStream::connect(&path).await.unwrap());
        let mut big = vec![b' '; MAX_REQUEST_BYTES + 10];
        big.push(b'\n');
        // The server may close before reading everything: ignore write errors.
        let _ = c.get_mut().write_all(&big).await;
        let mut out = String::new();
        c.read_line(&mut out).await.unwrap();
        let r: Response = serde_json::from_str(&out).unwrap();
        assert!(!r.ok);
        assert!(r.error.unwrap().message.contains("longer than"));
        out.clear();
        assert_eq!(c.read_line(&mut out).await.unwrap(), 0, "then closed");
        assert_eq!(handler.0.load(Ordering::SeqCst), 0);

        // A stale socket file (no listener) is replaced.
        stop.send(true).unwrap();
        task.await.unwrap();
        let stale = std::os::unix::net::UnixListener::bind(&path).unwrap();
        drop(stale);
        assert!(path.exists());
        let again = Server::bind(&path).unwrap();
        drop(again);
        std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap()).unwrap();
    }

    #[tokio::test]
    async fn silent_connections_cannot_lock_out_a_real_client() {
        let path = temp_socket("slowloris");
        let server = Server::bind(&path).unwrap();
        let handler = Arc::new(Counting::default());
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(server.serve(handler.clone(), rx));

        // Twice the slots: connections that send nothing, or half a line.
        let mut silent = Vec::new();
        for i in 0..MAX_CONNECTIONS * 2 {
            let mut s = UnixStream::connect(&path).await.unwrap();
            if i % 2 == 1 {
                s.write_all(b"{\"cmd\":").await.unwrap();
            }
            silent.push(s);
        }
        for _ in 0..3 {
            let mut c = BufReader::new(UnixStream::connect(&path).await.unwrap());
            let r = roundtrip(&mut c, b"{\"cmd\":\"ping\"}\n").await;
            assert!(r.ok, "a real client is served: {r:?}");
        }
        assert_eq!(handler.0.load(Ordering::SeqCst), 3);
        // The oldest silent ones were closed to make room.
        let mut first = BufReader::new(silent.remove(0));
        let mut out = String::new();
        assert_eq!(first.read_line(&mut out).await.unwrap(), 0, "{out}");

        stop.send(true).unwrap();
        task.await.unwrap();
        std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap()).unwrap();
    }
}
