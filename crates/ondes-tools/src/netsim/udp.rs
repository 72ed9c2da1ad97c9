//! `ondes netsim --udp`: the link model on UDP traffic, where (unlike TCP) its loss and
//! reordering reach the application — what a WebRTC or RTP client faces.
//!
//! UDP has no connections, so the proxy keeps a *flow* per client address: the first
//! datagram from a new address opens an upstream socket connected to the server (so each
//! client looks like a distinct peer to it, and replies come back on that socket), and two
//! datagram-mode [`Link`]s, one per direction, seeded from the proxy's seed and the flow
//! number as the TCP proxy seeds per connection. Their schedule's clock starts when the
//! proxy starts. Each datagram is charged its payload plus
//! [`UDP_IP_OVERHEAD`](ondes_sim::netmodel::UDP_IP_OVERHEAD) (28 bytes) against the
//! link's rate and buffer; `udp/lane.rs` holds it until its arrival time.
//!
//! Bounds: at most [`NetsimUdpOptions::max_flows`] flows (datagrams from further addresses
//! are dropped and counted as `refused`); a flow with no datagram either way for
//! [`NetsimUdpOptions::idle_timeout`] is closed (as a NAT forgets a mapping); and all the
//! datagrams the proxy holds at once — queued for a flow's task or in flight in the model —
//! fit in [`MAX_HELD_BYTES`] (beyond it they are dropped as `overflow`). The model's own
//! buffer is much smaller on any rate-limited profile, so the bound only matters on an
//! unlimited one flooded faster than the proxy can deliver.

mod lane;
mod stats;

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use bytes::Bytes;
use ondes_sim::netmodel::{Link, Mode, Schedule};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use stats::{DirectionSnapshot, DirectionStats, NetsimUdpSnapshot, NetsimUdpStats};

use super::pipe::{Way, now_us};
use lane::{Datagram, Lane, Out};

/// Default [`NetsimUdpOptions::max_flows`]. Each flow holds an upstream socket (a file
/// descriptor) and three tasks; past the process's open-file limit, a new flow fails to open
/// (logged, its datagram dropped) instead of being refused.
pub const DEFAULT_MAX_FLOWS: usize = 1024;
/// Default [`NetsimUdpOptions::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Most memory the proxy holds for datagrams at once, over all flows.
pub const MAX_HELD_BYTES: u64 = 64 * 1024 * 1024;
/// What each held datagram is charged on top of its payload: its heap entry, the `Bytes`
/// handle and the allocator's header. Without it a flood of empty datagrams would be free.
const HELD_OVERHEAD: u64 = 64;
/// Datagrams waiting between a reader and its lane (the lane takes them within
/// microseconds; a full queue means the proxy is short of CPU, and drops as `overflow`).
const LANE_QUEUE: usize = 1024;
/// Receive buffer: the largest UDP payload fits.
const MAX_DATAGRAM: usize = 65_536;

/// The proxy's charge against [`MAX_HELD_BYTES`] for a datagram of `len` bytes.
fn held_cost(len: usize) -> u64 {
    len as u64 + HELD_OVERHEAD
}

/// Errors of the UDP proxy.
#[derive(Debug, thiserror::Error)]
pub enum NetsimUdpError {
    #[error("cannot listen on {addr} (UDP): {source}")]
    Bind {
        addr: String,
        #[source]
        source: io::Error,
    },
    /// The upstream is resolved once, at the start: resolving per flow would stall every
    /// other flow's datagrams behind a DNS query in the receive loop.
    #[error("cannot resolve the upstream {addr}: {source}")]
    Resolve {
        addr: String,
        #[source]
        source: io::Error,
    },
}

/// What to proxy, through what.
#[derive(Debug, Clone)]
pub struct NetsimUdpOptions {
    pub listen: String,
    /// `host:port` of the real server (resolved once, at the start).
    pub upstream: String,
    pub schedule: Schedule,
    pub seed: u64,
    /// Most flows (client addresses) open at once.
    pub max_flows: usize,
    /// A flow with no datagram in either direction for this long is closed; the client's
    /// next datagram opens a new one (a new upstream port, fresh links).
    pub idle_timeout: Duration,
}

