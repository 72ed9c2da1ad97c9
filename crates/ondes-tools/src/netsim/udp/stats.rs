//! Counters of a UDP netsim proxy, shared by its flows.
//!
//! Every datagram the proxy receives ends in exactly one of `delivered`, `queue_drops`,
//! `losses`, `overflow` or `send_errors` of its direction (or is still held, counted in
//! `held_bytes`), so the counters add up and a test can check them against what the
//! endpoints saw.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;

use crate::netsim::pipe::Way;

/// Live counters (atomics; read them with [`NetsimUdpStats::snapshot`]).
#[derive(Debug, Default)]
pub struct NetsimUdpStats {
    /// Flows (client addresses) opened since the start.
    pub flows: AtomicU64,
    /// Flows open now.
    pub active: AtomicU64,
    /// Datagrams from new client addresses dropped because the flow table was full.
    pub refused: AtomicU64,
    /// Memory the proxy holds now for datagrams received and not yet delivered or dropped
    /// (payload plus a fixed bookkeeping charge each; see `udp::HELD_OVERHEAD`).
    pub held_bytes: AtomicU64,
    /// Client → upstream.
    pub up: DirectionStats,
    /// Upstream → client.
    pub down: DirectionStats,
}

/// Counters of one direction, summed over flows. Bytes are UDP payload (the link model
/// also charges the IP/UDP headers, which are not counted here).
#[derive(Debug, Default)]
pub struct DirectionStats {
    /// Datagrams received by the proxy (offered to the link).
    pub datagrams: AtomicU64,
    pub bytes: AtomicU64,
    /// Datagrams sent on at their modelled arrival time.
    pub delivered: AtomicU64,
    pub delivered_bytes: AtomicU64,
    /// Dropped by the model because the bottleneck buffer was full (drop-tail).
    pub queue_drops: AtomicU64,
    /// Dropped by the model's loss (independent or in a burst).
    pub losses: AtomicU64,
    /// Delivered after a datagram of the same flow and direction that was received later
    /// (RFC 4737's definition: what the receiver sees, not what the model decided).
    pub reordered: AtomicU64,
    /// Dropped by the proxy itself, not by the model: over its memory bound, or the flow's
    /// task had fallen behind. Non-zero means the figures no longer describe the profile.
    pub overflow: AtomicU64,
    /// Deliveries the socket refused (e.g. it had a pending ICMP error: nothing listened on
    /// the upstream port when an earlier datagram got there).
    pub send_errors: AtomicU64,
}

/// A copy of one direction's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DirectionSnapshot {
    pub datagrams: u64,
    pub bytes: u64,
    pub delivered: u64,
    pub delivered_bytes: u64,
    pub queue_drops: u64,
    pub losses: u64,
    pub reordered: u64,
    pub overflow: u64,
    pub send_errors: u64,
}

/// A copy of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NetsimUdpSnapshot {
    pub flows: u64,
    pub active: u64,
    pub refused: u64,
    pub held_bytes: u64,
    pub up: DirectionSnapshot,
    pub down: DirectionSnapshot,
}

impl DirectionStats {
    pub fn snapshot(&self) -> DirectionSnapshot {
        DirectionSnapshot {
            datagrams: self.datagrams.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            delivered: self.delivered.load(Relaxed),
            delivered_bytes: self.delivered_bytes.load(Relaxed),
            queue_drops: self.queue_drops.load(Relaxed),
            losses: self.losses.load(Relaxed),
            reordered: self.reordered.load(Relaxed),
            overflow: self.overflow.load(Relaxed),
            send_errors: self.send_errors.load(Relaxed),
        }
    }
}

impl NetsimUdpStats {
    pub fn snapshot(&self) -> NetsimUdpSnapshot {
        NetsimUdpSnapshot {
            flows: self.flows.load(Relaxed),
            active: self.active.load(Relaxed),
            refused: self.refused.load(Relaxed),
            held_bytes: self.held_bytes.load(Relaxed),
            up: self.up.snapshot(),
            down: self.down.snapshot(),
        }
    }

    pub(crate) fn way(&self, way: Way) -> &DirectionStats {
        match way {
            Way::Up => &self.up,
            Way::Down => &self.down,
        }
    }

    pub(crate) fn add(counter: &AtomicU64, v: u64) {
        counter.fetch_add(v, Relaxed);
    }
}
