//! The soak's verdict, from the samples alone (no I/O, no clock: plain functions, tested on
//! synthetic series).
//!
//! **Growth rule.** Only samples taken at or after the end of the warm-up count (start-up
//! allocations, the first listeners' buffers and the allocator's arenas settle there). A
//! least-squares line `y = a + b·t` is fitted to them, with the slope's standard error
//! `se(b) = s / √Sxx` from the residuals (`s² = Σ residual² / (n − 2)`). A series **fails**
//! when both:
//!
//! 1. the slope is above the limit beyond noise: `b − 3·se(b) > limit`, where `limit` per hour
//!    is the larger of an absolute amount and a share of the fitted level at the warm-up's end
//!    (RSS: 20 MiB or 5 % per hour; open files: 20 or 5 % per hour);
//! 2. the fitted line actually moved by a minimum over the measured window (RSS 4 MiB, open
//!    files 16): a short run's projection of a few pages or sockets is not evidence.
//!
//! A flat series with noise passes (its slope is within `3·se`); a step during the warm-up
//! passes (it is before the fit); a steady leak fails as soon as it has moved past the
//! minimum and its rate is above the limit.
//!
//! **Drop rule.** Every drop counter the server reports is shown as its increase over the
//! measured window. Frames dropped at `hub_lag` (a listener too slow, moved to live) and `send`
//! (a socket that failed, e.g. a listener that left mid-write) are explained by the listeners;
//! frames lost at `source` (the source's own gaps), `publisher_queue` (refused, out of order)
//! or `recording` are the server's own and fail the run.

use std::collections::BTreeMap;

use serde::Serialize;

/// Drop stages explained by what listeners do (slow, or gone).
pub const LISTENER_STAGES: [&str; 2] = ["hub_lag", "send"];

/// A least-squares line through `(seconds, value)` points, with its per-hour figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Trend {
    /// Points fitted.
    pub samples: usize,
    /// First and last measured values of the fitted points.
    pub first: f64,
    pub last: f64,
    /// Slope, units per hour.
    pub slope_per_hour: f64,
    /// Standard error of the slope, units per hour (0 with fewer than 3 points).
    pub slope_stderr_per_hour: f64,
    /// The line's value at the first fitted point (the level after the warm-up).
    pub level_at_start: f64,
    /// The line's rise over the fitted span (`slope × span`).
    pub fitted_growth: f64,
    /// Time between the first and last fitted points, seconds.
    pub span_secs: f64,
}

/// Fits `y = a + b·t` to `points` (`t` in seconds). `None` with fewer than 2 points or no
/// spread in time.
pub fn fit(points: &[(f64, f64)]) -> Option<Trend> {
    let n = points.len();
    if n < 2 {
        return None;
    }
    let nf = n as f64;
    let mean_t = points.iter().map(|p| p.0).sum::<f64>() / nf;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / nf;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_t).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_t) * (p.1 - mean_y)).sum();
    let b = sxy / sxx;
    let a = mean_y - b * mean_t;
    let se = if n > 2 {
        let ssr: f64 = points.iter().map(|p| (p.1 - (a + b * p.0)).powi(2)).sum();
        (ssr / (nf - 2.0) / sxx).sqrt()
    } else {
        0.0
    };
    let t0 = points[0].0;
    let t1 = points[n - 1].0;
    Some(Trend {
        samples: n,
        first: points[0].1,
        last: points[n - 1].1,
        slope_per_hour: b * 3600.0,
        slope_stderr_per_hour: se * 3600.0,
        level_at_start: a + b * t0,
        fitted_growth: b * (t1 - t0),
        span_secs: t1 - t0,
    })
}

/// How much growth a series may show.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GrowthRule {
    /// Absolute allowance per hour, in the series' unit.
    pub abs_per_hour: f64,
    /// Allowance per hour as a share of the level after warm-up (0.05 = 5 %).
    pub rel_per_hour: f64,
    /// Standard errors subtracted from the slope before comparing it with the limit.
    pub sigmas: f64,
    /// The fitted line must have risen at least this much over the window to fail.
    pub min_growth: f64,
}

