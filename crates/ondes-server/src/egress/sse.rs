//! Server-Sent Events framing: `event: audio-frame` (JSON, lightweight or pcm16, merged by
//! `max_fps` into events of several frames), `event: status` notices, `event: heartbeat`,
//! and `event: error` when the stream ends.

use std::sync::Arc;

use bytes::Bytes;
use ondes_core::egress::Framer;
use ondes_core::proto::control::Status;
use ondes_core::quality::QualityCap;

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
}

fn join(hub: &Arc<StreamHub>, format: SseFormat, factor: usize, group: u64) -> WireGuard {
    let key = WireKey { format: WIRE_SSE, variant: (u32::from(format.id()) << 16) | factor as u32, group };
    hub.wire_keys.join(key, || Arc::new(SseWire { format, factor }))
}

impl Framer<Arc<HubFrame>> for SseTransport {
    type Bytes = Bytes;

    /// The samples delivered, counted as 16-bit (whatever the text encoding carries them as).
    fn payload_bytes(&self, frames: &[Arc<HubFrame>]) -> u64 {
        HubFrame::pcm16_bytes(frames, self.factor)
    }

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
        let status = match notice {
            SessionNotice::Paused => Status::Paused,
            SessionNotice::Resumed { skipped_while_paused } => Status::Resumed {
                skipped_while_paused: Some(*skipped_while_paused),
                from_frame: None,
                missed_frames: None,
            },
            SessionNotice::SourceLost => Status::SourceLost,
            SessionNotice::SourceRestored => Status::SourceRestored,
            SessionNotice::UtteranceStart { id } => Status::UtteranceStart { id: *id },
            SessionNotice::UtteranceEnd { id, interrupted } => {
                Status::UtteranceEnd { id: *id, interrupted: *interrupted }
            }
            SessionNotice::SourceGap { from_frame, missed_frames } => Status::Gap {
                from_frame: *from_frame,
                missed_frames: Some(*missed_frames),
                message: crate::egress::SOURCE_GAP_MESSAGE.into(),
            },
            SessionNotice::Quality(q) => {
                let factor = hub.quality_factor(*q) * self.format.extra_factor();
                Status::Quality {
                    quality: q.pcm_share(),
                    sample_rate: Some(hub.spec.sample_rate / factor as u32),
                    level: q.level().map(|l| l.name().to_string()),
                }
            }
            SessionNotice::Lagged { skipped_frames } => Status::Lagged {
                skipped_frames: *skipped_frames,
                message: Some("this listener fell behind and was moved to live".into()),
            },
            SessionNotice::ResumeOutcome { last_seen, outcome } => {
                crate::egress::resume_status(*last_seen, outcome, "Last-Event-ID")
            }
            SessionNotice::Ended(message) => {
                return Some(sse_event(Some("error"), None, &format!("error: {message}")));
            }
            SessionNotice::ShuttingDown => {
                return Some(sse_event(Some("error"), None, "error: the server is shutting down"));
            }
        };
        // serialising our own type cannot fail
        Some(sse_event(Some("status"), None, &serde_json::to_string(&status).unwrap_or_default()))
    }

    fn set_quality(&mut self, hub: &StreamHub, quality: QualityCap) -> Option<Bytes> {
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
