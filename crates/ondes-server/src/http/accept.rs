//! Accepting connections: every connection's first request head is read here (bounded in
//! time and size, counted among the half-open connections), then listener `GET`s are taken
//! over and the rest go to hyper, which applies the same head timeout to every later
//! request of a kept-alive connection.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

use super::error::ApiError;
use super::pending::PendingGuard;
use crate::egress::writer::{Handover, Takeover};
use crate::icecast::conn::SourceAwareStream;
use crate::state::SharedState;

/// Longest first request head read (longer: 431).
const MAX_HEAD: usize = 64 * 1024;
/// Longest request target (longer: 414).
const MAX_URI: usize = 8 * 1024;
/// Most header lines in a request head (more: 431), as hyper's own limit.
const MAX_HEADERS: usize = 100;
/// Linux's "too many open files" (system-wide, per process).
const ENFILE: i32 = 23;
const EMFILE: i32 = 24;
/// Largest response body collected for a taken-over request that was not a listener
/// (an error: a few hundred bytes).
const MAX_BODY: usize = 1 << 20;

/// Accepts connections on `listener` until `shutdown` turns true, then waits for the
/// connections served by hyper to finish (listeners handed to writers end on their own).
/// `tune` is applied to every accepted socket.
pub async fn serve(
    listener: TcpListener,
    app: SharedState,
    router: Router,
    tune: impl Fn(&TcpStream) + Send + 'static,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    // every connection task holds a receiver; `closed` below waits for all of them
    let (close_tx, close_rx) = watch::channel(());
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, addr)) => {
                    tune(&tcp);
                    let pending = app.pending.enter();
                    let conn = Connection { app: app.clone(), router: router.clone(), close: close_rx.clone() };
                    tokio::spawn(conn.run(tcp, addr, pending));
                }
                Err(e) => {
                    // out of descriptors: a half-open connection makes room at once (the
                    // burst allowance may have let more in than the limit)
                    if matches!(e.raw_os_error(), Some(ENFILE | EMFILE)) {
                        app.pending.evict_oldest();
                    }
                    static LIMIT: crate::log_limit::WarnLimit = crate::log_limit::WarnLimit::per_secs(10);
                    if let Some(suppressed) = LIMIT.check() {
                        tracing::warn!(error = %e, suppressed, "accepting a connection failed");
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
        }
    }
    drop(listener);
    drop(close_rx);
    close_tx.closed().await;
    Ok(())
}

/// Why the first request head was not read.
enum HeadError {
    /// Closed, silent or too slow, or closed to make room: nothing to answer.
    Gone,
    TooLarge,
}

struct Connection {
    app: SharedState,
    router: Router,
    close: watch::Receiver<()>,
}

impl Connection {
    async fn run(self, tcp: TcpStream, addr: SocketAddr, mut pending: PendingGuard) {
        // the handshake and the first head share one deadline: a slow TLS client is as
        // half-open as a slow plain one
        let deadline =
            tokio::time::Instant::now() + Duration::from_secs(self.app.config.server.header_timeout_secs);
        let Some(tls) = self.app.tls.clone() else {
            let mut tcp = tcp;
            let mut buf = Vec::with_capacity(1024);
            if !self.first_head(&mut tcp, &mut buf, pending, deadline).await {
                return;
            }
            if let Some(req) = listener_request(&buf, &self.app) {
                return take_over(tcp, addr, req, self.app, self.router).await;
            }
            return self.hyper(SourceAwareStream::with_prefix(tcp, buf), addr).await;
        };
        let handshake = tokio::select! {
            r = tokio::time::timeout_at(deadline, tls.acceptor.accept(tcp)) => r,
            _ = &mut pending.evicted => return,
            _ = stopping(self.app.shutdown.clone()) => return,
        };
        let mut io = match handshake {
            Ok(Ok(io)) => io,
            Ok(Err(e)) => {
                static LIMIT: crate::log_limit::WarnLimit = crate::log_limit::WarnLimit::per_secs(10);
                if let Some(suppressed) = LIMIT.check() {
                    tracing::info!(%addr, error = %e, suppressed, "TLS handshake failed");
                }
                return;
            }
            Err(_) => {
                self.app.pending.timed_out();
                return;
            }
        };
        let mut buf = Vec::with_capacity(1024);
        if self.first_head(&mut io, &mut buf, pending, deadline).await {
            // listeners too: the writers write plain sockets, so over TLS hyper streams them
            self.hyper(SourceAwareStream::with_prefix(io, buf), addr).await;
        }
    }

