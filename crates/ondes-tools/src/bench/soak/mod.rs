//! `ondes bench soak`: a server under mixed, changing load for a long time, and a verdict
//! from the trend of its memory and open files.
//!
//! For `duration` (the warm-up included):
//!
//! - **listeners** ([`churn`]): `listeners` slots, each a listener at a time over SSE,
//!   WebSocket, Icecast Ogg (`/{id}.ogg`) or LL-HLS (fan-out's own clients), living a random
//!   `lifetime` and replaced at once, so the count stays near `listeners` while connections
//!   come and go all the time;
//! - **publishers** ([`publishers`]): one per `publish_streams` entry, alternately over
//!   WebSocket (Opus) and HTTP ingest (pcm16), publishing for a while, stopping, coming back;
//! - **samples** ([`sampler`]) every `sample_every`: the server process's RSS, open files and
//!   threads from `/proc`, its dropped frames per stream and stage and its listener sessions
//!   from `/metrics`, and the load generator's own counts;
//! - **verdict** ([`verdict`]): growth of RSS and open files after the warm-up, beyond noise,
//!   and drops the listeners do not explain.
//!
//! `leak_per_sec` adds the deliberate leak ([`leak`]) that proves the verdict can fail.

pub mod churn;
pub mod leak;
pub mod publishers;
pub mod report;
pub mod sampler;
pub mod verdict;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use ondes_client::publisher::SendCodec;
use serde::Serialize;
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, sleep_until};

use self::churn::{ChurnCounters, ChurnCtx, ChurnSnapshot};
use self::publishers::{PublisherCounters, PublisherPlan, PublisherSnapshot};
use self::verdict::{Point, Verdict};
use super::fanout::{Target, Transport, resolve};
use super::reader::{Dialer, RunShared};
use super::stats::Window;
use super::{BenchError, http1, proc_stats};

/// What to run. [`SoakOptions::new`] gives the defaults of `ondes bench soak`.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// `http://host:port` (or `https://`) of the server.
    pub url: String,
    /// What `https://` listeners and publishers trust: the system's roots, plus `--ca`.
    pub tls: ondes_client::tls::TlsOptions,
    /// The stream the listeners play.
    pub stream: String,
    pub listeners: usize,
    /// The whole run, warm-up included.
    pub duration: Duration,
    /// Samples before this are shown but not judged.
    pub warmup: Duration,
    pub sample_every: Duration,
    pub seed: u64,
    /// The transports listeners are spread over.
    pub transports: Vec<Transport>,
    /// A listener's lifetime is drawn uniformly from this range.
    pub lifetime: (Duration, Duration),
    /// First listeners are spread over this long.
    pub ramp: Duration,
    pub max_concurrent_connects: usize,
    pub connect_timeout: Duration,
    /// Server process to sample; `None`: the local process listening on the URL's port.
    pub server_pid: Option<u32>,
    /// Sent by listeners (servers with `auth.required_for_stream`).
    pub listen_token: Option<String>,
    /// Streams with `source = "publish"` to publish into (needs `publish_token`).
    pub publish_streams: Vec<String>,
    /// A token with permission `publish`.
    pub publish_token: Option<String>,
    /// How long a publisher session lasts, and the pause after it.
    pub publish_on: (Duration, Duration),
    pub publish_off: (Duration, Duration),
    /// Stuck connections opened per second (0 = none): the deliberate leak.
    pub leak_per_sec: f64,
}

impl SoakOptions {
    pub fn new(url: impl Into<String>) -> Self {
        SoakOptions {
            url: url.into(),
            tls: ondes_client::tls::TlsOptions::default(),
            stream: "main".into(),
            listeners: 1000,
            duration: Duration::from_secs(3600),
            warmup: Duration::from_secs(300),
            sample_every: Duration::from_secs(10),
            seed: 1,
            transports: vec![Transport::Sse, Transport::Ws, Transport::Http, Transport::Hls],
            lifetime: (Duration::from_secs(10), Duration::from_secs(120)),
            ramp: Duration::from_secs(10),
            max_concurrent_connects: 100,
            connect_timeout: Duration::from_secs(10),
            server_pid: None,
            listen_token: None,
            publish_streams: Vec::new(),
            publish_token: None,
            publish_on: (Duration::from_secs(20), Duration::from_secs(90)),
            publish_off: (Duration::from_secs(5), Duration::from_secs(30)),
            leak_per_sec: 0.0,
        }
    }

