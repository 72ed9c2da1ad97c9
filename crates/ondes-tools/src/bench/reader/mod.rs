//! Per-transport listeners. Each module connects one listener and runs its read loop,
//! feeding [`super::stats::ListenerStats`] and the shared [`RunShared`] counters.
//!
//! The HTTP listeners (SSE, Ogg, LL-HLS) open their connections through one [`Dialer`]: a
//! plain TCP stream for `http://`, or a TLS stream for `https://` on the one rustls client
//! configuration of `ondes_client::tls` (the WebSocket listeners hand the same configuration
//! to their connector). A [`Conn`] is either; the read loop keeps the plain stream's
//! readiness-then-`try_read` path as it was and reads a TLS stream with its own `poll_read`,
//! both into the thread's buffer.

pub(crate) mod hls;
pub(crate) mod http;
pub(crate) mod keepalive;
pub(crate) mod rtp_light;
pub(crate) mod sse;
pub(crate) mod whep;
pub(crate) mod ws;

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, ClientConfig};

use super::BenchError;
use super::http1::{HttpUrl, ResponseHead, parse_response_head};
use super::stats::{ListenerStats, Window};
use ondes_client::histogram::LatencyHistogram;
use ondes_client::tls::TlsOptions;

/// Size of the per-thread read buffer.
pub(crate) const READ_BUF_SIZE: usize = 64 * 1024;

thread_local! {
    /// One read buffer per runtime worker thread, not per connection: a listener reads with
    /// `try_read` and scans the bytes before it yields, so the buffer is never held across an
    /// `.await`. A thousand listeners then cost a few hundred bytes of state each, not 64 KB.
    pub(crate) static READ_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_BUF_SIZE].into_boxed_slice());
}

/// State shared by all listeners of a run.
#[derive(Debug)]
pub(crate) struct RunShared {
    window: AtomicU8,
    pub connected: AtomicUsize,
    pub failed: AtomicUsize,
    /// Connections that ended before the run was stopped.
    pub closed: AtomicUsize,
    /// Frames received in the window, all listeners (for the progress display).
    pub frames: AtomicU64,
    /// Duration of one source frame as announced by the stream, in µs; 0 = not seen yet.
    pub frame_duration_us: AtomicU64,
    pub latency: LatencyHistogram,
    /// HTTP listeners: request sent → first body byte.
    pub ttfb: LatencyHistogram,
    /// HTTP listeners: how far behind live each started (see [`http`]).
    pub start_lag: LatencyHistogram,
    /// HLS listeners: blocking playlist reload, request → response.
    pub reload: LatencyHistogram,
    /// HLS listeners: how long after the part existed the reload listing it came back.
    pub part_late: LatencyHistogram,
    /// The reason of the first TLS failure (`tls_untrusted`, ...), if one came before any
    /// listener connected: the run ends with an error saying what to do.
    pub tls_refusal: OnceLock<String>,
    /// WHEP: how the light listeners read the media packets.
    pub whep: WhepPacketCounts,
}

/// How the light WHEP listeners read the media packets (see [`whep`]), all listeners, the
/// whole run.
#[derive(Debug, Default)]
pub(crate) struct WhepPacketCounts {
    /// Counted from the RTP header, not decrypted.
    pub by_header: AtomicU64,
    /// Decrypted by str0m and matching their header.
    pub decrypted: AtomicU64,
    /// Handed to str0m and not delivered by it (did not authenticate, or not Opus).
    pub undecrypted: AtomicU64,
    /// Decrypted, with another RTP time than their header's.
    pub mismatched: AtomicU64,
}

impl RunShared {
    pub fn new() -> Self {
        Self {
            window: AtomicU8::new(0),
            connected: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            closed: AtomicUsize::new(0),
            frames: AtomicU64::new(0),
            frame_duration_us: AtomicU64::new(0),
            latency: LatencyHistogram::new(),
            ttfb: LatencyHistogram::new(),
            start_lag: LatencyHistogram::new(),
            reload: LatencyHistogram::new(),
            part_late: LatencyHistogram::new(),
            tls_refusal: OnceLock::new(),
            whep: WhepPacketCounts::default(),
        }
    }

