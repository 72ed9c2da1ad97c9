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
    /// Time to recover: from the end of the first bandwidth drop (the link back) until the
    /// latency is back within 20% of what it was before the drop (its median over the 5 s
    /// before) and stays there for [`RECOVERED_HOLD_US`], ms; null without a drop that ends,
    /// or when it does not recover within the run.
    pub recover_ms: Option<f64>,
    /// When the link came back after the first drop, s (null without one).
    pub link_back_at_s: Option<f64>,
    /// Frames the jitter buffer concealed (lost, underrun, stretched) and dropped to catch up.
    pub concealed_ms: f64,
    pub dropped_frames: u64,
    pub final_kbps: u32,
    pub final_profile: ProfileName,
    /// The client's jitter-buffer floor at the end of the run, ms (one message plus the
    /// retransmission protection, or the profile's target).
    pub final_jitter_floor_ms: f64,
    /// Segments TCP retransmitted on the listener's link.
    pub tcp_retransmissions: u64,
    /// Times the client took a new jitter floor (TCP sizing, late packets, profile changes).
    pub jitter_floor_changes: usize,
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

/// How long the latency must stay within 20% of before the drop to count as recovered: a
/// moment within it on the way down is not yet a recovery, and a later change (a new
/// retransmission floor, a probe) is another event, not the drop's.
pub const RECOVERED_HOLD_US: u64 = 5_000_000;

/// Time to recover, ms (see [`SimResult::recover_ms`]), from (play time, latency) pairs in
/// µs, the start of the drop and the time the link came back. The real runs of `ondes bench
/// adaptive --real` time theirs with it too, from the listener's latency by second.
pub fn time_to_recover(played: &[(u64, u64)], drop_at_us: u64, back_at_us: u64) -> Option<f64> {
    let mut before: Vec<u64> = played
        .iter()
        .filter(|(t, _)| (drop_at_us.saturating_sub(5_000_000)..drop_at_us).contains(t))
        .map(|&(_, l)| l)
        .collect();
    if before.is_empty() {
        return None;
    }
    before.sort_unstable();
    let limit = before[before.len() / 2] as f64 * 1.2;
    let after: Vec<&(u64, u64)> = played.iter().filter(|(t, _)| *t >= back_at_us).collect();
    let end = after.last()?.0;
    // the first frame within the limit from which every frame for the hold is within it too
    let mut start: Option<u64> = None;
    for &&(t, l) in &after {
        if l as f64 > limit {
            start = None;
            continue;
        }
        let s = *start.get_or_insert(t);
        if t >= s + RECOVERED_HOLD_US {
            return Some((s - back_at_us) as f64 / 1e3);
        }
    }
    // within the limit at the end of the run, but for less than the hold: not yet known
    start.filter(|s| end >= s + RECOVERED_HOLD_US).map(|s| (s - back_at_us) as f64 / 1e3)
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

#[cfg(test)]
mod tests {
    use super::time_to_recover;

    #[test]
    fn recovery_is_when_the_latency_is_back_within_a_fifth_of_before_and_holds() {
        // 100 ms before the drop at 10 s, 900 ms during it, the link back at 20 s, then
        // 300 ms until 23 s and 110 ms after
        let run = |after_23: u64| -> Vec<(u64, u64)> {
            (0..400u64)
                .map(|i| {
                    let t = i * 100_000;
                    let l = match t {
                        t if t < 10_000_000 => 100_000,
                        t if t < 20_000_000 => 900_000,
                        t if t < 23_000_000 => 300_000,
                        _ => after_23,
                    };
                    (t, l)
                })
                .collect()
        };
        let played = run(110_000);
        assert_eq!(time_to_recover(&played, 10_000_000, 20_000_000), Some(3000.0));
        // back within the limit for a moment only: not yet recovered
        let mut blip = played.clone();
        for p in blip.iter_mut().filter(|p| (23_000_000..25_000_000).contains(&p.0)) {
            p.1 = 300_000;
        }
        assert_eq!(time_to_recover(&blip, 10_000_000, 20_000_000), Some(5000.0));
        // a later rise (another event) does not undo a recovery that held
        let mut later = played.clone();
        for p in later.iter_mut().filter(|p| p.0 >= 35_000_000) {
            p.1 = 300_000;
        }
        assert_eq!(time_to_recover(&later, 10_000_000, 20_000_000), Some(3000.0));
        // never back: still 300 ms at the end
        assert_eq!(time_to_recover(&run(300_000), 10_000_000, 20_000_000), None);
        // nothing played before the drop: no reference
        assert_eq!(time_to_recover(&played[200..], 10_000_000, 20_000_000), None);
    }
}
