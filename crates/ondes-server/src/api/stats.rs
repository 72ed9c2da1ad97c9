//! `GET …/stats` and `GET …/debug/connections`.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::HeaderMap;
use ondes_core::proto::control::{FromListener, Report};
use serde_json::{Value, json};

use crate::auth::Permission;
use crate::clock::now_ms;
use crate::config::AlertsConfig;
use crate::connections::ConnectionSnapshot;
use crate::http::error::ApiError;
use crate::http::{QueryMap, StreamId};
use crate::state::SharedState;
use crate::sysinfo::memory_usage;

/// Public stats of a stream. When listening needs a token (`auth.required_for_stream`), so
/// do its stats. Who the listeners are (token subject, address, user agent, their reports)
/// is shown only to a token with `debug_access`; everyone else sees those fields `null`.
pub async fn stream_stats(
    State(app): State<SharedState>,
    StreamId(id): StreamId,
    headers: HeaderMap,
    q: QueryMap,
) -> Result<axum::Json<Value>, ApiError> {
    let stream = app.stream(&id)?;
    let identities =
        crate::http::admission::authorize(&app, &headers, &q, Permission::DebugAccess, Some(&id)).is_ok();
    if app.config.auth.required_for_stream && !identities {
        crate::http::admission::authorize(&app, &headers, &q, Permission::Subscribe, Some(&id))?;
    }
    let hub = &stream.hub;
    let s = &hub.stats;
    let conns: Vec<ConnectionSnapshot> = app
        .connections
        .list(Some(&id))
        .iter()
        .map(|c| if identities { c.snapshot() } else { c.snapshot().redacted() })
        .collect();
    let frames_sent: u64 = conns.iter().map(|c| c.frames_sent).sum();
    let errors: u64 = conns.iter().map(|c| c.errors_count).sum();
    let avg_latency = if conns.is_empty() {
        0.0
    } else {
        conns.iter().map(|c| c.latency_ms).sum::<f64>() / conns.len() as f64
    };
    let control = hub.control();
    let events = app.connections.delivered(Some(&id), None).events;
    let serializations = s.serializations.load(Ordering::Relaxed);
    Ok(axum::Json(json!({
        "stream": id,
        "recording": stream.recorder.as_ref().map(|r| r.stats()),
        "delivery": crate::api::report::stream_report_now(&app, &id),
        "total_frames": s.total_frames.load(Ordering::Relaxed),
        // frame numbers come from the wall clock: the number the next frame gets, so that a
        // client can tell which numbers were produced between two snapshots
        "next_frame": hub.next_seq(),
        "frames_per_second": s.fps(),
        "active_subscribers": s.active_subscribers.load(Ordering::Relaxed),
        "dropped_frames": s.dropped_frames.load(Ordering::Relaxed),
        "connection_count": conns.len(),
        "connections": conns,
        "memory_usage": memory_usage(),
        "cpu_usage": app.cpu.last(),
        "uptime_seconds": app.started.elapsed().as_secs_f64(),
        "average_latency_ms": avg_latency,
        "bandwidth_usage_mbps": s.mbps(),
        "error_rate_percent": if frames_sent + errors == 0 { 0.0 } else { errors as f64 * 100.0 / (frames_sent + errors) as f64 },
        "paused": control.paused,
        "quality": control.quality.pcm_share(),
        "quality_level": control.quality.level().map(|l| l.name()),
        "ended": control.ended,
        "source": hub.source_description(),
        "source_lost": control.source_lost,
        "publisher": stream.publisher.as_ref().map(|p| p.stats()),
        "icecast": crate::icecast::status::mount_details(&app, &stream.mount),
        "source_late_events": s.source_late.load(Ordering::Relaxed),
        // acquisition figures of the stream's samples, per channel, over the last second
        "levels": levels_json(hub),
        // the capture device's clock, overruns and state (capture: sources only)
        "capture": stream.capture.as_ref().map(|c| c.snapshot()),
        "sample_rate": hub.spec.sample_rate,
        "channels": hub.spec.channels,
        "frame_ms": hub.spec.duration.as_ms_f64(),
        "ring_frames": hub.ring_len(),
        "ladder": ladder_stats(hub),
        // the FLAC and MP3 rungs that run or have listeners
        "codec_rungs": hub.codecs.stats(),
        // serialisation is shared: this grows with frames × formats, not with listeners
        "serializations_total": serializations,
        "events_sent_total": events,
        "server_connections_total": app.connections.count(),
        "connections_rejected_total": app.connections.rejected(),
        // connections that have not sent a whole request head (slow or silent clients)
        "pending_connections": app.pending.count(),
        "pending_timed_out_total": app.pending.timed_out_total(),
        "pending_evicted_total": app.pending.evicted_total(),
    })))
}

