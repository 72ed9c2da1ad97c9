//! Time to recover, as the probe sees it: how long the latency stays above its usual level
//! after a congestion episode.
//!
//! The probe has no jitter buffer of its own, so its "target" is the latency the stream
//! shows when nothing is wrong: the 10th percentile of the run's latencies plus one frame
//! (the frame absorbs the phase of arrivals, so a clean link never counts as an episode).
//! An episode starts when the latency passes 1.2 × that and ends back within it
//! ([`RecoveryTracker`], the same rule as the listener's buffer and `/debug/connections`).

use ondes_core::jitter::recovery::RecoveryTracker;
use serde::Serialize;

/// Episodes of excess latency over a probe run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProbeRecovery {
    /// The latency counted as on target, ms.
    pub target_ms: f64,
    #[serde(flatten)]
    pub tracker: RecoveryTracker,
    /// An episode still going on when the run ended: how long it had lasted, ms.
    pub in_excess_at_end_ms: Option<u64>,
}

/// Episodes in `series` (seconds since start, latency ms) for frames of `frame_ms`.
pub fn recovery(series: &[(f64, f64)], frame_ms: f64) -> ProbeRecovery {
    let mut sorted: Vec<f64> = series.iter().map(|&(_, l)| l).filter(|l| l.is_finite()).collect();
    if sorted.is_empty() {
        return ProbeRecovery::default();
    }
    sorted.sort_by(f64::total_cmp);
    let target_ms = sorted[sorted.len() / 10] + frame_ms;
    let mut tracker = RecoveryTracker::default();
    let mut end_us = 0;
    for &(t, latency) in series {
        end_us = (t * 1e6) as u64;
        tracker.handle_level(latency, target_ms, end_us);
    }
    let in_excess_at_end_ms = tracker.in_excess_ms(end_us);
    ProbeRecovery { target_ms: (target_ms * 10.0).round() / 10.0, tracker, in_excess_at_end_ms }
}

impl ProbeRecovery {
    /// One line for the table.
    pub fn summary(&self) -> String {
        let s = |r: Option<ondes_core::jitter::recovery::Recovery>| {
            r.map_or("-".to_string(), |r| format!("{:.1} s", r.duration_ms as f64 / 1000.0))
        };
        let mut line = format!(
            "{} episode(s) above {:.0} ms, last {}, worst {}",
            self.tracker.episodes,
            self.target_ms * 1.2,
            s(self.tracker.last),
            s(self.tracker.worst)
        );
        if let Some(ms) = self.in_excess_at_end_ms {
            line += &format!("; still above at the end, for {:.1} s", ms as f64 / 1000.0);
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_congestion_episode_is_timed_from_the_latency_series() {
        // 2 ms on loopback, 20 ms frames; at 10 s a queue builds to 800 ms, drains by 13.5 s
        let mut series: Vec<(f64, f64)> = (0..1000).map(|i| (i as f64 * 0.02, 2.0)).collect();
        for (t, l) in series.iter_mut() {
            if (10.0..13.5).contains(t) {
                *l = 800.0 - (*t - 10.0) * 220.0;
            }
        }
        let r = recovery(&series, 20.0);
        assert_eq!(r.target_ms, 22.0);
        assert_eq!(r.tracker.episodes, 1);
        let worst = r.tracker.worst.unwrap();
        assert!((3_400..=3_500).contains(&worst.duration_ms), "{worst:?}");
        assert_eq!(r.in_excess_at_end_ms, None);
        // a run that ends congested says so
        let r = recovery(&series[..600], 20.0);
        assert_eq!((r.tracker.episodes, r.in_excess_at_end_ms.is_some()), (0, true));
        assert!(recovery(&[], 20.0).tracker.episodes == 0);
    }
}
