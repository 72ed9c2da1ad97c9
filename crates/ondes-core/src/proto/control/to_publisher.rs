//! Server → publisher: `info`, `ack`, `backpressure`, `resume` and `error`.

use serde::{Deserialize, Serialize};

use super::ErrorMessage;

/// A text message from the server to a WebSocket publisher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToPublisher {
    Info(PublisherInfo),
    Ack(Ack),
    Backpressure(Backpressure),
    Resume(Resume),
    Error(ErrorMessage),
}

/// `info`: the layout the publisher's audio messages must have, and the playout queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublisherInfo {
    /// The audio message version ([`crate::proto::audio::VERSION`]).
    pub protocol: u8,
    pub stream: String,
    pub sample_rate: u32,
    pub channels: u16,
    pub frame_ms: f64,
    /// The playout queue's capacity, ms (`server.publish_queue_ms`); a reader without it
    /// assumes the default, 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_queue_ms: Option<f64>,
    /// The server's id for this connection: where its frame trace is
    /// (`/api/streams/{id}/debug/connections/{connection}/trace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<u64>,
}

/// `ack`: every frame up to `seq` is queued for playout.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    pub seq: u64,
    pub queue_ms: f64,
}

/// `backpressure`: the queue is full; the server stops reading the socket until it drains
/// below `resume_below_ms`, then says `resume`. Nothing accepted is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Backpressure {
    pub queue_ms: f64,
    pub max_queue_ms: f64,
    pub resume_below_ms: f64,
}

/// `resume`: the queue has room again.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Resume {
    pub queue_ms: f64,
}
