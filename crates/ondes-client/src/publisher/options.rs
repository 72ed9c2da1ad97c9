//! What to send, where, and how.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;

use crate::tls::TlsOptions;

use super::SendError;
use super::encode::SendCodec;
use super::flow::Pacing;
use super::source::Layout;

/// The deepest RED level sent: str0m's receivers (and libwebrtc's) recover up to 8 packets
/// back (the server's `webrtc.red_distances` has the same bound).
pub const MAX_RED_DISTANCE: u32 = 8;

/// Options of one send.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// Source string: `file:PATH`, `tone:sine?freq=&amp=`, `stdin:s16le?rate=&channels=`,
    /// `tts:TEXT`.
    pub source: String,
    /// `ws://HOST/api/streams/{id}/publish` (or `/api/audio/publish`),
    /// `http://HOST/api/streams/{id}/ingest`, or `http://HOST/api/streams/{id}/whip` (WebRTC).
    pub to: String,
    /// Other WebSocket publish URLs of the same stream (a standby origin, another region),
    /// tried in turn after `to` when a connection cannot be made or is lost.
    pub fallback: Vec<String>,
    /// Publish over WHIP whatever the route of `to` (`--transport whip`).
    pub whip: bool,
    /// WHIP: send the media through this UDP address (a proxy such as `ondes netsim --udp`
    /// in front of the server's WebRTC port) instead of the server's own candidates.
    pub rtc_via: Option<std::net::SocketAddr>,
    /// WHIP: the RED (RFC 2198) levels offered and sent when the server's answer accepts RED,
    /// in packets back (`[1, 2]`: each packet carries the two before it again); `[]`: no RED.
    pub red_distances: Vec<u32>,
    /// Bearer token with permission `publish`.
    pub token: Option<String>,
    pub codec: SendCodec,
    /// Frames per message (1..=255); more frames, fewer bytes of overhead, more latency.
    pub batch: usize,
    pub pacing: Pacing,
    /// Stop after this much audio (an endless tone needs it).
    pub max_duration: Option<Duration>,
    /// The stream's layout when the server cannot tell us (HTTP ingest without
    /// `/api/streams`); over WebSocket it is checked against the server's `info`.
    pub layout: Option<Layout>,
    /// Failed connection attempts in a row before giving up.
    pub max_retries: u32,
    /// First reconnect delay (doubling, with jitter, up to `max_backoff`).
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// A connection that neither acknowledges nor resumes for this long is considered lost.
    pub ack_timeout: Duration,
    /// When it becomes true, the source ends: what was taken is sent and acknowledged.
    pub stop: Option<watch::Receiver<bool>>,
    /// What `wss://` and `https://` servers must be signed by.
    pub tls: TlsOptions,
    /// Write one JSON line per frame here (WebSocket and HTTP ingest targets): see
    /// [`super::frame_log`].
    pub frame_log: Option<PathBuf>,
    /// Fault injection: drop this fraction (0..1) of the frames before sending them, each
    /// logged as not sent. For testing diagnosis tools, never for production.
    pub drop_before_send: f64,
    /// Seed of the fault injection's random choices.
    pub fault_seed: u64,
}

