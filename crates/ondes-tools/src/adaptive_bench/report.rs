//! The benchmark's result: JSON (`{"scenario", "legacy": {…}, "adaptive": {…}}`) and a table.

use std::fmt::Write;

use ondes_sim::abr::SimResult;
use serde::Serialize;

use super::AdaptiveOptions;

/// One switch of the adaptive side, for the log under the table.
#[derive(Debug, Clone, Serialize)]
pub struct SwitchLog {
    pub at_ms: u64,
    pub kbps: u32,
    pub profile: String,
    pub jitter_target_ms: u32,
    pub reason: String,
    pub code: &'static str,
}

/// One side of the table: every figure of [`SimResult`] plus the switches.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    #[serde(flatten)]
    pub result: SimResult,
    pub switch_log: Vec<SwitchLog>,
    /// When each underrun episode began, ms.
    pub underrun_at_ms: Vec<u64>,
}

impl Side {
    fn new(r: &SimResult) -> Side {
        let switch_log = r
            .decisions
            .iter()
            .map(|d| SwitchLog {
                at_ms: d.at_us / 1000,
                kbps: d.kbps,
                profile: d.profile.to_string(),
                jitter_target_ms: d.jitter_target_ms,
                reason: d.reason.to_string(),
                code: d.reason.code(),
            })
            .collect();
        let underrun_at_ms = r.underrun_at_us.iter().map(|t| t / 1000).collect();
        Side { result: r.clone(), switch_log, underrun_at_ms }
    }
}

/// Legacy and adaptive on one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct AdaptiveReport {
    pub scenario: String,
    pub seed: u64,
    pub duration_s: f64,
    /// What the adaptive listener asked for.
    pub profile: String,
    pub socket_lowat: u64,
    pub legacy: Side,
    pub adaptive: Side,
}

impl AdaptiveReport {
    pub fn new(scenario: String, opts: &AdaptiveOptions, legacy: &SimResult, adaptive: &SimResult) -> Self {
        AdaptiveReport {
            scenario,
            seed: opts.seed,
            duration_s: opts.duration_us as f64 / 1e6,
            profile: opts.profile.clone(),
            socket_lowat: opts.socket_lowat,
            legacy: Side::new(legacy),
            adaptive: Side::new(adaptive),
        }
    }

    /// The side-by-side table and the adaptive side's switches.
    pub fn to_table(&self) -> String {
        let (l, a) = (&self.legacy.result, &self.adaptive.result);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "scenario {} — seed {}, {} s simulated, adaptive profile {}, socket lowat {} B",
            self.scenario, self.seed, self.duration_s, self.profile, self.socket_lowat
        );
        let rows: Vec<(&str, String, String)> = vec![
            ("efficiency (payload ÷ wire bytes)", pct(l.efficiency_percent), pct(a.efficiency_percent)),
            ("  ÷ link bytes (+ TCP/IP)", pct(l.link_efficiency_percent), pct(a.link_efficiency_percent)),
            ("latency mean / p95 (ms)", lat(l), lat(a)),
            (
                "underruns per minute (after 5 s)",
                format!("{:.1}", l.underruns_per_minute),
                format!("{:.1}", a.underruns_per_minute),
            ),
            ("stall events (after 5 s)", l.stall_events.to_string(), a.stall_events.to_string()),
            ("stalled (ms)", format!("{:.0}", l.stalled_ms), format!("{:.0}", a.stalled_ms)),
            ("concealed (ms)", format!("{:.0}", l.concealed_ms), format!("{:.0}", a.concealed_ms)),
            ("skipped by the server (frames)", l.skipped_frames.to_string(), a.skipped_frames.to_string()),
            (
                "avg bitrate heard (kbit/s)",
                format!("{:.1}", l.avg_bitrate_kbps),
                format!("{:.1}", a.avg_bitrate_kbps),
            ),
            ("switches", l.switches.to_string(), a.switches.to_string()),
            ("reaction to the drop (ms)", reaction(l.reaction_ms), reaction(a.reaction_ms)),
            ("time to recover (ms)", recovery(l), recovery(a)),
            (
                "final rung",
                format!("{} {}", l.final_kbps, l.final_profile),
                format!("{} {}", a.final_kbps, a.final_profile),
            ),
        ];
        let _ = writeln!(out, "{:<36} {:>16} {:>16}", "", "legacy", "adaptive");
        for (name, lv, av) in rows {
            let _ = writeln!(out, "{name:<36} {lv:>16} {av:>16}");
        }
        for s in &self.adaptive.switch_log {
            let _ = writeln!(
                out,
                "  {:>6} ms → {:>3} kbit/s {} (jitter target {} ms): {}",
                s.at_ms, s.kbps, s.profile, s.jitter_target_ms, s.reason
            );
        }
        out
    }
}

fn pct(v: f64) -> String {
    format!("{v:.1}%")
}

fn lat(r: &SimResult) -> String {
    format!("{:.0} / {:.0}", r.latency_ms.mean, r.latency_ms.p95)
}

/// Time to recover after the link came back, or that it did not within the run.
fn recovery(r: &SimResult) -> String {
    match (r.recover_ms, r.link_back_at_s) {
        (Some(ms), _) => format!("{ms:.0}"),
        (None, Some(_)) => "not in the run".to_string(),
        (None, None) => "—".to_string(),
    }
}

fn reaction(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_string(), |ms| format!("{ms:.0}"))
}
