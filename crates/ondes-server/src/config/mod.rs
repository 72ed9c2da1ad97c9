//! Configuration: one TOML file, every key overridable by `ONDES_<SECTION>_<KEY>`.
//!
//! Precedence, lowest first: built-in defaults, the TOML file, environment variables, CLI
//! flags (applied by the binary). Unknown keys are errors (a typo must not be silently
//! ignored), and every error names the key and says what is wrong.

use std::collections::HashSet;
use std::net::SocketAddr;

use ondes_core::{FrameDuration, FrameSpec};
use serde::{Deserialize, Serialize};

mod abr;
mod alerts;

pub use abr::{AbrSection, LatencyBudgets, LegacyDelivery};
pub use alerts::AlertsConfig;

use crate::hub::registry::{IdPattern, validate_id};
use crate::source::SourceSpec;

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("invalid config: {0}")]
    Parse(String),
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("invalid config key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.into(), message: message.into() }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub cors: CorsConfig,
    /// The performance monitor (`[perf]`, see `crate::perf::PerfSection`).
    pub perf: crate::perf::PerfSection,
    /// Icecast compatibility (`[icecast]`, see docs/icecast.md).
    pub icecast: IcecastConfig,
    /// Adaptive streaming (`[abr]`, see docs/adaptive.md).
    pub abr: AbrSection,
    /// WebRTC listening (WHEP) and publishing (WHIP) (`[webrtc]`, see docs/webrtc.md).
    pub webrtc: WebRtcConfig,
    /// Text to speech into streams (`[tts]`, see docs/say.md).
    pub tts: crate::ingest::say::TtsSection,
    /// LL-HLS and DASH egress (`[hls]`, see docs/hls.md).
    pub hls: HlsConfig,
    /// When `/debug/connections` raises an alert (`[alerts]`).
    pub alerts: AlertsConfig,
    /// Scaling out over NATS: origins and edges (`[cluster]`, see docs/cluster.md). Absent:
    /// a single server, nothing changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterConfig>,
    #[serde(rename = "stream")]
    pub streams: Vec<StreamConfig>,
}

/// What a node does in a cluster.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ClusterRole {
    /// Publishes its streams (it has the sources and publishers).
    Origin,
    /// Serves listeners from streams it receives from origins.
    Edge,
    /// Both: publishes its own streams and fetches the others'.
    Both,
}

impl ClusterRole {
    pub fn is_origin(self) -> bool {
        matches!(self, ClusterRole::Origin | ClusterRole::Both)
    }

    pub fn is_edge(self) -> bool {
        matches!(self, ClusterRole::Edge | ClusterRole::Both)
    }

    pub fn name(self) -> &'static str {
        match self {
            ClusterRole::Origin => "origin",
            ClusterRole::Edge => "edge",
            ClusterRole::Both => "both",
        }
    }
}

