//! Heartbeats: every node publishes on `<prefix>.nodes` once a second what it is and who
//! listens to what there; every node keeps the last heartbeat of each (`GET /api/cluster`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::Cluster;
use crate::state::SharedState;

/// A node forgets another that has been silent this long.
pub const FORGET_AFTER: Duration = Duration::from_secs(10);

/// One stream on a node, as its heartbeat says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeStream {
    pub id: String,
    pub listeners: u64,
    /// Fed from the cluster (an edge's copy) rather than by a source on this node.
    pub from_cluster: bool,
}

/// A node's heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Heartbeat {
    pub node_id: String,
    pub role: String,
    pub epoch: u64,
    pub listeners: u64,
    pub streams: Vec<NodeStream>,
}

/// The last heartbeat of every node heard from.
#[derive(Default)]
pub struct NodeTable {
    seen: Mutex<HashMap<String, (Heartbeat, Instant)>>,
}

impl NodeTable {
    pub fn record(&self, hb: Heartbeat, now: Instant) {
        let mut seen = self.seen.lock();
        seen.retain(|_, (_, at)| now.duration_since(*at) < FORGET_AFTER);
        seen.insert(hb.node_id.clone(), (hb, now));
    }

    /// Nodes heard from within [`FORGET_AFTER`], with the seconds since their last heartbeat.
    pub fn list(&self, now: Instant) -> Vec<(Heartbeat, f64)> {
        let seen = self.seen.lock();
        let mut v: Vec<(Heartbeat, f64)> = seen
            .values()
            .filter(|(_, at)| now.duration_since(*at) < FORGET_AFTER)
            .map(|(hb, at)| (hb.clone(), now.duration_since(*at).as_secs_f64()))
            .collect();
        v.sort_by(|a, b| a.0.node_id.cmp(&b.0.node_id));
        v
    }
}

/// This node's heartbeat now.
pub fn heartbeat(app: &SharedState, cluster: &Cluster) -> Heartbeat {
    let streams: Vec<NodeStream> = app
        .streams
        .list()
        .iter()
        .map(|s| NodeStream {
            id: s.id.clone(),
            listeners: s.entry.hub.stats.active_subscribers.load(Ordering::Relaxed) as u64,
            from_cluster: s.entry.cluster_linger.is_some(),
        })
        .collect();
    Heartbeat {
        node_id: cluster.node_id.clone(),
        role: cluster.config.role.name().to_string(),
        epoch: cluster.epoch,
        listeners: streams.iter().map(|s| s.listeners).sum(),
        streams,
    }
}

/// Publishes this node's heartbeat every second and records everyone's, until shutdown.
pub async fn run(app: SharedState, cluster: Arc<Cluster>, mut shutdown: watch::Receiver<bool>) {
    let mut sub = match cluster.client.subscribe(cluster.subjects.nodes()).await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cluster: cannot subscribe to heartbeats; /api/cluster lists this node only");
            None
        }
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {
                let hb = heartbeat(&app, &cluster);
                cluster.nodes.record(hb.clone(), Instant::now());
                if let Ok(body) = serde_json::to_vec(&hb) {
                    // a heartbeat lost while NATS is away is replaced by the next one
                    let _ = cluster.client.publish(cluster.subjects.nodes(), body.into()).await;
                }
            }
            Some(msg) = async { match sub.as_mut() { Some(s) => s.next().await, None => std::future::pending().await } } => {
                if let Ok(hb) = serde_json::from_slice::<Heartbeat>(&msg.payload)
                    && hb.node_id != cluster.node_id
                {
                    cluster.nodes.record(hb, Instant::now());
                }
            }
        }
    }
}
