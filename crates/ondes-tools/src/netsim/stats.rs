//! Counters of a netsim proxy, shared by its connections.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;

/// Live counters (atomics; read them with [`NetsimStats::snapshot`]).
#[derive(Debug, Default)]
pub struct NetsimStats {
    pub connections: AtomicU64,
    pub active: AtomicU64,
    pub bytes_up: AtomicU64,
    pub bytes_down: AtomicU64,
    pub segments: AtomicU64,
    /// Segments the model lost and delivered late (a retransmission).
    pub retransmitted: AtomicU64,
    /// Extra delay added by those retransmissions, µs.
    pub penalty_us: AtomicU64,
    /// Time readers waited for room in the bottleneck buffer (the sender was throttled), µs.
    pub throttled_us: AtomicU64,
    /// Whole WebSocket binary messages dropped on the way to the server (`--drop-ws-messages`).
    pub ws_messages_dropped: AtomicU64,
    /// Binary messages that passed that filter.
    pub ws_messages_passed: AtomicU64,
}

/// A copy of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NetsimSnapshot {
    pub connections: u64,
    pub active: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub segments: u64,
    pub retransmitted: u64,
    pub penalty_us: u64,
    pub throttled_us: u64,
    pub ws_messages_dropped: u64,
    pub ws_messages_passed: u64,
}

impl NetsimStats {
    pub fn snapshot(&self) -> NetsimSnapshot {
        NetsimSnapshot {
            connections: self.connections.load(Relaxed),
            active: self.active.load(Relaxed),
            bytes_up: self.bytes_up.load(Relaxed),
            bytes_down: self.bytes_down.load(Relaxed),
            segments: self.segments.load(Relaxed),
            retransmitted: self.retransmitted.load(Relaxed),
            penalty_us: self.penalty_us.load(Relaxed),
            throttled_us: self.throttled_us.load(Relaxed),
            ws_messages_dropped: self.ws_messages_dropped.load(Relaxed),
            ws_messages_passed: self.ws_messages_passed.load(Relaxed),
        }
    }

    pub(crate) fn add(counter: &AtomicU64, v: u64) {
        counter.fetch_add(v, Relaxed);
    }
}
