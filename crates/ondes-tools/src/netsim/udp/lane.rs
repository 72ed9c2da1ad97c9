//! One direction of a UDP flow through the link model.
//!
//! The socket reader stamps each datagram with its receive time and hands it over; the lane
//! offers it to its datagram-mode [`Link`] at that time (so the model sees the real send
//! times, whatever the lane's own scheduling delay) and, if the model delivers it, keeps it
//! in a min-heap keyed by arrival time until then. The model may reorder (a held-back
//! datagram is overtaken by later ones), so arrivals are not FIFO; a heap per lane costs one
//! timer however many datagrams are in flight, where a task per datagram would cost one
//! each. Memory is bounded by the proxy-wide `held_bytes` budget the reader charges.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;
use ondes_sim::netmodel::{DropReason, Link, Outcome, UDP_IP_OVERHEAD};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Duration, Instant, sleep_until};

use super::held_cost;
use super::stats::NetsimUdpStats;
use crate::netsim::pipe::{Way, now_us};

/// A datagram as the reader received it.
pub(super) struct Datagram {
    /// Receive time on the model's clock (µs since the proxy started).
    pub received_us: u64,
    pub data: Bytes,
}

/// Where a lane's datagrams go.
pub(super) enum Out {
    /// The flow's own upstream socket, connected to the server.
    Upstream(Arc<UdpSocket>),
    /// Back to the client, from the listening socket (so the client sees replies from the
    /// address it sent to, as it would from the real server).
    Client { socket: Arc<UdpSocket>, addr: SocketAddr },
}

impl Out {
    async fn send(&self, data: &[u8]) -> std::io::Result<usize> {
        match self {
            Out::Upstream(socket) => socket.send(data).await,
            Out::Client { socket, addr } => socket.send_to(data, *addr).await,
        }
    }
}

/// A datagram in flight, ordered by arrival time, then by receive order (so equal arrival
/// times keep the order they were sent in).
struct InFlight {
    at_us: u64,
    seq: u64,
    data: Bytes,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for InFlight {}

impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for InFlight {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest arrival first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at_us, other.seq).cmp(&(self.at_us, self.seq))
    }
}

/// One direction of a flow.
pub(super) struct Lane {
    pub link: Link,
    pub out: Out,
    pub origin: Instant,
    pub way: Way,
    pub stats: Arc<NetsimUdpStats>,
}

fn at(origin: Instant, us: u64) -> Instant {
    origin + Duration::from_micros(us)
}

impl Lane {
    /// Runs until the reader has gone (its sender dropped) and everything in flight is
    /// delivered.
    pub(super) async fn run(mut self, mut rx: mpsc::Receiver<Datagram>) {
        let mut heap = BinaryHeap::new();
        let mut seq = 0u64;
        let mut max_delivered: Option<u64> = None;
        let mut open = true;
        loop {
            // deliveries first, so a flood of incoming datagrams cannot hold them back
            let now = now_us(self.origin);
            while heap.peek().is_some_and(|d: &InFlight| d.at_us <= now) {
                let Some(d) = heap.pop() else { break };
                self.deliver(d, &mut max_delivered).await;
            }
            let next = heap.peek().map(|d| d.at_us);
            if !open && next.is_none() {
                break;
            }
            tokio::select! {
                got = rx.recv(), if open => match got {
                    Some(dg) => {
                        seq += 1;
                        if let Some(d) = self.offer(dg, seq) {
                            heap.push(d);
                        }
                    }
                    None => open = false,
                },
                _ = sleep_until(at(self.origin, next.unwrap_or(0))), if next.is_some() => {}
            }
        }
    }

    /// Puts a datagram on the link; `Some` with its arrival time if the model delivers it.
    fn offer(&mut self, dg: Datagram, seq: u64) -> Option<InFlight> {
        let dir = self.stats.way(self.way);
        let len = dg.data.len();
        match self.link.send(len + UDP_IP_OVERHEAD, dg.received_us) {
            Outcome::Delivered(d) => Some(InFlight { at_us: d.at_us, seq, data: dg.data }),
            Outcome::Dropped(reason) => {
                let counter = match reason {
                    DropReason::QueueFull => &dir.queue_drops,
                    DropReason::Loss { .. } => &dir.losses,
                };
                NetsimUdpStats::add(counter, 1);
                self.stats.held_bytes.fetch_sub(held_cost(len), Relaxed);
                None
            }
        }
    }

    async fn deliver(&self, d: InFlight, max_delivered: &mut Option<u64>) {
        let dir = self.stats.way(self.way);
        let len = d.data.len();
        match self.out.send(&d.data).await {
            Ok(_) => {
                NetsimUdpStats::add(&dir.delivered, 1);
                NetsimUdpStats::add(&dir.delivered_bytes, len as u64);
                match *max_delivered {
                    Some(max) if d.seq < max => NetsimUdpStats::add(&dir.reordered, 1),
                    _ => *max_delivered = Some(d.seq),
                }
            }
            Err(e) => {
                tracing::debug!(way = ?self.way, "netsim udp: cannot deliver a datagram: {e}");
                NetsimUdpStats::add(&dir.send_errors, 1);
            }
        }
        self.stats.held_bytes.fetch_sub(held_cost(len), Relaxed);
    }
}