impl GrowthRule {
    /// Resident memory, in KiB: 20 MiB or 5 % per hour, 3 σ, at least 4 MiB seen.
    pub const RSS_KB: GrowthRule =
        GrowthRule { abs_per_hour: 20.0 * 1024.0, rel_per_hour: 0.05, sigmas: 3.0, min_growth: 4.0 * 1024.0 };
    /// Open file descriptors: 20 or 5 % per hour, 3 σ, at least 16 seen.
    pub const FDS: GrowthRule =
        GrowthRule { abs_per_hour: 20.0, rel_per_hour: 0.05, sigmas: 3.0, min_growth: 16.0 };

    /// The allowed slope per hour for a series at `level`.
    pub fn limit_per_hour(&self, level: f64) -> f64 {
        self.abs_per_hour.max(self.rel_per_hour * level.abs())
    }

    /// Whether `t` breaks the rule.
    pub fn fails(&self, t: &Trend) -> bool {
        let beyond_noise = t.slope_per_hour - self.sigmas * t.slope_stderr_per_hour;
        beyond_noise > self.limit_per_hour(t.level_at_start) && t.fitted_growth >= self.min_growth
    }
}

/// One sample, as the verdict sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Point {
    pub t_secs: f64,
    pub rss_kb: Option<u64>,
    pub fds: Option<u64>,
    pub threads: Option<u64>,
    /// Server drop counters (`stream:stage` → frames so far).
    pub drops: BTreeMap<String, u64>,
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub pass: bool,
    /// Why it failed (empty when it passed).
    pub reasons: Vec<String>,
    /// What was seen but does not fail the run.
    pub notes: Vec<String>,
    pub rss_kb: Option<Trend>,
    pub fds: Option<Trend>,
    pub threads: Option<Trend>,
    /// Increase of each drop counter over the measured window (`stream:stage`).
    pub drops: BTreeMap<String, u64>,
    /// The rules applied.
    pub rss_rule: GrowthRule,
    pub fd_rule: GrowthRule,
}

/// Judges the samples of a run whose warm-up lasted `warmup_secs`.
pub fn judge(points: &[Point], warmup_secs: f64) -> Verdict {
    let after: Vec<&Point> = points.iter().filter(|p| p.t_secs >= warmup_secs).collect();
    let series = |f: fn(&Point) -> Option<u64>| -> Vec<(f64, f64)> {
        after.iter().filter_map(|p| f(p).map(|v| (p.t_secs, v as f64))).collect()
    };
    let rss = series(|p| p.rss_kb);
    let fds = series(|p| p.fds);
    let threads = series(|p| p.threads);
    let mut v = Verdict {
        pass: true,
        reasons: Vec::new(),
        notes: Vec::new(),
        rss_kb: fit(&rss),
        fds: fit(&fds),
        threads: fit(&threads),
        drops: drop_increase(&after),
        rss_rule: GrowthRule::RSS_KB,
        fd_rule: GrowthRule::FDS,
    };
    judge_growth(&mut v.reasons, "RSS", "MiB", 1.0 / 1024.0, v.rss_kb, &rss, GrowthRule::RSS_KB);
    judge_growth(&mut v.reasons, "open fds", "fds", 1.0, v.fds, &fds, GrowthRule::FDS);
    if let Some(t) = v.threads
        && t.fitted_growth >= 4.0
    {
        v.notes.push(format!(
            "threads {:.0} -> {:.0} ({:+.1}/h; reported, not judged)",
            t.first, t.last, t.slope_per_hour
        ));
    }
    for (key, n) in &v.drops {
        if *n == 0 {
            continue;
        }
        let stage = key.rsplit(':').next().unwrap_or(key);
        if LISTENER_STAGES.contains(&stage) {
            v.notes.push(format!("{n} frames dropped at {key} (listeners that were slow or left)"));
        } else {
            v.reasons
                .push(format!("{n} frames dropped at {key}: lost by the server itself, not by a listener"));
        }
    }
    v.pass = v.reasons.is_empty();
    v
}

