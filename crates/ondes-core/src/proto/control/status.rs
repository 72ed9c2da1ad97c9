//! `status`: what happened to the stream, or to this listener's place in it. Over WebSocket
//! it is a `{"type":"status","status":…}` message ([`super::ToListener::Status`]); over SSE
//! the same body, without `type`, is the data of an `event: status`.

use serde::{Deserialize, Serialize};

/// A status notice, tagged by its `status` field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Status {
    /// The stream is paused: no audio until `resumed`.
    Paused,
    /// Audio again after `paused`; over SSE also a `Last-Event-ID` resume that found every
    /// frame still in the ring.
    Resumed {
        /// SSE: frames that went by during the pause, skipped to reach live.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        skipped_while_paused: Option<u64>,
        /// SSE resume: the first frame delivered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_frame: Option<u64>,
        /// SSE resume: frames no longer in the ring (0 here; see [`Status::Gap`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        missed_frames: Option<u64>,
    },
    /// The stream's source (a publisher) is gone: silence until `source-restored`.
    SourceLost,
    SourceRestored,
    /// The stream's quality cap changed (`adjust_quality`).
    Quality {
        /// The share of the sample rate PCM listeners get.
        quality: f32,
        /// SSE: the sample rate of the events from now on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sample_rate: Option<u32>,
        /// The named level, when the cap was set as one (`low`, `medium`, `high`, `lossless`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        level: Option<String>,
    },
    /// This listener fell behind and was moved to live. It comes right before the first frame
    /// after the skip: a client re-anchors its playout there rather than conceal the gap.
    Lagged {
        skipped_frames: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// SSE: a `Last-Event-ID` resume whose frames are no longer in the ring; `missed_frames`
    /// is `null` when the id is unknown (ahead of the stream, or more than an hour back).
    Gap {
        from_frame: u64,
        missed_frames: Option<u64>,
        #[serde(default)]
        message: String,
    },
    /// Speech (`POST …/say`) begins: the next audio is utterance `id`.
    UtteranceStart {
        id: u64,
    },
    /// Utterance `id`'s audio ended; `interrupted`: it was cut short (barge-in, engine failure).
    UtteranceEnd {
        id: u64,
        #[serde(default)]
        interrupted: bool,
    },
    /// The stream ended for good.
    Ended {
        #[serde(default)]
        message: String,
    },
}

impl Status {
    /// The `status` value on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Status::Paused => "paused",
            Status::Resumed { .. } => "resumed",
            Status::SourceLost => "source-lost",
            Status::SourceRestored => "source-restored",
            Status::Quality { .. } => "quality",
            Status::Lagged { .. } => "lagged",
            Status::Gap { .. } => "gap",
            Status::UtteranceStart { .. } => "utterance-start",
            Status::UtteranceEnd { .. } => "utterance-end",
            Status::Ended { .. } => "ended",
        }
    }

    /// Frames the server jumped over for this listener (`lagged`, or `resumed` after a pause):
    /// a gap in sequence numbers the client should skip, not conceal as loss.
    pub fn skipped_frames(&self) -> u64 {
        match self {
            Status::Lagged { skipped_frames, .. } => *skipped_frames,
            Status::Resumed { skipped_while_paused: Some(n), .. } => *n,
            _ => 0,
        }
    }
}
