//! Scaling out over NATS core pub/sub: origins publish their streams, edges receive the
//! streams their listeners ask for (docs/cluster.md).
//!
//! NATS core is at-most-once with interest-based routing: an edge that subscribes to nothing
//! for a stream receives nothing for it, and a message lost on the way is a gap the edge
//! counts and reports (never a renumbering). Frame numbers and Opus bytes are the origin's on
//! every node, so a listener moves between edges and resumes with its last frame number.
//!
//! - [`origin`]: the tap (every stream of an origin, batched frame groups on
//!   `<prefix>.stream.<id>.frames`, notices on `….control`) and the answers to discovery,
//!   stream listing and backlog requests;
//! - [`edge`]: a stream created on an edge when a listener asks for it, fed from NATS;
//! - [`nodes`]: heartbeats and the nodes seen (`GET /api/cluster`);
//! - the frame message itself is [`ondes_core::cluster_wire`].

pub mod delay;
pub mod edge;
pub mod nodes;
pub mod origin;
pub mod subjects;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::config::ClusterConfig;
use crate::hub::Notice;
use delay::DelayStats;
pub use subjects::Subjects;

/// Why the cluster could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot reach NATS at {url}: {message}")]
    Connect { url: String, message: String },
}

/// Counters of one node (every figure of `/api/cluster` and `ondes_cluster_*` in `/metrics`).
#[derive(Debug, Default)]
pub struct ClusterStats {
    pub messages_out: AtomicU64,
    pub bytes_out: AtomicU64,
    pub messages_in: AtomicU64,
    pub bytes_in: AtomicU64,
    /// Frame groups an origin could not hand to its NATS publisher (queue full).
    pub publish_dropped_messages: AtomicU64,
    pub publish_dropped_frames: AtomicU64,
    /// Frames an origin's tap skipped because it fell behind its stream.
    pub tap_skipped_frames: AtomicU64,
    pub publish_errors: AtomicU64,
    /// Gaps an edge saw in an origin's numbering, and the frames missing in them.
    pub gaps: AtomicU64,
    pub gap_frames: AtomicU64,
    /// Messages an edge could not decode.
    pub bad_messages: AtomicU64,
    /// NATS slow-consumer events (the server or the client dropped messages for us).
    pub slow_consumers: AtomicU64,
    pub disconnects: AtomicU64,
    pub reconnects: AtomicU64,
    /// New origin epochs seen by edges.
    pub epoch_changes: AtomicU64,
    /// Streams an edge created from the cluster, and backlog frames it fetched.
    pub edge_streams_created: AtomicU64,
    pub backlog_frames: AtomicU64,
    /// Frames of gaps an edge fetched again from the origin's ring (a message lost on the
    /// way, a NATS restart): delivered late, not lost.
    pub refetched_frames: AtomicU64,
}

impl ClusterStats {
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// A stream as an origin describes it to edges.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StreamInfo {
    pub id: String,
    pub sample_rate: u32,
    pub channels: u16,
    pub frame_us: u32,
    pub rungs_kbps: Vec<u32>,
    /// The number the origin's next frame gets.
    pub next_seq: u64,
    pub origin: String,
    pub epoch: u64,
}

/// An origin's answer to a discovery or listing request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Announce {
    pub node_id: String,
    pub epoch: u64,
    pub streams: Vec<StreamInfo>,
}

/// An edge's backlog request: the frames after `after`, at most `max_frames` (the newest of
/// them), or with `before` the frames of a gap: those after `after` and before `before`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BacklogRequest {
    pub after: u64,
    pub max_frames: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<u64>,
}

/// A stream's notice as it travels on its control subject (JSON).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "notice", rename_all = "kebab-case")]
pub enum ControlMessage {
    Paused,
    Resumed,
    SourceLost,
    SourceRestored,
    Gap {
        from_frame: u64,
        frames: u64,
    },
    /// The cap as a share of the rate, or (`level`) a named level.
    Quality {
        quality: f32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        level: Option<String>,
    },
    Ended {
        reason: String,
    },
}

/// A notice with the epoch of the origin that sent it (JSON: `{"epoch": …, "notice": …, …}`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ControlEnvelope {
    pub epoch: u64,
    #[serde(flatten)]
    pub notice: ControlMessage,
}

impl ControlMessage {
    /// The message edges get for a notice; `None` for what stays on this node (its
    /// delivery mode: each node compares its own listeners).
    pub fn from_notice(n: &Notice) -> Option<ControlMessage> {
        Some(match n {
            Notice::Ended(r) => ControlMessage::Ended { reason: r.clone() },
            Notice::Paused => ControlMessage::Paused,
            Notice::Resumed => ControlMessage::Resumed,
            Notice::SourceLost => ControlMessage::SourceLost,
            Notice::SourceRestored => ControlMessage::SourceRestored,
            Notice::SourceGap(g) => ControlMessage::Gap { from_frame: g.from_frame, frames: g.frames },
            Notice::Quality(q) => ControlMessage::Quality {
                quality: q.pcm_share(),
                level: q.level().map(|l| l.name().to_string()),
            },
            Notice::Delivery(_) => return None,
        })
    }
}