/// Adds the growth failure of one series to `reasons`, or why it cannot be judged.
fn judge_growth(
    reasons: &mut Vec<String>,
    name: &str,
    unit: &str,
    scale: f64,
    trend: Option<Trend>,
    points: &[(f64, f64)],
    rule: GrowthRule,
) {
    let Some(t) = trend.filter(|t| t.samples >= 3) else {
        reasons.push(format!(
            "{name}: {} samples after the warm-up, at least 3 are needed to judge a trend (is the server's process readable under /proc?)",
            points.len()
        ));
        return;
    };
    if rule.fails(&t) {
        reasons.push(format!(
            "{name} grows {:.1} {unit}/h (± {:.1}, from {:.1} to {:.1} {unit}), above the limit of {:.1} {unit}/h",
            t.slope_per_hour * scale,
            t.slope_stderr_per_hour * scale,
            t.first * scale,
            t.last * scale,
            rule.limit_per_hour(t.level_at_start) * scale
        ));
    }
}

/// Each counter's last value minus its value at the first sample after the warm-up (samples
/// whose `/metrics` could not be read carry no counters and are skipped).
fn drop_increase(after: &[&Point]) -> BTreeMap<String, u64> {
    let mut read = after.iter().filter(|p| !p.drops.is_empty());
    let Some(first) = read.next() else { return BTreeMap::new() };
    let last = read.next_back().unwrap_or(first);
    last.drops
        .iter()
        .map(|(k, v)| (k.clone(), v.saturating_sub(first.drops.get(k).copied().unwrap_or(0))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic noise in `[-amp, amp]`.
    struct Noise(u64);
    impl Noise {
        fn next(&mut self, amp: f64) -> f64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * amp
        }
    }

    /// An hour sampled every 10 s: RSS from `rss_mb(t_secs)`, fds from `fds(t_secs)`.
    fn run(mut rss_mb: impl FnMut(f64) -> f64, mut fds: impl FnMut(f64) -> f64) -> Vec<Point> {
        (0..=360)
            .map(|i| {
                let t = i as f64 * 10.0;
                Point {
                    t_secs: t,
                    rss_kb: Some((rss_mb(t) * 1024.0) as u64),
                    fds: Some(fds(t).round() as u64),
                    threads: Some(9),
                    drops: BTreeMap::new(),
                }
            })
            .collect()
    }

    const WARMUP: f64 = 300.0;

    #[test]
    fn fits_a_line_exactly() {
        let t = fit(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]).unwrap();
        assert!((t.slope_per_hour - 2.0 * 3600.0).abs() < 1e-9);
        assert!(t.slope_stderr_per_hour.abs() < 1e-9);
        assert!((t.level_at_start - 1.0).abs() < 1e-9);
        assert!((t.fitted_growth - 4.0).abs() < 1e-9);
        assert_eq!(fit(&[(1.0, 1.0)]), None);
        assert_eq!(fit(&[(1.0, 1.0), (1.0, 2.0)]), None, "no spread in time");
    }

    #[test]
    fn flat_with_noise_passes() {
        let mut a = Noise(1);
        let mut b = Noise(2);
        let points = run(|_| 200.0 + a.next(3.0), |_| 1000.0 + b.next(40.0));
        let v = judge(&points, WARMUP);
        assert!(v.pass, "{:?}", v.reasons);
        let rss = v.rss_kb.unwrap();
        assert!(rss.slope_per_hour.abs() < 3.0 * rss.slope_stderr_per_hour + 1024.0, "{rss:?}");
    }

    #[test]
    fn a_leak_of_one_mib_per_minute_fails_naming_rss() {
        let mut a = Noise(3);
        let points = run(|t| 200.0 + t / 60.0 + a.next(3.0), |_| 1000.0);
        let v = judge(&points, WARMUP);
        assert!(!v.pass);
        assert_eq!(v.reasons.len(), 1, "{:?}", v.reasons);
        assert!(v.reasons[0].starts_with("RSS grows"), "{}", v.reasons[0]);
        let slope_mib = v.rss_kb.unwrap().slope_per_hour / 1024.0;
        assert!((slope_mib - 60.0).abs() < 2.0, "{slope_mib}");
    }

    #[test]
    fn a_leak_of_two_fds_per_minute_fails_naming_fds() {
        let mut b = Noise(4);
        let points = run(|_| 200.0, |t| 1000.0 + 2.0 * t / 60.0 + b.next(40.0));
        let v = judge(&points, WARMUP);
        assert!(!v.pass);
        assert!(v.reasons.iter().any(|r| r.starts_with("open fds grows")), "{:?}", v.reasons);
    }

    #[test]
    fn a_step_at_the_end_of_the_warm_up_passes() {
        let mut a = Noise(5);
        let mut b = Noise(6);
        let points = run(
            |t| if t < WARMUP { 100.0 } else { 160.0 } + a.next(2.0),
            |t| if t < WARMUP { 20.0 } else { 1000.0 } + b.next(30.0),
        );
        let v = judge(&points, WARMUP);
        assert!(v.pass, "{:?}", v.reasons);
        // the same step inside the fitted window would be a trend
        let v = judge(&points, 0.0);
        assert!(!v.pass, "a step after the warm-up is growth");
    }

    #[test]
    fn a_slow_creep_under_the_limit_passes() {
        // 10 MiB/h on 200 MiB: below 20 MiB/h
        let mut a = Noise(7);
        let points = run(|t| 200.0 + 10.0 * t / 3600.0 + a.next(1.0), |_| 1000.0);
        let v = judge(&points, WARMUP);
        assert!(v.pass, "{:?}", v.reasons);
        // 5 % of a large level is the limit there: 100 MiB/h on 3 GiB passes
        let points = run(|t| 3072.0 + 100.0 * t / 3600.0, |_| 1000.0);
        assert!(judge(&points, WARMUP).pass);
    }

    #[test]
    fn a_short_run_needs_real_movement_before_its_projection_counts() {
        // 40 s, 1 MiB of creep: 90 MiB/h projected, but below the 4 MiB minimum
        let points: Vec<Point> = (0..=20)
            .map(|i| Point {
                t_secs: 20.0 + i as f64 * 2.0,
                rss_kb: Some(30_000 + i * 50),
                fds: Some(60 + (i % 3)),
                threads: Some(9),
                drops: BTreeMap::new(),
            })
            .collect();
        let v = judge(&points, 20.0);
        assert!(v.pass, "{:?}", v.reasons);
        // 5 fds per second for 40 s is a leak
        let leaking: Vec<Point> = points
            .iter()
            .map(|p| Point { fds: Some(60 + (p.t_secs - 20.0) as u64 * 5), ..p.clone() })
            .collect();
        let v = judge(&leaking, 20.0);
        assert!(!v.pass);
        assert!(v.reasons[0].contains("open fds"), "{:?}", v.reasons);
    }

    #[test]
    fn missing_samples_fail_as_unjudgeable() {
        let points: Vec<Point> = (0..10).map(|i| Point { t_secs: i as f64, ..Point::default() }).collect();
        let v = judge(&points, 0.0);
        assert!(!v.pass);
        assert!(v.reasons.iter().any(|r| r.contains("RSS: 0 samples")), "{:?}", v.reasons);
    }

    #[test]
    fn source_drops_fail_and_listener_drops_are_noted() {
        let mut points = run(|_| 200.0, |_| 1000.0);
        for (i, p) in points.iter_mut().enumerate() {
            p.drops.insert("main:hub_lag".into(), 10 * i as u64);
            p.drops.insert("main:send".into(), 3);
            p.drops.insert("main:source".into(), 0);
        }
        let v = judge(&points, WARMUP);
        assert!(v.pass, "{:?}", v.reasons);
        assert_eq!(v.drops["main:hub_lag"], 3300);
        assert_eq!(v.drops["main:send"], 0, "counted before the warm-up's end");
        assert!(v.notes.iter().any(|n| n.contains("main:hub_lag")));
        // a last sample without /metrics (a timeout) does not hide what was counted
        let n = points.len();
        points[n - 1].drops.clear();
        assert_eq!(judge(&points, WARMUP).drops["main:hub_lag"], 3290);
        points[n - 2].drops.insert("pub-1:source".into(), 7);
        let v = judge(&points, WARMUP);
        assert!(!v.pass);
        assert!(v.reasons[0].contains("7 frames dropped at pub-1:source"), "{:?}", v.reasons);
    }
}