    fn validate(&self) -> Result<(), BenchError> {
        let bad = |m: String| Err(BenchError::InvalidOption(m));
        if self.listeners == 0 {
            return bad("--listeners must be at least 1".into());
        }
        if self.warmup >= self.duration {
            return bad(format!(
                "--warmup ({:?}) must be shorter than --duration ({:?}): the verdict needs samples after it",
                self.warmup, self.duration
            ));
        }
        if self.sample_every.is_zero() || self.sample_every * 3 > self.duration - self.warmup {
            return bad("--sample-every must be positive and fit at least 3 times after the warm-up".into());
        }
        if self.transports.is_empty() || self.transports.contains(&Transport::Whep) {
            return bad("transports: one or more of sse, ws, http, hls".into());
        }
        if self.lifetime.0.is_zero() || self.lifetime.0 > self.lifetime.1 {
            return bad("listener lifetime: give MIN..MAX with 0 < MIN <= MAX".into());
        }
        if !self.publish_streams.is_empty() && self.publish_token.is_none() {
            return bad("publishers need a token with permission publish".into());
        }
        if !(0.0..=1000.0).contains(&self.leak_per_sec) {
            return bad("--leak: connections per second, 0..=1000".into());
        }
        Ok(())
    }

    /// The route of `transport` for the listeners' stream.
    fn path(&self, transport: Transport) -> String {
        let id = &self.stream;
        match transport {
            Transport::Sse => format!("/api/streams/{id}/stream"),
            Transport::Ws => format!("/api/streams/{id}/ws"),
            Transport::Http => format!("/{id}.ogg"),
            Transport::Hls => format!("/api/streams/{id}/hls/index.m3u8"),
            Transport::Whep => format!("/api/streams/{id}/whep"),
        }
    }
}

/// One sample of the run.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Seconds since the start of the run.
    pub t_secs: f64,
    pub rss_kb: Option<u64>,
    pub fds: Option<u64>,
    pub threads: Option<u64>,
    /// Live listener sessions the server counts (`ondes_active_sessions`; HLS clients are not
    /// sessions).
    pub sessions: Option<u64>,
    /// The server's dropped frames so far, `stream:stage`.
    pub drops: BTreeMap<String, u64>,
    /// The load generator's listeners so far.
    pub listeners: ChurnSnapshot,
    /// Stuck connections of the deliberate leak so far.
    pub leaked: u64,
}

/// Result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    pub url: String,
    pub stream: String,
    pub server_pid: Option<u32>,
    pub listeners_target: usize,
    pub transports: Vec<Transport>,
    pub duration_secs: f64,
    pub warmup_secs: f64,
    pub sample_every_secs: f64,
    pub seed: u64,
    pub leak_per_sec: f64,
    pub samples: Vec<Sample>,
    /// Listener totals at the end.
    pub listeners: ChurnSnapshot,
    /// Why listeners failed to connect or ended early.
    pub listener_reasons: BTreeMap<String, u64>,
    pub publish_streams: Vec<String>,
    pub publishers: PublisherSnapshot,
    pub publisher_failures: BTreeMap<String, u64>,
    pub verdict: Verdict,
}

