//! What to listen to, for how long, and where the audio goes.

use std::path::PathBuf;
use std::time::Duration;

use ondes_core::jitter::JitterConfig;
use tokio::sync::watch;

use crate::tls::TlsOptions;

/// Ceiling of the jitter target when neither the user nor the server sets one, µs.
const DEFAULT_MAX_JITTER_US: u64 = 1_000_000;

/// Options of one listen.
#[derive(Debug, Clone)]
pub struct ListenOptions {
    /// `ws://HOST/api/streams/{id}/ws?rung=…&batch=…` (Opus or PCM) or
    /// `http://HOST/api/streams/{id}/stream?format=json|pcm16` (SSE). A URL with no path
    /// means the default stream (`/api/audio/ws` or `/api/audio/stream`).
    pub url: String,
    /// The transport, when the URL alone does not say it (see [`super::Endpoint::parse_as`]);
    /// `None`: by the URL (`ws://` WebSocket, `http://…/whep` WHEP, other `http://` SSE).
    pub transport: Option<super::TransportKind>,
    /// WHEP only: send the media through this UDP address (a proxy such as
    /// `ondes netsim --udp` in front of the server's WebRTC port) instead of the answer's
    /// candidates.
    pub rtc_via: Option<std::net::SocketAddr>,
    /// Stop after this long (from the start of the connection); `None`: until the stream
    /// ends or [`stop`](Self::stop) fires.
    pub duration: Option<Duration>,
    /// Bearer token, when listening needs one.
    pub token: Option<String>,
    /// Write what is played to this file: `.wav` (16-bit PCM) or `.ogg`/`.opus` (Ogg/Opus).
    pub out: Option<PathBuf>,
    /// Lower bound of the jitter buffer's target delay, on top of the server's advice.
    pub min_jitter: Duration,
    /// Upper bound of the jitter buffer's target delay; `None`: the server's advice
    /// (WebSocket `info`/`rung` messages), or 1 s when there is none (SSE).
    pub max_jitter: Option<Duration>,
    /// Bitrate of the Opus encoder for `.ogg` output, bit/s.
    pub ogg_bitrate_bps: u32,
    /// How long to wait for the connection and for the first audio.
    pub connect_timeout: Duration,
    /// When it becomes true, the listen ends and the report is made.
    pub stop: Option<watch::Receiver<bool>>,
    /// What `https://` and `wss://` servers must be signed by.
    pub tls: TlsOptions,
}

impl ListenOptions {
    /// Defaults: no time limit, no output, jitter bounds as the server advises (else [0, 1 s]).
    pub fn new(url: impl Into<String>) -> Self {
        ListenOptions {
            url: url.into(),
            transport: None,
            rtc_via: None,
            duration: None,
            token: None,
            out: None,
            min_jitter: Duration::ZERO,
            max_jitter: None,
            ogg_bitrate_bps: 96_000,
            connect_timeout: Duration::from_secs(10),
            stop: None,
            tls: TlsOptions::default(),
        }
    }

    /// The jitter buffer's bounds, µs: the server's advice `(min, max)` if any (see
    /// [`ondes_core::abr::JitterAdvice::bounds_us`]), raised to `min_jitter`, with
    /// `max_jitter` as the ceiling when given.
    pub(crate) fn jitter_bounds_us(&self, advised: Option<(u64, u64)>) -> (u64, u64) {
        let (adv_min, adv_max) = advised.unwrap_or((0, DEFAULT_MAX_JITTER_US));
        let min = adv_min.max(self.min_jitter.as_micros() as u64);
        let max = self.max_jitter.map_or(adv_max, |m| m.as_micros() as u64);
        (min.min(max), max)
    }

    /// The jitter buffer's settings for frames of `frame_us` and bounds from
    /// [`Self::jitter_bounds_us`].
    pub(crate) fn jitter_config(&self, frame_us: u64, (min, max): (u64, u64)) -> JitterConfig {
        JitterConfig { min_delay_us: min, max_delay_us: max, ..JitterConfig::for_frame(frame_us) }
    }
}
