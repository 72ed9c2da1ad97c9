//! `ondes bench fanout`: many concurrent listeners against a running server.
//!
//! All listeners run as tasks on the caller's tokio runtime. A run has four phases:
//!
//! 1. **connect**: listener `i` starts at `i/N` of the ramp (default `min(N/500, 10)` s), at
//!    most [`FanoutOptions::max_concurrent_connects`] connection attempts at a time, each
//!    bounded by [`FanoutOptions::connect_timeout`]. Failures are counted by reason
//!    (`http_503`, `refused`, `timeout`, ...); a failed listener does not retry.
//! 2. **warm-up** ([`FanoutOptions::warmup`]) once every attempt has succeeded or failed, so
//!    that the last connections' catch-up bursts are not measured.
//! 3. **measured window** ([`FanoutOptions::duration`]): every listener counts frames, missing
//!    frames (gaps), stalls, bytes and latency (`now − timestamp` of each audio event, wall
//!    clock; the timestamp is whole milliseconds, so latency reads up to 1 ms high). Server
//!    and bench CPU time are sampled at both ends of the window.
//! 4. **stop**: a listener is *alive* if its connection is still open and it received audio
//!    within [`FanoutOptions::alive_window`] before the end.
//!
//! Definitions used in the report are on the fields of [`FanoutReport`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until, timeout};

use super::reader::{Dialer, ReadEnd, RunShared, hls, http, sse, tls_advice, whep, ws};
use super::stats::{Counters, ListenerStats, Window};
use super::{BenchError, http1, proc_stats};
use ondes_client::histogram::LatencySummary;
use ondes_client::tls::TlsOptions;

/// Open files kept in reserve beyond one per listener (runtime, stdio, /proc reads).
const FD_RESERVE: u64 = 64;

/// How listeners receive the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Server-Sent Events (`GET /api/audio/stream`).
    Sse,
    /// Icecast-style HTTP: an Ogg stream from `GET /{mount}` (ondes or Icecast itself).
    Http,
    /// WebSocket binary audio messages (`GET /api/audio/ws`, docs/protocol.md).
    Ws,
    /// WebRTC (`POST /api/audio/whep`): one session per listener, RTP Opus over UDP.
    Whep,
    /// LL-HLS (`GET /api/audio/hls/index.m3u8`): blocking playlist reloads and parts on one
    /// keep-alive connection per listener, as hls.js in low-latency mode.
    Hls,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sse => "sse",
            Self::Http => "http",
            Self::Ws => "ws",
            Self::Whep => "whep",
            Self::Hls => "hls",
        }
    }

    /// The route used when the URL has no path.
    pub fn default_path(self) -> &'static str {
        match self {
            Self::Sse => "/api/audio/stream",
            Self::Http => "/main",
            Self::Ws => "/api/audio/ws",
            Self::Whep => "/api/audio/whep",
            Self::Hls => "/api/audio/hls/index.m3u8",
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Transport {
    type Err = BenchError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "sse" => Ok(Self::Sse),
            "http" | "icecast" => Ok(Self::Http),
            "ws" | "websocket" => Ok(Self::Ws),
            "whep" | "webrtc" => Ok(Self::Whep),
            "hls" | "ll-hls" => Ok(Self::Hls),
            _ => Err(BenchError::UnknownTransport(s.to_string())),
        }
    }
}

/// Where a run is; published through [`FanoutOptions::phase`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FanoutPhase {
    Connecting,
    WarmingUp,
    Measuring,
    Done,
}

