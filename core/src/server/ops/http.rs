//! A minimal HTTP/1.1 responder on tokio for the operations endpoint.
//!
//! Why not a crate (hyper, tiny_http): the endpoint answers three GET paths to Prometheus and
//! probes, one request per connection, with small bodies. Reading a request head, matching its
//! first line and writing `Connection: close` responses is a few dozen lines on the tokio
//! already in the engine, with no new dependency to vet or keep up with. What makes it robust
//! is bounded here: the head's size, the time a connection may take, and how many are served
//! at once; anything else is refused with a status, never a panic.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Semaphore};

/// The largest request head read (request line and headers).
const MAX_HEAD: usize = 8 * 1024;
/// How long one connection may take, from accept to the last byte written.
const CONNECTION_DEADLINE: Duration = Duration::from_secs(10);
/// Connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 32;

/// A response: status, content type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: String) -> Response {
        Response {
            status,
            content_type,
            body,
        }
    }

    fn text(status: u16, body: &str) -> Response {
        Response::new(status, "text/plain; charset=utf-8", format!("{body}\n"))
    }

    fn bytes(&self, with_body: bool) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            431 => "Request Header Fields Too Large",
            503 => "Service Unavailable",
            _ => "Unknown",
        };
        let mut out = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
            self.status,
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        if with_body {
            out.extend_from_slice(self.body.as_bytes());
        }
        out
    }
}

/// What the responder serves: a path (without its query) to a response.
pub trait Handler: Send + Sync + 'static {
    fn respond(&self, path: &str) -> impl Future<Output = Response> + Send;
}

/// Accepts connections until `stop` fires (or its sender is dropped).
pub async fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    mut stop: oneshot::Receiver<()>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                        continue; // dropping the stream closes it
                    };
                    let handler = Arc::clone(&handler);
                    tokio::spawn(async move {
                        let _slot = slot;
                        let _ = tokio::time::timeout(CONNECTION_DEADLINE, answer(stream, &*handler)).await;
                    });
                }
                // Out of file descriptors and the like: pause rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            },
        }
    }
}

async fn answer<H: Handler>(mut stream: TcpStream, handler: &H) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            let refused = Response::text(431, "request head too large");
            return finish(&mut stream, &refused, true).await;
        }
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..read]);
    }
    let (response, with_body) = match request_line(&head) {
        Some(("GET", path)) => (handler.respond(path).await, true),
        Some(("HEAD", path)) => (handler.respond(path).await, false),
        Some(_) => (Response::text(405, "only GET and HEAD"), true),
        None => (Response::text(400, "bad request"), true),
    };
    finish(&mut stream, &response, with_body).await
}

async fn finish(
    stream: &mut TcpStream,
    response: &Response,
    with_body: bool,
) -> std::io::Result<()> {
    stream.write_all(&response.bytes(with_body)).await?;
    stream.shutdown().await
}

/// `(method, path)` from `GET /path?query HTTP/1.1`; None when it is not such a line.
fn request_line(head: &[u8]) -> Option<(&str, &str)> {
    let end = head.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&head[..end]).ok()?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return None;
    }
    Some((method, target.split('?').next().unwrap_or(target)))
}

/// The not-found answer, for handlers.
pub fn not_found() -> Response {
    Response::text(404, "not found: try /metrics, /live or /ready")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_request_line() {
        assert_eq!(
            request_line(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"),
            Some(("GET", "/metrics"))
        );
        assert_eq!(
            request_line(b"HEAD /live HTTP/1.0\r\n\r\n"),
            Some(("HEAD", "/live"))
        );
        assert_eq!(request_line(b"GET http://x/ HTTP/1.1\r\n\r\n"), None);
        assert_eq!(request_line(b"garbage\r\n\r\n"), None);
    }

    #[test]
    fn writes_a_closing_response() {
        let text = String::from_utf8(Response::text(503, "no").bytes(true)).unwrap_or_default();
        assert!(text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(text.contains("Content-Length: 3\r\n"));
        assert!(text.ends_with("\r\n\r\nno\n"));
    }
}