    /// Reads the first request head by `deadline` and answers a bad one; true when the
    /// request is to be served.
    async fn first_head<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        io: &mut S,
        buf: &mut Vec<u8>,
        mut pending: PendingGuard,
        deadline: tokio::time::Instant,
    ) -> bool {
        let head = tokio::select! {
            r = tokio::time::timeout_at(deadline, read_head(io, buf)) => match r {
                Ok(r) => r,
                Err(_) => {
                    self.app.pending.timed_out();
                    Err(HeadError::Gone)
                }
            },
            _ = &mut pending.evicted => Err(HeadError::Gone),
            // a stopping server serves no new request: its shutdown waits for no straggler
            _ = stopping(self.app.shutdown.clone()) => Err(HeadError::Gone),
        };
        drop(pending);
        let verdict = match head {
            Ok(()) => check_head(buf),
            Err(HeadError::Gone) => return false,
            Err(HeadError::TooLarge) => Err(ApiError::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
                format!("the request head is over {} KB; send fewer or shorter headers", MAX_HEAD / 1024),
            )),
        };
        match verdict {
            Ok(()) => true,
            Err(e) => {
                reply_and_close(io, e).await;
                false
            }
        }
    }

    /// Serves the rest of the connection with hyper (HTTP/1.1, upgrades for WebSocket),
    /// with the head timeout on every later request.
    async fn hyper<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
        self,
        io: SourceAwareStream<S>,
        addr: SocketAddr,
    ) {
        let router = self.router;
        let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(addr));
            router.clone().oneshot(req.map(axum::body::Body::new))
        });
        let timeout = Duration::from_secs(self.app.config.server.header_timeout_secs);
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(timeout);
        let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(io), service).with_upgrades();
        let mut conn = std::pin::pin!(conn);
        let mut shutdown = self.app.shutdown.clone();
        let mut stopping = false;
        loop {
            tokio::select! {
                _ = conn.as_mut() => break,
                changed = shutdown.changed(), if !stopping => {
                    if changed.is_err() || *shutdown.borrow() {
                        stopping = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        }
        drop(self.close);
    }
}

/// Resolves when the server starts shutting down (never, if there is no server to stop).
async fn stopping(mut shutdown: watch::Receiver<bool>) {
    if shutdown.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Reads the first request head into `buf` (it may hold the start of a body too).
async fn read_head<S: AsyncRead + Unpin>(io: &mut S, buf: &mut Vec<u8>) -> Result<(), HeadError> {
    loop {
        match io.read_buf(buf).await {
            Ok(0) | Err(_) => return Err(HeadError::Gone),
            Ok(_) => {}
        }
        if let Some(end) = head_end(buf) {
            return if end > MAX_HEAD { Err(HeadError::TooLarge) } else { Ok(()) };
        }
        if buf.len() > MAX_HEAD {
            return Err(HeadError::TooLarge);
        }
    }
}

/// A JSON error for a head hyper would refuse with an empty body: 400 (not HTTP), 414
/// (target too long), 431 (too many headers). Icecast `SOURCE … ICE/1.0` heads pass: they
/// are not HTTP and the Icecast layer rewrites them.
fn check_head(buf: &[u8]) -> Result<(), ApiError> {
    if buf.starts_with(b"SOURCE ") {
        return Ok(());
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(_) => {}
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ApiError::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "too_many_headers",
                format!("the request has more than {MAX_HEADERS} header lines"),
            ));
        }
        Err(e) => {
            return Err(ApiError::bad_request(
                "bad_request",
                format!("the request is not HTTP/1.1 ({e}); send 'METHOD /path HTTP/1.1' and headers"),
            ));
        }
    }
    if req.path.is_some_and(|p| p.len() > MAX_URI) {
        return Err(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request target is over {} KB; put long data in a body", MAX_URI / 1024),
        ));
    }
    Ok(())
}

