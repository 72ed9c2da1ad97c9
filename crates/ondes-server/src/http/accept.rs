//! Accepting connections: listener `GET`s are taken over, the rest go to hyper.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tower::ServiceExt;

use crate::egress::writer::{Handover, Takeover};
use crate::icecast::conn::SourceAwareStream;
use crate::state::SharedState;

/// Longest first request head examined.
const MAX_HEAD: usize = 16 * 1024;
/// A connection that has not sent its first request head by then is closed.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response body collected for a taken-over request that was not a listener
/// (an error: a few hundred bytes).
const MAX_BODY: usize = 1 << 20;

/// A TCP listener for axum whose connections are first looked at (see the module docs of
/// [`super`]).
pub struct ConnectionRouter<L> {
    inner: L,
    tx: mpsc::Sender<(SourceAwareStream, SocketAddr)>,
    rx: mpsc::Receiver<(SourceAwareStream, SocketAddr)>,
    app: SharedState,
    router: Router,
}

impl<L> ConnectionRouter<L> {
    pub fn new(inner: L, app: SharedState, router: Router) -> Self {
        let (tx, rx) = mpsc::channel(1024);
        ConnectionRouter { inner, tx, rx, app, router }
    }
}

impl<L> axum::serve::Listener for ConnectionRouter<L>
where
    L: axum::serve::Listener<Io = TcpStream, Addr = SocketAddr>,
{
    type Io = SourceAwareStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                (tcp, addr) = self.inner.accept() => {
                    let (tx, app, router) = (self.tx.clone(), self.app.clone(), self.router.clone());
                    tokio::spawn(first_request(tcp, addr, tx, app, router));
                }
                // the sender lives in self: the channel never closes
                Some(c) = self.rx.recv() => return c,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Reads the start of a connection and decides who serves it.
async fn first_request(
    mut tcp: TcpStream,
    addr: SocketAddr,
    to_hyper: mpsc::Sender<(SourceAwareStream, SocketAddr)>,
    app: SharedState,
    router: Router,
) {
    let mut buf = Vec::with_capacity(1024);
    let read_head = async {
        loop {
            if tcp.read_buf(&mut buf).await.ok()? == 0 {
                return None; // closed before a request
            }
            if !buf.starts_with(&b"GET "[..buf.len().min(4)])
                || head_end(&buf).is_some()
                || buf.len() > MAX_HEAD
            {
                return Some(());
            }
        }
    };
    match tokio::time::timeout(HEAD_TIMEOUT, read_head).await {
        Ok(Some(())) => {}
        _ => return, // idle, or closed: nothing to serve
    }
    if let Some(req) = listener_request(&buf, &app) {
        take_over(tcp, addr, req, app, router).await;
    } else {
        let _ = to_hyper.send((SourceAwareStream::with_prefix(tcp, buf), addr)).await;
    }
}

fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
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
            let _ = tcp.write_all(head.as_bytes()).await;
            let _ = tcp.write_all(&body).await;
            let _ = tcp.shutdown().await;
        }
    }
}
