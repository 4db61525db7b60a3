//! Owns the `--metrics ADDR:PORT` endpoint: a read-only HTTP/1.x server on
//! tokio that answers `GET /metrics` (and `HEAD`) with the text exposition,
//! 404 for any other path, 405 for any other method, 400 for what is not
//! HTTP. One request per connection; request heads are capped at 8 KiB and
//! 10 s, and at most 64 connections are served at once, so a client cannot
//! hold the daemon's memory or tasks.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::Metrics;

const MAX_HEAD: usize = 8 * 1024;
const READ_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_CONNECTIONS: usize = 64;
/// OpenMetrics text, which prometheus-client writes (Prometheus reads it).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("--metrics {0}: expected ADDR:PORT (e.g. 127.0.0.1:9191 or [::1]:9191)")]
    Address(String),
    #[error("--metrics {addr}: cannot listen: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

/// A bound metrics endpoint.
pub struct MetricsServer {
    listener: TcpListener,
    metrics: Arc<Metrics>,
}

impl MetricsServer {
    /// Binds `addr` (`ADDR:PORT`; port 0 picks a free one).
    pub async fn bind(addr: &str, metrics: Arc<Metrics>) -> Result<MetricsServer, MetricsError> {
        let sa: SocketAddr = addr
            .parse()
            .map_err(|_| MetricsError::Address(addr.to_string()))?;
        let listener = TcpListener::bind(sa)
            .await
            .map_err(|source| MetricsError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        Ok(MetricsServer { listener, metrics })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()>) {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                acc = self.listener.accept() => {
                    let Ok((stream, _)) = acc else {
                        // EMFILE and the like: back off instead of spinning.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    let Ok(permit) = slots.clone().try_acquire_owned() else {
                        drop(stream); // too many at once
                        continue;
                    };
                    let metrics = self.metrics.clone();
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(READ_TIMEOUT * 2, handle(stream, &metrics)).await;
                        drop(permit);
                    });
                }
            }
        }
    }
}

/// Reads the request head (up to the blank line, within the caps).
async fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = tokio::time::timeout(READ_TIMEOUT, stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return (!buf.is_empty()).then_some(buf);
        }
        buf.extend_from_slice(&chunk[..n]);
        if memchr::memmem::find(&buf, b"\r\n\r\n").is_some()
            || memchr::memmem::find(&buf, b"\n\n").is_some()
        {
            return Some(buf);
        }
        if buf.len() > MAX_HEAD {
            return Some(buf);
        }
    }
}

/// Decides the response to a request head: (status line, body, content type).
pub fn respond(head: &[u8], metrics: &Metrics) -> (&'static str, String, &'static str, bool) {
    let line_end = memchr::memchr(b'\n', head).unwrap_or(head.len());
    let line = String::from_utf8_lossy(&head[..line_end]);
    let mut parts = line.trim_end().split(' ');
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    let text = "text/plain; charset=utf-8";
    let (Some(method), Some(target), Some(version)) = (method, target, version) else {
        return ("400 Bad Request", "bad request\n".into(), text, false);
    };
    if !version.starts_with("HTTP/1.") || parts.next().is_some() || head.len() > MAX_HEAD {
        return ("400 Bad Request", "bad request\n".into(), text, false);
    }
    let path = target.split('?').next().unwrap_or("");
    if path != "/metrics" {
        return (
            "404 Not Found",
            "not found: only /metrics is served\n".into(),
            text,
            method == "HEAD",
        );
    }
    match method {
        "GET" => ("200 OK", metrics.encode(), CONTENT_TYPE, false),
        "HEAD" => ("200 OK", metrics.encode(), CONTENT_TYPE, true),
        _ => ("405 Method Not Allowed", "only GET\n".into(), text, false),
    }
}

async fn handle(mut stream: TcpStream, metrics: &Metrics) {
    let Some(head) = read_head(&mut stream).await else {
        return;
    };
    let (status, body, ctype, head_only) = respond(&head, metrics);
    let allow = if status.starts_with("405") {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    let _ = stream.write_all(&out).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn request(addr: SocketAddr, raw: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(raw).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        String::from_utf8(out).unwrap()
    }

    #[tokio::test]
    async fn serves_metrics_on_an_ephemeral_loopback_port() {
        let m = Metrics::shared();
        m.ban("sshd");
        let server = MetricsServer::bind("127.0.0.1:0", m.clone()).await.unwrap();
        let addr = server.local_addr().unwrap();
        assert_ne!(addr.port(), 0);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(async {
            let _ = stop_rx.await;
        }));

        let ok = request(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains(CONTENT_TYPE));
        assert!(ok.contains("enforcer_bans_total{jail=\"sshd\"} 1"), "{ok}");
        let (head, body) = ok.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));

        let q = request(addr, b"GET /metrics?x=1 HTTP/1.0\r\n\r\n").await;
        assert!(q.starts_with("HTTP/1.1 200"));
        let h = request(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n").await;
        assert!(
            h.starts_with("HTTP/1.1 200") && h.ends_with("\r\n\r\n"),
            "{h}"
        );
        let nf = request(addr, b"GET / HTTP/1.1\r\n\r\n").await;
        assert!(nf.starts_with("HTTP/1.1 404"), "{nf}");
        let na = request(addr, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n").await;
        assert!(
            na.starts_with("HTTP/1.1 405") && na.contains("Allow: GET, HEAD"),
            "{na}"
        );
        let bad = request(addr, b"hello\r\n\r\n").await;
        assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
        let huge = [b"GET /metrics HTTP/1.1\r\nX: ".as_slice(), &[b'a'; 20_000]].concat();
        let big = request(addr, &huge).await;
        assert!(big.starts_with("HTTP/1.1 400"), "{big}");

        stop_tx.send(()).unwrap();
        task.await.unwrap();
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "listener closed after shutdown"
        );
    }

    #[tokio::test]
    async fn bad_addresses_are_refused() {
        let m = Metrics::shared();
        assert!(matches!(
            MetricsServer::bind("localhost", m.clone()).await,
            Err(MetricsError::Address(_))
        ));
        let a = MetricsServer::bind("127.0.0.1:0", m.clone()).await.unwrap();
        let taken = a.local_addr().unwrap().to_string();
        assert!(matches!(
            MetricsServer::bind(&taken, m).await,
            Err(MetricsError::Bind { .. })
        ));
    }
}
