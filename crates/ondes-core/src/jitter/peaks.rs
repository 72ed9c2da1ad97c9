//! Recurring delay peaks, after NetEQ's delay peak detector.
//!
//! A spike of delay that the quantile does not cover (a source thread that stalls every few
//! seconds, a Wi-Fi scan) is a few frames in a hundred: below the 3% the quantile ignores.
//! Once is an accident; a second spike within [`MEMORY_US`] makes it a pattern, and then the
//! target does not go below the highest recent spike while the pattern lasts. It lasts until
//! its last spike is older than twice its longest period (as NetEQ's detector) or than the
//! memory: spikes every 3 s that stop have stopped after 6 s, not 20 — the link changed (a
//! capacity drop that recovered), and the buffer must not keep the delay they called for.
//! Spikes are kept as delays relative to the fastest frame of their time, so a path that
//! gets faster (a smaller minimum transit) does not make them look higher than they were.

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
    /// A frame `delay_us` later than the fastest recent one arrived at `arrival_us`, later
    /// than the target covers.
    pub(super) fn record(&mut self, arrival_us: i64, delay_us: i64) {
        match self.peaks.back_mut() {
            Some((at, delay)) if arrival_us - *at < EPISODE_US => {
                *at = (*at).max(arrival_us);
                *delay = (*delay).max(delay_us);
            }
            _ => self.peaks.push_back((arrival_us, delay_us)),
        }
    }

    /// The highest recent peak's delay, if peaks recur (two or more remembered at `now_us`)
    /// and have not stopped: as NetEQ's peak detector, a pattern whose last peak is more
    /// than twice its longest period old is over (the link changed), whatever the memory.
    pub(super) fn floor(&mut self, now_us: i64) -> Option<i64> {
        while self.peaks.front().is_some_and(|&(at, _)| at < now_us - MEMORY_US) {
            self.peaks.pop_front();
        }
        if self.peaks.len() < 2 {
            return None;
        }
        let period = self.peaks.iter().zip(self.peaks.iter().skip(1)).map(|(a, b)| b.0 - a.0).max()?;
        let last = self.peaks.back()?.0;
        if now_us - last > 2 * period {
            return None;
        }
        self.peaks.iter().map(|&(_, t)| t).max()
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

    #[test]
    fn a_pattern_is_over_after_twice_its_longest_period_without_a_peak() {
        let mut p = Peaks::default();
        for at in [0, 3_000_000, 6_000_000] {
            p.record(at, 300_000);
        }
        assert_eq!(p.floor(11_900_000), Some(300_000), "within twice the 3 s period");
        assert_eq!(p.floor(12_100_000), None, "no peak for over 6 s: the pattern stopped");
        // it comes back: a new peak within memory makes the pattern again
        p.record(14_000_000, 200_000);
        assert_eq!(p.floor(14_000_001), Some(300_000));
    }
}
