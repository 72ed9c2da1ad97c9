//! Server → listener: `info`, `status`, `rung`, `pong` and `error`.

use serde::{Deserialize, Serialize};

use super::ErrorMessage;
use super::status::Status;
use crate::abr::{Direction, JitterAdvice, ProfileName};
use crate::proto::audio::Codec;

/// A text message from the server to a WebSocket listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToListener {
    Info(ListenerInfo),
    Status(Status),
    Rung(Rung),
    Pong(Pong),
    Error(ErrorMessage),
}

/// `info`: the first message of a session — the stream, how its audio travels, and how deep
/// a jitter buffer to keep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListenerInfo {
    /// The audio message version ([`crate::proto::audio::VERSION`]).
    pub protocol: u8,
    pub stream: String,
    /// The id `/stats` and `/debug/connections` show for this connection.
    #[serde(default)]
    pub connection_id: String,
    pub codec: Codec,
    /// The rung in use: `pcm16` or an Opus bitrate in kbit/s (`"64"`).
    pub rung: String,
    /// Every rung the stream offers, `pcm16` first.
    #[serde(default)]
    pub rungs: Vec<String>,
    pub sample_rate: u32,
    pub channels: u16,
    pub frame_ms: f64,
    /// Frames per audio message.
    pub batch: u32,
    #[serde(default)]
    pub paused: bool,
    #[serde(default)]
    pub source_lost: bool,
    /// Whether a controller picks this listener's rung (`rung=auto` on an Opus ladder).
    #[serde(default)]
    pub adaptive: bool,
    /// The controller's profile; `null` when the rung is fixed.
    #[serde(default)]
    pub profile: Option<ProfileName>,
    /// The jitter-buffer advice (docs/protocol.md, "Jitter advice").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<JitterAdvice>,
}

/// `rung`: this listener's rung changed. From its controller the message says why at length
/// (`profile`, `batch`, `jitter_target_ms`, `direction`, `code`); when the stream's quality
/// cap moved it has only `rung` and `reason`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rung {
    pub rung: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileName>,
    /// Frames per audio message from now on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<u32>,
    /// The controller's jitter-buffer floor, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_target_ms: Option<u32>,
    /// New jitter-buffer advice, only when the client should take new bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<JitterAdvice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// A stable reason code (`backlog`, `probe_up`, `late_frames`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The reason in words.
    #[serde(default)]
    pub reason: String,
}

/// `pong`: the answer to a client's `ping`, echoing its `id` and `client_ts_us` (`null` when
/// the ping had none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pong {
    pub id: Option<u64>,
    pub client_ts_us: Option<i64>,
    /// When the server answered, µs since the Unix epoch.
    pub server_ts_us: i64,
}
