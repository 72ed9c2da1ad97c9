//! `GET /api/cluster`: this node (id, role, NATS connection, counters), the nodes it hears
//! from (their streams and listeners), the streams the origins offer, and per stream
//! received here the origin → edge delay; and the cluster's figures in `/metrics`.

use std::fmt::Write;
use std::time::{Duration, Instant};

use axum::extract::State;
use serde_json::{Value, json};

use crate::cluster::{Announce, Cluster, ClusterStats};
use crate::state::SharedState;

/// How long a listing waits for origins' answers.
const LISTING_WAIT: Duration = Duration::from_millis(250);

pub async fn describe(State(app): State<SharedState>) -> axum::Json<Value> {
    let Some(c) = app.cluster.clone() else {
        return axum::Json(
            json!({"enabled": false, "message": "no [cluster] section: this server runs alone"}),
        );
    };
    let nodes: Vec<Value> = c
        .nodes
        .list(Instant::now())
        .into_iter()
        .map(|(hb, age)| {
            json!({
                "node_id": hb.node_id, "role": hb.role, "epoch": hb.epoch, "listeners": hb.listeners,
                "streams": hb.streams, "last_heartbeat_secs": age, "this_node": hb.node_id == c.node_id,
            })
        })
        .collect();
    let delays: Vec<Value> = c
        .delays
        .lock()
        .iter()
        .map(|(id, d)| {
            let (_, _, count) = d.histogram();
            json!({"stream": id, "frames": count, "p50_ms": d.percentile(50.0), "p99_ms": d.percentile(99.0)})
        })
        .collect();
    let origins = list_cluster_streams(&c).await;
    let s = &c.stats;
    let g = ClusterStats::get;
    axum::Json(json!({
        "enabled": true,
        "node_id": c.node_id,
        "role": c.config.role.name(),
        "epoch": c.epoch,
        "nats_url": c.config.nats_url,
        "connected": c.is_connected(),
        "subject_prefix": c.config.subject_prefix,
        "batch_frames": c.config.batch_frames,
        "pcm": c.config.pcm,
        "nodes": nodes,
        "origins": origins,
        "delay": delays,
        "counters": {
            "messages_out": g(&s.messages_out), "bytes_out": g(&s.bytes_out),
            "messages_in": g(&s.messages_in), "bytes_in": g(&s.bytes_in),
            "publish_dropped_messages": g(&s.publish_dropped_messages),
            "publish_dropped_frames": g(&s.publish_dropped_frames),
            "tap_skipped_frames": g(&s.tap_skipped_frames), "publish_errors": g(&s.publish_errors),
            "gaps": g(&s.gaps), "gap_frames": g(&s.gap_frames), "bad_messages": g(&s.bad_messages),
            "slow_consumers": g(&s.slow_consumers), "disconnects": g(&s.disconnects),
            "reconnects": g(&s.reconnects), "epoch_changes": g(&s.epoch_changes),
            "edge_streams_created": g(&s.edge_streams_created), "backlog_frames": g(&s.backlog_frames),
            "refetched_frames": g(&s.refetched_frames),
        },
    }))
}

/// Every origin's streams: asks on `<prefix>.streams` and gathers the answers that arrive
/// within [`LISTING_WAIT`] (empty when NATS is away).
pub async fn list_cluster_streams(c: &Cluster) -> Vec<Announce> {
    use futures_util::StreamExt;
    let inbox = c.client.new_inbox();
    let Ok(mut sub) = c.client.subscribe(inbox.clone()).await else { return Vec::new() };
    if c.client.publish_with_reply(c.subjects.streams(), inbox, bytes::Bytes::new()).await.is_err() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + LISTING_WAIT;
    while let Ok(Some(m)) = tokio::time::timeout_at(deadline, sub.next()).await {
        if let Ok(a) = serde_json::from_slice::<Announce>(&m.payload) {
            out.push(a);
        }
    }
    let _ = sub.unsubscribe().await;
    out
}

/// The cluster's families of the Prometheus exposition (appended to `/metrics`).
pub fn render_metrics(c: &Cluster, out: &mut String) {
    let s = &c.stats;
    let g = ClusterStats::get;
    let counters: [(&str, &str, u64); 13] = [
        ("ondes_cluster_messages_out_total", "NATS messages published by this node", g(&s.messages_out)),
        ("ondes_cluster_bytes_out_total", "payload bytes published by this node", g(&s.bytes_out)),
        ("ondes_cluster_messages_in_total", "frame messages received by this node", g(&s.messages_in)),
        ("ondes_cluster_bytes_in_total", "frame message bytes received by this node", g(&s.bytes_in)),
        (
            "ondes_cluster_publish_dropped_frames_total",
            "frames an origin dropped: its NATS queue was full",
            g(&s.publish_dropped_frames),
        ),
        (
            "ondes_cluster_tap_skipped_frames_total",
            "frames an origin's tap skipped: it fell behind its stream",
            g(&s.tap_skipped_frames),
        ),
        ("ondes_cluster_gaps_total", "gaps an edge saw in an origin's frame numbers", g(&s.gaps)),
        ("ondes_cluster_gap_frames_total", "frames missing in those gaps", g(&s.gap_frames)),
        (
            "ondes_cluster_refetched_frames_total",
            "frames of gaps an edge fetched again from the origin's ring (late, not lost)",
            g(&s.refetched_frames),
        ),
        ("ondes_cluster_bad_messages_total", "messages an edge could not decode", g(&s.bad_messages)),
        (
            "ondes_cluster_slow_consumers_total",
            "NATS slow-consumer events on this node",
            g(&s.slow_consumers),
        ),
        ("ondes_cluster_disconnects_total", "NATS connection losses", g(&s.disconnects)),
        ("ondes_cluster_epoch_changes_total", "origin restarts seen by this edge", g(&s.epoch_changes)),
    ];
    for (name, help, v) in counters {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
    }
    let _ = writeln!(
        out,
        "# HELP ondes_cluster_connected whether this node is connected to NATS\n# TYPE ondes_cluster_connected gauge\nondes_cluster_connected {}",
        u8::from(c.is_connected())
    );
    let name = "ondes_cluster_delay_seconds";
    let _ =
        writeln!(out, "# HELP {name} origin capture to edge hub push, per frame\n# TYPE {name} histogram");
    for (stream, d) in c.delays.lock().iter() {
        let (buckets, sum, count) = d.histogram();
        for (le, n) in buckets {
            let _ = writeln!(out, "{name}_bucket{{stream=\"{stream}\",le=\"{le}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{stream=\"{stream}\",le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum{{stream=\"{stream}\"}} {sum}");
        let _ = writeln!(out, "{name}_count{{stream=\"{stream}\"}} {count}");
    }
}
