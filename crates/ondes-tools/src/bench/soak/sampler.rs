//! What the soak samples from the server: its process under `/proc/PID` (resident memory,
//! open file descriptors, threads) and its own `/metrics` (frames dropped per stream and
//! stage, live listener sessions).

use std::collections::BTreeMap;
use std::time::Duration;

/// The server process, as `/proc` shows it. Every field is `None` when unreadable (another
/// user's process, another machine, a process that exited).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcSample {
    pub rss_kb: Option<u64>,
    pub fds: Option<u64>,
    pub threads: Option<u64>,
}

/// Reads `/proc/PID/status` and counts `/proc/PID/fd`.
pub fn sample_process(pid: u32) -> ProcSample {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok();
    ProcSample {
        rss_kb: status.as_deref().and_then(super::super::proc_stats::parse_status_rss_kb),
        threads: status.as_deref().and_then(parse_status_threads),
        fds: std::fs::read_dir(format!("/proc/{pid}/fd")).ok().map(|d| d.count() as u64),
    }
}

/// `Threads` from the text of `/proc/PID/status`.
pub fn parse_status_threads(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("Threads:"))?;
    line["Threads:".len()..].trim().parse().ok()
}

/// What the soak reads from `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSample {
    /// `ondes_frames_dropped_total`, keyed `stream:stage`.
    pub drops: BTreeMap<String, u64>,
    /// `ondes_active_sessions`, summed over streams and transports (HLS clients are not
    /// sessions: they make requests).
    pub sessions: u64,
}

/// Picks the soak's figures out of a Prometheus text exposition.
pub fn parse_metrics(text: &str) -> MetricsSample {
    let mut m = MetricsSample::default();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some((name_labels, value)) = line.rsplit_once(' ') else { continue };
        let Ok(value) = value.trim().parse::<f64>() else { continue };
        let (name, labels) = match name_labels.split_once('{') {
            Some((n, l)) => (n, l.trim_end_matches('}')),
            None => (name_labels, ""),
        };
        match name {
            "ondes_frames_dropped_total" => {
                let stream = label(labels, "stream").unwrap_or("?");
                let stage = label(labels, "stage").unwrap_or("?");
                *m.drops.entry(format!("{stream}:{stage}")).or_default() += value.max(0.0) as u64;
            }
            "ondes_active_sessions" => m.sessions += value.max(0.0) as u64,
            _ => {}
        }
    }
    m
}

/// The value of `key` in a label set `a="x",b="y"` (values without escaped quotes).
fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    labels.split(',').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"'))
    })
}

/// Fetches and parses `{base}/metrics`; `None` when the server does not answer 200 in time.
pub async fn fetch_metrics(client: &reqwest::Client, base: &str) -> Option<MetricsSample> {
    let r = client.get(format!("{base}/metrics")).timeout(Duration::from_secs(5)).send().await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    Some(parse_metrics(&r.text().await.ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_threads() {
        assert_eq!(parse_status_threads("Name:\tondes\nThreads:\t17\nVmRSS: 1 kB\n"), Some(17));
        assert_eq!(parse_status_threads("Name: x\n"), None);
    }

    #[test]
    fn picks_drops_and_sessions_out_of_the_exposition() {
        let text = "# HELP ondes_frames_dropped_total Frames lost\n\
                    # TYPE ondes_frames_dropped_total counter\n\
                    ondes_frames_dropped_total{stream=\"main\",stage=\"hub_lag\"} 12\n\
                    ondes_frames_dropped_total{stream=\"main\",stage=\"source\"} 0\n\
                    ondes_frames_dropped_total{stage=\"send\",stream=\"pub-1\"} 3\n\
                    ondes_active_sessions{stream=\"main\",transport=\"sse\"} 40\n\
                    ondes_active_sessions{stream=\"main\",transport=\"ws\"} 2\n\
                    ondes_frames_produced_total{stream=\"main\"} 99999\n\
                    garbage line\n";
        let m = parse_metrics(text);
        assert_eq!(m.sessions, 42);
        assert_eq!(m.drops.len(), 3);
        assert_eq!(m.drops["main:hub_lag"], 12);
        assert_eq!(m.drops["main:source"], 0);
        assert_eq!(m.drops["pub-1:send"], 3);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn samples_this_process() {
        let s = sample_process(std::process::id());
        assert!(s.rss_kb.is_some_and(|kb| kb > 0));
        assert!(s.fds.is_some_and(|n| n >= 3), "stdin, stdout, stderr at least");
        assert!(s.threads.is_some_and(|n| n >= 1));
    }
}