impl SendOptions {
    /// Defaults: pcm16, batch 1, real time with a 100 ms lead, 10 retries.
    pub fn new(source: impl Into<String>, to: impl Into<String>) -> Self {
        SendOptions {
            source: source.into(),
            to: to.into(),
            fallback: Vec::new(),
            whip: false,
            rtc_via: None,
            red_distances: vec![1, 2],
            token: None,
            codec: SendCodec::Pcm16,
            batch: 1,
            pacing: Pacing::RealTime { lead_us: 100_000 },
            max_duration: None,
            layout: None,
            max_retries: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            ack_timeout: Duration::from_secs(10),
            stop: None,
            tls: TlsOptions::default(),
            frame_log: None,
            drop_before_send: 0.0,
            fault_seed: 1,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), SendError> {
        if self.red_distances.iter().any(|d| !(1..=MAX_RED_DISTANCE).contains(d))
            || self.red_distances.windows(2).any(|w| w[0] >= w[1])
        {
            return Err(SendError::Options(format!(
                "RED distances {:?}: each from 1 to {MAX_RED_DISTANCE} packets back, strictly ascending",
                self.red_distances
            )));
        }
        if !(1..=255).contains(&self.batch) {
            return Err(SendError::Options(format!("batch {} is outside 1..=255", self.batch)));
        }
        if let SendCodec::Opus { bitrate_bps } = self.codec
            && !(6_000..=510_000).contains(&bitrate_bps)
        {
            return Err(SendError::Options(format!(
                "Opus bitrate {bitrate_bps} bit/s is outside 6..=510 kbit/s"
            )));
        }
        if !(0.0..=1.0).contains(&self.drop_before_send) {
            return Err(SendError::Options(format!(
                "drop-before-send {} is outside 0..=1 (a fraction of the frames)",
                self.drop_before_send
            )));
        }
        let is_ws = |u: &str| u.starts_with("ws://") || u.starts_with("wss://");
        let ws = !self.whip && is_ws(&self.to);
        if let Some(bad) = self.fallback.iter().find(|u| !ws || !is_ws(u)) {
            return Err(SendError::Options(format!(
                "--fallback {bad}: fallbacks are for WebSocket publishing: give ws[s]://HOST/api/streams/ID/publish URLs, with a ws[s]:// --to"
            )));
        }
        let whip = self.whip
            || self.to.split('?').next().is_some_and(|p| p.trim_end_matches('/').ends_with("/whip"));
        if whip && self.frame_log.is_some() {
            return Err(SendError::Options(
                "--frame-log needs a WebSocket (ws://…/publish) or HTTP ingest (http://…/ingest) target: WHIP acknowledges no frames (RTCP reports loss instead, in the send report)"
                    .into(),
            ));
        }
        if !ws && self.drop_before_send > 0.0 {
            return Err(SendError::Options(
                "--drop-before-send needs a WebSocket target (ws://…/publish): over HTTP ingest a frame not sent is a hole in the body"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// Where the audio goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A WebSocket publish URL.
    WebSocket(String),
    /// An HTTP ingest URL (`base` is `http://HOST:PORT`, `stream` the stream id).
    Ingest { url: String, base: String, stream: String },
    /// A WHIP URL (`…/api/streams/ID/whip`): Opus over WebRTC.
    Whip { url: String, base: String, stream: String },
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, SendError> {
        let bad = |why: &str| SendError::Options(format!("--to {url}: {why}"));
        if url.starts_with("ws://") || url.starts_with("wss://") {
            return Ok(Target::WebSocket(url.to_string()));
        }
        let (scheme, rest) = match url.split_once("://") {
            Some((s, rest)) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {
                (s.to_ascii_lowercase(), rest)
            }
            _ => {
                return Err(bad(
                    "use ws[s]://HOST/api/streams/ID/publish or http[s]://HOST/api/streams/ID/ingest",
                ));
            }
        };
        let (host, path) = rest.split_once('/').ok_or_else(|| bad("the URL has no path"))?;
        let path = path.split('?').next().unwrap_or("");
        let base = format!("{scheme}://{host}");
        if path == "api/audio/whip" {
            return Ok(Target::Whip { url: url.to_string(), base, stream: "main".into() });
        }
        if let Some(id) = path.strip_prefix("api/streams/").and_then(|p| p.strip_suffix("/whip"))
            && !id.is_empty()
            && !id.contains('/')
        {
            return Ok(Target::Whip { url: url.to_string(), base, stream: id.to_string() });
        }
        let stream = if path == "api/audio/ingest" {
            "main".to_string()
        } else {
            match path.strip_prefix("api/streams/").and_then(|p| p.strip_suffix("/ingest")) {
                Some(id) if !id.is_empty() && !id.contains('/') => id.to_string(),
                _ => return Err(bad("an http:// target must be …/api/streams/ID/ingest or …/whip")),
            }
        };
        Ok(Target::Ingest { url: url.to_string(), base, stream })
    }

    /// `url` as a WHIP target (`--transport whip`): a stream's `/publish` or `/ingest` route
    /// becomes its `/whip` route, `ws://` becomes `http://`.
    pub fn whip(url: &str) -> Result<Target, SendError> {
        let http = url.replacen("wss://", "https://", 1).replacen("ws://", "http://", 1);
        let (path, query) = http.split_once('?').unwrap_or((&http, ""));
        let path = path.trim_end_matches('/');
        let path = match path.rsplit_once('/') {
            Some((b, "publish" | "ingest")) => format!("{b}/whip"),
            _ => path.to_string(),
        };
        let url = if query.is_empty() { path } else { format!("{path}?{query}") };
        match Target::parse(&url)? {
            t @ Target::Whip { .. } => Ok(t),
            _ => Err(SendError::Options(format!("--to {url}: a WHIP target is …/api/streams/ID/whip"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            Target::parse("ws://h:1/api/audio/publish").unwrap(),
            Target::WebSocket("ws://h:1/api/audio/publish".into())
        );
        assert_eq!(
            Target::parse("http://h:1/api/streams/voice/ingest").unwrap(),
            Target::Ingest {
                url: "http://h:1/api/streams/voice/ingest".into(),
                base: "http://h:1".into(),
                stream: "voice".into()
            }
        );
        assert!(Target::parse("http://h:1/api/streams/voice/stream").is_err());
        let whip = Target::Whip {
            url: "http://h:1/api/streams/voice/whip".into(),
            base: "http://h:1".into(),
            stream: "voice".into(),
        };
        assert_eq!(Target::parse("http://h:1/api/streams/voice/whip").unwrap(), whip);
        assert_eq!(Target::whip("ws://h:1/api/streams/voice/publish").unwrap(), whip);
        assert!(Target::whip("ws://h:1/elsewhere").is_err());
        assert!(Target::parse("ftp://h").is_err());
    }

    #[test]
    fn red_distances_are_checked() {
        let mut o = SendOptions::new("tone:sine", "http://h:1/api/streams/voice/whip");
        assert_eq!(o.red_distances, [1, 2], "RED with two levels by default, as the server sends");
        assert!(o.validate().is_ok());
        for ok in [vec![], vec![1], vec![2, 4], vec![1, 8]] {
            o.red_distances = ok;
            assert!(o.validate().is_ok(), "{:?}", o.red_distances);
        }
        for bad in [vec![0], vec![9], vec![2, 1], vec![1, 1]] {
            o.red_distances = bad;
            assert!(o.validate().is_err(), "{:?}", o.red_distances);
        }
    }
}