/// What to run. [`FanoutOptions::new`] gives the defaults of `ondes bench fanout`.
#[derive(Debug, Clone)]
pub struct FanoutOptions {
    /// `http://host:port[/path?query]` (`https://`, `ws://`, `wss://` too); without a path,
    /// the transport's default route.
    pub url: String,
    /// What `https://` and `wss://` listeners trust: the system's roots, plus `--ca`.
    pub tls: TlsOptions,
    pub transport: Transport,
    pub listeners: usize,
    /// Length of the measured window.
    pub duration: Duration,
    /// Pause between "all connection attempts resolved" and the measured window.
    pub warmup: Duration,
    /// Time over which connections are spread; `None`: `min(listeners / 500, 10)` seconds.
    pub ramp: Option<Duration>,
    pub max_concurrent_connects: usize,
    /// Bound on TCP connect + request + response head.
    pub connect_timeout: Duration,
    /// Server process to sample; `None`: the local process listening on the URL's port.
    pub server_pid: Option<u32>,
    /// Sent as `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Silence beyond the audio the last event carried that counts as a stall.
    pub stall_threshold: Duration,
    /// A listener is alive if it received audio within this long before the end.
    pub alive_window: Duration,
    /// HLS: the variant to play, by the start of its URI (`64` for `64/media.m3u8`, `flac`);
    /// `None`: the first one listed.
    pub hls_rung: Option<String>,
    /// Receives the phase of the run as it changes (e.g. to act on the server at the start of
    /// the measured window).
    pub phase: Option<watch::Sender<FanoutPhase>>,
    /// WHEP: read the media packets by their RTP header, decrypting one in 50 (`true`, the
    /// default), or every one through str0m as `ondes listen` does (`false`).
    pub whep_light: bool,
}

impl FanoutOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            tls: TlsOptions::default(),
            transport: Transport::Sse,
            listeners: 100,
            duration: Duration::from_secs(20),
            warmup: Duration::from_secs(1),
            ramp: None,
            max_concurrent_connects: 200,
            connect_timeout: Duration::from_secs(10),
            server_pid: None,
            token: None,
            stall_threshold: Duration::from_millis(500),
            alive_window: Duration::from_secs(1),
            hls_rung: None,
            phase: None,
            whep_light: true,
        }
    }

    /// The ramp actually used.
    pub fn effective_ramp(&self) -> Duration {
        self.ramp.unwrap_or_else(|| Duration::from_secs_f64((self.listeners as f64 / 500.0).min(10.0)))
    }

    fn validate(&self) -> Result<(), BenchError> {
        let bad = |m: &str| Err(BenchError::InvalidOption(m.to_string()));
        if self.listeners == 0 {
            return bad("--listeners must be at least 1");
        }
        if self.duration.is_zero() {
            return bad("--duration must be positive");
        }
        if self.max_concurrent_connects == 0 {
            return bad("max_concurrent_connects must be at least 1");
        }
        if self.connect_timeout.is_zero() {
            return bad("connect_timeout must be positive");
        }
        if let Some(t) = &self.token
            && t.bytes().any(|b| b.is_ascii_control())
        {
            return bad("--token contains control characters");
        }
        Ok(())
    }
}

