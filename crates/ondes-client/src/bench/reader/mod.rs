//! Per-transport listeners. Each module connects one listener and runs its read loop,
//! feeding [`super::stats::ListenerStats`] and the shared [`RunShared`] counters.

pub(crate) mod http;
pub(crate) mod sse;
pub(crate) mod ws;

use std::cell::RefCell;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};

use super::histogram::LatencyHistogram;
use super::stats::Window;

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
