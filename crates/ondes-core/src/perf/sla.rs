//! Service-level checks on percentiles: "95 % of tts_synthesis ≤ 500 ms".
//!
//! An SLA passes when the measured percentile (nearest rank, see [`super::stats`]) is at
//! most `max_us`: then at least `percentile` % of the window's measurements took at most
//! `max_us`. An operation with no measurements yet is `no_data`, neither pass nor fail.

use serde::Serialize;

use super::PerfError;
use super::ops::validate_name;
use super::stats::percentile;
use super::table::fmt_us;

/// A percentile objective for one operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Sla {
    pub op: String,
    /// In (0, 100].
    pub percentile: f64,
    pub max_us: u64,
}

impl Sla {
    pub fn new(op: &str, percentile: f64, max_us: u64) -> Result<Sla, PerfError> {
        validate_name(op).map_err(|reason| PerfError::BadName { name: op.into(), reason })?;
        if !(percentile > 0.0 && percentile <= 100.0) {
            return Err(PerfError::BadSla {
                op: op.into(),
                message: format!("percentile {percentile} must be in (0, 100]"),
            });
        }
        Ok(Sla { op: op.into(), percentile, max_us })
    }

    /// E.g. `95% of tts_synthesis ≤ 500 ms`.
    pub fn describe(&self) -> String {
        format!("{}% of {} ≤ {}", self.percentile, self.op, fmt_us(self.max_us as f64))
    }

    /// Checks the objective against the window's durations, sorted ascending.
    pub fn check(&self, sorted: &[u64]) -> SlaResult {
        let measured = percentile(sorted, self.percentile);
        let status = match measured {
            None => SlaStatus::NoData,
            Some(v) if v <= self.max_us => SlaStatus::Pass,
            Some(_) => SlaStatus::Fail,
        };
        SlaResult {
            op: self.op.clone(),
            percentile: self.percentile,
            max_us: self.max_us,
            measured_us: measured,
            samples: sorted.len() as u64,
            status,
            description: self.describe(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaStatus {
    Pass,
    Fail,
    NoData,
}

/// The outcome of one SLA check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlaResult {
    pub op: String,
    pub percentile: f64,
    pub max_us: u64,
    /// The measured percentile, when there were measurements.
    pub measured_us: Option<u64>,
    pub samples: u64,
    pub status: SlaStatus,
    pub description: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_fail_and_no_data() {
        let sla = Sla::new("tts_synthesis", 95.0, 500_000).unwrap();
        assert_eq!(sla.describe(), "95% of tts_synthesis ≤ 500 ms");
        // 100 samples: 95 at 400 ms and 5 at 900 ms → p95 = 400 ms → pass
        let mut v = vec![400_000; 95];
        v.extend([900_000; 5]);
        let r = sla.check(&v);
        assert_eq!((r.status, r.measured_us), (SlaStatus::Pass, Some(400_000)));
        // one more slow sample among 100 → p95 = 900 ms → fail
        v[94] = 900_000;
        v.sort_unstable();
        let r = sla.check(&v);
        assert_eq!((r.status, r.measured_us), (SlaStatus::Fail, Some(900_000)));
        // exactly at the objective passes
        assert_eq!(sla.check(&[500_000]).status, SlaStatus::Pass);
        assert_eq!(sla.check(&[500_001]).status, SlaStatus::Fail);
        assert_eq!(sla.check(&[]).status, SlaStatus::NoData);
    }

    #[test]
    fn bad_slas_are_refused() {
        assert!(Sla::new("x", 0.0, 1).is_err());
        assert!(Sla::new("x", 100.1, 1).is_err());
        assert!(Sla::new("x", f64::NAN, 1).is_err());
        assert!(Sla::new("Bad Name", 95.0, 1).is_err());
        assert!(Sla::new("x", 100.0, 1).is_ok());
    }
}