/// This node's part in the cluster.
pub struct Cluster {
    pub config: ClusterConfig,
    pub node_id: String,
    /// Changes at every start of this process: edges that see another epoch from an origin
    /// know it restarted.
    pub epoch: u64,
    pub subjects: Subjects,
    pub client: async_nats::Client,
    pub stats: Arc<ClusterStats>,
    /// Whether the NATS connection is up now.
    pub connected: watch::Receiver<bool>,
    /// Origin → edge delay per stream received.
    pub delays: Mutex<HashMap<String, DelayStats>>,
    /// Heartbeats of the other nodes (and ours).
    pub nodes: nodes::NodeTable,
    /// One edge stream created at a time (discovery and backlog are awaited in between).
    creating: tokio::sync::Mutex<()>,
}

/// Rate limits of the cluster's repeated warnings.
static SLOW_CONSUMER_WARN: crate::log_limit::WarnLimit = crate::log_limit::WarnLimit::per_secs(10);
static SERVER_ERROR_WARN: crate::log_limit::WarnLimit = crate::log_limit::WarnLimit::per_secs(10);

impl Cluster {
    /// Connects to NATS (retrying in the background when it is down: the server starts
    /// anyway, and its edge streams report `source-lost` until NATS is there).
    pub async fn connect(config: &ClusterConfig, port: u16) -> Result<Arc<Cluster>, ClusterError> {
        let node_id = if config.node_id.trim().is_empty() {
            format!("{}:{port}", hostname())
        } else {
            config.node_id.trim().to_string()
        };
        let stats = Arc::new(ClusterStats::default());
        let (conn_tx, conn_rx) = watch::channel(false);
        let conn_tx = Arc::new(conn_tx);
        let events = stats.clone();
        let node = node_id.clone();
        let client = async_nats::ConnectOptions::new()
            .name(format!("ondes {node_id}"))
            .retry_on_initial_connect()
            .max_reconnects(None)
            .reconnect_delay_callback(|attempts| {
                std::time::Duration::from_millis((100 * attempts.max(1) as u64).min(1_000))
            })
            .event_callback(move |event| {
                let stats = events.clone();
                let tx = conn_tx.clone();
                let node = node.clone();
                async move { on_event(&event, &stats, &tx, &node) }
            })
            .connect(config.nats_url.as_str())
            .await
            .map_err(|e| ClusterError::Connect { url: config.nats_url.clone(), message: e.to_string() })?;
        Ok(Arc::new(Cluster {
            config: config.clone(),
            node_id,
            epoch: crate::clock::now_us().max(1) as u64,
            subjects: Subjects::new(&config.subject_prefix),
            client,
            stats,
            connected: conn_rx,
            delays: Mutex::new(HashMap::new()),
            nodes: nodes::NodeTable::default(),
            creating: tokio::sync::Mutex::new(()),
        }))
    }

    pub fn is_connected(&self) -> bool {
        *self.connected.borrow()
    }
}

/// What the NATS client tells: connection state, slow consumers (counted, never silent).
fn on_event(event: &async_nats::Event, stats: &ClusterStats, tx: &watch::Sender<bool>, node: &str) {
    match event {
        async_nats::Event::Connected => {
            if !tx.send_replace(true) && ClusterStats::get(&stats.disconnects) > 0 {
                ClusterStats::add(&stats.reconnects, 1);
            }
            tracing::info!(node, "cluster: connected to NATS");
        }
        async_nats::Event::Disconnected => {
            tx.send_replace(false);
            ClusterStats::add(&stats.disconnects, 1);
            tracing::warn!(node, "cluster: NATS connection lost; reconnecting");
        }
        async_nats::Event::SlowConsumer(sid) => {
            ClusterStats::add(&stats.slow_consumers, 1);
            if let Some(suppressed) = SLOW_CONSUMER_WARN.check() {
                tracing::warn!(
                    node,
                    sid,
                    suppressed,
                    "cluster: NATS slow consumer: messages for this node were dropped"
                );
            }
        }
        async_nats::Event::ServerError(e) => {
            if let Some(suppressed) = SERVER_ERROR_WARN.check() {
                tracing::warn!(node, error = %e, suppressed, "cluster: NATS server error");
            }
        }
        other => tracing::debug!(node, event = %other, "cluster: NATS event"),
    }
}

/// The machine's name (for a default node id).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "ondes".into())
}
