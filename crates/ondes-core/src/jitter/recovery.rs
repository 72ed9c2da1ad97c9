//! Time to recover: how long a listener's delay stays above its target after congestion.
//!
//! A congestion episode leaves audio queued: the listener's buffer (its delay) sits above
//! the target until the buffer drains it (time-stretching, a skip). An episode starts when
//! the buffer passes 1.2 × its target and ends when it is back within 20% of it; its length
//! is the time to recover. The tracker is sans-IO: the level, the target and the time come
//! from the caller (a client's own buffer, or the reports a server receives).

use serde::{Deserialize, Serialize};

/// Within this share above the target, the delay counts as recovered.
pub const RECOVERED_WITHIN: f64 = 0.2;

/// One episode of excess delay, once it has ended.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    /// From the first level above 1.2 × target to the first back within it, ms.
    pub duration_ms: u64,
    /// The most the level was above the target during the episode, ms.
    pub peak_excess_ms: f64,
    pub ended_at_us: u64,
}

/// Tracks excess-delay episodes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecoveryTracker {
    #[serde(skip)]
    since_us: Option<u64>,
    #[serde(skip)]
    peak_excess_ms: f64,
    /// Episodes that ended.
    pub episodes: u64,
    pub last: Option<Recovery>,
    pub worst: Option<Recovery>,
}

impl RecoveryTracker {
    /// The buffer holds `level_ms` against a target of `target_ms` at `now_us`; returns the
    /// episode this ends, if any.
    pub fn handle_level(&mut self, level_ms: f64, target_ms: f64, now_us: u64) -> Option<Recovery> {
        if !(level_ms.is_finite() && target_ms.is_finite()) || target_ms <= 0.0 {
            return None;
        }
        let above = level_ms > target_ms * (1.0 + RECOVERED_WITHIN);
        match (self.since_us, above) {
            (None, true) => {
                self.since_us = Some(now_us);
                self.peak_excess_ms = level_ms - target_ms;
                None
            }
            (Some(_), true) => {
                self.peak_excess_ms = self.peak_excess_ms.max(level_ms - target_ms);
                None
            }
            (Some(since), false) => {
                let r = Recovery {
                    duration_ms: now_us.saturating_sub(since) / 1000,
                    peak_excess_ms: (self.peak_excess_ms * 10.0).round() / 10.0,
                    ended_at_us: now_us,
                };
                self.since_us = None;
                self.episodes += 1;
                self.last = Some(r);
                if self.worst.is_none_or(|w| r.duration_ms > w.duration_ms) {
                    self.worst = Some(r);
                }
                Some(r)
            }
            (None, false) => None,
        }
    }

    /// How long the current episode has lasted, ms (`None` when the delay is on target).
    pub fn in_excess_ms(&self, now_us: u64) -> Option<u64> {
        self.since_us.map(|s| now_us.saturating_sub(s) / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_episode_is_timed_from_above_target_to_back_within_20_percent() {
        let mut t = RecoveryTracker::default();
        let ms = 1_000;
        assert_eq!(t.handle_level(100.0, 100.0, 0), None);
        assert_eq!(t.handle_level(119.0, 100.0, 100 * ms), None, "within 20%: no episode");
        assert_eq!(t.in_excess_ms(100 * ms), None);
        assert_eq!(t.handle_level(900.0, 100.0, 1_000 * ms), None, "congestion: 800 ms above");
        assert_eq!(t.handle_level(1_500.0, 100.0, 2_000 * ms), None);
        assert_eq!(t.in_excess_ms(2_500 * ms), Some(1_500));
        assert_eq!(t.handle_level(400.0, 100.0, 3_000 * ms), None, "draining");
        let r = t.handle_level(115.0, 100.0, 4_200 * ms).expect("recovered");
        assert_eq!((r.duration_ms, r.peak_excess_ms), (3_200, 1_400.0));
        // a shorter second episode: the worst stays
        t.handle_level(300.0, 100.0, 10_000 * ms);
        let r2 = t.handle_level(100.0, 100.0, 10_500 * ms).unwrap();
        assert_eq!(r2.duration_ms, 500);
        assert_eq!((t.episodes, t.last, t.worst.map(|w| w.duration_ms)), (2, Some(r2), Some(3_200)));
        // nonsense in, nothing out
        assert_eq!(t.handle_level(f64::NAN, 100.0, 11_000 * ms), None);
        assert_eq!(t.handle_level(500.0, 0.0, 11_000 * ms), None);
    }
}