/// Writes an error response and closes the connection.
async fn reply_and_close<S: AsyncWrite + Unpin>(tcp: &mut S, e: ApiError) {
    let body = serde_json::json!({"error": e.code, "message": e.message}).to_string();
    let head = format!(
        "HTTP/1.1 {}\r\ncontent-type: application/json\r\ncache-control: no-store\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        e.status,
        body.len()
    );
    let _ = tcp.write_all(head.as_bytes()).await;
    let _ = tcp.write_all(body.as_bytes()).await;
    let _ = tcp.shutdown().await;
}

/// The end of the request head: a blank line (`\r\n\r\n`, or `\n\n` from the Icecast
/// source clients that end lines with a bare LF).
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The request, when it is a listener's `GET` of an SSE stream, an Ogg mount or a WebSocket
/// (and nothing follows its head: a pipelined request stays with hyper).
fn listener_request(buf: &[u8], app: &SharedState) -> Option<Request<axum::body::Body>> {
    let end = head_end(buf)?;
    if end != buf.len() {
        return None;
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    if !req.parse(buf).ok()?.is_complete() || req.method? != "GET" {
        return None;
    }
    let target = req.path?;
    let path = target.split('?').next()?;
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let is_websocket = matches!(segments.as_slice(), ["api", "audio", "ws"] | ["api", "streams", _, "ws"]);
    let is_listener = is_websocket
        || match segments.as_slice() {
            ["api", "audio", "stream"] | ["api", "streams", _, "stream"] => true,
            [mount] => app.mount(mount).is_ok(),
            _ => false,
        };
    // a WebSocket route without an upgrade (an error answer), or an upgrade elsewhere: hyper's
    let upgrade = req.headers.iter().any(|h| h.name.eq_ignore_ascii_case("upgrade"));
    if !is_listener || upgrade != is_websocket {
        return None;
    }
    let mut builder = Request::builder().method("GET").uri(target);
    for h in req.headers.iter() {
        builder = builder.header(h.name, h.value);
    }
    builder.body(axum::body::Body::empty()).ok()
}

/// Serves a listener's request through the router; when its route handed over a session,
/// writes the response head and gives the socket to the writer, otherwise writes the whole
/// (error) response and closes.
async fn take_over(
    mut tcp: TcpStream,
    addr: SocketAddr,
    mut req: Request<axum::body::Body>,
    app: SharedState,
    router: Router,
) {
    let slot = Takeover::default();
    req.extensions_mut().insert(ConnectInfo(addr));
    req.extensions_mut().insert(slot.clone());
    let resp: Response<axum::body::Body> = match router.oneshot(req).await {
        Ok(r) => r,
        Err(e) => match e {},
    };
    let (parts, body) = resp.into_parts();
    let mut head = format!("HTTP/1.1 {}\r\n", parts.status);
    for (name, value) in &parts.headers {
        // the body's framing is ours: the rest of the connection, or the length below
        if name == axum::http::header::CONTENT_LENGTH || name == axum::http::header::TRANSFER_ENCODING {
            continue;
        }
        if let Ok(v) = value.to_str() {
            head.push_str(&format!("{name}: {v}\r\n"));
        }
    }
    match slot.take() {
        Some(taken) => {
            // the body is the rest of the connection (a WebSocket's answer says `upgrade`)
            if parts.status != axum::http::StatusCode::SWITCHING_PROTOCOLS {
                head.push_str("connection: close\r\n");
            }
            head.push_str("\r\n");
            if tcp.write_all(head.as_bytes()).await.is_ok() {
                app.writers.hand_over(&taken.hub, taken.batch, Handover { tcp, session: taken.session });
            }
        }
        None => {
            let body = axum::body::to_bytes(body, MAX_BODY).await.unwrap_or_default();
            head.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len()));
            // head and body in one write: a WebSocket client reads a refused handshake's body
            // only from what arrives with its head
            let mut whole = head.into_bytes();
            whole.extend_from_slice(&body);
            let _ = tcp.write_all(&whole).await;
            let _ = tcp.shutdown().await;
        }
    }
}