/// Result of a run. Counts cover the measured window only.
#[derive(Debug, Clone, Serialize)]
pub struct FanoutReport {
    pub transport: Transport,
    /// The URL requested (with the default route filled in).
    pub url: String,
    pub listeners_requested: usize,
    /// Listeners whose request was answered `200 text/event-stream`.
    pub listeners_connected: usize,
    /// Connected listeners still open at the end that received audio in the last
    /// `alive_window` (1 s by default).
    pub listeners_alive: usize,
    /// Failed connection attempts by reason: `http_<status>`, `refused`, `timeout`,
    /// `reset`, `closed_before_response`, `not_event_stream`, `too_many_open_files`, over TLS
    /// `tls_untrusted`, `tls_wrong_name`, `tls_handshake`, ...
    pub connect_failures: BTreeMap<String, u64>,
    /// Connected listeners whose connection ended (by the server or an error) before the end.
    pub disconnects: u64,
    /// Why those connections ended: `closed` or an error reason.
    pub disconnect_reasons: BTreeMap<String, u64>,
    pub ramp_secs: f64,
    pub warmup_secs: f64,
    /// Measured window, as timed (slightly above the requested duration).
    pub duration_secs: f64,
    /// Source frames per second, from the `duration_ms` the stream announces.
    pub frames_per_second: Option<f64>,
    /// Audio events (one event may carry several frames).
    pub events_received: u64,
    /// Source frames received, summed over listeners.
    pub frames_received: u64,
    /// `listeners_alive × duration_secs × frames_per_second`.
    pub frames_expected: Option<u64>,
    /// Missing frames: the next event should start at `frame_number + frames`.
    pub gaps: u64,
    pub listeners_with_gaps: usize,
    /// Events numbered below the expected frame (duplicates, stream restarts).
    pub out_of_order: u64,
    /// Silences longer than the stall threshold (500 ms) beyond the audio the previous event
    /// carried; a silence still going on at the end counts once.
    pub stalls: u64,
    pub heartbeats: u64,
    pub status_events: u64,
    /// `event: error` received (the server ending the stream).
    pub error_events: u64,
    /// `audio-frame` events whose metadata was not in the first bytes of the data.
    pub unparsed_events: u64,
    /// From each audio event's capture timestamp to its arrival (wall clock; SSE only).
    pub latency_ms: LatencySummary,
    /// HTTP: from sending the request to the first body byte, per listener.
    pub time_to_first_byte_ms: LatencySummary,
    /// HTTP: how far behind live each listener started — the audio it held beyond the time
    /// it had listened, over its first 2 s (an initial burst of B s shows as ≈ B + one page).
    pub start_behind_live_ms: LatencySummary,
    /// HLS: parts received, summed over listeners.
    pub parts_received: u64,
    /// HLS: parts listed in a playlist (or due in sequence) that a listener never got before
    /// they rolled out of the window (or that answered 404), summed over listeners.
    pub parts_missed: u64,
    pub listeners_with_missed_parts: usize,
    /// HLS: blocking playlist reload (`_HLS_msn`/`_HLS_part` of the next part), request →
    /// response. A listener at the live edge waits here for the part to be made.
    pub playlist_reload_ms: LatencySummary,
    /// HLS: how long after the part existed the reload listing it came back: response time
    /// minus the part's place on the part clock, less the listener's best case.
    pub part_late_ms: LatencySummary,
    /// Bytes read from the sockets (HTTP framing included).
    pub bytes_received: u64,
    /// `bytes_received` in megabits per second.
    pub throughput_mbps: f64,
    /// Sum over listeners of the time each was connected during the window.
    pub listener_seconds: f64,
    pub server_pid: Option<u32>,
    /// Server CPU time over the window, percent of one core.
    pub server_cpu_percent: Option<f64>,
    /// Server CPU time over the window divided by `listener_seconds`.
    pub server_cpu_us_per_listener_second: Option<f64>,
    /// Server resident memory at the end of the window.
    pub server_rss_kb: Option<u64>,
    /// This bench process over the window, percent of one core (it shares the machine).
    pub client_cpu_percent: Option<f64>,
    pub client_rss_kb: Option<u64>,
    /// Soft `RLIMIT_NOFILE` after raising it to the hard limit.
    pub open_file_limit: Option<u64>,
    /// WHEP with light listeners: how the media packets were read (the whole run).
    pub whep_light: Option<WhepLightReport>,
}

/// How light WHEP listeners read the media packets, summed over the run (warm-up included).
#[derive(Debug, Clone, Default, Serialize)]
pub struct WhepLightReport {
    /// Counted from their plaintext RTP header (number, capture time, payload length).
    pub by_header: u64,
    /// Decrypted by str0m (the first of each session, then one in 50) and matching their
    /// header.
    pub decrypted: u64,
    /// Handed to str0m and not delivered by it: failed SRTP authentication, or not Opus.
    pub undecrypted: u64,
    /// Decrypted with another RTP time than their header showed.
    pub mismatched: u64,
}

