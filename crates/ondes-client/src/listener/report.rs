//! The summary of a listen: what arrived, what played, what was concealed, how late.

use serde::{Deserialize, Serialize};

use crate::histogram::LatencySummary;

/// Percentiles of a latency distribution in milliseconds (`None` without samples).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub samples: u64,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

impl From<LatencySummary> for Percentiles {
    fn from(s: LatencySummary) -> Self {
        Percentiles { samples: s.samples, p50: s.p50, p90: s.p90, p99: s.p99, max: s.max }
    }
}

/// The jitter buffer's target delay over the listen, milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetRange {
    pub min: f64,
    pub max: f64,
    /// The target when the listen ended.
    #[serde(rename = "final")]
    pub last: f64,
}

/// One point of the target history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetPoint {
    /// Seconds since the start of the listen.
    pub t_secs: f64,
    pub target_ms: f64,
    /// Audio held in the buffer at that moment.
    pub buffer_ms: f64,
}

/// What `ondes listen` heard. Every frame period of the output is one of: a frame played
/// from its packet, a lost frame (rebuilt from FEC or concealed), an underrun or a stretch
/// (concealment while the buffer waits or grows), less what was cut from frames played
/// shortened, so `played_secs = (frames_played + frames_lost) × frame + underrun_ms +
/// stretched_ms − accelerated_ms`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListenReport {
    pub url: String,
    /// `ws` or `sse`.
    pub transport: String,
    /// How the audio travelled: `opus`, `pcm16` (WebSocket or SSE `format=pcm16`), `json` or
    /// `lightweight` (SSE float arrays).
    pub codec: String,
    /// The quality rung (WebSocket: `pcm16` or the Opus kbit/s; SSE: the format).
    pub rung: String,
    pub sample_rate: u32,
    pub channels: u16,
    pub frame_ms: f64,
    /// Why the listen stopped: `duration`, `stopped`, `stream ended: …`, `connection closed`.
    pub end_reason: String,
    /// Wall-clock length of the listen, from the connection attempt.
    pub duration_secs: f64,
    /// Audio played out (and written to the output file), seconds.
    pub played_secs: f64,
    /// Distinct frames that arrived (late ones included).
    pub frames_received: u64,
    /// Frames played from their own packet.
    pub frames_played: u64,
    /// Frames absent at their play time (concealed or rebuilt from FEC).
    pub frames_lost: u64,
    /// Frames that arrived after their play time.
    pub frames_late: u64,
    pub duplicates: u64,
    /// Frames dropped to bring the buffer delay down.
    pub frames_dropped: u64,
    /// Frames jumped over in a gap longer than the maximum delay (the server skipped ahead).
    pub frames_skipped: u64,
    /// Lost frames rebuilt from the next packet's in-band FEC.
    pub fec_recovered: u64,
    /// Frames lost on the network but rebuilt from a later packet's RED redundancy (WHEP):
    /// they reach the jitter buffer as received frames (counted in `frames_received`, and in
    /// `frames_played` unless late), not in `frames_lost`.
    #[serde(default)]
    pub red_recovered: u64,
    /// Times the buffer ran dry while playing.
    pub underruns: u64,
    pub underrun_ms: f64,
    /// Concealment inserted to grow the buffer to its target.
    pub stretched_ms: f64,
    /// Audio cut from frames played shortened (pitch kept) to bring the delay down to the
    /// target, and how many frames were.
    pub accelerated_ms: f64,
    pub frames_accelerated: u64,
    /// Everything played that did not come from its own packet or FEC.
    pub concealed_ms: f64,
    /// From capture to play-out.
    pub latency_ms: Percentiles,
    /// From capture to arrival.
    pub network_latency_ms: Percentiles,
    /// Mean capture-to-play-out latency of each second of playout (`null`: nothing played
    /// that second), for the first hour; the first second starts `latency_series_start_secs`
    /// after the connection.
    pub latency_by_second_ms: Vec<Option<f64>>,
    pub latency_series_start_secs: Option<f64>,
    pub buffer_target_ms: TargetRange,
    pub buffer_target_history: Vec<TargetPoint>,
    /// Episodes of excess delay (the buffer above 1.2 × its target) and how long each took to
    /// drain back within 20% of the target, from the buffer's history.
    pub time_to_recover: ondes_core::jitter::recovery::RecoveryTracker,
    /// Median round trip of the WebSocket pings.
    pub rtt_ms: Option<f64>,
    /// Round trip of the WebSocket handshake (the jitter floor starts from it).
    pub handshake_rtt_ms: Option<f64>,
    /// The jitter buffer's bounds at the end `[min, max]`, ms (the server's advice, the
    /// options).
    pub jitter_bounds_ms: [f64; 2],
    /// Bytes of audio and control messages received (WebSocket payloads, SSE body bytes).
    pub bytes_received: u64,
    pub messages_received: u64,
    /// Coded audio in what arrived (Opus packets; PCM at 2 bytes per sample).
    pub audio_payload_bytes: u64,
    /// Status notices from the server (`paused`, `lagged`, …), in order.
    pub server_notices: Vec<String>,
    /// Frames the server said it skipped for us (`lagged`, `resumed` after a pause).
    pub server_skipped_frames: u64,
    /// The output file, if any.
    pub out: Option<String>,
}

