//! The target delay over time, for summaries: bounded however long the playout runs.

use serde::Serialize;

/// The buffer's state at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TargetSample {
    /// Playout-clock time of the sample, µs.
    pub at_us: i64,
    /// Target delay, µs.
    pub target_us: i64,
    /// Audio held in the buffer (from the next frame to play to the newest), µs.
    pub buffer_us: i64,
}

/// Samples taken every `interval`; when `cap` is reached every other sample is dropped and
/// the interval doubles, so an hour-long session keeps the same number of points as a
/// minute-long one, evenly spread.
#[derive(Debug, Clone)]
pub(super) struct TargetHistory {
    samples: Vec<TargetSample>,
    interval_us: i64,
    cap: usize,
}

impl TargetHistory {
    pub(super) fn new(interval_us: i64, cap: usize) -> Self {
        TargetHistory { samples: Vec::new(), interval_us: interval_us.max(1), cap: cap.max(2) }
    }

    /// Records `sample` if an interval has passed since the last one.
    pub(super) fn offer(&mut self, sample: TargetSample) {
        if let Some(last) = self.samples.last()
            && sample.at_us < last.at_us + self.interval_us
        {
            return;
        }
        self.samples.push(sample);
        if self.samples.len() >= self.cap {
            let mut i = 0;
            self.samples.retain(|_| {
                i += 1;
                i % 2 == 1
            });
            self.interval_us *= 2;
        }
    }

    pub(super) fn samples(&self) -> &[TargetSample] {
        &self.samples
    }
}