/// `[cluster]`: origins publish frames on NATS core subjects, edges subscribe while they have
/// listeners (docs/cluster.md).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// The NATS server(s), comma-separated (`nats://host:4222`).
    pub nats_url: String,
    pub role: ClusterRole,
    /// This node's name in the cluster; empty: `<hostname>:<port>`.
    pub node_id: String,
    /// First token of every subject (`<prefix>.stream.<id>.frames` …).
    pub subject_prefix: String,
    /// How long an edge keeps a stream (and its subscription) after its last listener left, ms.
    pub linger_ms: u64,
    /// Frames per NATS message from an origin (1–50): fewer messages, a little more delay.
    pub batch_frames: u32,
    /// PCM in each message besides the Opus rungs: `s16`, `f32` (the origin's exact
    /// samples) or `none` (edges decode the top rung for PCM listeners).
    pub pcm: ondes_core::cluster_wire::PcmFormat,
    /// How long an edge waits for an origin to answer a discovery or backlog request, ms.
    pub request_timeout_ms: u64,
    /// Messages waiting for the NATS publisher per stream on an origin; beyond, dropped and counted.
    pub publish_queue: usize,
    /// An edge with no message for a stream for this long tells its listeners `source-lost`, ms.
    pub source_timeout_ms: u64,
    /// Several origins may hold the same publisher-fed stream: each publishes it (and answers
    /// for it) only while a publisher feeds it on that node, so the origin its publisher is
    /// connected to is the live one, and a standby takes over when the publisher reconnects
    /// to it. Set it on every origin that holds such a stream.
    pub takeover: bool,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            nats_url: "nats://127.0.0.1:4222".into(),
            role: ClusterRole::Both,
            node_id: String::new(),
            subject_prefix: "ondes".into(),
            linger_ms: 5_000,
            batch_frames: 1,
            pcm: ondes_core::cluster_wire::PcmFormat::S16,
            request_timeout_ms: 1_000,
            publish_queue: 64,
            source_timeout_ms: 1_000,
            takeover: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    pub bind: String,
    /// Seconds between SSE heartbeat events.
    pub heartbeat_secs: u64,
    /// Streaming connections (all streams, all IPs) before new ones get 503.
    pub max_connections: usize,
    /// Streaming connections from one IP before new ones get 429; 0 = no per-IP limit.
    pub max_connections_per_ip: usize,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Seconds of recent frames each stream keeps (for resume and bursts).
    pub ring_secs: u64,
    /// Backlog after which a slow listener is skipped ahead to live, in milliseconds.
    pub max_listener_lag_ms: u64,
    /// Seconds to wait for connections to close on shutdown.
    pub shutdown_grace_secs: u64,
    /// Seconds a connection has to send a whole request head — the first on a new
    /// connection, and each next one on a kept-alive connection (so an idle kept-alive
    /// connection is closed after this too). Slow or silent connections are closed then.
    pub header_timeout_secs: u64,
    /// PEM file with the certificate chain (leaf first) for TLS; with `tls_key`, the port
    /// speaks HTTPS/WSS only. Read again on SIGHUP. Empty: plain HTTP.
    pub tls_cert: String,
    /// PEM file with the private key of `tls_cert` (PKCS#8, PKCS#1 or SEC1).
    pub tls_key: String,
    /// Connections accepted that have not yet sent a whole request head, at most; at the
    /// limit a new connection closes the oldest of them (see `http::pending`). Keep it
    /// well below the process's file descriptor limit.
    pub max_pending_connections: usize,
    /// Kernel send buffer per connection, in KiB (0 = the system's autotuning). A bounded
    /// buffer keeps a slow listener's backlog in the hub, where it is skipped to live and
    /// counted, instead of hiding seconds of latency in the kernel.
    pub socket_send_buffer_kb: usize,
    /// TCP_NOTSENT_LOWAT per connection, in KiB (0 = off): how much unsent data the kernel
    /// may hold before the socket stops being writable. Small values let per-listener
    /// adaptation see a bandwidth drop within a round trip (see docs/adaptive.md).
    pub socket_notsent_lowat_kb: usize,
    /// Playout queue per publisher, in milliseconds of audio (200–2000). A publisher may
    /// burst this far ahead of real time before it gets backpressure.
    pub publish_queue_ms: u64,
    /// Streams created on demand (from a `[[stream]]` template whose id has a `*`) that may
    /// exist at once; a publisher beyond gets 503. Declared streams do not count.
    pub max_streams: usize,
    /// Seconds an on-demand stream stays after its publisher left (and its queue played
    /// out): a publisher reconnecting within it finds its stream, listeners keep theirs.
    pub on_demand_linger_secs: u64,
    /// Frames each connection's trace keeps (the latest ones; 24 bytes each): what
    /// `/debug/connections/{conn}/trace` and `ondes probe --sender-log` read. 0 = no traces.
    pub trace_frames: usize,
    /// Frames each listener connection's trace keeps (sequence, write time, bytes). Off (0)
    /// by default: every listener would hold 24 bytes × this.
    pub trace_listener_frames: usize,
    /// Traces of closed connections kept (the most recent ones), so that a sender can
    /// fetch its trace after it disconnected.
    pub trace_keep_closed: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// HS256 secret for JWTs. Empty: a random secret for this run (an admin token is printed).
    pub secret: String,
    /// Whether listening (SSE) needs a token with permission `subscribe`.
    pub required_for_stream: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins allowed to call the API from a browser page (`*` = any). Empty: same origin only.
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StreamConfig {
    /// The stream id (`[A-Za-z0-9._-]`, 1–64 characters), or a template such as `live-*`: a
    /// stream is created from it when a publisher appears on an id it matches (`*` stands for
    /// one or more characters) and removed after `server.on_demand_linger_secs` once that
    /// publisher has left. Templates need `source = "publish"` or `"icecast"`.
    pub id: String,
    /// Where the audio comes from, e.g. `tone:demo`, `file:music.flac?loop=true`, `stdin:s16le`.
    pub source: String,
    pub sample_rate: u32,
    pub channels: u16,
    pub frame_ms: f64,
    /// Opus quality ladder in kbit/s: `speech` (16,32,64), `music` (64,96,128,192,256,320)
    /// or a comma-separated list like `24,48,96`.
    pub rungs: String,
    /// Password of Icecast source clients (user `source`) for `source = "icecast"` streams.
    pub source_password: String,
    /// Records the stream to disk (docs/recording.md), e.g.
    /// `record = { format = "ogg-opus", path = "recordings", segment_secs = 3600 }`.
    pub record: Option<RecordConfig>,
}

/// A stream's recording: files of `segment_secs` each in directory `path`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RecordConfig {
    /// `ogg-opus` (an Opus rung in Ogg, as Icecast listeners get it), `fmp4` (the same
    /// packets in fragmented MP4, as HLS and DASH carry them) or `flac` (lossless, 16-bit).
    pub format: RecordFormat,
    /// The directory of the files (created if missing); a file is `{stream}-{UTC start}.{ext}`.
    pub path: String,
    /// A new file starts at each wall-clock multiple of this many seconds (1 to 86400).
    pub segment_secs: u64,
    /// The Opus rung recorded, in kbit/s (default: the stream's top rung; not for `flac`).
    pub rung: Option<u32>,
}

/// The file format of a recording.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RecordFormat {
    #[default]
    OggOpus,
    Fmp4,
    Flac,
}

impl Default for RecordConfig {
    fn default() -> Self {
        RecordConfig {
            format: RecordFormat::OggOpus,
            path: "recordings".into(),
            segment_secs: 3600,
            rung: None,
        }
    }
}

/// `[icecast]`: Icecast-style sources and listeners (docs/icecast.md).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IcecastConfig {
    /// Audio per Ogg page sent to HTTP listeners, in ms (rounded to whole frames). One page
    /// is one write per listener: larger pages cost less CPU and add latency.
    pub page_ms: u64,
    /// Recent audio a new listener gets at once, in ms (rounded up to whole pages; 0 = start
    /// with the next page). Icecast's default 64 KB burst is several seconds.
    pub burst_ms: u64,
    /// Whether a new source on a busy mount replaces the connected one (else 403).
    pub takeover: bool,
    /// Whether a listener too far behind is disconnected instead of skipped to live.
    pub disconnect_lagging: bool,
    /// `server_id`-like name shown to listeners (`icy-server-name`).
    pub server_name: String,
    /// Seconds a source may send nothing before it is dropped (Icecast's `source-timeout`).
    pub source_timeout_secs: u64,
    /// Audio queued from a source before it plays (and again after it ran dry), in ms. Source
    /// clients send in bursts: ffmpeg sends one Ogg page per second.
    pub source_buffer_ms: u64,
}

