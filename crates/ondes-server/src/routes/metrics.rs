//! `GET /metrics`: Prometheus text exposition of the stream counters.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::state::SharedState;
use crate::sysinfo::memory_usage;

pub async fn metrics(State(app): State<SharedState>) -> impl IntoResponse {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, values: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in values {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    };
    let per_stream = |f: &dyn Fn(&crate::hub::StreamHub) -> f64| -> Vec<(String, f64)> {
        app.hubs.iter().map(|h| (format!("{{stream=\"{}\"}}", h.id), f(h))).collect()
    };
    family(
        "ondes_frames_produced_total",
        "counter",
        "Frames produced by each stream's source.",
        per_stream(&|h| h.stats.total_frames.load(Ordering::Relaxed) as f64),
    );
    family(
        "ondes_frames_dropped_total",
        "counter",
        "Frames not delivered, by stage (hub_lag: listeners skipped to live).",
        app.hubs
            .iter()
            .map(|h| {
                (
                    format!("{{stream=\"{}\",stage=\"hub_lag\"}}", h.id),
                    h.stats.dropped_frames.load(Ordering::Relaxed) as f64,
                )
            })
            .collect(),
    );
    family(
        "ondes_events_sent_total",
        "counter",
        "SSE events handed to listeners.",
        per_stream(&|h| h.stats.events_sent.load(Ordering::Relaxed) as f64),
    );
    family(
        "ondes_serializations_total",
        "counter",
        "Event serialisations made (shared by all listeners).",
        per_stream(&|h| h.stats.serializations.load(Ordering::Relaxed) as f64),
    );
    family(
        "ondes_bytes_sent_total",
        "counter",
        "Bytes handed to listeners.",
        per_stream(&|h| h.stats.bytes_sent.load(Ordering::Relaxed) as f64),
    );
    family(
        "ondes_active_sessions",
        "gauge",
        "Listeners attached to each stream.",
        per_stream(&|h| h.stats.active_subscribers.load(Ordering::Relaxed) as f64),
    );
    family(
        "ondes_connections_rejected_total",
        "counter",
        "Connections refused by the connection limits.",
        vec![(String::new(), app.connections.rejected() as f64)],
    );
    family(
        "ondes_process_resident_memory_bytes",
        "gauge",
        "Resident memory of the server process.",
        vec![(String::new(), memory_usage().used_bytes as f64)],
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out)
}
