//! The `system` part of `/debug/connections`: the process's CPU, memory and open files, the
//! stream's dropped frames per stage, and alerts when one of them crosses its threshold —
//! what an operator looks at first when listeners complain. The verdict is a plain function
//! of the figures ([`alerts`]), tested without a machine to load.

use serde::Serialize;
use serde_json::{Value, json};

use crate::config::AlertsConfig;

/// What the alerts are decided from.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SystemFigures {
    /// This process, percent of one core.
    pub cpu_percent: f64,
    pub cores: usize,
    pub rss_bytes: u64,
    pub available_bytes: u64,
    pub total_bytes: u64,
    pub open_files: u64,
    pub max_open_files: u64,
    /// ms since the stream's last frame (`None`: no frame yet).
    pub ms_since_last_frame: Option<i64>,
    /// Paused or ended on purpose: no frames is then no stall.
    pub stream_idle_on_purpose: bool,
    pub dropped_frames: Vec<(&'static str, u64)>,
}

/// One threshold crossed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub kind: &'static str,
    pub message: String,
}

/// The alerts the figures call for, at the configured thresholds.
pub fn alerts(f: &SystemFigures, t: &AlertsConfig) -> Vec<Alert> {
    let mut v = Vec::new();
    let machine = f.cpu_percent / f.cores.max(1) as f64;
    if machine > t.cpu_percent {
        v.push(Alert {
            kind: "cpu",
            message: format!(
                "the server uses {machine:.0}% of the machine's {} cores (alert above {:.0}%): sends may get late",
                f.cores, t.cpu_percent
            ),
        });
    }
    if f.total_bytes > 0 {
        let avail = f.available_bytes as f64 * 100.0 / f.total_bytes as f64;
        if avail < t.memory_available_percent {
            v.push(Alert {
                kind: "memory",
                message: format!(
                    "only {avail:.1}% of the machine's memory is available (alert below {:.0}%); this server holds {} MB",
                    t.memory_available_percent,
                    f.rss_bytes / 1_000_000
                ),
            });
        }
    }
    if f.max_open_files > 0 {
        let used = f.open_files as f64 * 100.0 / f.max_open_files as f64;
        if used > t.open_files_percent {
            v.push(Alert {
                kind: "open_files",
                message: format!(
                    "{} of {} file descriptors open ({used:.0}%): raise `ulimit -n` before new connections are refused",
                    f.open_files, f.max_open_files
                ),
            });
        }
    }
    if !f.stream_idle_on_purpose {
        match f.ms_since_last_frame {
            Some(ms) if ms > t.stall_ms as i64 => v.push(Alert {
                kind: "stalled_pipeline",
                message: format!(
                    "no frame from the stream's source for {:.1} s: its pipeline is stalled",
                    ms as f64 / 1000.0
                ),
            }),
            None => v.push(Alert {
                kind: "stalled_pipeline",
                message: "the stream's source has produced no frame yet".into(),
            }),
            _ => {}
        }
    }
    v
}

/// The `system` object: the figures and the alerts.
pub fn system_json(f: &SystemFigures, t: &AlertsConfig) -> Value {
    let drops: serde_json::Map<String, Value> =
        f.dropped_frames.iter().map(|(stage, n)| (stage.to_string(), json!(n))).collect();
    json!({
        "cpu_percent": (f.cpu_percent * 10.0).round() / 10.0,
        "cores": f.cores,
        "memory": {"rss_bytes": f.rss_bytes, "available_bytes": f.available_bytes, "total_bytes": f.total_bytes},
        "open_files": f.open_files,
        "max_open_files": f.max_open_files,
        "ms_since_last_frame": f.ms_since_last_frame,
        "dropped_frames": drops,
        "alerts": alerts(f, t),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calm() -> SystemFigures {
        SystemFigures {
            cpu_percent: 30.0,
            cores: 2,
            rss_bytes: 50_000_000,
            available_bytes: 12_000_000_000,
            total_bytes: 24_000_000_000,
            open_files: 40,
            max_open_files: 1024,
            ms_since_last_frame: Some(15),
            stream_idle_on_purpose: false,
            dropped_frames: vec![("hub_lag", 0)],
        }
    }

    fn alerts(f: &SystemFigures) -> Vec<Alert> {
        super::alerts(f, &AlertsConfig::default())
    }

    #[test]
    fn each_threshold_alerts_and_a_calm_server_has_none() {
        assert!(alerts(&calm()).is_empty());
        let kinds = |f: SystemFigures| alerts(&f).iter().map(|a| a.kind).collect::<Vec<_>>();
        assert_eq!(kinds(SystemFigures { cpu_percent: 190.0, ..calm() }), ["cpu"]);
        assert_eq!(
            kinds(SystemFigures { cpu_percent: 160.0, ..calm() }),
            Vec::<&str>::new(),
            "80% of 2 cores"
        );
        assert_eq!(kinds(SystemFigures { available_bytes: 1_000_000_000, ..calm() }), ["memory"]);
        assert_eq!(kinds(SystemFigures { open_files: 900, ..calm() }), ["open_files"]);
        assert_eq!(kinds(SystemFigures { ms_since_last_frame: Some(2_500), ..calm() }), ["stalled_pipeline"]);
        assert_eq!(kinds(SystemFigures { ms_since_last_frame: None, ..calm() }), ["stalled_pipeline"]);
        let paused =
            SystemFigures { ms_since_last_frame: Some(60_000), stream_idle_on_purpose: true, ..calm() };
        assert!(alerts(&paused).is_empty(), "a paused stream is not stalled");
        let msg = &alerts(&SystemFigures { open_files: 900, ..calm() })[0].message;
        assert!(msg.contains("900 of 1024") && msg.contains("ulimit"), "{msg}");
    }

    #[test]
    fn the_thresholds_come_from_the_configuration() {
        let busy = SystemFigures { cpu_percent: 190.0, ms_since_last_frame: Some(2_500), ..calm() };
        assert_eq!(alerts(&busy).len(), 2);
        let relaxed = AlertsConfig { cpu_percent: 99.0, stall_ms: 5_000, ..AlertsConfig::default() };
        assert!(super::alerts(&busy, &relaxed).is_empty(), "95% of the machine and 2.5 s are within");
        let strict = AlertsConfig { open_files_percent: 1.0, ..AlertsConfig::default() };
        let msg = &super::alerts(&calm(), &strict)[0].message;
        assert!(msg.contains("40 of 1024"), "{msg}");
    }
}
