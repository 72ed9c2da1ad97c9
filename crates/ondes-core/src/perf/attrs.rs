//! Which attribute values go with slow spans.
//!
//! An application's spans carry attributes (`{"model": "large", "voice": "fr-2"}`); when a
//! stage is slow, the first question is "slow for which model, which voice?". Per
//! operation, [`AttrStats`] keeps the latest durations per (key, value) and reports, per
//! key, the values with the worst p95, how many of their spans were over the threshold,
//! and how many spans they had.
//!
//! Attributes come from clients, so everything is bounded ([`AttrLimits`]): at most
//! `max_keys` keys per operation (the first seen; later keys are ignored and counted),
//! `max_values_per_key` distinct values per key (later values are pooled as `(other)`),
//! values and keys cut to `max_len` characters, `samples` durations per value. Worst case
//! per operation: keys × (values + 1) × samples × 8 bytes — 8 × 17 × 128 × 8 ≈ 140 KB.

use std::collections::VecDeque;

use serde::Serialize;

use super::stats::percentile;

/// The pool of values past `max_values_per_key`.
pub const OTHER: &str = "(other)";

/// Bounds on what clients' attributes may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttrLimits {
    pub max_keys: usize,
    pub max_values_per_key: usize,
    pub max_len: usize,
    pub samples: usize,
    /// Values shown per key in a report (worst p95 first).
    pub report_values: usize,
}

impl Default for AttrLimits {
    fn default() -> Self {
        AttrLimits { max_keys: 8, max_values_per_key: 16, max_len: 64, samples: 128, report_values: 5 }
    }
}

#[derive(Debug, Clone, Default)]
struct ValueStats {
    value: String,
    recent: VecDeque<u64>,
    count: u64,
    over_threshold: u64,
}

#[derive(Debug, Clone, Default)]
struct KeyStats {
    key: String,
    values: Vec<ValueStats>,
}

/// One operation's attribute statistics.
#[derive(Debug, Clone, Default)]
pub struct AttrStats {
    keys: Vec<KeyStats>,
    /// Attributes not kept because the operation already had `max_keys` keys.
    pub ignored_keys: u64,
}

/// One attribute value in a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttrValueReport {
    pub value: String,
    /// Spans with this value since it was first seen.
    pub count: u64,
    /// Of those, over the operation's threshold.
    pub over_threshold: u64,
    /// Over the latest `samples` spans with this value.
    pub p95_us: u64,
    pub avg_us: f64,
}

/// One attribute key in a report: its values, worst p95 first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttrKeyReport {
    pub key: String,
    pub values: Vec<AttrValueReport>,
    /// Distinct values kept (more are pooled as `(other)`).
    pub distinct_values: usize,
}

fn cut(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

impl AttrStats {
    /// Files one span of `duration_us` with its attributes.
    pub fn record(
        &mut self,
        attrs: &[(String, String)],
        duration_us: u64,
        threshold_us: u64,
        lim: &AttrLimits,
    ) {
        for (k, v) in attrs {
            let k = cut(k, lim.max_len);
            let pos = match self.keys.iter().position(|x| x.key == k) {
                Some(p) => p,
                None if self.keys.len() < lim.max_keys => {
                    self.keys.push(KeyStats { key: k.to_string(), values: Vec::new() });
                    self.keys.len() - 1
                }
                None => {
                    self.ignored_keys += 1;
                    continue;
                }
            };
            let key = &mut self.keys[pos];
            let v = cut(v, lim.max_len);
            let slot = match key.values.iter().position(|x| x.value == v) {
                Some(p) => p,
                None => {
                    let name = if key.values.len() < lim.max_values_per_key { v } else { OTHER };
                    match key.values.iter().position(|x| x.value == name) {
                        Some(p) => p,
                        None => {
                            key.values.push(ValueStats { value: name.to_string(), ..Default::default() });
                            key.values.len() - 1
                        }
                    }
                }
            };
            let s = &mut key.values[slot];
            if s.recent.len() == lim.samples.max(1) {
                s.recent.pop_front();
            }
            s.recent.push_back(duration_us);
            s.count += 1;
            if duration_us > threshold_us {
                s.over_threshold += 1;
            }
        }
    }

    /// Per key, the values with the worst p95 first (at most `report_values` of them).
    pub fn report(&self, lim: &AttrLimits) -> Vec<AttrKeyReport> {
        let mut scratch = Vec::new();
        self.keys
            .iter()
            .map(|k| {
                let mut values: Vec<AttrValueReport> = k
                    .values
                    .iter()
                    .map(|v| {
                        scratch.clear();
                        scratch.extend(v.recent.iter().copied());
                        scratch.sort_unstable();
                        let n = scratch.len().max(1) as f64;
                        AttrValueReport {
                            value: v.value.clone(),
                            count: v.count,
                            over_threshold: v.over_threshold,
                            p95_us: percentile(&scratch, 95.0).unwrap_or(0),
                            avg_us: scratch.iter().sum::<u64>() as f64 / n,
                        }
                    })
                    .collect();
                values.sort_by(|a, b| b.p95_us.cmp(&a.p95_us).then_with(|| a.value.cmp(&b.value)));
                let distinct_values = values.len();
                values.truncate(lim.report_values);
                AttrKeyReport { key: k.key.clone(), values, distinct_values }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_slow_value_comes_first() {
        let lim = AttrLimits::default();
        let mut s = AttrStats::default();
        for i in 0..50 {
            s.record(&a(&[("model", "small"), ("voice", "a")]), 100_000 + i, 500_000, &lim);
            s.record(&a(&[("model", "large"), ("voice", "a")]), 900_000 + i, 500_000, &lim);
        }
        let r = s.report(&lim);
        let model = r.iter().find(|k| k.key == "model").unwrap();
        assert_eq!(model.values[0].value, "large");
        assert_eq!((model.values[0].count, model.values[0].over_threshold), (50, 50));
        assert_eq!(model.values[1].over_threshold, 0);
        assert!(model.values[0].p95_us >= 900_000 && model.values[1].p95_us < 200_000);
        let voice = r.iter().find(|k| k.key == "voice").unwrap();
        assert_eq!(voice.values[0].count, 100);
    }

    #[test]
    fn a_stranger_cannot_grow_memory() {
        let lim = AttrLimits { max_keys: 2, max_values_per_key: 3, max_len: 4, samples: 5, report_values: 2 };
        let mut s = AttrStats::default();
        for i in 0..1000 {
            let v = format!("value-{i}");
            s.record(&a(&[("k1", &v), ("k2", "x"), ("k3", "y")]), i, 10, &lim);
        }
        assert_eq!(s.keys.len(), 2);
        assert_eq!(s.ignored_keys, 1000);
        let k1 = &s.keys[0];
        // every value cut to 4 chars is "valu": one value
        assert_eq!(k1.values.len(), 1);
        assert_eq!(k1.values[0].recent.len(), 5);
        let mut s = AttrStats::default();
        for i in 0..1000 {
            s.record(&a(&[(&format!("{}", i % 2), &format!("{i}"))]), i, 10, &lim);
        }
        for k in &s.keys {
            assert_eq!(k.values.len(), 4, "3 values and the pool");
            assert!(k.values.iter().any(|v| v.value == OTHER));
        }
        let r = s.report(&lim);
        assert_eq!(r[0].values.len(), 2);
        assert_eq!(r[0].distinct_values, 4);
    }
}
