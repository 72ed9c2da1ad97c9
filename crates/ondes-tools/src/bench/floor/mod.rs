//! The floor (`ondes bench floor`): the least work a server can do to fan one live Ogg/Opus
//! stream out to many HTTP listeners, run beside ondes and Icecast so that their cost per
//! listener can be read as a multiple of it.
//!
//! A fan-out server cannot do less than one `write` per listener per page, and that write's
//! cost is the kernel's (copying the page into the socket, TCP, the wake-up of the reader).
//! The floor does exactly that and nothing else:
//!
//! - an accept thread ([`accept`]) reads each request head (any request gets the stream) and
//!   hands the socket, now non-blocking, to the writer threads in turn;
//! - a clock thread ([`clock`]) makes each page once, every `page_ms`, from a tone encoded
//!   once at start by the project's Opus encoder and put in pages by its Ogg muxer
//!   ([`pages`]): real Ogg/Opus, 64 kbit/s stereo 48 kHz, pages numbered consecutively with
//!   the granule positions of a continuous stream;
//! - one writer thread per core ([`writer`]), each owning a share of the sockets, writes the
//!   same page bytes to each of its sockets with one non-blocking `write`; a socket that
//!   cannot take a whole page finishes it at the next page, or has that page left out (a
//!   gap for that listener alone); a socket that fails is dropped.
//!   When a pass over the sockets outlasts a page interval, the pages that came meanwhile
//!   go out together, in one write per listener.
//!
//! A listener gets `HTTP/1.0 200 OK` with `Content-Type: audio/ogg`, the `OpusHead` and
//! `OpusTags` pages numbered to end right before its first audio page, then the latest page
//! at once (as ondes does: one page of burst) and every page after it. So the load client,
//! `ondes bench fanout --transport http`, measures it exactly as it measures ondes and Icecast:
//! the same gaps (granule jumps), stalls, time to first byte and lag behind live at start.
//!
//! What the floor leaves out, and a real server pays for: decoding and encoding the source
//! (the floor encodes ahead), an event loop and per-connection state, buffering for slow
//! listeners, HTTP parsing beyond finding the end of the request, limits and statistics.

mod accept;
mod clock;
pub mod pages;
mod stats;
mod writer;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use accept::REQUEST_TIMEOUT;
pub use stats::{FloorSnapshot, FloorStats};
pub use writer::RESPONSE_HEAD;

use pages::PageSource;

/// Why the floor could not start.
#[derive(Debug, thiserror::Error)]
pub enum FloorError {
    #[error("{0}")]
    Options(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start a thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// How to run the floor.
#[derive(Debug, Clone)]
pub struct FloorOptions {
    /// Where to accept listeners (port 0: any free port, see [`FloorServer::local_addr`]).
    pub listen: SocketAddr,
    /// Audio per page, in ms: a multiple of 20 up to [`pages::MAX_PAGE_MS`].
    pub page_ms: u32,
    /// Writer threads, each owning a share of the sockets.
    pub threads: usize,
    /// `SO_SNDBUF` for each listener's socket; `None` leaves the kernel's default (which
    /// grows on its own). A small one shows a slow listener's gaps sooner.
    pub send_buffer: Option<usize>,
}

impl FloorOptions {
    /// 100 ms pages, one writer per core, the kernel's send buffers.
    pub fn new(listen: SocketAddr) -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        FloorOptions { listen, page_ms: 100, threads, send_buffer: None }
    }
}

/// A running floor; stopped (threads joined, sockets closed) by [`stop`](Self::stop) or
/// when dropped.
#[derive(Debug)]
pub struct FloorServer {
    addr: SocketAddr,
    stats: Arc<FloorStats>,
    stopping: Arc<AtomicBool>,
    stop_clock: Option<Sender<()>>,
    acceptor: Option<JoinHandle<()>>,
    others: Vec<JoinHandle<()>>,
}

impl FloorServer {
    /// Binds, makes the first page and starts the threads.
    pub fn start(opts: FloorOptions) -> Result<Self, FloorError> {
        if opts.threads == 0 {
            return Err(FloorError::Options("at least one writer thread is needed".into()));
        }
        let mut source = PageSource::new(opts.page_ms).map_err(FloorError::Options)?;
        let listener = TcpListener::bind(opts.listen)
            .map_err(|source| FloorError::Bind { addr: opts.listen, source })?;
        let addr = listener.local_addr().map_err(|source| FloorError::Bind { addr: opts.listen, source })?;
        accept::widen_backlog(&listener);
        let stats = Arc::new(FloorStats::default());
        let headers: Arc<[u8]> = source.headers().into();
        // made before anyone can join, so that a writer always has a page to start a listener on
        let first = source.next_page();
        stats.on_page_made();
        let start = Instant::now();

        let mut others = Vec::new();
        let mut writers = Vec::new();
        for i in 0..opts.threads {
            let (tx, rx) = mpsc::channel();
            let (headers, first, stats) = (Arc::clone(&headers), first.clone(), Arc::clone(&stats));
            others.push(spawn(format!("floor-writer-{i}"), move || writer::run(rx, headers, first, stats))?);
            writers.push(tx);
        }
        let (stop_clock, stop_rx) = mpsc::channel();
        let page = Duration::from_millis(u64::from(opts.page_ms));
        let (clock_writers, clock_stats) = (writers.clone(), Arc::clone(&stats));
        others.push(spawn("floor-clock".into(), move || {
            clock::run(source, page, start, clock_writers, stop_rx, clock_stats)
        })?);
        let stopping = Arc::new(AtomicBool::new(false));
        let (accept_stop, accept_stats) = (Arc::clone(&stopping), Arc::clone(&stats));
        let acceptor = spawn("floor-accept".into(), move || {
            accept::run(listener, writers, accept_stop, accept_stats, opts.send_buffer)
        })?;
        Ok(FloorServer {
            addr,
            stats,
            stopping,
            stop_clock: Some(stop_clock),
            acceptor: Some(acceptor),
            others,
        })
    }

    /// The address listeners connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The counters now.
    pub fn stats(&self) -> FloorSnapshot {
        self.stats.snapshot()
    }

    /// Stops the threads and closes every socket.
    pub fn stop(self) {}

    fn shutdown(&mut self) {
        self.stopping.store(true, Ordering::Release);
        self.stop_clock = None;
        let Some(acceptor) = self.acceptor.take() else { return };
        // `accept` blocks: one connection of our own lets it see the flag
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(if wake.is_ipv4() { Ipv4Addr::LOCALHOST.into() } else { Ipv6Addr::LOCALHOST.into() });
        }
        if acceptor.is_finished() || TcpStream::connect_timeout(&wake, Duration::from_secs(1)).is_ok() {
            let _ = acceptor.join();
            for t in self.others.drain(..) {
                let _ = t.join();
            }
        }
        // else the accept thread stays blocked, holding the writers' channels open: the
        // threads are left to end with the process rather than joined forever
    }
}

impl Drop for FloorServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn spawn(name: String, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, FloorError> {
    std::thread::Builder::new().name(name).spawn(f).map_err(FloorError::Thread)
}
