//! Server-Sent Events framing: `event: audio-frame` (JSON, lightweight or pcm16, merged by
//! `max_fps` into events of several frames), `event: status` notices, `event: heartbeat`,
//! and `event: error` when the stream ends.

use std::sync::Arc;

use bytes::Bytes;
use ondes_core::egress::Framer;
use ondes_core::ring::Resume;
use serde_json::json;

use super::body::Heartbeat;
use super::session::{SessionNotice, Transport};
use crate::egress::sse_event::{SseFormat, audio_event, sse_event};
use crate::hub::{HubFrame, StreamHub, WireBuilder, WireGuard, WireKey};

/// The wire format id of SSE audio events ([`WireKey::format`]).
const WIRE_SSE: u8 = 1;

/// One SSE listener's framing.
pub struct SseTransport {
    hub: Arc<StreamHub>,
    format: SseFormat,
    group: u64,
    factor: usize,
    wire: WireGuard,
    heartbeats: u64,
}

struct SseWire {
    format: SseFormat,
    factor: usize,
}

impl WireBuilder for SseWire {
    fn build(&self, hub: &StreamHub, frames: &[Arc<HubFrame>]) -> Bytes {
        audio_event(hub, frames, self.format, self.factor)
    }
}

impl SseTransport {
    /// `group` frames per event (`max_fps`), at the stream's current quality.
    pub fn new(hub: Arc<StreamHub>, format: SseFormat, group: u64) -> Self {
        let factor = hub.quality_factor(hub.control().quality) * format.extra_factor();
        let wire = join(&hub, format, factor, group);
        SseTransport { hub, format, group, factor, wire, heartbeats: 0 }
    }

    fn status(&self, body: serde_json::Value) -> Bytes {
        sse_event(Some("status"), None, &body.to_string())
    }
}

fn join(hub: &Arc<StreamHub>, format: SseFormat, factor: usize, group: u64) -> WireGuard {
    let key = WireKey { format: WIRE_SSE, variant: (u32::from(format.id()) << 16) | factor as u32, group };
    hub.wire_keys.join(key, || Arc::new(SseWire { format, factor }))
}

impl Framer<Arc<HubFrame>> for SseTransport {
    type Bytes = Bytes;

    fn audio(&mut self, frames: &[Arc<HubFrame>]) -> Bytes {
        let (hub, format, factor) = (&self.hub, self.format, self.factor);
        let last = &frames[frames.len() - 1];
        let (b, made) =
            last.wire(self.wire.key, frames[0].frame.seq, || audio_event(hub, frames, format, factor));
        if made {
            hub.stats.serializations.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        b
    }
}

impl Transport for SseTransport {
    /// The first event: the connection id.
    fn hello(&mut self, _hub: &StreamHub, connection_id: u64) -> Option<Bytes> {
        Some(Bytes::from(format!("retry: 2000\nid: {connection_id}\ndata: connected\n\n")))
    }

    fn notice(&mut self, hub: &StreamHub, notice: &SessionNotice) -> Option<Bytes> {
        Some(match notice {
            SessionNotice::Paused => self.status(json!({"status": "paused"})),
            SessionNotice::Resumed { skipped_while_paused } => {
                self.status(json!({"status": "resumed", "skipped_while_paused": skipped_while_paused}))
            }
            SessionNotice::SourceLost => self.status(json!({"status": "source-lost"})),
            SessionNotice::SourceRestored => self.status(json!({"status": "source-restored"})),
            SessionNotice::Quality(q) => {
                let factor = hub.quality_factor(*q) * self.format.extra_factor();
                self.status(json!({"status": "quality", "quality": q,
                    "sample_rate": hub.spec.sample_rate / factor as u32}))
            }
            SessionNotice::Lagged { skipped_frames } => self.status(json!({"status": "lagged",
                "skipped_frames": skipped_frames, "message": "this listener fell behind and was moved to live"})),
            SessionNotice::ResumeOutcome { last_seen, outcome } => self.status(match outcome {
                Resume::Exact => json!({"status": "resumed", "from_frame": last_seen + 1, "missed_frames": 0}),
                Resume::Gap { missed } => json!({"status": "gap", "from_frame": last_seen + 1, "missed_frames": missed,
                    "message": "the requested frames are no longer in the ring; continuing at live"}),
                Resume::Unknown => json!({"status": "gap", "from_frame": last_seen + 1, "missed_frames": null,
                    "message": "unknown Last-Event-ID (from before a restart?); continuing at live"}),
            }),
            SessionNotice::Ended(message) => sse_event(Some("error"), None, &format!("error: {message}")),
            SessionNotice::ShuttingDown => sse_event(Some("error"), None, "error: the server is shutting down"),
        })
    }

    fn set_quality(&mut self, hub: &StreamHub, quality: f32) -> Option<Bytes> {
        self.factor = hub.quality_factor(quality) * self.format.extra_factor();
        self.wire = join(&self.hub, self.format, self.factor, self.group);
        None
    }
}

impl Heartbeat for SseTransport {
    fn heartbeat(&mut self) -> Bytes {
        self.heartbeats += 1;
        sse_event(Some("heartbeat"), None, &format!("heartbeat-{}", self.heartbeats))
    }
}
