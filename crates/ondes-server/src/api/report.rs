//! `GET /api/streams/{id}/report`: how well a stream is delivered now, across its listeners.
//!
//! Efficiency is the audio's share of what was written: payload (Opus packets, or 16-bit
//! samples for PCM) ÷ bytes the sockets took (`global_efficiency_percent`), and the same
//! over an estimate of the bytes on the link, with each TCP segment's 52 bytes of IPv4 and
//! TCP headers (a segment per message at least, or per 1448 bytes), or each UDP datagram's
//! 28 (`link_efficiency_percent`). Latency is what listeners measured (capture → playout in
//! their reports), else the server's hand-off latency. `delivery_mode` is the stream's
//! delivery (legacy, adaptive, canary), the live comparison of its legacy and adaptive
//! listeners, a rollback and its reason, and `improvement_factor` (adaptive against legacy,
//! measured on this stream).

use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::clock::now_ms;
use crate::connections::ConnectionSnapshot;
use crate::http::admission::readable_stream;
use crate::http::error::ApiError;
use crate::http::{QueryMap, StreamId};
use crate::state::SharedState;

/// IPv4 + TCP with timestamps, per segment.
const TCP_HEADERS: u64 = 52;
/// A segment's payload at a 1500-byte MTU with those headers.
const TCP_SEGMENT: u64 = 1448;
/// IPv4 + UDP, per datagram.
const UDP_HEADERS: u64 = 28;

/// Bytes on the link for what one connection wrote: its bytes plus headers.
fn link_bytes(c: &ConnectionSnapshot) -> u64 {
    if c.transport == "whep" {
        return c.bytes_sent + c.events_sent * UDP_HEADERS;
    }
    let segments = c.events_sent.max(c.bytes_sent.div_ceil(TCP_SEGMENT));
    c.bytes_sent + segments * TCP_HEADERS
}

fn percent(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 * 1000.0 / whole as f64).round() / 10.0)
}

/// The `p`-quantile of `v` (sorted in place), nearest rank.
fn quantile(v: &mut [f64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let i = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    Some((v[i] * 10.0).round() / 10.0)
}

/// The report over `conns` (this stream's listeners) at `now_ms`.
pub fn report(id: &str, conns: &[ConnectionSnapshot], now_ms: i64) -> Value {
    let bytes: u64 = conns.iter().map(|c| c.bytes_sent).sum();
    let payload: u64 = conns.iter().map(|c| c.payload_sent).sum();
    let link: u64 = conns.iter().map(link_bytes).sum();
    let messages: u64 = conns.iter().map(|c| c.events_sent).sum();
    let errors: u64 = conns.iter().map(|c| c.errors_count).sum();
    let mut reported: Vec<f64> = conns
        .iter()
        .filter_map(|c| match &c.client_report {
            Some(ondes_core::proto::control::FromListener::Report(r)) => r.e2e_latency_ms,
            _ => None,
        })
        .collect();
    let (latency_source, mut latencies) = if reported.is_empty() {
        ("server", conns.iter().map(|c| c.latency_ms).collect::<Vec<_>>())
    } else {
        ("listener_reports", std::mem::take(&mut reported))
    };
    let mut profiles = serde_json::Map::new();
    let mut switched = 0;
    for c in conns {
        let Some(abr) = &c.abr else { continue };
        let name = serde_json::to_value(abr.profile).ok().and_then(|v| v.as_str().map(String::from));
        let n = profiles.entry(name.unwrap_or_else(|| "unknown".into())).or_insert(json!(0));
        *n = json!(n.as_u64().unwrap_or(0) + 1);
        if abr.last_decision.is_some_and(|d| c.connected_at + d.at_ms as i64 >= now_ms - 60_000) {
            switched += 1;
        }
    }
    let mut groups = serde_json::Map::new();
    for arm in conns.iter().filter_map(|c| c.delivery) {
        let n = groups.entry(arm.as_str().to_string()).or_insert(json!(0));
        *n = json!(n.as_u64().unwrap_or(0) + 1);
    }
    let mut by_transport = serde_json::Map::new();
    for c in conns {
        let n = by_transport.entry(c.transport.to_string()).or_insert(json!(0));
        *n = json!(n.as_u64().unwrap_or(0) + 1);
    }
    json!({
        "stream": id,
        "listeners": conns.len(),
        "by_transport": by_transport,
        "global_efficiency_percent": percent(payload, bytes),
        "link_efficiency_percent": percent(payload, link),
        "payload_sent_bytes": payload,
        "total_data_sent_mb": (bytes as f64 / 1e4).round() / 100.0,
        "current_latency_ms": {
            "p50": quantile(&mut latencies, 0.5),
            "p95": quantile(&mut latencies, 0.95),
            "source": latency_source,
        },
        "adaptive": {"profiles": profiles, "switched_last_minute": switched, "delivery_groups": groups},
        "error_rate_percent": percent(errors, messages).unwrap_or(0.0),
    })
}

/// The report of stream `id` now. Like the stream's stats, it needs a `subscribe` token
/// when listening does.
pub async fn stream_report(
    State(app): State<SharedState>,
    StreamId(id): StreamId,
    headers: HeaderMap,
    q: QueryMap,
) -> Result<axum::Json<Value>, ApiError> {
    readable_stream(&app, &headers, &q, &id)?;
    Ok(axum::Json(stream_report_now(&app, &id)))
}

/// The report of stream `id` now (also in its `/stats`, as `delivery`).
pub fn stream_report_now(app: &SharedState, id: &str) -> Value {
    // who the listeners are is not in the report; their reports' numbers are
    let conns: Vec<ConnectionSnapshot> = app
        .connections
        .list(Some(id))
        .iter()
        .map(|c| ConnectionSnapshot { user_id: None, ip_address: None, user_agent: None, ..c.snapshot() })
        .collect();
    let mut v = report(id, &conns, now_ms());
    if let Ok(hub) = app.hub(id) {
        let d = hub.delivery_report_now();
        v["improvement_factor"] = json!(d.improvement_factor);
        v["delivery_mode"] = serde_json::to_value(d).unwrap_or(Value::Null);
    }
    v
}
