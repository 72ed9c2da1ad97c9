//! The server side of a probe: its stats endpoint and its clock.

use serde_json::Value;

use super::ProbeError;
use super::arrivals::now_us;

/// HTTP base URL and stats URL for a stream URL (SSE or WebSocket).
pub fn stats_url(stream_url: &str) -> Result<(String, String), ProbeError> {
    let http = stream_url.replacen("ws://", "http://", 1).replacen("wss://", "https://", 1);
    let (scheme, rest) = http.split_once("://").ok_or_else(|| ProbeError::Url(stream_url.into()))?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let path = path.split('?').next().unwrap_or("");
    let base = format!("{scheme}://{host}");
    let stats = if let Some(rest) = path.strip_prefix("api/streams/") {
        let id = rest.split('/').next().unwrap_or("main");
        format!("{base}/api/streams/{id}/stats")
    } else if path.starts_with("api/audio/") {
        format!("{base}/api/audio/stats")
    } else {
        return Err(ProbeError::Url(format!(
            "{stream_url}: expected …/api/streams/ID/stream|ws or …/api/audio/stream|ws"
        )));
    };
    Ok((base, stats))
}

pub async fn get_json(url: &str, token: Option<&str>) -> Result<Value, ProbeError> {
    let client = ondes_client::tls::http_builder()
        .no_proxy()
        .build()
        .map_err(|e| ProbeError::Connect(e.to_string()))?;
    let mut req = client.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.map_err(|e| ProbeError::Connect(format!("{url}: {e}")))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(ProbeError::Http(status.as_u16(), resp.text().await.unwrap_or_default()));
    }
    resp.json().await.map_err(|e| ProbeError::Connect(format!("{url}: {e}")))
}

/// Estimates (server clock − local clock) and the round trip, NTP-style: several requests
/// to `/api/time`, keeping the one with the smallest round trip.
pub async fn clock_offset(base: &str) -> Option<(f64, f64)> {
    let mut best: Option<(i64, i64)> = None;
    for _ in 0..5 {
        let t0 = now_us();
        let v = get_json(&format!("{base}/api/time"), None).await.ok()?;
        let t1 = now_us();
        let server = v["server_time_us"].as_i64()?;
        let rtt = t1 - t0;
        let offset = server - (t0 + t1) / 2;
        if best.is_none_or(|(r, _)| rtt < r) {
            best = Some((rtt, offset));
        }
    }
    best.map(|(rtt, off)| (off as f64 / 1000.0, rtt as f64 / 1000.0))
}

/// The server counters the attribution needs, read from one stats snapshot.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerCounters {
    pub produced: u64,
    pub publisher_gaps: u64,
    pub publisher_out_of_order: u64,
    pub publisher_underruns: u64,
    pub publisher_idle: u64,
    pub conn_skipped: u64,
    pub conn_latency_ms: f64,
}

pub fn counters(stats: &Value, connection_id: Option<&str>) -> ServerCounters {
    let u = |v: &Value| v.as_u64().unwrap_or(0);
    let p = &stats["publisher"];
    let conn = connection_id.and_then(|id| {
        stats["connections"].as_array()?.iter().find(|c| c["id"].as_str() == Some(id)).cloned()
    });
    ServerCounters {
        produced: u(&stats["total_frames"]),
        publisher_gaps: u(&p["gap_frames"]),
        publisher_out_of_order: u(&p["out_of_order_frames"]),
        publisher_underruns: u(&p["underrun_frames"]),
        publisher_idle: u(&p["idle_frames"]),
        conn_skipped: conn.as_ref().map_or(0, |c| u(&c["skipped_frames"])),
        conn_latency_ms: conn.as_ref().and_then(|c| c["latency_ms"].as_f64()).unwrap_or(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_urls() {
        assert_eq!(
            stats_url("ws://h:1/api/streams/lab/ws?rung=64").unwrap(),
            ("http://h:1".into(), "http://h:1/api/streams/lab/stats".into())
        );
        assert_eq!(stats_url("http://h/api/audio/stream").unwrap().1, "http://h/api/audio/stats");
        assert!(stats_url("http://h/other").is_err());
    }
}
