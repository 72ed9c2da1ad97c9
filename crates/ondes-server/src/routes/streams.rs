//! `GET /api/streams`: the streams on this server and their URLs.

use std::sync::atomic::Ordering;

use axum::extract::State;
use serde_json::{Value, json};

use crate::state::SharedState;

pub async fn list(State(app): State<SharedState>) -> axum::Json<Value> {
    let streams: Vec<Value> = app
        .hubs
        .iter()
        .map(|h| {
            let c = h.control();
            let base = format!("/api/streams/{}", h.id);
            json!({
                "id": h.id,
                "source": h.source_description(),
                "sample_rate": h.spec.sample_rate,
                "channels": h.spec.channels,
                "frame_ms": h.spec.duration.as_ms_f64(),
                "listeners": h.stats.active_subscribers.load(Ordering::Relaxed),
                "total_frames": h.stats.total_frames.load(Ordering::Relaxed),
                "paused": c.paused,
                "quality": c.quality,
                "ended": c.ended,
                "urls": {
                    "stream": format!("{base}/stream"),
                    "stats": format!("{base}/stats"),
                    "control": format!("{base}/control"),
                    "debug_connections": format!("{base}/debug/connections"),
                },
            })
        })
        .collect();
    axum::Json(json!({ "streams": streams }))
}
