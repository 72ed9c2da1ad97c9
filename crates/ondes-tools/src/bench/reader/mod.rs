//! Per-transport listeners. Each module connects one listener and runs its read loop,
//! feeding [`super::stats::ListenerStats`] and the shared [`RunShared`] counters.

pub(crate) mod hls;
pub(crate) mod http;
pub(crate) mod keepalive;
pub(crate) mod sse;
pub(crate) mod whep;
pub(crate) mod ws;

use std::cell::RefCell;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::http1::{ResponseHead, parse_response_head};
use super::stats::{ListenerStats, Window};
use ondes_client::histogram::LatencyHistogram;

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
        }
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

/// A short, stable name for an I/O error, used as a key of the failure counts.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
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

/// Connects to `addr`, sends `request` and reads the response head: a 200 whose content type
/// passes `accepts`. Returns the stream, the head and the body bytes that came with it; the
/// error is the failure reason (`http_503`, `refused`, `wrong_type`, ...).
pub(crate) async fn open(
    addr: std::net::SocketAddr,
    request: &[u8],
    accepts: impl Fn(&str) -> bool,
    wrong_type: &str,
) -> Result<(TcpStream, ResponseHead, Vec<u8>), String> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| io_reason(&e))?;
    // Nagle stays on (the default): the listener only sends its request.
    stream.write_all(request).await.map_err(|e| io_reason(&e))?;
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

/// A listener that reads a plain TCP stream and decodes what arrives.
pub(crate) trait StreamReader {
    fn stream(&self) -> &TcpStream;
    fn on_bytes(
        &mut self,
        bytes: &[u8],
        shared: &RunShared,
        stats: &mut ListenerStats,
    ) -> Result<(), ReadEnd>;
}

/// Feeds `pending` (bytes that came with the head), then reads into the thread's buffer until
/// the run is stopped or the connection ends.
pub(crate) async fn read_loop<R: StreamReader>(
    r: &mut R,
    pending: Vec<u8>,
    shared: &RunShared,
    stats: &mut ListenerStats,
    stop: &mut watch::Receiver<bool>,
) -> ReadEnd {
    if let Err(end) = r.on_bytes(&pending, shared, stats) {
        return end;
    }
    drop(pending);
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => return ReadEnd::Stopped,
            ready = r.stream().readable() => {
                if let Err(e) = ready {
                    return ReadEnd::Failed(io_reason(&e));
                }
            }
        }
        let step = READ_BUF.with_borrow_mut(|buf| match r.stream().try_read(buf) {
            Ok(0) => Some(ReadEnd::Closed),
            Ok(n) => r.on_bytes(&buf[..n], shared, stats).err(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
            Err(e) => Some(ReadEnd::Failed(io_reason(&e))),
        });
        if let Some(end) = step {
            return end;
        }
    }
}