/// `[hls]`: LL-HLS and DASH over shared fMP4 segments (docs/hls.md).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HlsConfig {
    /// Segment duration in milliseconds (a whole number of parts).
    pub segment_ms: u64,
    /// Part duration in milliseconds (a whole number of the stream's frames).
    pub part_ms: u64,
    /// Complete segments listed in a playlist and kept in memory.
    pub window_segments: usize,
    /// Seconds a rung's segmenter keeps running after the last request for it.
    pub linger_secs: u64,
    /// `Cache-Control: max-age` of init segments, segments and parts, in seconds.
    pub max_age_secs: u64,
}

/// Longest `[hls] part_ms`: parts are a fraction of a segment, and players poll for them.
const MAX_PART_MS: u64 = 10_000;
/// Longest `[hls] segment_ms` (HLS players expect a few seconds; DASH's are as long).
const MAX_SEGMENT_MS: u64 = 120_000;
/// Most `[hls] window_segments`: the window is kept in memory per rung.
const MAX_WINDOW_SEGMENTS: usize = 1000;

impl HlsConfig {
    /// The durations and the window within their bounds, and a layout they cut into (with
    /// frames of the part's own duration; each stream checks its frames when it starts).
    fn validate(&self) -> Result<(), ConfigError> {
        if self.part_ms > MAX_PART_MS {
            return Err(invalid(
                "hls.part_ms",
                format!("{} ms is too long: at most {MAX_PART_MS}", self.part_ms),
            ));
        }
        if self.segment_ms > MAX_SEGMENT_MS {
            return Err(invalid(
                "hls.segment_ms",
                format!("{} ms is too long: at most {MAX_SEGMENT_MS}", self.segment_ms),
            ));
        }
        if self.window_segments > MAX_WINDOW_SEGMENTS {
            return Err(invalid(
                "hls.window_segments",
                format!("{} segments is too many: at most {MAX_WINDOW_SEGMENTS}", self.window_segments),
            ));
        }
        // the bounds above keep these products far inside u64
        ondes_core::hls::HlsLayout::new(
            self.part_ms * 1000,
            self.part_ms * 1000,
            self.segment_ms * 1000,
            self.window_segments,
        )
        .map_err(|e| invalid("hls", e.to_string()))?;
        Ok(())
    }
}

impl Default for HlsConfig {
    fn default() -> Self {
        HlsConfig { segment_ms: 1000, part_ms: 200, window_segments: 12, linger_secs: 30, max_age_secs: 60 }
    }
}

/// WebRTC: every session (WHEP listeners, WHIP publishers) shares one UDP port.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WebRtcConfig {
    /// The UDP port of every WebRTC session (0: any free port).
    pub udp_port: u16,
    /// Addresses advertised to peers as host candidates (the socket is bound on all
    /// interfaces when more than one is given or any is public, else on the one given).
    /// Empty: loopback plus the machine's outbound address.
    pub ips: Vec<String>,
    /// WebRTC sessions (listeners and publishers) before new offers get 503.
    pub max_sessions: usize,
    /// Opus in RED (redundant audio, RFC 2198) to listeners whose offer has it.
    pub red: bool,
    /// Which earlier packets each RED packet carries again, in packets back: `[1]` the
    /// previous one, `[1, 2]` the two before it (a packet is lost for good only when it and
    /// every packet carrying it are lost: 20 % loss leaves 4 % with `[1]`, 0.8 % with
    /// `[1, 2]`). Each level adds one Opus payload per packet. `[]`: no RED.
    pub red_distances: Vec<u32>,
}

/// The deepest RED level: str0m's receivers (and libwebrtc's NetEQ history) recover up to 8
/// packets back; a deeper block would only cost bandwidth.
pub const MAX_RED_DISTANCE: u32 = 8;

impl WebRtcConfig {
    /// The RED levels sent, `None` when RED is off (`red = false` or `red_distances = []`).
    pub fn red_levels(&self) -> Option<&[u32]> {
        (self.red && !self.red_distances.is_empty()).then_some(self.red_distances.as_slice())
    }

    /// `red_distances`: at most 8 levels, strictly ascending, from 1 up to 8 packets back.
    fn validate_red_distances(&self) -> Result<(), ConfigError> {
        let d = &self.red_distances;
        let err = |what: &str| {
            invalid(
                "webrtc.red_distances",
                format!(
                    "{d:?}: {what}; give ascending packet distances such as [1] or [1, 2] ([] turns RED off)"
                ),
            )
        };
        if d.len() > MAX_RED_DISTANCE as usize {
            return Err(err("more than 8 levels"));
        }
        if d.iter().any(|&x| !(1..=MAX_RED_DISTANCE).contains(&x)) {
            return Err(err("every distance is from 1 to 8 packets back"));
        }
        if d.windows(2).any(|w| w[0] >= w[1]) {
            return Err(err("the distances are not distinct and ascending"));
        }
        // a receiver finds each block's place from the nearest one, which must be the
        // previous packet (str0m would add 1 silently otherwise)
        if d.first().is_some_and(|&x| x != 1) {
            return Err(err("the first distance must be 1 (the previous packet)"));
        }
        Ok(())
    }
}

impl Default for WebRtcConfig {
    fn default() -> Self {
        WebRtcConfig {
            udp_port: 8189,
            ips: Vec::new(),
            max_sessions: 5_000,
            red: true,
            red_distances: DEFAULT_RED_DISTANCES.to_vec(),
        }
    }
}

/// Two levels: at 20 % loss the audio concealed in Chromium drops from 2.5 % (one level) to
/// under the 2 % a voice application can bear (BENCHMARKS.md, "WHEP at 20 % loss").
pub const DEFAULT_RED_DISTANCES: &[u32] = &[1, 2];

