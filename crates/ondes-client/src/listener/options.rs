//! What to listen to, for how long, and where the audio goes.

use std::path::PathBuf;
use std::time::Duration;

use ondes_core::jitter::JitterConfig;
use tokio::sync::watch;

/// Options of one listen.
#[derive(Debug, Clone)]
pub struct ListenOptions {
    /// `ws://HOST/api/streams/{id}/ws?rung=…&batch=…` (Opus or PCM) or
    /// `http://HOST/api/streams/{id}/stream?format=json|pcm16` (SSE). A URL with no path
    /// means the default stream (`/api/audio/ws` or `/api/audio/stream`).
    pub url: String,
    /// Stop after this long (from the start of the connection); `None`: until the stream
    /// ends or [`stop`](Self::stop) fires.
    pub duration: Option<Duration>,
    /// Bearer token, when listening needs one.
    pub token: Option<String>,
    /// Write what is played to this file: `.wav` (16-bit PCM) or `.ogg`/`.opus` (Ogg/Opus).
    pub out: Option<PathBuf>,
    /// Lower bound of the jitter buffer's target delay.
    pub min_jitter: Duration,
    /// Upper bound of the jitter buffer's target delay.
    pub max_jitter: Duration,
    /// Bitrate of the Opus encoder for `.ogg` output, bit/s.
    pub ogg_bitrate_bps: u32,
    /// How long to wait for the connection and for the first audio.
    pub connect_timeout: Duration,
    /// When it becomes true, the listen ends and the report is made.
    pub stop: Option<watch::Receiver<bool>>,
}

impl ListenOptions {
    /// Defaults: no time limit, no output, jitter target within [0, 1 s].
    pub fn new(url: impl Into<String>) -> Self {
        ListenOptions {
            url: url.into(),
            duration: None,
            token: None,
            out: None,
            min_jitter: Duration::ZERO,
            max_jitter: Duration::from_secs(1),
            ogg_bitrate_bps: 96_000,
            connect_timeout: Duration::from_secs(10),
            stop: None,
        }
    }

    /// The jitter buffer's settings for frames of `frame_us`.
    pub(crate) fn jitter_config(&self, frame_us: u64) -> JitterConfig {
        JitterConfig {
            min_delay_us: self.min_jitter.as_micros() as u64,
            max_delay_us: self.max_jitter.as_micros() as u64,
            ..JitterConfig::for_frame(frame_us)
        }
    }
}