impl FanoutReport {
    /// A human-readable aligned table of the report.
    pub fn to_table(&self) -> String {
        let opt =
            |v: Option<f64>, digits: usize| v.map_or_else(|| "-".to_string(), |v| format!("{v:.digits$}"));
        // one distribution's row: p50, p99 and max, then what was counted
        let spread = |d: &LatencySummary, digits: usize, what: String| {
            format!(
                "p50 {}  p99 {}  max {}  ({what})",
                opt(d.p50, digits),
                opt(d.p99, digits),
                opt(d.max, digits)
            )
        };
        let failures = if self.connect_failures.is_empty() {
            "none".to_string()
        } else {
            let parts: Vec<String> = self.connect_failures.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            parts.join(", ")
        };
        let disconnects = if self.disconnect_reasons.is_empty() {
            self.disconnects.to_string()
        } else {
            let parts: Vec<String> =
                self.disconnect_reasons.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            format!("{} ({})", self.disconnects, parts.join(", "))
        };
        let l = &self.latency_ms;
        let mut rows: Vec<(&str, String)> = vec![
            ("transport", format!("{} {}", self.transport, self.url)),
            (
                "listeners",
                format!(
                    "{} requested, {} connected, {} alive",
                    self.listeners_requested, self.listeners_connected, self.listeners_alive
                ),
            ),
            ("connect failures", failures),
            ("disconnects", disconnects),
            (
                "window",
                format!(
                    "{:.2} s (ramp {:.1} s, warm-up {:.1} s)",
                    self.duration_secs, self.ramp_secs, self.warmup_secs
                ),
            ),
            (
                "frames",
                format!(
                    "{} received / {} expected ({} frames/s), {} events",
                    self.frames_received,
                    self.frames_expected.map_or_else(|| "?".to_string(), |v| v.to_string()),
                    opt(self.frames_per_second, 1),
                    self.events_received
                ),
            ),
            (
                "gaps",
                format!(
                    "{} missing frames on {} listeners ({} out of order)",
                    self.gaps, self.listeners_with_gaps, self.out_of_order
                ),
            ),
            ("stalls", self.stalls.to_string()),
            (
                "other events",
                format!(
                    "{} heartbeat, {} status, {} error, {} unparsed",
                    self.heartbeats, self.status_events, self.error_events, self.unparsed_events
                ),
            ),
            (
                "latency ms",
                format!(
                    "p50 {}  p90 {}  p99 {}  max {}  ({} samples)",
                    opt(l.p50, 1),
                    opt(l.p90, 1),
                    opt(l.p99, 1),
                    opt(l.max, 1),
                    l.samples
                ),
            ),
            (
                "first byte ms",
                spread(
                    &self.time_to_first_byte_ms,
                    1,
                    format!("{} listeners", self.time_to_first_byte_ms.samples),
                ),
            ),
            (
                "behind live ms",
                spread(
                    &self.start_behind_live_ms,
                    0,
                    format!("at start, {} listeners", self.start_behind_live_ms.samples),
                ),
            ),
            (
                "received",
                format!("{:.1} MB, {:.1} Mbit/s", self.bytes_received as f64 / 1e6, self.throughput_mbps),
            ),
            (
                "server",
                match self.server_pid {
                    Some(pid) => format!(
                        "pid {pid}: CPU {} %, {} µs per listener-second, RSS {} kB",
                        opt(self.server_cpu_percent, 1),
                        opt(self.server_cpu_us_per_listener_second, 2),
                        self.server_rss_kb.map_or_else(|| "-".to_string(), |v| v.to_string())
                    ),
                    None => "not found (remote, or pass --server-pid)".to_string(),
                },
            ),
            (
                "bench client",
                format!(
                    "CPU {} %, RSS {} kB",
                    opt(self.client_cpu_percent, 1),
                    self.client_rss_kb.map_or_else(|| "-".to_string(), |v| v.to_string())
                ),
            ),
        ];
        if let Some(w) = &self.whep_light {
            rows.push((
                "whep packets",
                format!(
                    "light: {} by RTP header, {} decrypted ({} not delivered, {} not matching their header)",
                    w.by_header, w.decrypted, w.undecrypted, w.mismatched
                ),
            ));
        }
        if self.transport == Transport::Hls {
            let (r, late) = (&self.playlist_reload_ms, &self.part_late_ms);
            let hls_rows = [
                (
                    "parts",
                    format!(
                        "{} received, {} missed on {} listeners",
                        self.parts_received, self.parts_missed, self.listeners_with_missed_parts
                    ),
                ),
                ("reload ms", spread(r, 1, format!("blocking, request → response, {} reloads", r.samples))),
                ("part late ms", spread(late, 1, "after the part existed".to_string())),
            ];
            rows.splice(7..7, hls_rows);
        }
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (k, v) in rows {
            // Writing to a String cannot fail.
            let _ = writeln!(out, "  {k:<width$}  {v}");
        }
        out
    }
}

/// What the listeners of a run share (read-only besides the atomics in `shared`).
#[derive(Debug)]
struct ListenerCtx {
    target: Target,
    shared: RunShared,
    connect_limit: Semaphore,
    connect_timeout: Duration,
    stall_threshold: Duration,
    alive_window: Duration,
    /// End of the measured window; set before the stop signal.
    window_end: OnceLock<Instant>,
}

#[derive(Debug)]
enum Outcome {
    /// Stopped before its start time (the run was cut short).
    NotStarted,
    Failed(String),
    Ran {
        counters: Counters,
        alive: bool,
        /// When and why the connection ended, if before the stop.
        ended: Option<(Instant, String)>,
    },
}