impl NetsimUdpOptions {
    /// Options with the default flow limit and idle timeout.
    pub fn new(listen: String, upstream: String, schedule: Schedule, seed: u64) -> NetsimUdpOptions {
        NetsimUdpOptions {
            listen,
            upstream,
            schedule,
            seed,
            max_flows: DEFAULT_MAX_FLOWS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

/// A running UDP proxy.
pub struct NetsimUdpProxy {
    pub local_addr: SocketAddr,
    pub stats: Arc<NetsimUdpStats>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl NetsimUdpProxy {
    /// Binds, resolves the upstream, and starts forwarding on the current tokio runtime.
    pub async fn start(opts: NetsimUdpOptions) -> Result<NetsimUdpProxy, NetsimUdpError> {
        let bind_err = |source| NetsimUdpError::Bind { addr: opts.listen.clone(), source };
        let socket = UdpSocket::bind(&opts.listen).await.map_err(bind_err)?;
        let local_addr = socket.local_addr().map_err(bind_err)?;
        let upstream = tokio::net::lookup_host(&opts.upstream)
            .await
            .and_then(|mut addrs| addrs.next().ok_or_else(|| io::Error::other("resolves to no address")))
            .map_err(|source| NetsimUdpError::Resolve { addr: opts.upstream.clone(), source })?;
        let stats = Arc::new(NetsimUdpStats::default());
        let (shutdown, stop) = watch::channel(false);
        let table = FlowTable {
            listen: Arc::new(socket),
            upstream,
            origin: Instant::now(),
            stats: stats.clone(),
            flows: HashMap::new(),
            opened: 0,
            opts,
        };
        let task = tokio::spawn(table.run(stop));
        Ok(NetsimUdpProxy { local_addr, stats, shutdown, task })
    }

    /// Stops receiving and closes every flow; datagrams already in the modelled link are
    /// still delivered (in the background) at their arrival times.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// An open flow, as the receive loop sees it. Dropping it closes the flow: the upstream
/// reader is aborted and the up lane's sender dropped, so both lanes deliver what they hold
/// and end.
struct Flow {
    up: mpsc::Sender<Datagram>,
    /// Last datagram either way, µs on the model's clock.
    last_active: Arc<AtomicU64>,
    reader: JoinHandle<()>,
    stats: Arc<NetsimUdpStats>,
}

impl Drop for Flow {
    fn drop(&mut self) {
        self.reader.abort();
        self.stats.active.fetch_sub(1, Relaxed);
    }
}

/// The receive loop's state: the listening socket and the flows by client address.
struct FlowTable {
    listen: Arc<UdpSocket>,
    upstream: SocketAddr,
    opts: NetsimUdpOptions,
    origin: Instant,
    stats: Arc<NetsimUdpStats>,
    flows: HashMap<SocketAddr, Flow>,
    /// Flows opened so far: numbers them for their seeds.
    opened: u64,
}

impl FlowTable {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        // a flow is closed between idle_timeout and idle_timeout + sweep after its last datagram
        let sweep = (self.opts.idle_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
        let mut tick = tokio::time::interval(sweep);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                got = self.listen.recv_from(&mut buf) => match got {
                    Ok((n, peer)) => self.on_client_datagram(peer, &buf[..n]).await,
                    // Linux reports an ICMP error on an unconnected socket at most once (and
                    // only with IP_RECVERR): nothing here can repeat forever
                    Err(e) => tracing::debug!("netsim udp: receive error: {e}"),
                },
                _ = tick.tick() => self.close_idle(),
                _ = stop.changed() => break,
            }
        }
        // dropping the table closes every flow
    }

    async fn on_client_datagram(&mut self, peer: SocketAddr, data: &[u8]) {
        let now = now_us(self.origin);
        if !self.flows.contains_key(&peer) {
            if self.flows.len() >= self.opts.max_flows {
                if self.stats.refused.fetch_add(1, Relaxed) == 0 {
                    tracing::warn!(
                        %peer,
                        max_flows = self.opts.max_flows,
                        "netsim udp: flow table full, dropping datagrams from new clients"
                    );
                }
                return;
            }
            match self.open(peer).await {
                Ok(flow) => {
                    self.flows.insert(peer, flow);
                }
                Err(e) => {
                    tracing::warn!(%peer, upstream = %self.upstream, "netsim udp: cannot open a flow: {e}");
                    return;
                }
            }
        }
        let Some(flow) = self.flows.get(&peer) else { return }; // inserted just above
        flow.last_active.store(now, Relaxed);
        forward(&flow.up, data, now, Way::Up, &self.stats);
    }

    /// Opens the upstream socket and starts the flow's two lanes and its upstream reader.
    async fn open(&mut self, peer: SocketAddr) -> io::Result<Flow> {
        let local: SocketAddr = if self.upstream.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local).await?;
        socket.connect(self.upstream).await?;
        let socket = Arc::new(socket);
        self.opened += 1;
        let seed = self.opts.seed ^ self.opened.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let lane = |way, seed, out| Lane {
            link: Link::new(self.opts.schedule.clone(), Mode::Datagram, seed),
            out,
            origin: self.origin,
            way,
            stats: self.stats.clone(),
        };
        let (up_tx, up_rx) = mpsc::channel(LANE_QUEUE);
        let (down_tx, down_rx) = mpsc::channel(LANE_QUEUE);
        tokio::spawn(lane(Way::Up, seed, Out::Upstream(socket.clone())).run(up_rx));
        let to_client = Out::Client { socket: self.listen.clone(), addr: peer };
        tokio::spawn(lane(Way::Down, seed ^ 0xD0_57, to_client).run(down_rx));
        let last_active = Arc::new(AtomicU64::new(now_us(self.origin)));
        let reader = tokio::spawn(read_upstream(
            socket,
            down_tx,
            last_active.clone(),
            self.origin,
            self.stats.clone(),
        ));
        self.stats.flows.fetch_add(1, Relaxed);
        self.stats.active.fetch_add(1, Relaxed);
        tracing::debug!(%peer, flow = self.opened, "netsim udp: flow opened");
        Ok(Flow { up: up_tx, last_active, reader, stats: self.stats.clone() })
    }

    fn close_idle(&mut self) {
        let now = now_us(self.origin);
        let idle_us = self.opts.idle_timeout.as_micros() as u64;
        self.flows.retain(|peer, flow| {
            let keep = now.saturating_sub(flow.last_active.load(Relaxed)) < idle_us;
            if !keep {
                tracing::debug!(%peer, "netsim udp: flow closed (idle)");
            }
            keep
        });
    }
}

/// Counts a received datagram and hands it to its lane, unless the proxy's memory budget or
/// the lane's queue is full.
fn forward(lane: &mpsc::Sender<Datagram>, data: &[u8], now: u64, way: Way, stats: &NetsimUdpStats) {
    let dir = stats.way(way);
    NetsimUdpStats::add(&dir.datagrams, 1);
    NetsimUdpStats::add(&dir.bytes, data.len() as u64);
    let cost = held_cost(data.len());
    if stats.held_bytes.fetch_add(cost, Relaxed) + cost > MAX_HELD_BYTES {
        stats.held_bytes.fetch_sub(cost, Relaxed);
        NetsimUdpStats::add(&dir.overflow, 1);
        return;
    }
    let dg = Datagram { received_us: now, data: Bytes::copy_from_slice(data) };
    if lane.try_send(dg).is_err() {
        stats.held_bytes.fetch_sub(cost, Relaxed);
        NetsimUdpStats::add(&dir.overflow, 1);
    }
}

/// Reads the server's replies for one flow and hands them to the down lane; runs until the
/// flow is closed (aborted) or the socket fails.
async fn read_upstream(
    socket: Arc<UdpSocket>,
    down: mpsc::Sender<Datagram>,
    last_active: Arc<AtomicU64>,
    origin: Instant,
    stats: Arc<NetsimUdpStats>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        match socket.recv(&mut buf).await {
            Ok(n) => {
                let now = now_us(origin);
                last_active.store(now, Relaxed);
                forward(&down, &buf[..n], now, Way::Down, &stats);
            }
            // an ICMP port unreachable for an earlier datagram (the server is not up yet, or
            // restarting): reported once per ICMP message, so keep reading
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                tracing::debug!("netsim udp: upstream refused a datagram");
            }
            Err(e) => {
                tracing::warn!("netsim udp: upstream socket failed, replies stop for this flow: {e}");
                return;
            }
        }
    }
}