    /// Counts a failed connection attempt; a TLS failure before any success is kept (see
    /// [`RunShared::tls_refusal`]).
    pub fn on_connect_failure(&self, reason: &str) {
        if is_tls_failure(reason) && self.connected.load(Ordering::Acquire) == 0 {
            let _ = self.tls_refusal.set(reason.to_string());
        }
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn window(&self) -> Window {
        match self.window.load(Ordering::Acquire) {
            0 => Window::Before,
            1 => Window::In,
            _ => Window::After,
        }
    }

    pub fn set_window(&self, w: Window) {
        let v = match w {
            Window::Before => 0,
            Window::In => 1,
            Window::After => 2,
        };
        self.window.store(v, Ordering::Release);
    }
}

/// Why a read loop returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReadEnd {
    /// The run was stopped; the connection was still open.
    Stopped,
    /// The server ended the response or closed the connection.
    Closed,
    /// A socket error or a protocol violation.
    Failed(String),
}

/// A short, stable name for an I/O error, used as a key of the failure counts. A TLS error
/// (inside the I/O error that the TLS stream returns) is named by [`tls_reason`].
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    if let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        return tls_reason(tls).into();
    }
    #[cfg(unix)]
    if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
        return "too_many_open_files".into();
    }
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => "refused".into(),
        K::ConnectionReset => "reset".into(),
        K::ConnectionAborted => "aborted".into(),
        K::TimedOut => "timeout".into(),
        K::AddrNotAvailable => "addr_not_available".into(),
        K::UnexpectedEof => "closed".into(),
        kind => format!("io: {kind}"),
    }
}

/// The failure reason of a TLS error: `tls_untrusted` (the certificate's issuer is not
/// trusted: pass `--ca`), `tls_wrong_name` (the certificate does not name the URL's host),
/// `tls_bad_certificate` (expired, revoked, ...), `tls_handshake` (anything else, e.g. a
/// server that does not speak TLS on that port). A handshake that does not finish within
/// [`TLS_HANDSHAKE_TIMEOUT`] is `tls_handshake_timeout`.
pub(crate) fn tls_reason(e: &rustls::Error) -> &'static str {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => "tls_untrusted",
        rustls::Error::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            "tls_wrong_name"
        }
        rustls::Error::InvalidCertificate(_) => "tls_bad_certificate",
        _ => "tls_handshake",
    }
}

/// Whether a failure reason is one of [`tls_reason`]'s.
pub(crate) fn is_tls_failure(reason: &str) -> bool {
    reason.starts_with("tls_")
}

/// What to tell the user when the first connections failed with `reason` (a TLS failure).
pub(crate) fn tls_advice(reason: &str) -> &'static str {
    match reason {
        "tls_untrusted" => {
            "the server's certificate is not signed by a CA this machine trusts; pass --ca FILE \
             with the PEM certificate of the CA that signed it"
        }
        "tls_wrong_name" => {
            "the server's certificate does not name the URL's host; use a host name it carries"
        }
        "tls_bad_certificate" => "the server's certificate is not valid (expired or malformed)",
        "tls_handshake_timeout" => {
            "no TLS handshake within 5 s; is the server serving https:// on this port? (use http:// if not)"
        }
        _ => "the TLS handshake failed; is the server serving https:// on this port? (use http:// if not)",
    }
}

/// Bound on a TLS handshake (after the TCP connection), below the default connect timeout.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How a listener reaches the server: the address, and for `https://` the TLS connector and
/// the name the server's certificate must carry.
#[derive(Clone)]
pub(crate) struct Dialer {
    pub addr: SocketAddr,
    /// What the client trusts (also for the transports that make their own connections).
    pub tls_options: TlsOptions,
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>, Arc<ClientConfig>)>,
}

