//! State shared by all request handlers. Its lookups return the domain's errors; the HTTP
//! layer turns them into statuses ([`crate::http::error`]).

use std::sync::Arc;
use std::time::Instant;

use ondes_core::FrameSpec;
use tokio::sync::watch;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::connections::Connections;
use crate::hub::StreamHub;
use crate::hub::registry::RegistryError;
use crate::icecast::mount::Mount;
use crate::ingest::PublishSession;
use crate::stream::{ClaimError, PublisherKind, Stream, Streams};
use crate::sysinfo::CpuMeter;

pub struct AppState {
    pub config: Config,
    /// The streams now: declared ones, and those created on demand by publishers.
    pub streams: Streams,
    pub auth: Authenticator,
    pub connections: Arc<Connections>,
    /// Prometheus metrics (`/metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Icecast settings (`crate::icecast`); the mounts are the streams'.
    pub icecast: crate::icecast::IcecastState,
    /// Becomes `true` when the server starts shutting down.
    pub shutdown: watch::Receiver<bool>,
    pub started: Instant,
    pub cpu: CpuMeter,
    /// The per-stage performance monitor (`/api/perf`).
    pub perf: Arc<crate::perf::ServerPerf>,
    /// The writers that own long-lived listener sockets, one per feed and core.
    pub writers: Arc<crate::egress::writer::Writers>,
    /// Connections that have not sent a whole request head yet (bounded).
    pub pending: Arc<crate::http::pending::Pending>,
    /// TLS, when `server.tls_cert`/`tls_key` are set (every connection then speaks TLS).
    pub tls: Option<Arc<crate::http::tls::Tls>>,
    /// WHEP/WHIP sessions (`None` when the WebRTC UDP port could not be bound).
    pub webrtc: Option<crate::webrtc::WebRtc>,
    /// LL-HLS/DASH segmenters, one per (stream, rung) while clients ask for it.
    pub hls: Arc<crate::egress::hls::HlsSegmenters>,
    /// Per-connection frame traces (`/debug/connections/{conn}/trace`).
    pub traces: Arc<crate::trace::Traces>,
    /// This node's part in a NATS cluster (`[cluster]`), when configured.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
}

impl AppState {
    /// The stream `id`: 400 for an id that cannot be one, 404 saying that an on-demand stream
    /// is not live, or 404 listing the ids that exist.
    pub fn stream(&self, id: &str) -> Result<Arc<Stream>, RegistryError> {
        self.streams.get(id)
    }

    /// The hub for a stream id (errors as [`stream`](Self::stream)).
    pub fn hub(&self, id: &str) -> Result<Arc<StreamHub>, RegistryError> {
        Ok(self.stream(id)?.hub.clone())
    }

    /// The Icecast mount a path segment names (`id`, or `id.ogg` and the like).
    pub fn mount(&self, segment: &str) -> Result<Arc<Mount>, RegistryError> {
        Ok(self.stream(self.streams.mount_id(segment))?.mount.clone())
    }

    /// The layout of the stream a publisher asks for — a publish stream that exists, or the
    /// template it would be created from — without creating anything: 400 bad id, 404
    /// unknown, 409 a stream not fed by publishers. Call it after the token check.
    pub fn publish_layout(&self, id: &str) -> Result<FrameSpec, ClaimError> {
        match self.streams.get(id) {
            Ok(s) if s.publisher.is_some() => Ok(s.hub.spec),
            Ok(_) => Err(ClaimError::NotPublish(id.to_string())),
            Err(RegistryError::NotLive { id, template }) => {
                match self.streams.template(&id).map(|t| t.config.frame_spec()) {
                    Some(Ok(spec)) => Ok(spec),
                    // templates were validated at start
                    _ => Err(RegistryError::NotLive { id, template }.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Takes the publisher slot of stream `id` for a WebSocket or HTTP publisher, creating
    /// the stream from its template when the id matches one: 400 bad id, 404 unknown, 409 not
    /// a publish stream or busy, 503 too many streams.
    pub fn claim_publisher(&self, id: &str) -> Result<(Arc<Stream>, PublishSession), ClaimError> {
        self.streams.claim(id, PublisherKind::Publish)
    }
}

pub type SharedState = Arc<AppState>;