/// Runs the fan-out benchmark on the current tokio runtime.
///
/// `progress`, if given, is driven through the phases (the caller decides whether it is drawn).
pub async fn run_fanout(
    opts: FanoutOptions,
    progress: Option<ProgressBar>,
) -> Result<FanoutReport, BenchError> {
    opts.validate()?;
    // ws:// and wss:// URLs are parsed as http:// and https:// (same authority and path)
    let url = http1::parse_http_url(&ws_as_http(&opts.url))?;
    let path = match url.path_and_query.as_str() {
        "" => opts.transport.default_path().to_string(),
        p if p.starts_with("/?") => format!("{}{}", opts.transport.default_path(), &p[1..]),
        p => p.to_string(),
    };
    let scheme = if url.tls { "https" } else { "http" };
    let full_url = format!("{scheme}://{}{path}", url.host_header);

    let open_file_limit = proc_stats::raise_nofile_limit().ok();
    if let Some(limit) = open_file_limit
        && (opts.listeners as u64).saturating_add(FD_RESERVE) > limit
    {
        return Err(BenchError::FileLimit { listeners: opts.listeners, limit });
    }
    let addr = resolve(&url).await?;
    let dialer = Dialer::new(addr, &url, &opts.tls)?;
    let server_pid = opts.server_pid.or_else(|| proc_stats::find_listening_pid(addr));
    let ticks_per_sec = proc_stats::clock_ticks_per_sec();
    let publish = |phase| {
        if let Some(tx) = &opts.phase {
            tx.send_replace(phase);
        }
    };
    let bar = Bar(progress);

    let n = opts.listeners;
    let ramp = opts.effective_ramp();
    let mut target = Target::new(
        opts.transport,
        &dialer,
        &url,
        &path,
        opts.token.as_deref(),
        opts.hls_rung.as_deref(),
        opts.connect_timeout,
    );
    if let Target::Whep(t) = &mut target {
        t.light = opts.whep_light;
    }
    let ctx = Arc::new(ListenerCtx {
        target,
        shared: RunShared::new(),
        connect_limit: Semaphore::new(opts.max_concurrent_connects),
        connect_timeout: opts.connect_timeout,
        stall_threshold: opts.stall_threshold,
        alive_window: opts.alive_window,
        window_end: OnceLock::new(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);

    // 1. Connect.
    publish(FanoutPhase::Connecting);
    bar.connecting(n);
    let t0 = Instant::now();
    let tasks: Vec<JoinHandle<Outcome>> = (0..n)
        .map(|i| {
            let start_at = t0 + ramp.mul_f64(i as f64 / n as f64);
            tokio::spawn(listener(Arc::clone(&ctx), start_at, stop_rx.clone()))
        })
        .collect();
    let shared = &ctx.shared;
    loop {
        let ok = shared.connected.load(Ordering::Relaxed);
        let failed = shared.failed.load(Ordering::Relaxed);
        bar.connect_progress(ok, failed);
        // the first connections failed over TLS: the others will too, say why now
        if ok == 0
            && let Some(reason) = shared.tls_refusal.get()
        {
            stop_tx.send_replace(true);
            for task in tasks {
                task.abort();
            }
            bar.finish();
            publish(FanoutPhase::Done);
            return Err(BenchError::TlsRefused {
                url: full_url,
                reason: reason.clone(),
                advice: tls_advice(reason).to_string(),
            });
        }
        // `is_finished` guards against a listener that panicked before reporting.
        if ok + failed >= n || tasks.iter().all(|t| t.is_finished()) {
            break;
        }
        sleep(Duration::from_millis(50)).await;
    }
    let any_connected = shared.connected.load(Ordering::Relaxed) > 0;

    // 2. Warm up.
    if any_connected && !opts.warmup.is_zero() {
        publish(FanoutPhase::WarmingUp);
        bar.warming_up(opts.warmup);
        sleep(opts.warmup).await;
    }

    // 3. Measure.
    let server_cpu0 = server_pid.and_then(|p| proc_stats::cpu_ticks(Some(p)));
    let client_cpu0 = proc_stats::cpu_ticks(None);
    let window_start = Instant::now();
    if any_connected {
        shared.set_window(Window::In);
        publish(FanoutPhase::Measuring);
        let deadline = window_start + opts.duration;
        bar.measuring(opts.duration);
        let mut last = (window_start, 0u64);
        loop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let frames = shared.frames.load(Ordering::Relaxed);
            let rate = (frames - last.1) as f64 / now.duration_since(last.0).as_secs_f64().max(1e-3);
            last = (now, frames);
            let open = shared.connected.load(Ordering::Relaxed) - shared.closed.load(Ordering::Relaxed);
            bar.measure_progress(now - window_start, open, rate);
            sleep_until(deadline.min(now + Duration::from_millis(250))).await;
        }
    }
    let window_end = Instant::now();
    shared.set_window(Window::After);
    let wall = window_end - window_start;
    let server_cpu1 = server_pid.and_then(|p| proc_stats::cpu_ticks(Some(p)));
    let client_cpu1 = proc_stats::cpu_ticks(None);
    let server_rss_kb = server_pid.and_then(|p| proc_stats::rss_kb(Some(p)));
    let client_rss_kb = proc_stats::rss_kb(None);

    // 4. Stop and collect.
    // The cell is set exactly once, here, before any listener reads it.
    let _ = ctx.window_end.set(window_end);
    stop_tx.send_replace(true);
    let mut outcomes = Vec::with_capacity(n);
    for task in tasks {
        outcomes.push(task.await.unwrap_or_else(|e| {
            Outcome::Failed(if e.is_panic() { "listener_panicked".into() } else { "cancelled".into() })
        }));
    }
    bar.finish();
    publish(FanoutPhase::Done);

    let mut report = FanoutReport {
        transport: opts.transport,
        url: full_url,
        listeners_requested: n,
        listeners_connected: 0,
        listeners_alive: 0,
        connect_failures: BTreeMap::new(),
        disconnects: 0,
        disconnect_reasons: BTreeMap::new(),
        ramp_secs: ramp.as_secs_f64(),
        warmup_secs: if any_connected { opts.warmup.as_secs_f64() } else { 0.0 },
        duration_secs: wall.as_secs_f64(),
        frames_per_second: None,
        events_received: 0,
        frames_received: 0,
        frames_expected: None,
        gaps: 0,
        listeners_with_gaps: 0,
        out_of_order: 0,
        stalls: 0,
        heartbeats: 0,
        status_events: 0,
        error_events: 0,
        unparsed_events: 0,
        latency_ms: shared.latency.summary(),
        time_to_first_byte_ms: shared.ttfb.summary(),
        start_behind_live_ms: shared.start_lag.summary(),
        parts_received: 0,
        parts_missed: 0,
        listeners_with_missed_parts: 0,
        playlist_reload_ms: shared.reload.summary(),
        part_late_ms: shared.part_late.summary(),
        bytes_received: 0,
        throughput_mbps: 0.0,
        listener_seconds: 0.0,
        server_pid,
        server_cpu_percent: None,
        server_cpu_us_per_listener_second: None,
        server_rss_kb,
        client_cpu_percent: None,
        client_rss_kb,
        open_file_limit,
        whep_light: (opts.transport == Transport::Whep && opts.whep_light).then(|| WhepLightReport {
            by_header: shared.whep.by_header.load(Ordering::Relaxed),
            decrypted: shared.whep.decrypted.load(Ordering::Relaxed),
            undecrypted: shared.whep.undecrypted.load(Ordering::Relaxed),
            mismatched: shared.whep.mismatched.load(Ordering::Relaxed),
        }),
    };
    for outcome in outcomes {
        match outcome {
            Outcome::NotStarted => {}
            Outcome::Failed(reason) => *report.connect_failures.entry(reason).or_default() += 1,
            Outcome::Ran { counters: c, alive, ended } => {
                report.listeners_connected += 1;
                report.listeners_alive += usize::from(alive);
                let until = match ended {
                    Some((at, reason)) => {
                        report.disconnects += 1;
                        *report.disconnect_reasons.entry(reason).or_default() += 1;
                        at.min(window_end)
                    }
                    None => window_end,
                };
                report.listener_seconds += until.saturating_duration_since(window_start).as_secs_f64();
                report.events_received += c.events;
                report.frames_received += c.frames;
                report.gaps += c.gaps;
                report.listeners_with_gaps += usize::from(c.gaps > 0);
                report.out_of_order += c.out_of_order;
                report.stalls += c.stalls;
                report.heartbeats += c.heartbeats;
                report.status_events += c.status_events;
                report.error_events += c.error_events;
                report.unparsed_events += c.unparsed;
                report.bytes_received += c.bytes;
                report.parts_received += c.parts;
                report.parts_missed += c.parts_missed;
                report.listeners_with_missed_parts += usize::from(c.parts_missed > 0);
            }
        }
    }
    let secs = wall.as_secs_f64();
    let frame_us = shared.frame_duration_us.load(Ordering::Relaxed);
    report.frames_per_second = (frame_us > 0).then(|| 1e6 / frame_us as f64);
    report.frames_expected =
        report.frames_per_second.map(|fps| (report.listeners_alive as f64 * secs * fps).round() as u64);
    if secs > 0.0 {
        report.throughput_mbps = report.bytes_received as f64 * 8.0 / secs / 1e6;
    }
    if let (Some(a), Some(b)) = (server_cpu0, server_cpu1) {
        let ticks = b.saturating_sub(a);
        report.server_cpu_percent = proc_stats::cpu_percent(ticks, ticks_per_sec, wall);
        if report.listener_seconds > 0.0 {
            let cpu_us = ticks as f64 * 1e6 / ticks_per_sec as f64;
            report.server_cpu_us_per_listener_second = Some(cpu_us / report.listener_seconds);
        }
    }
    if let (Some(a), Some(b)) = (client_cpu0, client_cpu1) {
        report.client_cpu_percent = proc_stats::cpu_percent(b.saturating_sub(a), ticks_per_sec, wall);
    }
    Ok(report)
}

/// `ws://…` as `http://…` and `wss://…` as `https://…`; other URLs as they are.
pub(crate) fn ws_as_http(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("ws") => format!("http://{rest}"),
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("wss") => format!("https://{rest}"),
        _ => url.to_string(),
    }
}

