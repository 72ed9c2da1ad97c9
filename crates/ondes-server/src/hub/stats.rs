//! Counters of one stream, updated lock-free on the hot path.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

#[derive(Debug, Default)]
pub struct HubStats {
    /// Frames the source produced.
    pub total_frames: AtomicU64,
    /// When the last one was pushed, ms since the epoch (0: none yet): a stream whose source
    /// stopped producing shows here (`/debug/connections` alerts on it).
    pub last_push_ms: AtomicI64,
    /// Frames skipped for listeners that fell behind (summed over listeners).
    pub dropped_frames: AtomicU64,
    /// Listeners currently attached.
    pub active_subscribers: AtomicUsize,
    /// Serialisations made (each once per frame and format, whatever the listener count).
    pub serializations: AtomicU64,
    /// Frames lost because a listener's socket failed mid-send.
    pub send_failed_frames: AtomicU64,
    /// Frames the source failed to deliver on time (pacer re-anchors, source errors).
    pub source_late: AtomicU64,
    /// Measured frames per second (f64 bits), updated by the sampler.
    pub fps_bits: AtomicU64,
    /// Measured egress bandwidth in Mbit/s (f64 bits), updated by the sampler.
    pub mbps_bits: AtomicU64,
}

impl HubStats {
    pub fn fps(&self) -> f64 {
        f64::from_bits(self.fps_bits.load(Ordering::Relaxed))
    }

    pub fn mbps(&self) -> f64 {
        f64::from_bits(self.mbps_bits.load(Ordering::Relaxed))
    }
}
