//! The `[perf]` section of the configuration.
//!
//! ```toml
//! [perf]
//! summary_log_secs = 60          # summary table in the log every N s; 0 = never
//! window = 1000                  # measurements per operation in the statistics
//! recent_window_secs = 60        # trend: this recent window …
//! long_window_secs = 600         # … against the rest of this one
//! default_threshold_secs = 1.0   # for operations not built in nor listed below
//! timeout_factor = 3.0           # a measurement ≥ 3 × its threshold is a timeout
//! max_operations = 256           # distinct operation names tracked at most
//! max_spans_per_request = 1000   # POST /api/perf/spans batches above this get 413
//! max_operations_per_client = 32 # new span names one token subject may add
//! operation_idle_secs = 600      # a client's operation idle this long gives its slot to a new name
//!
//! [perf.thresholds]              # seconds, by operation name; overrides or new operations
//! tts_synthesis = 0.3
//! rag_retrieval = 0.2
//!
//! [[perf.sla]]
//! op = "tts_synthesis"
//! percentile = 95
//! max_ms = 500
//! ```
//!
//! Scalar keys take `ONDES_PERF_<KEY>` overrides like every other section.

use std::collections::BTreeMap;

use ondes_core::perf::{PerfConfig, PerfError, Sla};
use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PerfSection {
    /// Time ondes' own stages (capture, decode, encode, fanout, send) into the monitor and
    /// the `/metrics` histograms. Off saves a few atomic operations per event.
    pub stages: bool,
    /// Seconds between summary tables in the log; 0 turns the summary off (new
    /// bottlenecks and alerts are still logged, once each).
    pub summary_log_secs: u64,
    /// Measurements kept per operation for the statistics.
    pub window: usize,
    /// The recent window of the trend, in seconds.
    pub recent_window_secs: u64,
    /// The long window the recent one is compared with, in seconds (60 to 3600).
    pub long_window_secs: u64,
    /// Threshold, in seconds, of operations that are neither built in nor in `thresholds`.
    pub default_threshold_secs: f64,
    /// A measurement taking at least this many times its threshold counts as a timeout.
    pub timeout_factor: f64,
    /// Distinct operations tracked at most (span names come from clients).
    pub max_operations: usize,
    /// Spans accepted in one `POST /api/perf/spans`.
    pub max_spans_per_request: usize,
    /// Operation names one client (a token's `sub`) may add through spans: a client cannot
    /// fill the table for the others.
    pub max_operations_per_client: usize,
    /// When the table is full, a client's operation with nothing recorded for this long is
    /// forgotten and its slot given to a new name.
    pub operation_idle_secs: u64,
    /// Thresholds in seconds by operation name.
    pub thresholds: BTreeMap<String, f64>,
    /// Percentile objectives checked in every report. Default: the voice pipeline's —
    /// 95% of `stt_processing` ≤ 2 s, 98% of `tts_synthesis` ≤ 500 ms, 90% of
    /// `llm_response` ≤ 4 s, 95% of `end_to_end` ≤ 6 s. Listing any replaces them all.
    pub sla: Vec<SlaSection>,
    /// Log each client span in one line (`PERF: stt_processing 1250.5 ms GOOD threshold
    /// 2000 ms`) at this level: `off`, `debug`, `info` or `warn`.
    pub span_log: String,
}

/// `[[perf.sla]]`: "`percentile` % of `op` take at most `max_ms`".
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SlaSection {
    pub op: String,
    pub percentile: f64,
    pub max_ms: f64,
}

impl Default for PerfSection {
    fn default() -> Self {
        let core = PerfConfig::default();
        PerfSection {
            stages: true,
            summary_log_secs: 60,
            window: core.window,
            recent_window_secs: core.recent_window_secs,
            long_window_secs: core.long_window_secs,
            default_threshold_secs: core.default_threshold_us as f64 / 1e6,
            timeout_factor: core.timeout_factor,
            max_operations: core.max_operations,
            max_spans_per_request: 1000,
            max_operations_per_client: 32,
            operation_idle_secs: 600,
            thresholds: BTreeMap::new(),
            sla: default_slas(),
            span_log: "off".into(),
        }
    }
}

/// The voice pipeline's objectives (see [`PerfSection::sla`]).
fn default_slas() -> Vec<SlaSection> {
    [
        ("stt_processing", 95.0, 2_000.0),
        ("tts_synthesis", 98.0, 500.0),
        ("llm_response", 90.0, 4_000.0),
        ("end_to_end", 95.0, 6_000.0),
    ]
    .into_iter()
    .map(|(op, percentile, max_ms)| SlaSection { op: op.into(), percentile, max_ms })
    .collect()
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.into(), message: message.into() }
}

/// Seconds (from the file) to µs, refusing what is not a positive duration up to a day.
fn secs_to_us(key: &str, secs: f64) -> Result<u64, ConfigError> {
    if !(secs.is_finite() && secs > 0.0 && secs <= 86_400.0) {
        return Err(invalid(key, format!("{secs} must be a number of seconds in (0, 86400]")));
    }
    Ok(((secs * 1e6).round() as u64).max(1))
}