pub(crate) async fn resolve(url: &http1::HttpUrl) -> Result<SocketAddr, BenchError> {
    let resolve_err = |source| BenchError::Resolve { host: url.host.clone(), source };
    let mut addrs = tokio::net::lookup_host((url.host.as_str(), url.port)).await.map_err(resolve_err)?;
    addrs.next().ok_or_else(|| resolve_err(std::io::Error::other("no address found")))
}

/// What a listener connects to, by transport.
#[derive(Debug)]
pub(crate) enum Target {
    Sse(sse::SseTarget),
    Http(http::HttpTarget),
    Ws(ws::WsTarget),
    Whep(whep::WhepTarget),
    Hls(hls::HlsTarget),
}

/// An open listener connection, by transport.
pub(crate) enum Connection {
    Sse(sse::SseConnection),
    Http(http::HttpConnection),
    Ws(Box<ws::WsConnection>),
    Whep(Box<whep::WhepConnection>),
    Hls(Box<hls::HlsConnection>),
}

impl Target {
    /// The target of `transport` through `dialer` (`url` for its host, `path` with the route).
    pub(crate) fn new(
        transport: Transport,
        dialer: &Dialer,
        url: &http1::HttpUrl,
        path: &str,
        token: Option<&str>,
        hls_rung: Option<&str>,
        connect_timeout: Duration,
    ) -> Self {
        match transport {
            Transport::Sse => Target::Sse(sse::SseTarget::new(dialer.clone(), url, path, token)),
            Transport::Http => Target::Http(http::HttpTarget::new(dialer.clone(), url, path, token)),
            Transport::Ws => {
                Target::Ws(ws::WsTarget::new(&url.host_header, path, token, dialer.client_config()))
            }
            Transport::Hls => {
                Target::Hls(hls::HlsTarget::new(dialer.clone(), &url.host_header, path, hls_rung, token))
            }
            Transport::Whep => Target::Whep(whep::WhepTarget::new(
                format!("{}://{}", if dialer.is_tls() { "https" } else { "http" }, url.host_header),
                path,
                token,
                connect_timeout,
                dialer.tls_options.clone(),
            )),
        }
    }