impl std::fmt::Debug for Dialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dialer").field("addr", &self.addr).field("tls", &self.tls.is_some()).finish()
    }
}

impl Dialer {
    /// Plain TCP to `addr` for `http://`; TLS for `https://`, trusting what `tls` says and
    /// checking the certificate against the URL's host (a name or an address).
    pub fn new(addr: SocketAddr, url: &HttpUrl, tls_options: &TlsOptions) -> Result<Self, BenchError> {
        let tls = if url.tls {
            let config = tls_options.client_config().map_err(|e| BenchError::Tls(e.to_string()))?;
            let name = ServerName::try_from(url.host.clone())
                .map_err(|e| BenchError::Tls(format!("{}: not a host name for TLS: {e}", url.host)))?;
            Some((tokio_rustls::TlsConnector::from(Arc::clone(&config)), name, config))
        } else {
            None
        };
        Ok(Self { addr, tls_options: tls_options.clone(), tls })
    }

    /// The TLS configuration, for `https://`.
    pub fn client_config(&self) -> Option<Arc<ClientConfig>> {
        self.tls.as_ref().map(|(_, _, c)| Arc::clone(c))
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Connects (and for TLS, completes the handshake); the error is the failure reason.
    pub async fn connect(&self) -> Result<Conn, String> {
        let tcp = TcpStream::connect(self.addr).await.map_err(|e| io_reason(&e))?;
        let Some((connector, name, _)) = &self.tls else { return Ok(Conn::Plain(tcp)) };
        // Nagle off: the handshake's flights should not wait for an acknowledgement
        let _ = tcp.set_nodelay(true);
        // a server that does not speak TLS may wait for an HTTP head that never comes
        let handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, connector.connect(name.clone(), tcp));
        let Ok(done) = handshake.await else { return Err("tls_handshake_timeout".into()) };
        match done {
            Ok(tls) => Ok(Conn::Tls(Box::new(tls))),
            // a peer that closes or answers garbage in the middle of a handshake does not
            // speak TLS there
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err("tls_handshake".into()),
            Err(e) => Err(io_reason(&e)),
        }
    }
}

/// A listener's connection: plain TCP or TLS over TCP.
pub(crate) enum Conn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Conn::Plain(_) => "Conn::Plain",
            Conn::Tls(_) => "Conn::Tls",
        })
    }
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}

