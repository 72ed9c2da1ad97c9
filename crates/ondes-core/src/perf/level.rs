//! Performance levels: where an operation's average sits relative to its threshold.
//!
//! | level | average / threshold |
//! |---|---|
//! | EXCELLENT | < 50 % |
//! | GOOD | 50 % to 100 % (both included) |
//! | SLOW | over 100 %, up to 150 % (included) |
//! | BOTTLENECK | over 150 % |
//!
//! The level is taken from the **average** of the window, not a percentile: it answers "how
//! fast is this stage usually". Tails are covered by the SLA checks (p95/p99) and by the
//! consecutive-slow alert, which fires on three slow measurements in a row however good the
//! average is. At exactly the threshold an operation is within budget (GOOD); "over the
//! threshold" always means strictly greater. The comparison is done in integers on the
//! window's sum, so the boundaries are exact (no float rounding at 50/100/150 %).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Level {
    Excellent,
    Good,
    Slow,
    Bottleneck,
}

impl Level {
    /// The level of `count` measurements summing to `sum_us` against `threshold_us`.
    ///
    /// With `t = threshold × count`: EXCELLENT when `2·sum < t`, GOOD when `sum ≤ t`,
    /// SLOW when `2·sum ≤ 3·t`, BOTTLENECK otherwise. `count` 0 is treated as 1.
    pub fn of_sum(sum_us: u128, count: u64, threshold_us: u64) -> Level {
        let t = threshold_us as u128 * count.max(1) as u128;
        if 2 * sum_us < t {
            Level::Excellent
        } else if sum_us <= t {
            Level::Good
        } else if 2 * sum_us <= 3 * t {
            Level::Slow
        } else {
            Level::Bottleneck
        }
    }

    /// The level of a single measurement.
    pub fn of_duration(duration_us: u64, threshold_us: u64) -> Level {
        Level::of_sum(duration_us as u128, 1, threshold_us)
    }

    pub const fn label(self) -> &'static str {
        match self {
            Level::Excellent => "EXCELLENT",
            Level::Good => "GOOD",
            Level::Slow => "SLOW",
            Level::Bottleneck => "BOTTLENECK",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_exact() {
        let t = 500_000;
        assert_eq!(Level::of_duration(0, t), Level::Excellent);
        assert_eq!(Level::of_duration(249_999, t), Level::Excellent);
        assert_eq!(Level::of_duration(250_000, t), Level::Good); // exactly 50 %
        assert_eq!(Level::of_duration(500_000, t), Level::Good); // exactly 100 %
        assert_eq!(Level::of_duration(500_001, t), Level::Slow);
        assert_eq!(Level::of_duration(750_000, t), Level::Slow); // exactly 150 %
        assert_eq!(Level::of_duration(750_001, t), Level::Bottleneck);
    }

    #[test]
    fn boundaries_hold_for_averages_that_floats_would_round() {
        // threshold 3 µs, three samples summing to 9 → average exactly 3 = 100 %
        assert_eq!(Level::of_sum(9, 3, 3), Level::Good);
        assert_eq!(Level::of_sum(10, 3, 3), Level::Slow);
        // average 1.5 = exactly 50 % of 3
        assert_eq!(Level::of_sum(3, 2, 3), Level::Good);
        assert_eq!(Level::of_sum(2, 2, 3), Level::Excellent);
        // average 4.5 = exactly 150 % of 3
        assert_eq!(Level::of_sum(9, 2, 3), Level::Slow);
        assert_eq!(Level::of_sum(10, 2, 3), Level::Bottleneck);
    }
}
