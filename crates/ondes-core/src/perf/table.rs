//! The human-readable form of a report.

use std::fmt::Write;

use super::report::PerfReport;
use super::sla::SlaStatus;
use super::stats::Trend;

/// A duration for people: `850 µs`, `420.8 ms`, `480 ms`, `125.5 s`.
pub fn fmt_us(us: f64) -> String {
    if us < 1_000.0 {
        return format!("{} µs", us.round() as u64);
    }
    let (value, unit) = if us < 100_000_000.0 { (us / 1_000.0, "ms") } else { (us / 1_000_000.0, "s") };
    let s = format!("{value:.1}");
    format!("{} {unit}", s.strip_suffix(".0").unwrap_or(&s))
}

impl PerfReport {
    /// One line per operation with data, worst first, then the bottlenecks, alerts, SLAs
    /// and the operations without data, e.g.
    ///
    /// `GOOD        tts_synthesis   avg 420.8 ms   p95 480 ms     threshold 500 ms     success 98.1%   n 120`
    pub fn summary_table(&self) -> String {
        let mut out = String::new();
        let with_data: Vec<_> = self.operations.iter().filter(|o| o.stats.is_some()).collect();
        if with_data.is_empty() {
            out.push_str("no measurements yet\n");
        }
        let w = with_data.iter().map(|o| o.name.len()).max().unwrap_or(0);
        for o in &with_data {
            let (Some(s), Some(level)) = (&o.stats, o.level) else { continue };
            let _ = write!(
                out,
                "{:<10}  {:<w$}  avg {:<9}  p95 {:<9}  threshold {:<9}  success {:.1}%  n {}",
                level.label(),
                o.name,
                fmt_us(s.avg_us),
                fmt_us(s.p95_us as f64),
                fmt_us(o.threshold_us as f64),
                s.success_rate * 100.0,
                s.count,
            );
            match (o.trend.trend, o.trend.ratio) {
                (Trend::Degrading, Some(r)) => {
                    let _ = write!(out, "  degrading ×{r:.2}");
                }
                (Trend::Improving, Some(r)) => {
                    let _ = write!(out, "  improving ×{r:.2}");
                }
                _ => {}
            }
            out.push('\n');
        }
        if !self.bottlenecks.is_empty() {
            out.push_str("\nbottlenecks (worst first):\n");
            for (i, b) in self.bottlenecks.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "  {}. {} {} at {:.0}% of its threshold",
                    i + 1,
                    b.level.label(),
                    b.op,
                    b.ratio * 100.0
                );
                for s in &b.suggestions {
                    let _ = writeln!(out, "     → {s}");
                }
            }
        }
        if !self.alerts.is_empty() {
            out.push_str("\nalerts:\n");
            for a in &self.alerts {
                let _ = writeln!(out, "  ! {}", a.message);
                for s in &a.suggestions {
                    let _ = writeln!(out, "     → {s}");
                }
            }
        }
        if !self.slas.is_empty() {
            out.push_str("\nSLA:\n");
            for r in &self.slas {
                let status = match r.status {
                    SlaStatus::Pass => "PASS",
                    SlaStatus::Fail => "FAIL",
                    SlaStatus::NoData => "NO DATA",
                };
                let measured = r.measured_us.map(|m| fmt_us(m as f64)).unwrap_or_else(|| "-".into());
                let _ = writeln!(
                    out,
                    "  {status:<7}  {}  (measured p{} {measured}, {} samples)",
                    r.description, r.percentile, r.samples
                );
            }
        }
        let idle: Vec<&str> =
            self.operations.iter().filter(|o| o.stats.is_none()).map(|o| o.name.as_str()).collect();
        if !idle.is_empty() {
            let _ = writeln!(out, "\nno data yet: {}", idle.join(", "));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(fmt_us(850.0), "850 µs");
        assert_eq!(fmt_us(420_800.0), "420.8 ms");
        assert_eq!(fmt_us(480_000.0), "480 ms");
        assert_eq!(fmt_us(4_000_000.0), "4000 ms");
        assert_eq!(fmt_us(125_500_000.0), "125.5 s");
    }
}
