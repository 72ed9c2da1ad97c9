//! Listener → server: `report` (about once a second) and `ping`.

use serde::{Deserialize, Serialize};

use super::number;
use super::to_listener::Pong;
use crate::abr::ClientReport;

/// A text message from a WebSocket listener. Anything else — another `type`, no `type`, not
/// JSON — fails to parse; the server answers it with an `unknown_message` or `bad_json` error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromListener {
    Report(Report),
    Ping(Ping),
}

/// `report`: the client's jitter buffer and what it heard. Counters are cumulative since the
/// connection started; a missing or unusable field reads as 0 (or `None` where optional).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Audio in the jitter buffer, ms.
    #[serde(default, deserialize_with = "number::ms")]
    pub buffer_ms: f64,
    /// The buffer's target delay, ms.
    #[serde(default, deserialize_with = "number::ms")]
    pub target_ms: f64,
    /// Times the buffer ran dry.
    #[serde(default, deserialize_with = "number::count")]
    pub underruns: u64,
    /// Audio made up for missing frames, ms.
    #[serde(default, deserialize_with = "number::ms")]
    pub concealed_ms: f64,
    /// Frames that arrived after their playout time.
    #[serde(default, deserialize_with = "number::count")]
    pub late_frames: u64,
    /// Frames that never arrived.
    #[serde(default, deserialize_with = "number::count")]
    pub lost_frames: u64,
    #[serde(default, deserialize_with = "number::count")]
    pub received_frames: u64,
    /// Audio cut from frames played shortened (pitch kept) to bring the delay down to the
    /// target, ms.
    #[serde(default, deserialize_with = "number::ms")]
    pub accelerated_ms: f64,
    /// Audio dropped at once to bring a delay far above the target down, ms.
    #[serde(default, deserialize_with = "number::ms")]
    pub dropped_ms: f64,
    /// The round trip the client measured (its pings), ms.
    #[serde(default, deserialize_with = "number::opt_ms", skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// Capture → playout as the client measured it, ms (feeds
    /// `ondes_end_to_end_latency_seconds`).
    #[serde(default, deserialize_with = "number::opt_ms", skip_serializing_if = "Option::is_none")]
    pub e2e_latency_ms: Option<f64>,
}

impl Report {
    /// What the listener's adaptation controller takes from the report.
    pub fn client_report(&self) -> ClientReport {
        ClientReport {
            buffer_ms: self.buffer_ms,
            target_ms: self.target_ms,
            underruns: self.underruns,
            lost_frames: self.lost_frames,
            late_frames: self.late_frames,
            received_frames: self.received_frames,
            rtt_ms: self.rtt_ms,
        }
    }
}

/// `ping`: the server answers at once with a [`Pong`] echoing `id` and `client_ts_us`, so
/// the client can time the round trip on its own clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    #[serde(default, deserialize_with = "number::opt_count", skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// When the client sent it, µs on the client's clock.
    #[serde(default, deserialize_with = "number::opt_timestamp", skip_serializing_if = "Option::is_none")]
    pub client_ts_us: Option<i64>,
}

impl Ping {
    /// The answer, stamped with the server's clock (µs since the Unix epoch).
    pub fn pong(&self, server_ts_us: i64) -> Pong {
        Pong { id: self.id, client_ts_us: self.client_ts_us, server_ts_us }
    }
}
