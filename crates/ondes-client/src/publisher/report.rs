//! The summary of a send: what went out, what the server confirmed, where time went.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What `ondes send` did. Every frame taken from the source is accounted for:
/// `frames_sent = frames_acked + frames_unconfirmed + (frames still unacknowledged when the
/// send ended, only when it failed)`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SendReport {
    /// Where the audio went.
    pub target: String,
    pub source: String,
    /// `pcm16` or `opus`.
    pub codec: String,
    /// Opus bitrate in kbit/s (0 for pcm16).
    pub bitrate_kbps: u32,
    /// Frames per message.
    pub batch: usize,
    /// `real-time` or `burst`.
    pub pacing: String,
    pub sample_rate: u32,
    pub channels: u16,
    pub frame_ms: f64,
    /// Whether every frame of the source was sent and acknowledged.
    pub completed: bool,
    /// Why the send stopped early, when it did.
    pub failure: Option<String>,
    /// Frames whose send completed (each exactly once, in order).
    pub frames_sent: u64,
    /// Frames the server confirmed it queued (`ack`; for HTTP ingest, the final response).
    pub frames_acked: u64,
    /// Frames sent on a connection that dropped before they were acknowledged; they may be
    /// lost. The next connection continues with the next frame (no resend: see
    /// [`crate::publisher`]).
    pub frames_unconfirmed: u64,
    /// Frames the publisher itself dropped before sending (fault injection), not counted
    /// in `frames_sent`.
    #[serde(default)]
    pub frames_dropped_before_send: u64,
    /// Seconds of audio sent.
    pub audio_secs: f64,
    /// Binary messages sent.
    pub messages_sent: u64,
    /// Bytes of those messages (header, length prefixes and coded frames).
    pub bytes_sent: u64,
    /// Times the server said `backpressure` (its queue was full) and we waited for `resume`.
    pub backpressure_waits: u64,
    /// Total time spent in those waits.
    pub backpressure_wait_ms: f64,
    /// Times our own in-flight window (unacknowledged frames) made us wait.
    pub window_waits: u64,
    /// From the start of the send to the first frame handed to the socket.
    pub time_to_first_frame_ms: Option<f64>,
    /// From the start of the send to the first `ack`.
    pub time_to_first_ack_ms: Option<f64>,
    /// From the start of the send to the source's first frame (for TTS: synthesis latency).
    pub source_first_frame_ms: Option<f64>,
    /// Successful reconnections after a lost connection.
    pub reconnects: u64,
    /// Of those, reconnections to another URL than the one lost (`--fallback`).
    #[serde(default)]
    pub failovers: u64,
    /// The URL of the last connection (WebSocket publishing).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub connected_to: String,
    /// RED levels sent (WHIP), in packets back: empty when RED was off or the server's
    /// answer did not accept it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub red_levels: Vec<u32>,
    /// Frames a live source made while the connection was being re-established (WHIP):
    /// not sent late, counted here.
    pub frames_lost_reconnecting: u64,
    /// Connection attempts that failed (each followed by a backoff delay, or the end).
    pub connect_failures: u64,
    /// `error` messages from the server, by code.
    pub server_errors: BTreeMap<String, u64>,
    /// Times the real-time pacer gave up catching up after a stall of more than a second.
    pub pacer_reanchors: u64,
    /// Wall-clock duration of the whole send, seconds.
    pub duration_secs: f64,
}

impl SendReport {
    /// A human-readable table.
    pub fn to_table(&self) -> String {
        let ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.1} ms"));
        let errors = if self.server_errors.is_empty() {
            "none".to_string()
        } else {
            let parts: Vec<String> = self.server_errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            parts.join(", ")
        };
        let codec = if self.codec == "opus" {
            format!("opus {} kbit/s", self.bitrate_kbps)
        } else {
            self.codec.clone()
        };
        let rows: Vec<(&str, String)> = vec![
            ("target", self.target.clone()),
            ("source", self.source.clone()),
            ("stream", format!("{} Hz, {} ch, {} ms frames", self.sample_rate, self.channels, self.frame_ms)),
            ("codec", format!("{codec}, {} frame(s) per message, {}", self.batch, self.pacing)),
            (
                "result",
                match &self.failure {
                    None if self.completed => "completed".to_string(),
                    None => "incomplete".to_string(),
                    Some(f) => format!("FAILED: {f}"),
                },
            ),
            (
                "frames",
                format!(
                    "{} sent, {} acknowledged, {} unconfirmed, {} dropped before sending ({:.2} s of audio)",
                    self.frames_sent,
                    self.frames_acked,
                    self.frames_unconfirmed,
                    self.frames_dropped_before_send,
                    self.audio_secs
                ),
            ),
            ("messages", format!("{} ({} bytes)", self.messages_sent, self.bytes_sent)),
            (
                "RED",
                if self.red_levels.is_empty() {
                    "none".to_string()
                } else {
                    format!("{:?} packet(s) back in every packet", self.red_levels)
                },
            ),
            (
                "backpressure",
                format!(
                    "{} wait(s), {:.0} ms in total; {} window wait(s)",
                    self.backpressure_waits, self.backpressure_wait_ms, self.window_waits
                ),
            ),
            ("first frame sent", ms(self.time_to_first_frame_ms)),
            ("first ack", ms(self.time_to_first_ack_ms)),
            ("source first frame", ms(self.source_first_frame_ms)),
            (
                "reconnects",
                format!(
                    "{} ({} failed attempt(s), {} frames lost meanwhile)",
                    self.reconnects, self.connect_failures, self.frames_lost_reconnecting
                ),
            ),
            (
                "failovers",
                if self.failovers == 0 {
                    "0".to_string()
                } else {
                    format!("{} (now publishing to {})", self.failovers, self.connected_to)
                },
            ),
            ("server errors", errors),
            ("duration", format!("{:.2} s", self.duration_secs)),
        ];
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        rows.iter().map(|(k, v)| format!("  {k:<width$}  {v}\n")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_failures_and_counts() {
        let mut r =
            SendReport { frames_sent: 10, frames_acked: 8, frames_unconfirmed: 2, ..Default::default() };
        r.server_errors.insert("bad_sample_rate".into(), 1);
        r.failure = Some("server refused".into());
        let t = r.to_table();
        assert!(t.contains("10 sent, 8 acknowledged, 2 unconfirmed, 0 dropped"), "{t}");
        assert!(t.contains("bad_sample_rate: 1") && t.contains("FAILED: server refused"));
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<SendReport>(&json).unwrap(), r);
    }
}