    pub(crate) async fn connect(&self) -> Result<Connection, String> {
        match self {
            Target::Sse(t) => sse::connect(t).await.map(Connection::Sse),
            Target::Http(t) => http::connect(t).await.map(Connection::Http),
            Target::Ws(t) => ws::connect(t).await.map(|c| Connection::Ws(Box::new(c))),
            Target::Whep(t) => whep::connect(t).await.map(|c| Connection::Whep(Box::new(c))),
            Target::Hls(t) => hls::connect(t).await.map(|c| Connection::Hls(Box::new(c))),
        }
    }
}

impl Connection {
    pub(crate) async fn run(
        &mut self,
        shared: &RunShared,
        stats: &mut ListenerStats,
        stop: &mut watch::Receiver<bool>,
    ) -> ReadEnd {
        match self {
            Connection::Sse(c) => c.run(shared, stats, stop).await,
            Connection::Http(c) => c.run(shared, stats, stop).await,
            Connection::Ws(c) => c.run(shared, stats, stop).await,
            Connection::Whep(c) => c.run(shared, stats, stop).await,
            Connection::Hls(c) => c.run(shared, stats, stop).await,
        }
    }
}

/// One listener: wait for its start time, connect, read until stopped.
async fn listener(ctx: Arc<ListenerCtx>, start_at: Instant, mut stop: watch::Receiver<bool>) -> Outcome {
    tokio::select! {
        biased;
        _ = stop.changed() => return Outcome::NotStarted,
        () = sleep_until(start_at) => {}
    }
    let connected = {
        // The semaphore is never closed, so acquiring only waits.
        let Ok(_permit) = ctx.connect_limit.acquire().await else { return Outcome::NotStarted };
        match timeout(ctx.connect_timeout, ctx.target.connect()).await {
            Ok(result) => result,
            Err(_) => Err("timeout".to_string()),
        }
    };
    let mut conn = match connected {
        Ok(conn) => conn,
        Err(reason) => {
            ctx.shared.on_connect_failure(&reason);
            return Outcome::Failed(reason);
        }
    };
    ctx.shared.connected.fetch_add(1, Ordering::Relaxed);
    let mut stats = ListenerStats::new(ctx.stall_threshold);
    let end = conn.run(&ctx.shared, &mut stats, &mut stop).await;
    drop(conn);
    let ended = match end {
        ReadEnd::Stopped => None,
        ReadEnd::Closed => Some((Instant::now(), "closed".to_string())),
        ReadEnd::Failed(reason) => Some((Instant::now(), reason)),
    };
    if ended.is_some() {
        ctx.shared.closed.fetch_add(1, Ordering::Relaxed);
        // Ended early: wait for the end of the run so the books close at the same instant
        // for everyone (an early end is never alive).
        let _ = stop.wait_for(|stopped| *stopped).await;
    }
    let window_end = ctx.window_end.get().copied().unwrap_or_else(Instant::now);
    let alive = stats.finish(window_end.into_std(), ended.is_none(), ctx.alive_window);
    Outcome::Ran { counters: stats.counters, alive, ended }
}

