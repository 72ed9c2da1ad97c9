//! What one simulated run measured, in the units of `ondes bench adaptive --json`.

use serde::Serialize;

use ondes_core::abr::{Decision, ProfileName};

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencyMs {
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
}

/// The figures of one run (one side of the benchmark table).
#[derive(Debug, Clone, Serialize)]
pub struct SimResult {
    /// Opus payload ÷ the bytes ondes puts on the wire: audio messages (header, length
    /// prefixes, WebSocket header) and pings — the definition of docs/protocol.md's table.
    pub efficiency_percent: f64,
    /// Opus payload ÷ bytes on the link: the above plus 52 B of TCP/IP per segment and
    /// retransmitted segments (what the transport adds; batch 4 at 20 ms cannot pass ~94%).
    pub link_efficiency_percent: f64,
    /// Capture-to-playout latency of the played frames.
    pub latency_ms: LatencyMs,
    /// Mean capture-to-playout latency of the frames played in each second of the run, ms
    /// (0 for a second with none).
    pub latency_by_second_ms: Vec<f64>,
    /// Underruns per minute after the first `settle_s` seconds (start-up excluded).
    pub underruns_per_minute: f64,
    /// All underrun episodes, start-up included. The jitter buffer counts an episode each time
    /// it runs dry after playing at least one frame, so a link delivering half of real time
    /// for two seconds makes a dozen.
    pub underruns: u64,
    /// Underrun episodes after `settle_s`, merged when less than [`STALL_MERGE_US`] of clean
    /// playout separates them: the break-ups a listener hears.
    pub stall_events: usize,
    /// Time the player spent waiting for audio (underrun periods), ms.
    pub stalled_ms: f64,
    /// Opus bitrate the listener heard (played payload ÷ run time), kbit/s.
    pub avg_bitrate_kbps: f64,
    /// Rung or profile changes.
    pub switches: usize,
    /// Time from the first bandwidth drop to the first switch down, ms (null when the
    /// scenario has no drop or nothing reacted).
    pub reaction_ms: Option<f64>,
    /// Frames the server skipped because the listener lagged more than `max_lag`.
    pub skipped_frames: u64,
    /// Frames the jitter buffer concealed (lost, underrun, stretched) and dropped to catch up.
    pub concealed_ms: f64,
    pub dropped_frames: u64,
    pub final_kbps: u32,
    pub final_profile: ProfileName,
    pub settle_s: f64,
    pub duration_s: f64,
    #[serde(skip)]
    pub decisions: Vec<Decision>,
    /// Time of each underrun episode, µs.
    #[serde(skip)]
    pub underrun_at_us: Vec<u64>,
}

/// Underrun episodes closer than this are one stall event.
pub const STALL_MERGE_US: u64 = 2_000_000;

/// Number of stall events among underrun times (sorted).
pub fn stall_events(underrun_at_us: &[u64]) -> usize {
    underrun_at_us.windows(2).filter(|w| w[1] - w[0] >= STALL_MERGE_US).count()
        + usize::from(!underrun_at_us.is_empty())
}

impl SimResult {
    /// Stall events at or after `from_us`.
    pub fn stall_events_after(&self, from_us: u64) -> usize {
        let after: Vec<u64> = self.underrun_at_us.iter().copied().filter(|t| *t >= from_us).collect();
        stall_events(&after)
    }

    /// Underrun episodes at or after `from_us`.
    pub fn underruns_after(&self, from_us: u64) -> usize {
        self.underrun_at_us.iter().filter(|t| **t >= from_us).count()
    }
}

pub(crate) fn latency(mut v: Vec<u64>) -> LatencyMs {
    if v.is_empty() {
        return LatencyMs::default();
    }
    v.sort_unstable();
    let mean = v.iter().sum::<u64>() as f64 / v.len() as f64 / 1000.0;
    let at = |pct: usize| v[(v.len() * pct / 100).min(v.len() - 1)] as f64 / 1000.0;
    LatencyMs { mean, p50: at(50), p95: at(95) }
}

/// Mean latency per second of playout, from (play time, latency) pairs in µs.
pub(crate) fn latency_by_second(played: &[(u64, u64)], duration_us: u64) -> Vec<f64> {
    let seconds = duration_us.div_ceil(1_000_000) as usize;
    let mut sum = vec![(0u64, 0u64); seconds.max(1)];
    for &(t, l) in played {
        let i = ((t / 1_000_000) as usize).min(sum.len() - 1);
        sum[i].0 += l;
        sum[i].1 += 1;
    }
    sum.iter().map(|&(s, n)| if n == 0 { 0.0 } else { (s as f64 / n as f64 / 1000.0).round() }).collect()
}