/// A `GET` request for the load generator: `accept_headers` are the transport's own lines
/// (each ending in CRLF); the bearer token, if any, is added.
pub(crate) fn get_request(
    url: &super::http1::HttpUrl,
    path_and_query: &str,
    accept_headers: &str,
    token: Option<&str>,
) -> Box<[u8]> {
    let mut req = format!(
        "GET {path_and_query} HTTP/1.1\r\nHost: {}\r\n{accept_headers}Connection: keep-alive\r\n\
         User-Agent: ondes-bench/{}\r\n",
        url.host_header,
        env!("CARGO_PKG_VERSION")
    );
    if let Some(token) = token {
        req.push_str("Authorization: Bearer ");
        req.push_str(token);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    req.into_bytes().into_boxed_slice()
}

/// Longest response head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// Connects through `dialer`, sends `request` and reads the response head: a 200 whose content
/// type passes `accepts`. Returns the stream, the head and the body bytes that came with it;
/// the error is the failure reason (`http_503`, `refused`, `tls_untrusted`, `wrong_type`, ...).
pub(crate) async fn open(
    dialer: &Dialer,
    request: &[u8],
    accepts: impl Fn(&str) -> bool,
    wrong_type: &str,
) -> Result<(Conn, ResponseHead, Vec<u8>), String> {
    let mut stream = dialer.connect().await?;
    // Nagle stays on (the default) for plain TCP: the listener only sends its request.
    stream.write_all(request).await.map_err(|e| io_reason(&e))?;
    stream.flush().await.map_err(|e| io_reason(&e))?;
    let mut head = Vec::with_capacity(1024);
    let parsed = loop {
        if head.len() >= MAX_HEAD {
            return Err("bad_response".into());
        }
        head.reserve(1024);
        let n = stream.read_buf(&mut head).await.map_err(|e| io_reason(&e))?;
        if n == 0 {
            return Err("closed_before_response".into());
        }
        match parse_response_head(&head) {
            Ok(Some(parsed)) => break parsed,
            Ok(None) => {}
            Err(_) => return Err("bad_response".into()),
        }
    };
    if parsed.status != 200 {
        return Err(format!("http_{}", parsed.status));
    }
    if !parsed.content_type.as_deref().is_some_and(accepts) {
        return Err(wrong_type.into());
    }
    let pending = head[parsed.head_len..].to_vec();
    Ok((stream, parsed, pending))
}

/// What a listener does with the bytes it reads (after the response head).
pub(crate) trait BytesSink {
    fn on_bytes(
        &mut self,
        bytes: &[u8],
        shared: &RunShared,
        stats: &mut ListenerStats,
    ) -> Result<(), ReadEnd>;
}

/// Feeds `pending` (bytes that came with the head), then reads `stream` into the thread's
/// buffer until the run is stopped or the connection ends.
pub(crate) async fn read_loop<S: BytesSink>(
    stream: &mut Conn,
    sink: &mut S,
    pending: Vec<u8>,
    shared: &RunShared,
    stats: &mut ListenerStats,
    stop: &mut watch::Receiver<bool>,
) -> ReadEnd {
    if let Err(end) = sink.on_bytes(&pending, shared, stats) {
        return end;
    }
    drop(pending);
    match stream {
        Conn::Plain(tcp) => read_plain(tcp, sink, shared, stats, stop).await,
        Conn::Tls(tls) => read_tls(tls, sink, shared, stats, stop).await,
    }
}

/// Waits for readiness, then `try_read`s into the thread's buffer and scans before yielding.
async fn read_plain<S: BytesSink>(
    stream: &TcpStream,
    sink: &mut S,
    shared: &RunShared,
    stats: &mut ListenerStats,
    stop: &mut watch::Receiver<bool>,
) -> ReadEnd {
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => return ReadEnd::Stopped,
            ready = stream.readable() => {
                if let Err(e) = ready {
                    return ReadEnd::Failed(io_reason(&e));
                }
            }
        }
        let step = READ_BUF.with_borrow_mut(|buf| match stream.try_read(buf) {
            Ok(0) => Some(ReadEnd::Closed),
            Ok(n) => sink.on_bytes(&buf[..n], shared, stats).err(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
            Err(e) => Some(ReadEnd::Failed(io_reason(&e))),
        });
        if let Some(end) = step {
            return end;
        }
    }
}

/// A TLS stream has no readiness of its own (records are decrypted as they are read): each
/// poll of the read borrows the thread's buffer for one `poll_read` and scans what it got,
/// so the buffer is still never held across a suspension.
async fn read_tls<S: BytesSink>(
    stream: &mut tokio_rustls::client::TlsStream<TcpStream>,
    sink: &mut S,
    shared: &RunShared,
    stats: &mut ListenerStats,
    stop: &mut watch::Receiver<bool>,
) -> ReadEnd {
    loop {
        let read = std::future::poll_fn(|cx| {
            READ_BUF.with_borrow_mut(|buf| {
                let mut rb = ReadBuf::new(buf);
                match Pin::new(&mut *stream).poll_read(cx, &mut rb) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Err(e)) => Poll::Ready(Some(ReadEnd::Failed(io_reason(&e)))),
                    Poll::Ready(Ok(())) if rb.filled().is_empty() => Poll::Ready(Some(ReadEnd::Closed)),
                    Poll::Ready(Ok(())) => Poll::Ready(sink.on_bytes(rb.filled(), shared, stats).err()),
                }
            })
        });
        let step = tokio::select! {
            biased;
            _ = stop.changed() => return ReadEnd::Stopped,
            step = read => step,
        };
        if let Some(end) = step {
            return end;
        }
    }
}
