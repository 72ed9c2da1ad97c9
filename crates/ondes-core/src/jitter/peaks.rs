//! Recurring delay peaks, after NetEQ's delay peak detector.
//!
//! A spike of delay that the quantile does not cover (a source thread that stalls every few
//! seconds, a Wi-Fi scan) is a few frames in a hundred: below the 3% the quantile ignores.
//! Once is an accident; a second spike within [`MEMORY_US`] makes it a pattern, and then the
//! target does not decay below the highest recent spike until the spikes stop for that long.

use std::collections::VecDeque;

/// How long a peak is remembered, µs.
pub(super) const MEMORY_US: i64 = 20_000_000;
/// Peaks closer than this to the previous one are the same episode (the frames of one
/// stall), µs.
const EPISODE_US: i64 = 1_000_000;

#[derive(Debug, Clone, Default)]
pub(super) struct Peaks {
    /// `(arrival, transit)` of the recent peaks, oldest first.
    peaks: VecDeque<(i64, i64)>,
}

impl Peaks {
    /// A frame with `transit_us` arrived at `arrival_us` later than the target covers.
    pub(super) fn record(&mut self, arrival_us: i64, transit_us: i64) {
        match self.peaks.back_mut() {
            Some((at, transit)) if arrival_us - *at < EPISODE_US => {
                *at = (*at).max(arrival_us);
                *transit = (*transit).max(transit_us);
            }
            _ => self.peaks.push_back((arrival_us, transit_us)),
        }
    }

    /// The highest recent peak's transit, if peaks recur (two or more remembered at `now_us`).
    pub(super) fn floor(&mut self, now_us: i64) -> Option<i64> {
        while self.peaks.front().is_some_and(|&(at, _)| at < now_us - MEMORY_US) {
            self.peaks.pop_front();
        }
        (self.peaks.len() >= 2).then(|| self.peaks.iter().map(|&(_, t)| t).max()).flatten()
    }

    /// Forgets the peaks recorded at or after `since_us`.
    pub(super) fn forget_since(&mut self, since_us: i64) {
        self.peaks.retain(|&(at, _)| at < since_us);
    }

    pub(super) fn clear(&mut self) {
        self.peaks.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_peak_is_an_accident_two_are_a_pattern() {
        let mut p = Peaks::default();
        p.record(0, 50);
        p.record(20_000, 30);
        assert_eq!(p.floor(40_000), None, "frames of one stall are one peak");
        p.record(5_000_000, 40);
        assert_eq!(p.floor(5_000_001), Some(50));
        // the first is forgotten after MEMORY_US: one left, no pattern
        assert_eq!(p.floor(MEMORY_US + 20_001), None);
    }
}