/// Runs a soak on the current tokio runtime; `on_sample` sees each sample as it is taken.
pub async fn run_soak(opts: SoakOptions, on_sample: impl Fn(&Sample)) -> Result<SoakReport, BenchError> {
    opts.validate()?;
    let url = http1::parse_http_url(&opts.url)?;
    let (http, ws) = if url.tls { ("https", "wss") } else { ("http", "ws") };
    let base = format!("{http}://{}", url.host_header);
    let addr = resolve(&url).await?;
    let dialer = Dialer::new(addr, &url, &opts.tls)?;
    let open_file_limit = proc_stats::raise_nofile_limit().ok();
    let leaked_max = (opts.leak_per_sec * opts.duration.as_secs_f64()).ceil() as u64;
    if let Some(limit) = open_file_limit
        && (opts.listeners as u64).saturating_add(leaked_max).saturating_add(128) > limit
    {
        return Err(BenchError::FileLimit { listeners: opts.listeners, limit });
    }
    let server_pid = opts.server_pid.or_else(|| proc_stats::find_listening_pid(addr));

    let ctx = Arc::new(ChurnCtx {
        targets: opts
            .transports
            .iter()
            .map(|&t| {
                let target = Target::new(
                    t,
                    &dialer,
                    &url,
                    &opts.path(t),
                    opts.listen_token.as_deref(),
                    None,
                    opts.connect_timeout,
                );
                (t, target)
            })
            .collect(),
        shared: RunShared::new(),
        counters: ChurnCounters::default(),
        connect_limit: Semaphore::new(opts.max_concurrent_connects),
        connect_timeout: opts.connect_timeout,
        lifetime: opts.lifetime,
        seed: opts.seed,
    });
    // every read counts: a soak has no separate measured window
    ctx.shared.set_window(Window::In);
    let (stop_tx, stop_rx) = watch::channel(false);
    let t0 = Instant::now();
    let n = opts.listeners;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let start_at = t0 + opts.ramp.mul_f64(i as f64 / n as f64);
        tasks.spawn(churn::slot(Arc::clone(&ctx), i as u64, start_at, stop_rx.clone()));
    }

    let pub_counters = Arc::new(PublisherCounters::default());
    for (i, id) in opts.publish_streams.iter().enumerate() {
        let (to, codec) = if i % 2 == 0 {
            (
                format!("{ws}://{}/api/streams/{id}/publish", url.host_header),
                SendCodec::Opus { bitrate_bps: 64_000 },
            )
        } else {
            (format!("{base}/api/streams/{id}/ingest"), SendCodec::Pcm16)
        };
        let plan = PublisherPlan {
            to,
            codec,
            freq_hz: 330 + 110 * i as u32,
            token: opts.publish_token.clone(),
            tls: opts.tls.clone(),
            on: opts.publish_on,
            off: opts.publish_off,
            seed: opts.seed.wrapping_add(1000 + i as u64),
        };
        let counters = Arc::clone(&pub_counters);
        let stop = stop_rx.clone();
        tasks.spawn(async move { publishers::run_publisher(plan, &counters, stop).await });
    }

    let leaked = Arc::new(AtomicU64::new(0));
    if opts.leak_per_sec > 0.0 {
        let request = super::reader::get_request(
            &url,
            &opts.path(Transport::Sse),
            "Accept: text/event-stream\r\n",
            opts.listen_token.as_deref(),
        );
        let (leaked, stop, rate) = (Arc::clone(&leaked), stop_rx.clone(), opts.leak_per_sec);
        tasks.spawn(async move { leak::run_leak(addr, request, rate, &leaked, stop).await });
    }

    let client = opts.tls.http_client(&base).map_err(|e| BenchError::HttpClient(e.to_string()))?;
    let mut samples = Vec::new();
    let end = t0 + opts.duration;
    let mut next = t0;
    while next <= end {
        sleep_until(next).await;
        let proc = server_pid.map(sampler::sample_process).unwrap_or_default();
        let metrics = sampler::fetch_metrics(&client, &base).await;
        let sample = Sample {
            t_secs: t0.elapsed().as_secs_f64(),
            rss_kb: proc.rss_kb,
            fds: proc.fds,
            threads: proc.threads,
            sessions: metrics.as_ref().map(|m| m.sessions),
            drops: metrics.map(|m| m.drops).unwrap_or_default(),
            listeners: ctx.counters.snapshot(),
            leaked: leaked.load(std::sync::atomic::Ordering::Relaxed),
        };
        on_sample(&sample);
        samples.push(sample);
        next += opts.sample_every;
    }
    stop_tx.send_replace(true);
    // Publishers finish their session (what was taken is sent and acknowledged); bounded.
    let _ =
        tokio::time::timeout(Duration::from_secs(15), async { while tasks.join_next().await.is_some() {} })
            .await;
    tasks.abort_all();

    let points: Vec<Point> = samples
        .iter()
        .map(|s| Point {
            t_secs: s.t_secs,
            rss_kb: s.rss_kb,
            fds: s.fds,
            threads: s.threads,
            drops: s.drops.clone(),
        })
        .collect();
    let mut verdict = verdict::judge(&points, opts.warmup.as_secs_f64());
    let listeners = ctx.counters.snapshot();
    if listeners.joined == 0 {
        verdict.pass = false;
        verdict.reasons.push("no listener could connect: nothing was soaked".into());
    }
    Ok(SoakReport {
        url: base,
        stream: opts.stream.clone(),
        server_pid,
        listeners_target: n,
        transports: opts.transports.clone(),
        duration_secs: samples.last().map_or(0.0, |s| s.t_secs),
        warmup_secs: opts.warmup.as_secs_f64(),
        sample_every_secs: opts.sample_every.as_secs_f64(),
        seed: opts.seed,
        leak_per_sec: opts.leak_per_sec,
        samples,
        listeners,
        listener_reasons: ctx.counters.reasons.snapshot(),
        publish_streams: opts.publish_streams.clone(),
        publishers: pub_counters.snapshot(),
        publisher_failures: pub_counters.reasons.snapshot(),
        verdict,
    })
}
