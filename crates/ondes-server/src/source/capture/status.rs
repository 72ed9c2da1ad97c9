//! What a capture source tells the stats endpoint, `/metrics` and the dashboard.

use std::collections::VecDeque;

use parking_lot::Mutex;
use serde::Serialize;

/// Callback → hub latencies kept for the percentiles (the last ~40 s at 10 ms periods).
const LATENCY_WINDOW: usize = 4_096;

/// The live state of one capture source. Written by its runner thread (never by the
/// device's real-time callback), read by the API.
#[derive(Debug, Default)]
pub struct CaptureStatus {
    snapshot: Mutex<CaptureSnapshot>,
    latencies_us: Mutex<VecDeque<u32>>,
}

/// Whether the device delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaptureState {
    #[default]
    Starting,
    Running,
    /// The device went away (or stopped delivering): silence until it is back.
    Lost,
}

/// A copy of a capture source's state and counters (the `capture` field of `…/stats`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CaptureSnapshot {
    /// The device as the source names it.
    pub device: String,
    pub state: CaptureState,
    /// The format the device was opened with (`f32`, `i16`, …), its rate and channels.
    pub sample_format: String,
    pub device_rate: u32,
    pub device_channels: u16,
    /// Samples per channel per callback, and the device buffer.
    pub period_frames: u32,
    pub buffer_frames: u32,
    /// Measured drift of the device clock against the system clock.
    pub drift_ppm: f64,
    /// Callback wall time minus the timestamp model, lower envelope (device buffering).
    pub clock_offset_us: f64,
    /// Overruns the device reported (xruns).
    pub xruns: u64,
    /// Runs of lost samples (device overruns, or the queue to the stream full).
    pub gaps: u64,
    /// Samples per channel lost, filled with silence.
    pub gap_samples: u64,
    /// Of those, samples the callback dropped because the queue to the stream was full.
    pub queue_dropped_samples: u64,
    /// Frames of silence pushed in place of lost samples: the source stage's dropped frames.
    pub dropped_frames: u64,
    /// Times the device went away, came back, and frames of silence while it was away.
    pub lost_events: u64,
    pub restored_events: u64,
    pub lost_frames: u64,
    /// Times the timestamp model was re-anchored.
    pub reanchors: u64,
    /// The latest error from the device or from opening it.
    pub last_error: Option<String>,
    /// Capture callback → frame in the hub, µs, over the last ~4,000 frames.
    pub callback_to_hub_us: LatencySummary,
}

/// Percentiles of a set of latencies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: usize,
    pub p50: u32,
    pub p99: u32,
    pub max: u32,
}

impl LatencySummary {
    fn of(values: &VecDeque<u32>) -> Self {
        if values.is_empty() {
            return LatencySummary::default();
        }
        let mut v: Vec<u32> = values.iter().copied().collect();
        v.sort_unstable();
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        LatencySummary { count: v.len(), p50: at(0.5), p99: at(0.99), max: v[v.len() - 1] }
    }
}

impl CaptureStatus {
    pub fn new(device: &str) -> Self {
        CaptureStatus {
            snapshot: Mutex::new(CaptureSnapshot { device: device.to_string(), ..Default::default() }),
            latencies_us: Mutex::new(VecDeque::with_capacity(LATENCY_WINDOW)),
        }
    }

    /// Changes the snapshot (runner thread only).
    pub fn update(&self, f: impl FnOnce(&mut CaptureSnapshot)) {
        f(&mut self.snapshot.lock());
    }

    /// Records one callback → hub latency.
    pub fn record_latency_us(&self, us: u32) {
        let mut l = self.latencies_us.lock();
        if l.len() == LATENCY_WINDOW {
            l.pop_front();
        }
        l.push_back(us);
    }

    pub fn snapshot(&self) -> CaptureSnapshot {
        let mut s = self.snapshot.lock().clone();
        s.callback_to_hub_us = LatencySummary::of(&self.latencies_us.lock());
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles() {
        let s = CaptureStatus::new("x");
        for us in 1..=100 {
            s.record_latency_us(us);
        }
        let l = s.snapshot().callback_to_hub_us;
        assert_eq!((l.count, l.p50, l.p99, l.max), (100, 51, 99, 100));
    }
}