impl Default for IcecastConfig {
    fn default() -> Self {
        IcecastConfig {
            page_ms: 100,
            burst_ms: 100,
            takeover: false,
            disconnect_lagging: false,
            server_name: "ondes".into(),
            source_timeout_secs: 10,
            source_buffer_ms: 1_500,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "127.0.0.1:8080".into(),
            heartbeat_secs: 30,
            max_connections: 20_000,
            max_connections_per_ip: 0,
            max_body_bytes: 1 << 20,
            ring_secs: 12,
            max_listener_lag_ms: 2_000,
            shutdown_grace_secs: 5,
            header_timeout_secs: 10,
            tls_cert: String::new(),
            tls_key: String::new(),
            max_pending_connections: 256,
            publish_queue_ms: 1_000,
            socket_send_buffer_kb: 256,
            socket_notsent_lowat_kb: 4,
            max_streams: 100,
            on_demand_linger_secs: 10,
            trace_frames: 3_000,
            trace_listener_frames: 0,
            trace_keep_closed: 32,
        }
    }
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            id: String::new(),
            source: "tone:demo".into(),
            sample_rate: 48_000,
            channels: 2,
            frame_ms: 20.0,
            rungs: "speech".into(),
            source_password: String::new(),
            record: None,
        }
    }
}

impl StreamConfig {
    /// The demo stream: a sweep on the left channel, a chord on the right.
    pub fn demo() -> Self {
        StreamConfig { id: "main".into(), ..StreamConfig::default() }
    }

    /// The Opus ladder in kbit/s, ascending.
    pub fn rung_list(&self) -> Result<Vec<u32>, String> {
        let mut v: Vec<u32> = match self.rungs.trim() {
            "speech" => vec![16, 32, 64],
            "music" => vec![64, 96, 128, 192, 256, 320],
            list => list
                .split(',')
                .map(|x| {
                    x.trim().parse::<u32>().map_err(|_| format!("'{}' is not a bitrate in kbit/s", x.trim()))
                })
                .collect::<Result<_, _>>()?,
        };
        v.sort_unstable();
        v.dedup();
        if v.is_empty() || v.len() > 8 {
            return Err("give 1 to 8 rungs, or speech or music".into());
        }
        if let Some(bad) = v.iter().find(|k| !(6..=510).contains(*k)) {
            return Err(format!("{bad} kbit/s is outside Opus's 6..=510"));
        }
        Ok(v)
    }

    /// The validated frame layout of this stream.
    pub fn frame_spec(&self) -> Result<FrameSpec, ondes_core::SpecError> {
        FrameSpec::new(self.sample_rate, self.channels, FrameDuration::from_ms(self.frame_ms)?)
    }
}

impl Config {
    /// Loads the file (if any), applies `ONDES_*` variables from `env`, and validates.
    pub fn load(path: Option<&str>, env: &[(String, String)]) -> Result<Config, ConfigError> {
        let text = match path {
            Some(p) => {
                std::fs::read_to_string(p).map_err(|e| ConfigError::Read { path: p.into(), source: e })?
            }
            None => String::new(),
        };
        Self::from_toml_and_env(&text, env)
    }

