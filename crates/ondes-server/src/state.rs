//! State shared by all request handlers.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::connections::Connections;
use crate::error::ApiError;
use crate::hub::StreamHub;
use crate::publish::Publisher;
use crate::sysinfo::CpuMeter;

pub struct AppState {
    pub config: Config,
    /// Hubs in declaration order.
    pub hubs: Vec<Arc<StreamHub>>,
    /// The publish side of streams declared with `source = "publish"`.
    pub publishers: Vec<Arc<Publisher>>,
    pub auth: Authenticator,
    pub connections: Arc<Connections>,
    /// Prometheus metrics (`/metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Icecast mounts: sources, HTTP listeners' Ogg feeds, status (`crate::icecast`).
    pub icecast: crate::icecast::IcecastState,
    /// Becomes `true` when the server starts shutting down.
    pub shutdown: watch::Receiver<bool>,
    pub started: Instant,
    pub cpu: CpuMeter,
    /// The per-stage performance monitor (`/api/perf`).
    pub perf: Arc<crate::perf::ServerPerf>,
    /// The writers that own long-lived listener sockets, one per feed and core.
    pub writers: Arc<crate::egress::writer::Writers>,
}

impl AppState {
    /// The hub for a stream id, or a 404 listing the ids that exist.
    pub fn hub(&self, id: &str) -> Result<&Arc<StreamHub>, ApiError> {
        self.hubs.iter().find(|h| h.id == id).ok_or_else(|| {
            let ids: Vec<&str> = self.hubs.iter().map(|h| h.id.as_str()).collect();
            ApiError::not_found(format!("no stream '{id}'; streams on this server: {}", ids.join(", ")))
        })
    }
}

impl AppState {
    /// The publisher slot of a stream, or 409 when the stream is not a publish stream.
    pub fn publisher(&self, id: &str) -> Result<Arc<Publisher>, ApiError> {
        self.publishers.iter().find(|p| p.stream_id == id).cloned().ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "not_a_publish_stream",
                format!("stream '{id}' is not fed by publishers; declare it with source = \"publish\" in [[stream]]"),
            )
        })
    }
}

pub type SharedState = Arc<AppState>;