fn levels_json(hub: &crate::hub::StreamHub) -> Value {
    let (channels, window) = hub.levels();
    json!({
        "window_ms": window as f64 * 1000.0 / hub.spec.sample_rate as f64,
        "clip_level": ondes_core::dsp::meter::CLIP_LEVEL,
        "channels": channels,
    })
}

/// What the client's own report says went wrong (WebSocket listeners report every second).
/// The Opus rungs: listeners, frames encoded or passed through from the source's own Opus.
fn ladder_stats(hub: &crate::hub::StreamHub) -> Value {
    let (rungs, source_kbps) = hub.ladder.stats();
    json!({"rungs": rungs, "source_opus_kbps": source_kbps})
}

fn client_warnings(report: Option<&Report>) -> Vec<String> {
    let Some(r) = report else { return Vec::new() };
    if r.underruns == 0 {
        return Vec::new();
    }
    vec![format!(
        "the client ran dry {} times ({:.0} ms concealed): its link or its device could not keep up",
        r.underruns, r.concealed_ms
    )]
}

/// What the adaptation controller did about this listener, when it is worth a look.
fn abr_warnings(abr: Option<&Value>) -> Vec<String> {
    let Some(a) = abr else { return Vec::new() };
    let mut out = Vec::new();
    if a["profile"] == "emergency_fallback" {
        out.push(format!(
            "on the emergency profile: the link carries less than the lowest rung (~{} kbit/s estimated)",
            a["estimate_kbps"]
        ));
    }
    let last = &a["last_decision"];
    if last["direction"] == "down" {
        out.push(format!(
            "switched down to {} kbit/s: {}",
            last["kbps"],
            last["reason"].as_str().unwrap_or("")
        ));
    }
    if last["code"] == "late_frames" {
        out.push(format!(
            "packets arrive late (TCP retransmissions): jitter floor deepened to {} ms",
            a["jitter_target_ms"]
        ));
    }
    let failed = a["failed_probes"].as_u64().unwrap_or(0);
    if failed >= 2 {
        out.push(format!("{failed} switches up did not hold: the link is close to the next rung's cost"));
    }
    out
}

/// Health of one connection, with what to do about it.
fn analyse(c: &ConnectionSnapshot, now: i64, thresholds: &AlertsConfig) -> Value {
    let mut warnings = Vec::new();
    let idle_ms = now - c.last_activity;
    if c.latency_ms > 500.0 {
        warnings
            .push(format!("latency {:.0} ms from capture: the client or its network is slow", c.latency_ms));
    }
    if c.skipped_frames > 0 {
        warnings.push(format!(
            "{} frames skipped: the client read too slowly and was moved to live (slow network, busy or hidden tab)",
            c.skipped_frames
        ));
    }
    if idle_ms > 5_000 {
        warnings.push(format!(
            "no data sent for {} s (stream paused, or the client stopped reading)",
            idle_ms / 1000
        ));
    }
    if c.errors_count > 0 {
        warnings.push(format!("{} send errors", c.errors_count));
    }
    warnings.extend(client_warnings(match &c.client_report {
        Some(FromListener::Report(r)) => Some(r),
        _ => None,
    }));
    if let Some(ms) = c.recovery.and_then(|r| r.in_excess_ms)
        && ms > thresholds.recovery_ms
    {
        warnings.push(format!(
            "the listener's delay has been above its target for {:.1} s: queued audio is not draining",
            ms as f64 / 1000.0
        ));
    }
    let abr = c.abr.map(|a| json!(a));
    warnings.extend(abr_warnings(abr.as_ref()));
    if let Some(w) = &c.webrtc
        && let loss = w.loss.unwrap_or(0.0).max(w.packets_lost as f32 / w.packets_sent.max(1) as f32)
        && loss > 0.02
    {
        warnings.push(format!(
            "{:.0}% of RTP packets lost on the way to the listener (its receiver reports): its network drops packets",
            loss * 100.0
        ));
    }
    let secs = ((now - c.connected_at).max(1)) as f64 / 1000.0;
    let total = c.frames_sent + c.errors_count;
    json!({
        "id": c.id,
        "stream": c.stream,
        "transport": c.transport,
        "ip_address": c.ip_address,
        "user_agent": c.user_agent,
        "status": if warnings.is_empty() { "healthy" } else { "warning" },
        "latency_ms": c.latency_ms,
        "throughput_mbps": c.bytes_sent as f64 * 8.0 / secs / 1e6,
        "error_rate": if total == 0 { 0.0 } else { c.errors_count as f64 / total as f64 },
        "last_activity": c.last_activity,
        "frames_sent": c.frames_sent,
        "skipped_frames": c.skipped_frames,
        "warnings": warnings,
        "client_report": c.client_report,
        "abr": abr,
        "delivery": c.delivery,
        "time_to_recover": c.recovery,
        "webrtc": c.webrtc,
    })
}