impl PerfSection {
    /// The level of the per-span log line, `None` when off.
    pub fn span_log_level(&self) -> Result<Option<tracing::Level>, ConfigError> {
        Ok(Some(match self.span_log.as_str() {
            "off" => return Ok(None),
            "debug" => tracing::Level::DEBUG,
            "info" => tracing::Level::INFO,
            "warn" => tracing::Level::WARN,
            other => {
                return Err(invalid("perf.span_log", format!("'{other}' must be off, debug, info or warn")));
            }
        }))
    }

    /// The monitor's configuration, validated; errors name the `perf.*` key.
    pub fn to_core(&self) -> Result<PerfConfig, ConfigError> {
        if !(1..=100_000).contains(&self.max_spans_per_request) {
            return Err(invalid("perf.max_spans_per_request", "must be between 1 and 100000"));
        }
        if self.max_operations_per_client == 0 {
            return Err(invalid("perf.max_operations_per_client", "must be at least 1"));
        }
        self.span_log_level()?;
        if self.operation_idle_secs == 0 {
            return Err(invalid("perf.operation_idle_secs", "must be at least 1"));
        }
        let mut c = PerfConfig {
            window: self.window,
            recent_window_secs: self.recent_window_secs,
            long_window_secs: self.long_window_secs,
            default_threshold_us: secs_to_us("perf.default_threshold_secs", self.default_threshold_secs)?,
            timeout_factor: self.timeout_factor,
            max_operations: self.max_operations,
            ..PerfConfig::default()
        };
        for (name, &secs) in &self.thresholds {
            c.thresholds_us.insert(name.clone(), secs_to_us(&format!("perf.thresholds.{name}"), secs)?);
        }
        for (i, s) in self.sla.iter().enumerate() {
            let max_us = secs_to_us(&format!("perf.sla[{i}].max_ms"), s.max_ms / 1e3)?;
            let sla = Sla::new(&s.op, s.percentile, max_us)
                .map_err(|e| invalid(format!("perf.sla[{i}]"), e.to_string()))?;
            c.slas.push(sla);
        }
        c.validate().map_err(|e| match e {
            PerfError::BadConfig { key, message } => invalid(format!("perf.{key}"), message),
            other => invalid("perf", other.to_string()),
        })?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;

    #[test]
    fn defaults_file_and_env() {
        let c = Config::from_toml_and_env("", &[]).unwrap();
        assert_eq!(c.perf.summary_log_secs, 60);
        assert_eq!(c.perf.window, 1000);
        let slas = c.perf.to_core().unwrap().slas;
        let d: Vec<String> = slas.iter().map(|s| s.describe()).collect();
        assert_eq!(d.len(), 4, "{d:?}");
        assert!(d[0].contains("stt_processing") && d[1].contains("98% of tts_synthesis"), "{d:?}");
        let text = "[perf]\nwindow = 50\n[perf.thresholds]\ntts_synthesis = 0.3\nrerank = 0.2\n\
                    [[perf.sla]]\nop = \"tts_synthesis\"\npercentile = 95\nmax_ms = 500\n";
        let env = vec![("ONDES_PERF_SUMMARY_LOG_SECS".to_string(), "0".to_string())];
        let c = Config::from_toml_and_env(text, &env).unwrap();
        assert_eq!(c.perf.summary_log_secs, 0);
        let core = c.perf.to_core().unwrap();
        assert_eq!(core.window, 50);
        assert_eq!(core.thresholds_us["tts_synthesis"], 300_000);
        assert_eq!(core.thresholds_us["rerank"], 200_000);
        assert_eq!(core.slas[0].max_us, 500_000);
    }

    #[test]
    fn errors_name_the_perf_key() {
        for (text, key) in [
            ("[perf]\nwindow = 0\n", "perf.window"),
            ("[perf]\nlong_window_secs = 10\n", "perf.long_window_secs"),
            ("[perf.thresholds]\ntts_synthesis = -1\n", "perf.thresholds.tts_synthesis"),
            ("[perf.thresholds]\n\"Bad Name\" = 1\n", "perf.thresholds.Bad Name"),
            ("[[perf.sla]]\nop = \"x\"\npercentile = 120\nmax_ms = 5\n", "perf.sla[0]"),
            ("[perf]\nmax_spans_per_request = 0\n", "perf.max_spans_per_request"),
            ("[perf]\nspan_log = \"loud\"\n", "perf.span_log"),
            ("[perf]\nwindo = 5\n", "windo"),
        ] {
            let e = Config::from_toml_and_env(text, &[]).unwrap_err().to_string();
            assert!(e.contains(key), "{key}: {e}");
        }
        let env = vec![("ONDES_PERF_NOPE".to_string(), "1".to_string())];
        let e = Config::from_toml_and_env("", &env).unwrap_err().to_string();
        assert!(e.contains("ONDES_PERF_NOPE"), "{e}");
    }
}