    /// Parses TOML text, applies `ONDES_*` overrides, and validates.
    pub fn from_toml_and_env(text: &str, env: &[(String, String)]) -> Result<Config, ConfigError> {
        let mut table: toml::Table =
            text.parse().map_err(|e: toml::de::Error| ConfigError::Parse(e.to_string()))?;
        apply_env(&mut table, env)?;
        // round-trip through text so that type errors carry the key's name and position
        let merged = toml::to_string(&table).map_err(|e| ConfigError::Parse(e.to_string()))?;
        let config: Config = toml::from_str(&merged).map_err(|e| ConfigError::Parse(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// A config with only the demo stream, as `ondes serve` with no file runs.
    pub fn demo() -> Config {
        let mut c = Config::default();
        c.streams.push(StreamConfig::demo());
        c
    }

    /// Adds the demo stream `main` unless a stream with that id is declared.
    pub fn add_demo_stream(&mut self) {
        if !self.streams.iter().any(|s| s.id == "main") {
            self.streams.push(StreamConfig::demo());
        }
    }

    /// Checks values that parse but make no sense, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.perf.to_core()?;
        self.tts.validate()?;
        self.alerts.validate()?;
        self.hls.validate()?;
        self.webrtc.validate_red_distances()?;
        for ip in &self.webrtc.ips {
            ip.parse::<std::net::IpAddr>().map_err(|e| {
                invalid(
                    "webrtc.ips",
                    format!("'{ip}' is not an IP address ({e}); give addresses like \"127.0.0.1\""),
                )
            })?;
        }
        self.server.bind.parse::<SocketAddr>().map_err(|e| {
            invalid(
                "server.bind",
                format!("'{}' is not an address like 127.0.0.1:8080 ({e})", self.server.bind),
            )
        })?;
        if self.server.heartbeat_secs == 0 {
            return Err(invalid("server.heartbeat_secs", "must be at least 1"));
        }
        if self.server.max_connections == 0 {
            return Err(invalid("server.max_connections", "must be at least 1"));
        }
        if !(1..=300).contains(&self.server.header_timeout_secs) {
            return Err(invalid("server.header_timeout_secs", "must be between 1 and 300"));
        }
        if self.server.tls_cert.is_empty() != self.server.tls_key.is_empty() {
            return Err(invalid(
                "server.tls_cert",
                "TLS needs both server.tls_cert and server.tls_key (PEM files), or neither",
            ));
        }
        if self.server.max_pending_connections == 0 {
            return Err(invalid("server.max_pending_connections", "must be at least 1"));
        }
        if !(1..=600).contains(&self.server.ring_secs) {
            return Err(invalid("server.ring_secs", "must be between 1 and 600"));
        }
        if !(200..=2_000).contains(&self.server.publish_queue_ms) {
            return Err(invalid("server.publish_queue_ms", "must be between 200 and 2000"));
        }
        self.abr.validate()?;
        if self.server.max_listener_lag_ms < 100 {
            return Err(invalid("server.max_listener_lag_ms", "must be at least 100"));
        }
        for origin in &self.cors.allowed_origins {
            if origin != "*" && !(origin.starts_with("http://") || origin.starts_with("https://")) {
                return Err(invalid(
                    "cors.allowed_origins",
                    format!("'{origin}' is not an origin like http://localhost:3000 (or *)"),
                ));
            }
            if origin.ends_with('/') {
                return Err(invalid(
                    "cors.allowed_origins",
                    format!("'{origin}': an origin has no trailing slash"),
                ));
            }
        }
        if self.server.max_streams == 0 {
            return Err(invalid("server.max_streams", "must be at least 1"));
        }
        if self.server.trace_frames > 100_000 {
            return Err(invalid("server.trace_frames", "must be at most 100000 (2.4 MB per connection)"));
        }
        if self.server.trace_listener_frames > 100_000 {
            return Err(invalid(
                "server.trace_listener_frames",
                "must be at most 100000 (2.4 MB per listener)",
            ));
        }
        if self.server.trace_keep_closed > 1_024 {
            return Err(invalid("server.trace_keep_closed", "must be at most 1024"));
        }
        if self.server.on_demand_linger_secs > 86_400 {
            return Err(invalid("server.on_demand_linger_secs", "must be at most 86400 (a day)"));
        }
        let mut seen = HashSet::new();
        for (i, s) in self.streams.iter().enumerate() {
            let key = |k: &str| format!("stream[{i}].{k}");
            if IdPattern::is_pattern(&s.id) {
                IdPattern::parse(&s.id).map_err(|e| invalid(key("id"), e.to_string()))?;
                if !matches!(s.source.trim(), "publish" | "icecast") {
                    return Err(invalid(
                        key("source"),
                        format!(
                            "'{}' is a template (its id has a '*'): streams are created from it when a publisher \
                             connects, so its source must be \"publish\" or \"icecast\", not '{}'",
                            s.id, s.source
                        ),
                    ));
                }
            } else {
                validate_id(&s.id).map_err(|e| invalid(key("id"), e.to_string()))?;
            }
            if !seen.insert(s.id.as_str()) {
                return Err(invalid(key("id"), format!("stream id '{}' is declared twice", s.id)));
            }
            if let Err(e) = FrameDuration::from_ms(s.frame_ms) {
                return Err(invalid(key("frame_ms"), e.to_string()));
            }
            s.frame_spec().map_err(|e| invalid(key("sample_rate"), e.to_string()))?;
            SourceSpec::parse(&s.source).map_err(|e| invalid(key("source"), e.to_string()))?;
            let rungs = s.rung_list().map_err(|e| invalid(key("rungs"), e))?;
            if let Some(r) = &s.record {
                if r.path.trim().is_empty() {
                    return Err(invalid(key("record.path"), "give the directory the files go to"));
                }
                if !(1..=86_400).contains(&r.segment_secs) {
                    return Err(invalid(key("record.segment_secs"), "must be 1 to 86400 seconds per file"));
                }
                if r.format == RecordFormat::Flac {
                    if r.rung.is_some() {
                        return Err(invalid(
                            key("record.rung"),
                            "a FLAC recording is lossless: it has no rung",
                        ));
                    }
                } else if ![8_000, 12_000, 16_000, 24_000, 48_000].contains(&s.sample_rate) || s.channels > 2
                {
                    return Err(invalid(
                        key("record"),
                        "Opus recordings need a rate Opus codes (8, 12, 16, 24 or 48 kHz) and 1 or 2 channels; use format = \"flac\" for others",
                    ));
                }
                if let Some(k) = r.rung.filter(|k| !rungs.contains(k)) {
                    return Err(invalid(
                        key("record.rung"),
                        format!("{k} kbit/s is not a rung; the rungs are {rungs:?}"),
                    ));
                }
            }
            if s.source.trim() == "icecast" && s.source_password.is_empty() {
                return Err(invalid(
                    key("source_password"),
                    "an Icecast source stream needs a source_password (clients log in as user 'source')",
                ));
            }
        }
        if !(1..=5_000).contains(&self.icecast.page_ms) {
            return Err(invalid("icecast.page_ms", "must be between 1 and 5000"));
        }
        if self.icecast.burst_ms > 10_000 {
            return Err(invalid("icecast.burst_ms", "must be at most 10000"));
        }
        if self.icecast.source_buffer_ms > 10_000 {
            return Err(invalid("icecast.source_buffer_ms", "must be at most 10000"));
        }
        if self.icecast.source_timeout_secs == 0 {
            return Err(invalid("icecast.source_timeout_secs", "must be at least 1"));
        }
        if let Some(c) = &self.cluster {
            if c.nats_url.trim().is_empty() {
                return Err(invalid("cluster.nats_url", "give the NATS server, e.g. nats://127.0.0.1:4222"));
            }
            if !(1..=50).contains(&c.batch_frames) {
                return Err(invalid("cluster.batch_frames", "must be 1 to 50 frames per message"));
            }
            let token_ok = |t: &str| {
                !t.is_empty() && t.chars().all(|ch| ch.is_ascii_alphanumeric() || "_-".contains(ch))
            };
            if !c.subject_prefix.split('.').all(token_ok) {
                return Err(invalid(
                    "cluster.subject_prefix",
                    "NATS subject tokens separated by '.', each of A-Z, a-z, 0-9, '_' or '-'",
                ));
            }
            if c.publish_queue == 0 {
                return Err(invalid("cluster.publish_queue", "must be at least 1"));
            }
            if c.request_timeout_ms == 0 || c.source_timeout_ms == 0 {
                return Err(invalid("cluster.request_timeout_ms", "timeouts must be at least 1 ms"));
            }
            if c.takeover && !c.role.is_origin() {
                return Err(invalid(
                    "cluster.takeover",
                    "takeover is for origins (role = \"origin\" or \"both\"): an edge publishes nothing",
                ));
            }
        }
        Ok(())
    }
}

/// Applies `ONDES_<SECTION>_<KEY>` (and `ONDES_STREAM_<ID>_<KEY>`) overrides.
///
/// The expected type of each key comes from the defaults, so `ONDES_SERVER_HEARTBEAT_SECS=5`
/// becomes an integer and `ONDES_CORS_ALLOWED_ORIGINS=http://a:1,http://b:2` a list.
fn apply_env(table: &mut toml::Table, env: &[(String, String)]) -> Result<(), ConfigError> {
    let defaults = toml::Table::try_from(Config::default()).map_err(|e| ConfigError::Parse(e.to_string()))?;
    let stream_defaults =
        toml::Table::try_from(StreamConfig::default()).map_err(|e| ConfigError::Parse(e.to_string()))?;
    for (var, raw) in env {
        let Some(rest) = var.strip_prefix("ONDES_") else { continue };
        let rest = rest.to_ascii_lowercase();
        if let Some(stream_rest) = rest.strip_prefix("stream_") {
            apply_stream_env(table, &stream_defaults, var, stream_rest, raw)?;
            continue;
        }
        let mut matched = false;
        for (section, keys) in &defaults {
            let Some(key) = rest.strip_prefix(&format!("{section}_")) else { continue };
            let Some(toml::Value::Table(keys)) = Some(keys) else { continue };
            let Some(default) = keys.get(key) else { continue };
            let value = parse_env_value(var, raw, default)?;
            let sect = table.entry(section.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match sect {
                toml::Value::Table(t) => {
                    t.insert(key.to_string(), value);
                }
                _ => return Err(invalid(section.clone(), "must be a table")),
            }
            matched = true;
        }
        if !matched && let Some(key) = rest.strip_prefix("cluster_") {
            // `[cluster]` is absent by default: its keys' types come from its own defaults,
            // and setting one turns the section on
            let defaults = toml::Table::try_from(ClusterConfig::default())
                .map_err(|e| ConfigError::Parse(e.to_string()))?;
            let Some(default) = defaults.get(key) else {
                return Err(ConfigError::Env {
                    var: var.clone(),
                    message: "no such configuration key".into(),
                });
            };
            let value = parse_env_value(var, raw, default)?;
            let sect = table.entry("cluster").or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match sect {
                toml::Value::Table(t) => {
                    t.insert(key.to_string(), value);
                }
                _ => return Err(invalid("cluster", "must be a table")),
            }
            continue;
        }
        if !matched
            && ["server_", "auth_", "cors_", "perf_", "icecast_", "webrtc_", "hls_"]
                .iter()
                .any(|p| rest.starts_with(p))
        {
            return Err(ConfigError::Env { var: var.clone(), message: "no such configuration key".into() });
        }
    }
    Ok(())
}

fn apply_stream_env(
    table: &mut toml::Table,
    defaults: &toml::Table,
    var: &str,
    rest: &str,
    raw: &str,
) -> Result<(), ConfigError> {
    let Some(toml::Value::Array(streams)) = table.get_mut("stream") else {
        return Err(ConfigError::Env {
            var: var.into(),
            message: "no [[stream]] is declared in the config file".into(),
        });
    };
    for s in streams.iter_mut() {
        let toml::Value::Table(st) = s else { continue };
        let Some(id) =
            st.get("id").and_then(|v| v.as_str()).map(|s| s.to_ascii_lowercase().replace('-', "_"))
        else {
            continue;
        };
        if let Some(key) = rest.strip_prefix(&format!("{id}_"))
            && let Some(default) = defaults.get(key)
        {
            let value = parse_env_value(var, raw, default)?;
            st.insert(key.to_string(), value);
            return Ok(());
        }
    }
    Err(ConfigError::Env {
        var: var.into(),
        message: "does not match ONDES_STREAM_<ID>_<KEY> for a declared stream id and key".into(),
    })
}

fn parse_env_value(var: &str, raw: &str, default: &toml::Value) -> Result<toml::Value, ConfigError> {
    let err =
        |what: &str| ConfigError::Env { var: var.into(), message: format!("expected {what}, got '{raw}'") };
    Ok(match default {
        toml::Value::Integer(_) => toml::Value::Integer(raw.trim().parse().map_err(|_| err("an integer"))?),
        toml::Value::Float(_) => toml::Value::Float(raw.trim().parse().map_err(|_| err("a number"))?),
        toml::Value::Boolean(_) => toml::Value::Boolean(match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => return Err(err("true or false")),
        }),
        // a list of integers (`webrtc.red_distances`) from `1,2`, else a list of strings
        toml::Value::Array(a) if a.first().is_some_and(toml::Value::is_integer) => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().map(toml::Value::Integer).map_err(|_| err("integers separated by commas")))
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Array(_) => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.into()))
                .collect(),
        ),
        _ => toml::Value::String(raw.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn defaults_and_file() {
        let c = Config::from_toml_and_env(
            "[server]\nbind = \"0.0.0.0:9000\"\n[[stream]]\nid = \"a\"\nsource = \"tone:sine?freq=440\"\nchannels = 1\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.server.bind, "0.0.0.0:9000");
        assert_eq!(c.server.heartbeat_secs, 30);
        assert_eq!(c.streams[0].channels, 1);
        assert_eq!(c.streams[0].sample_rate, 48_000);
        assert!(!c.auth.required_for_stream);
    }

    #[test]
    fn env_overrides_every_section() {
        let c = Config::from_toml_and_env(
            "[[stream]]\nid = \"radio-1\"\n",
            &env(&[
                ("ONDES_SERVER_HEARTBEAT_SECS", "5"),
                ("ONDES_AUTH_REQUIRED_FOR_STREAM", "true"),
                ("ONDES_CORS_ALLOWED_ORIGINS", "http://a:1, http://b:2"),
                ("ONDES_STREAM_RADIO_1_CHANNELS", "1"),
                ("PATH", "/usr/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(c.server.heartbeat_secs, 5);
        assert!(c.auth.required_for_stream);
        assert_eq!(c.cors.allowed_origins, vec!["http://a:1", "http://b:2"]);
        assert_eq!(c.streams[0].channels, 1);
    }

    /// An `[hls]` duration so long that it overflowed once in µs (found by the `config`
    /// fuzz target) is refused naming the key, as is a window too large to keep.
    #[test]
    fn hls_durations_and_window_are_bounded() {
        let e = Config::from_toml_and_env("[hls]\npart_ms = 25552222222222222\n", &[]).unwrap_err();
        assert!(e.to_string().contains("hls.part_ms"), "{e}");
        let e = Config::from_toml_and_env("[hls]\nsegment_ms = 3600000\n", &[]).unwrap_err();
        assert!(e.to_string().contains("hls.segment_ms"), "{e}");
        let e = Config::from_toml_and_env("[hls]\nwindow_segments = 1000000\n", &[]).unwrap_err();
        assert!(e.to_string().contains("hls.window_segments"), "{e}");
        // the largest accepted values still make a layout
        let c = Config::from_toml_and_env("[hls]\npart_ms = 10000\nsegment_ms = 120000\n", &[]).unwrap();
        assert_eq!((c.hls.part_ms, c.hls.segment_ms), (10_000, 120_000));
    }

    #[test]
    fn cluster_is_off_unless_configured() {
        assert!(Config::from_toml_and_env("", &[]).unwrap().cluster.is_none());
        let c = Config::from_toml_and_env(
            "[cluster]\nrole = \"edge\"\n",
            &env(&[("ONDES_CLUSTER_NATS_URL", "nats://10.0.0.1:4222"), ("ONDES_CLUSTER_BATCH_FRAMES", "5")]),
        )
        .unwrap()
        .cluster
        .unwrap();
        assert_eq!(c.role, ClusterRole::Edge);
        assert_eq!(c.nats_url, "nats://10.0.0.1:4222");
        assert_eq!(c.batch_frames, 5);
        // an environment variable alone turns the section on
        let c = Config::from_toml_and_env("", &env(&[("ONDES_CLUSTER_ROLE", "origin")]))
            .unwrap()
            .cluster
            .unwrap();
        assert_eq!(c.role, ClusterRole::Origin);
        let e = Config::from_toml_and_env("", &env(&[("ONDES_CLUSTER_NOPE", "1")])).unwrap_err().to_string();
        assert!(e.contains("ONDES_CLUSTER_NOPE"), "{e}");
        let e = Config::from_toml_and_env("[cluster]\nbatch_frames = 0\n", &[]).unwrap_err().to_string();
        assert!(e.contains("cluster.batch_frames"), "{e}");
        let e = Config::from_toml_and_env("[cluster]\nrole = \"edge\"\ntakeover = true\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("cluster.takeover"), "{e}");
        let e = Config::from_toml_and_env("[cluster]\npcm = \"u8\"\n", &[]).unwrap_err().to_string();
        assert!(e.contains("pcm"), "{e}");
    }

    #[test]
    fn alert_thresholds_are_read_and_checked() {
        let c = Config::from_toml_and_env(
            "[alerts]\ncpu_percent = 95\n",
            &env(&[("ONDES_ALERTS_STALL_MS", "5000")]),
        )
        .unwrap();
        assert_eq!((c.alerts.cpu_percent, c.alerts.stall_ms), (95.0, 5_000));
        assert_eq!(c.alerts.open_files_percent, 80.0, "the others keep their defaults");
        let e = Config::from_toml_and_env("[alerts]\nmemory_available_percent = 150\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("alerts.memory_available_percent"), "{e}");
        let e = Config::from_toml_and_env("[alerts]\nstall_ms = 0\n", &[]).unwrap_err().to_string();
        assert!(e.contains("alerts.stall_ms"), "{e}");
    }

    #[test]
    fn errors_name_the_key() {
        let e = Config::from_toml_and_env("[server]\nheartbeat_secs = \"x\"\n", &[]).unwrap_err().to_string();
        assert!(e.contains("heartbeat_secs"), "{e}");
        let e = Config::from_toml_and_env("[server]\nbnd = \"x\"\n", &[]).unwrap_err().to_string();
        assert!(e.contains("bnd"), "{e}");
        let e = Config::from_toml_and_env("[[stream]]\nid = \"a\"\nframe_ms = 15\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("stream[0].frame_ms"), "{e}");
        let e = Config::from_toml_and_env("[[stream]]\nid = \"a\"\nsource = \"bogus:1\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("stream[0].source"), "{e}");
        let e = Config::from_toml_and_env("", &env(&[("ONDES_SERVER_HEARTBEAT_SECS", "soon")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("ONDES_SERVER_HEARTBEAT_SECS") && e.contains("integer"), "{e}");
        let e = Config::from_toml_and_env("", &env(&[("ONDES_SERVER_NOPE", "1")])).unwrap_err().to_string();
        assert!(e.contains("ONDES_SERVER_NOPE"), "{e}");
        let e = Config::from_toml_and_env("[server]\nbind = \"localhost\"\n", &[]).unwrap_err().to_string();
        assert!(e.contains("server.bind"), "{e}");
        let e = Config::from_toml_and_env("[[stream]]\nid = \"a\"\n[[stream]]\nid = \"a\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("declared twice"), "{e}");
    }

    #[test]
    fn templates_are_checked_at_start() {
        let c = Config::from_toml_and_env(
            "[server]\nmax_streams = 5\non_demand_linger_secs = 3\n\
             [[stream]]\nid = \"live-*\"\nsource = \"publish\"\n\
             [[stream]]\nid = \"radio-*\"\nsource = \"icecast\"\nsource_password = \"p\"\n\
             [[stream]]\nid = \"a.b_C-1\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.server.max_streams, 5);
        assert_eq!(c.server.on_demand_linger_secs, 3);
        let err = |toml: &str| Config::from_toml_and_env(toml, &[]).unwrap_err().to_string();
        let e = err("[[stream]]\nid = \"live-**\"\nsource = \"publish\"\n");
        assert!(e.contains("stream[0].id") && e.contains("one '*'"), "{e}");
        let e = err("[[stream]]\nid = \"live/*\"\nsource = \"publish\"\n");
        assert!(e.contains("stream[0].id") && e.contains("'/'"), "{e}");
        let e = err("[[stream]]\nid = \"main\"\n[[stream]]\nid = \"live-*\"\n");
        assert!(e.contains("stream[1].source") && e.contains("template"), "{e}");
        let e = err("[[stream]]\nid = \"radio-*\"\nsource = \"icecast\"\n");
        assert!(e.contains("stream[0].source_password"), "{e}");
        let e = err("[[stream]]\nid = \"a b\"\n");
        assert!(e.contains("stream[0].id"), "{e}");
        let e = err(&format!("[[stream]]\nid = \"{}\"\n", "a".repeat(65)));
        assert!(e.contains("stream[0].id") && e.contains("64"), "{e}");
        let e = err("[server]\nmax_streams = 0\n");
        assert!(e.contains("server.max_streams"), "{e}");
        let e = Config::from_toml_and_env("", &env(&[("ONDES_SERVER_ON_DEMAND_LINGER_SECS", "soon")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("ONDES_SERVER_ON_DEMAND_LINGER_SECS"), "{e}");
    }

    #[test]
    fn the_examples_are_valid() {
        for (name, text) in [
            ("ondes.toml", include_str!("../../../../examples/ondes.toml")),
            ("publish.toml", include_str!("../../../../examples/publish.toml")),
            ("stdin.toml", include_str!("../../../../examples/stdin.toml")),
            ("on-demand.toml", include_str!("../../../../examples/on-demand.toml")),
        ] {
            if let Err(e) = Config::from_toml_and_env(text, &[]) {
                panic!("examples/{name}: {e}");
            }
        }
        let c = Config::from_toml_and_env(include_str!("../../../../examples/on-demand.toml"), &[]).unwrap();
        let templates: Vec<&str> =
            c.streams.iter().map(|s| s.id.as_str()).filter(|id| IdPattern::is_pattern(id)).collect();
        assert_eq!(templates, ["live-*", "radio-*"]);
    }

    #[test]
    fn red_distances_are_checked_and_red_false_or_empty_turns_red_off() {
        let load = |webrtc: &str, vars: &[(&str, &str)]| {
            Config::from_toml_and_env(&format!("[webrtc]\n{webrtc}\n"), &env(vars))
        };
        assert_eq!(load("", &[]).unwrap().webrtc.red_levels(), Some(DEFAULT_RED_DISTANCES));
        assert_eq!(load("red_distances = [1]", &[]).unwrap().webrtc.red_levels(), Some(&[1][..]));
        assert_eq!(load("red_distances = [1, 3, 8]", &[]).unwrap().webrtc.red_levels(), Some(&[1, 3, 8][..]));
        assert_eq!(load("red_distances = []", &[]).unwrap().webrtc.red_levels(), None);
        assert_eq!(load("red = false\nred_distances = [1, 2]", &[]).unwrap().webrtc.red_levels(), None);
        let c = load("", &[("ONDES_WEBRTC_RED_DISTANCES", "1, 2, 3")]).unwrap();
        assert_eq!(c.webrtc.red_levels(), Some(&[1, 2, 3][..]));
        for (bad, says) in [
            ("[2, 1]", "distinct and ascending"),
            ("[1, 1]", "distinct and ascending"),
            ("[0, 1]", "from 1 to 8"),
            ("[1, 9]", "from 1 to 8"),
            ("[2, 4]", "first distance must be 1"),
            ("[1, 2, 3, 4, 5, 6, 7, 8, 9]", "more than 8 levels"),
        ] {
            let e = load(&format!("red_distances = {bad}"), &[]).unwrap_err().to_string();
            assert!(e.contains("webrtc.red_distances") && e.contains(says), "{bad}: {e}");
        }
        let e = load("", &[("ONDES_WEBRTC_RED_DISTANCES", "1,two")]).unwrap_err().to_string();
        assert!(e.contains("ONDES_WEBRTC_RED_DISTANCES") && e.contains("integers"), "{e}");
    }

    #[test]
    fn demo_is_added_only_when_missing() {
        let mut c = Config::from_toml_and_env("[[stream]]\nid = \"x\"\n", &[]).unwrap();
        c.add_demo_stream();
        assert_eq!(c.streams.len(), 2);
        c.add_demo_stream();
        assert_eq!(c.streams.len(), 2);
    }
}