pub async fn debug_connections(
    State(app): State<SharedState>,
    StreamId(id): StreamId,
    headers: HeaderMap,
    q: QueryMap,
) -> Result<axum::Json<Value>, ApiError> {
    let stream = app.stream(&id)?;
    crate::http::admission::authorize(&app, &headers, &q, Permission::DebugAccess, Some(&id))?;
    let now = now_ms();
    let mem = memory_usage();
    let (open_files, max_open_files) = crate::sysinfo::open_files();
    let last = stream.hub.stats.last_push_ms.load(Ordering::Relaxed);
    let control = stream.hub.control();
    let system = crate::api::diagnostics::SystemFigures {
        cpu_percent: app.cpu.last(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        rss_bytes: mem.used_bytes,
        available_bytes: mem.available_bytes,
        total_bytes: mem.total_bytes,
        open_files,
        max_open_files,
        ms_since_last_frame: (last > 0).then(|| (now - last).max(0)),
        stream_idle_on_purpose: control.ended.is_some(),
        dropped_frames: crate::metrics::frame_drops(&stream),
    };
    let conns: Vec<Value> = app
        .connections
        .list(Some(&id))
        .iter()
        .map(|c| analyse(&c.snapshot(), now, &app.config.alerts))
        .collect();
    let warning = conns.iter().filter(|c| c["status"] == "warning").count();
    Ok(axum::Json(json!({
        "stream": id,
        "timestamp": now,
        "total": conns.len(),
        "healthy": conns.len() - warning,
        "warning": warning,
        "connections": conns,
        "system": crate::api::diagnostics::system_json(&system, &app.config.alerts),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptation_and_client_reports_explain_themselves() {
        assert!(abr_warnings(None).is_empty());
        let calm = json!({"profile": "balanced", "failed_probes": 0, "last_decision":
            {"direction": "up", "code": "probe_up", "kbps": 128, "reason": "estimate clears"}});
        assert!(abr_warnings(Some(&calm)).is_empty(), "a listener going up is healthy");
        let rough = json!({"profile": "emergency_fallback", "estimate_kbps": 12, "jitter_target_ms": 680,
            "failed_probes": 3, "last_decision": {"direction": "down", "code": "late_frames", "kbps": 16,
            "reason": "late packets need a deeper buffer"}});
        let w = abr_warnings(Some(&rough));
        assert_eq!(w.len(), 4, "{w:?}");
        assert!(w[0].contains("emergency") && w[0].contains("12 kbit/s"), "{w:?}");
        assert!(w[1].contains("16 kbit/s") && w[1].contains("deeper buffer"), "{w:?}");
        assert!(w[2].contains("680 ms"), "{w:?}");
        assert!(w[3].starts_with("3 switches up"), "{w:?}");
        let report = |v: Value| serde_json::from_value::<Report>(v).unwrap();
        assert!(client_warnings(Some(&report(json!({"underruns": 0})))).is_empty());
        let c = client_warnings(Some(&report(json!({"underruns": 2, "concealed_ms": 140.0}))));
        assert!(c[0].contains("2 times") && c[0].contains("140 ms"), "{c:?}");
    }
}
