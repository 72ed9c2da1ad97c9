//! `GET /api/streams`: the streams on this server now, their URLs, and the templates from
//! which publishers create streams on demand.

use std::sync::atomic::Ordering;

use axum::extract::State;
use serde_json::{Value, json};

use crate::hub::registry::Origin;
use crate::state::SharedState;

pub async fn list(State(app): State<SharedState>) -> axum::Json<Value> {
    let streams: Vec<Value> = app
        .streams
        .list()
        .iter()
        .map(|s| {
            let h = &s.entry.hub;
            let c = h.control();
            let base = format!("/api/streams/{}", s.id);
            let template = match &s.origin {
                Origin::Declared => None,
                Origin::OnDemand { template } => Some(template.as_str()),
            };
            let publisher = s.entry.publisher.as_ref().map(|p| p.stats());
            json!({
                "id": s.id,
                "origin": if template.is_some() { "on_demand" } else { "declared" },
                "on_demand": template.is_some(),
                "template": template,
                "source": h.source_description(),
                "sample_rate": h.spec.sample_rate,
                "channels": h.spec.channels,
                "frame_ms": h.spec.duration.as_ms_f64(),
                "listeners": h.stats.active_subscribers.load(Ordering::Relaxed),
                "total_frames": h.stats.total_frames.load(Ordering::Relaxed),
                "paused": c.paused,
                "quality": c.quality.pcm_share(),
                "quality_level": c.quality.level().map(|l| l.name()),
                "ended": c.ended,
                "source_lost": c.source_lost,
                "publisher_connected": publisher.map(|p| p.connected),
                "uptime_seconds": h.uptime_secs(),
                "urls": {
                    "stream": format!("{base}/stream"),
                    "ws": format!("{base}/ws"),
                    "ogg": format!("/{}", s.id),
                    "stats": format!("{base}/stats"),
                    "control": format!("{base}/control"),
                    "debug_connections": format!("{base}/debug/connections"),
                },
            })
        })
        .collect();
    let templates: Vec<Value> = app
        .streams
        .templates()
        .iter()
        .map(|t| {
            json!({
                "id": t.pattern.as_str(),
                "source": t.config.source.trim(),
                "sample_rate": t.config.sample_rate,
                "channels": t.config.channels,
                "frame_ms": t.config.frame_ms,
                "rungs": t.config.rung_list().unwrap_or_default(),
            })
        })
        .collect();
    let (_, on_demand) = app.streams.counts();
    // on a cluster node: the streams the origins offer (an edge creates them on first listen)
    let cluster = match &app.cluster {
        Some(c) => {
            let mut v: Vec<Value> = Vec::new();
            for a in crate::api::cluster::list_cluster_streams(c).await {
                for s in a.streams {
                    let base = format!("/api/streams/{}", s.id);
                    v.push(json!({
                        "id": s.id, "origin": a.node_id, "sample_rate": s.sample_rate, "channels": s.channels,
                        "frame_ms": f64::from(s.frame_us) / 1000.0, "rungs": s.rungs_kbps,
                        "here": app.streams.get(&s.id).is_ok(),
                        "urls": {"stream": format!("{base}/stream"), "ws": format!("{base}/ws")},
                    }));
                }
            }
            Some(v)
        }
        None => None,
    };
    axum::Json(json!({
        "cluster_streams": cluster,
        "streams": streams,
        "on_demand": {
            "templates": templates,
            "streams": on_demand,
            "max_streams": app.streams.max_on_demand(),
            "linger_secs": app.streams.linger().as_secs(),
        },
    }))
}