impl ListenReport {
    /// A human-readable table.
    pub fn to_table(&self) -> String {
        let ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.1} ms"));
        let frames = self.frames_received.max(1) as f64;
        let pct = |n: u64| format!("{n} ({:.2}%)", n as f64 * 100.0 / frames);
        let targets: Vec<f64> = self.buffer_target_history.iter().map(|p| p.target_ms).collect();
        let mut rows: Vec<(&str, String)> = vec![
            ("stream", self.url.clone()),
            (
                "format",
                format!(
                    "{} {} ({}), {} Hz, {} ch, {} ms frames",
                    self.transport, self.codec, self.rung, self.sample_rate, self.channels, self.frame_ms
                ),
            ),
            (
                "listened",
                format!(
                    "{:.1} s ({}), played {:.1} s",
                    self.duration_secs, self.end_reason, self.played_secs
                ),
            ),
            ("frames received", self.frames_received.to_string()),
            ("frames lost", pct(self.frames_lost)),
            ("  recovered by FEC", self.fec_recovered.to_string()),
            ("rebuilt from RED", self.red_recovered.to_string()),
            ("frames late", pct(self.frames_late)),
            ("duplicates", self.duplicates.to_string()),
            ("dropped / skipped", format!("{} / {}", self.frames_dropped, self.frames_skipped)),
            (
                "played faster",
                format!("{} frames, {:.0} ms cut", self.frames_accelerated, self.accelerated_ms),
            ),
            ("underruns", format!("{} ({:.0} ms)", self.underruns, self.underrun_ms)),
            ("concealed", format!("{:.0} ms (stretch {:.0} ms)", self.concealed_ms, self.stretched_ms)),
            (
                "latency (capture→play)",
                format!(
                    "p50 {}  p99 {}  max {}",
                    ms(self.latency_ms.p50),
                    ms(self.latency_ms.p99),
                    ms(self.latency_ms.max)
                ),
            ),
            (
                "network (capture→arrival)",
                format!("p50 {}  p99 {}", ms(self.network_latency_ms.p50), ms(self.network_latency_ms.p99)),
            ),
            (
                "buffer target",
                format!(
                    "min {:.0} ms  max {:.0} ms  final {:.0} ms",
                    self.buffer_target_ms.min, self.buffer_target_ms.max, self.buffer_target_ms.last
                ),
            ),
            ("target over time", sparkline(&targets, 60)),
            ("time to recover", recovery_text(&self.time_to_recover)),
            ("rtt (pings / handshake)", format!("{} / {}", ms(self.rtt_ms), ms(self.handshake_rtt_ms))),
            ("jitter bounds", format!("{:.0}–{:.0} ms", self.jitter_bounds_ms[0], self.jitter_bounds_ms[1])),
            ("received", format!("{} messages, {} bytes", self.messages_received, self.bytes_received)),
        ];
        if !self.server_notices.is_empty() {
            rows.push(("server notices", self.server_notices.join(", ")));
        }
        if let Some(out) = &self.out {
            rows.push(("written to", out.clone()));
        }
        let width = rows.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
        rows.iter().map(|(k, v)| format!("{k:<width$}  {v}\n")).collect()
    }
}

/// `values` as a line of block characters (at most `width`, averaging neighbours), scaled
/// from 0 to the largest value, followed by that scale.
pub fn sparkline(values: &[f64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    if values.is_empty() || width == 0 {
        return "-".into();
    }
    let per = values.len().div_ceil(width);
    let points: Vec<f64> = values.chunks(per).map(|c| c.iter().sum::<f64>() / c.len() as f64).collect();
    let top = points.iter().cloned().fold(0.0, f64::max);
    let line: String = points
        .iter()
        .map(|&v| {
            let level = if top > 0.0 { (v / top * 7.0).round() as usize } else { 0 };
            BARS[level.min(7)]
        })
        .collect();
    format!("{line}  (0–{top:.0} ms)")
}

/// Excess-delay episodes in words.
fn recovery_text(r: &ondes_core::jitter::recovery::RecoveryTracker) -> String {
    let secs = |ms: u64| format!("{:.1} s", ms as f64 / 1000.0);
    match (r.last, r.worst) {
        (Some(last), Some(worst)) => format!(
            "{} episode{} of excess delay: last {} (peak +{:.0} ms), worst {}",
            r.episodes,
            if r.episodes == 1 { "" } else { "s" },
            secs(last.duration_ms),
            last.peak_excess_ms,
            secs(worst.duration_ms)
        ),
        _ => "no excess delay".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scales_and_averages() {
        assert_eq!(sparkline(&[], 10), "-");
        assert_eq!(sparkline(&[0.0, 40.0, 80.0], 10), "▁▅█  (0–80 ms)");
        // 8 values into 4 columns: pairs averaged
        assert_eq!(sparkline(&[10.0, 30.0, 80.0, 80.0, 0.0, 0.0, 40.0, 40.0], 4), "▃█▁▅  (0–80 ms)");
    }

    #[test]
    fn json_has_the_documented_names() {
        let v = serde_json::to_value(ListenReport::default()).unwrap();
        for key in [
            "frames_received",
            "frames_lost",
            "frames_late",
            "concealed_ms",
            "underruns",
            "fec_recovered",
            "red_recovered",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert!(v["latency_ms"].get("p50").is_some() && v["latency_ms"].get("p99").is_some());
        assert!(v["buffer_target_ms"].get("final").is_some());
    }
}
