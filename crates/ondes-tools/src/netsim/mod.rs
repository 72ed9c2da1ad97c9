//! `ondes netsim`: a TCP proxy that applies the link model ([`ondes_sim::netmodel`]) to real
//! traffic in both directions, so any client — ours, a browser, ffmpeg — can be tried on a
//! 3G, Wi-Fi, fibre or satellite link, or on a scripted mix of them, on one machine.
//!
//! Each connection gets two stream-mode [`Link`]s (one per direction, seeded from the proxy's
//! seed and the connection number) on the same schedule, whose clock starts when the proxy
//! starts: a script's "20 s wifi, then 64 kbit/s" is wall-clock time for every connection.
//! See [`pipe`] for how bytes, segments, flow control and losses map onto the model.
//!
//! What the server's TCP would know about its side of each connection if the link were real
//! (round trip, its variation, retransmissions: [`SenderView`]) is kept per connection and
//! can be asked for by the address the server sees the connection come from
//! ([`TcpViews`]): the server's own sockets only see loopback.

mod pipe;
mod stats;
pub mod udp;
pub mod ws_drop;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, PoisonError};

use ondes_core::abr::TcpInfo;
use ondes_sim::netmodel::{Link, Mode, Schedule, SenderView};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use stats::{NetsimSnapshot, NetsimStats};
pub use udp::{NetsimUdpError, NetsimUdpOptions, NetsimUdpProxy, NetsimUdpSnapshot, NetsimUdpStats};

use pipe::{Way, pump};
use ws_drop::WsMessageDropper;

/// Errors of the proxy.
#[derive(Debug, thiserror::Error)]
pub enum NetsimError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

/// What to proxy, through what.
#[derive(Debug, Clone)]
pub struct NetsimOptions {
    pub listen: String,
    /// `host:port` of the real server (resolved for each connection).
    pub upstream: String,
    pub schedule: Schedule,
    pub seed: u64,
    /// Drop this fraction (0..1) of the client's whole WebSocket binary messages on the way
    /// up ([`ws_drop`]); 0 leaves the bytes alone.
    pub drop_ws_messages: f64,
}

/// The sender's view of the server → client direction of each open connection, by the
/// address of the proxy's upstream socket (the peer address the server sees).
#[derive(Clone)]
pub struct TcpViews {
    origin: Instant,
    map: Arc<Mutex<HashMap<SocketAddr, Arc<Mutex<SenderView>>>>>,
}

impl TcpViews {
    fn new(origin: Instant) -> TcpViews {
        TcpViews { origin, map: Arc::default() }
    }

    /// What the server's TCP would report now (`TCP_INFO`) for the connection it sees from
    /// `server_peer`, if that is one of this proxy's open connections.
    pub fn info(&self, server_peer: SocketAddr) -> Option<TcpInfo> {
        let view = self.map.lock().unwrap_or_else(PoisonError::into_inner).get(&server_peer)?.clone();
        let mut view = view.lock().unwrap_or_else(PoisonError::into_inner);
        Some(view.info(pipe::now_us(self.origin)))
    }

    fn insert(&self, key: SocketAddr) -> Arc<Mutex<SenderView>> {
        let view = Arc::new(Mutex::new(SenderView::new()));
        self.map.lock().unwrap_or_else(PoisonError::into_inner).insert(key, view.clone());
        view
    }

    fn remove(&self, key: SocketAddr) {
        self.map.lock().unwrap_or_else(PoisonError::into_inner).remove(&key);
    }
}

/// A running proxy.
pub struct NetsimProxy {
    pub local_addr: SocketAddr,
    pub stats: Arc<NetsimStats>,
    /// The modelled sender's view of each open connection.
    pub tcp_views: TcpViews,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl NetsimProxy {
    /// Binds and starts accepting on the current tokio runtime.
    pub async fn start(opts: NetsimOptions) -> Result<NetsimProxy, NetsimError> {
        let listener = TcpListener::bind(&opts.listen)
            .await
            .map_err(|source| NetsimError::Bind { addr: opts.listen.clone(), source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| NetsimError::Bind { addr: opts.listen.clone(), source })?;
        let stats = Arc::new(NetsimStats::default());
        let (shutdown, mut stop) = watch::channel(false);
        let origin = Instant::now();
        let tcp_views = TcpViews::new(origin);
        let views = tcp_views.clone();
        let accept_stats = stats.clone();
        let task = tokio::spawn(async move {
            let mut conn = 0u64;
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = stop.changed() => break,
                };
                let Ok((client, peer)) = accepted else { continue };
                conn += 1;
                let ctx = Conn {
                    id: conn,
                    opts: opts.clone(),
                    origin,
                    stats: accept_stats.clone(),
                    views: views.clone(),
                };
                tokio::spawn(ctx.run(client, peer));
            }
        });
        Ok(NetsimProxy { local_addr, stats, tcp_views, shutdown, task })
    }

    /// Stops accepting (open connections run to their end).
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// One proxied connection.
struct Conn {
    id: u64,
    opts: NetsimOptions,
    origin: Instant,
    stats: Arc<NetsimStats>,
    views: TcpViews,
}

/// Requested receive buffer of the upstream socket (the kernel's minimum applies).
const UPSTREAM_RCVBUF: u32 = 2 * 1024;

/// Connects upstream with the smallest receive window the kernel allows. A real bottleneck
/// holds the sender back within a round trip; a receive buffer in front of the model would
/// instead soak up audio out of the sender's sight — megabytes when autotuned on loopback,
/// and even 16 KB is two seconds at 64 kbit/s, which the link model does not have. Linux
/// raises the request to its minimum (about 4.5 KB of buffer, a window of half that).
async fn connect_small_window(upstream: &str) -> std::io::Result<TcpStream> {
    let addr = tokio::net::lookup_host(upstream)
        .await?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{upstream} does not resolve")))?;
    let sock =
        if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    sock.set_recv_buffer_size(UPSTREAM_RCVBUF)?;
    sock.connect(addr).await
}

impl Conn {
    async fn run(self, client: TcpStream, peer: SocketAddr) {
        let upstream = match connect_small_window(&self.opts.upstream).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%peer, upstream = %self.opts.upstream, "netsim: cannot connect upstream: {e}");
                return;
            }
        };
        // the model decides when bytes move; Nagle would add its own delays on top
        let _ = client.set_nodelay(true);
        let _ = upstream.set_nodelay(true);
        self.stats.connections.fetch_add(1, Relaxed);
        self.stats.active.fetch_add(1, Relaxed);
        let seed = self.opts.seed ^ self.id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let up = Link::new(self.opts.schedule.clone(), Mode::Stream, seed);
        let down = Link::new(self.opts.schedule.clone(), Mode::Stream, seed ^ 0xD0_57);
        // the server sees this connection come from the upstream socket's address
        let key = upstream.local_addr().ok();
        let view = key.map(|k| self.views.insert(k));
        let (client_rd, client_wr) = client.into_split();
        let (up_rd, up_wr) = upstream.into_split();
        let filter = (self.opts.drop_ws_messages > 0.0)
            .then(|| WsMessageDropper::new(self.opts.drop_ws_messages, seed ^ 0x5753));
        tokio::join!(
            pump(client_rd, up_wr, up, self.origin, Way::Up, self.stats.clone(), filter, None),
            pump(up_rd, client_wr, down, self.origin, Way::Down, self.stats.clone(), None, view),
        );
        if let Some(k) = key {
            self.views.remove(k);
        }
        self.stats.active.fetch_sub(1, Relaxed);
        tracing::debug!(%peer, conn = self.id, "netsim: connection closed");
    }
}