/// The optional progress bar, driven through the phases.
struct Bar(Option<ProgressBar>);

impl Bar {
    fn style(template: &str) -> ProgressStyle {
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ")
    }

    fn connecting(&self, n: usize) {
        if let Some(pb) = &self.0 {
            pb.set_style(Self::style("{spinner} connecting [{bar:30}] {pos}/{len} {msg}"));
            pb.set_length(n as u64);
            pb.set_position(0);
            pb.enable_steady_tick(Duration::from_millis(120));
        }
    }

    fn connect_progress(&self, ok: usize, failed: usize) {
        if let Some(pb) = &self.0 {
            pb.set_position((ok + failed) as u64);
            pb.set_message(format!("({ok} ok, {failed} failed)"));
        }
    }

    fn warming_up(&self, d: Duration) {
        if let Some(pb) = &self.0 {
            pb.set_style(Self::style("{spinner} warming up {msg}"));
            pb.set_message(format!("{:.1} s", d.as_secs_f64()));
        }
    }

    fn measuring(&self, d: Duration) {
        if let Some(pb) = &self.0 {
            pb.set_style(Self::style("{spinner} measuring [{bar:30}] {msg}"));
            pb.set_length(d.as_millis() as u64);
            pb.set_position(0);
        }
    }

    fn measure_progress(&self, elapsed: Duration, open: usize, frames_per_sec: f64) {
        if let Some(pb) = &self.0 {
            pb.set_position(elapsed.as_millis() as u64);
            pb.set_message(format!(
                "{:.0}/{:.0} s  {open} open  {frames_per_sec:.0} frames/s",
                elapsed.as_secs_f64(),
                pb.length().unwrap_or(0) as f64 / 1000.0
            ));
        }
    }

    fn finish(&self) {
        if let Some(pb) = &self.0 {
            pb.finish_and_clear();
        }
    }
}
