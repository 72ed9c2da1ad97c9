//! Starting and stopping the server: hubs, source threads, the sampler, HTTP.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::RngCore;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::auth::{Authenticator, Permission};
use crate::config::Config;
use crate::connections::Connections;
use crate::hub::registry::IdPattern;
use crate::source::{SourceError, SourceSpec};
use crate::state::{AppState, SharedState};
use crate::stream::{Built, StreamBuilder, Streams, run_reaper};
use crate::sysinfo::CpuMeter;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("stream '{stream}': {source}")]
    Source { stream: String, source: SourceError },
    #[error("stream '{stream}': {message}")]
    Stream { stream: String, message: String },
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Tls(#[from] crate::http::tls::TlsError),
    #[error("cluster: {0}")]
    Cluster(crate::cluster::ClusterError),
}

/// A server running in the background of the current tokio runtime.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub state: SharedState,
    /// A 24 h admin token, when the secret was generated for this run (none configured).
    pub generated_admin_token: Option<String>,
    shutdown_tx: watch::Sender<bool>,
    stop_sources: Arc<AtomicBool>,
    serve: JoinHandle<std::io::Result<()>>,
    grace: Duration,
}

/// Checks a configuration without starting anything: the values, every declared stream's
/// source (files must exist and be readable), and the stream templates. Returns one line
/// per stream for the operator. Used by `ondes serve --check-config`, e.g. before a
/// process manager restarts the server with an edited file.
pub fn check(config: &Config) -> Result<Vec<String>, StartError> {
    config.validate()?;
    let mut lines = Vec::new();
    if !config.server.tls_cert.is_empty() {
        crate::http::tls::Tls::load(config.server.tls_cert.as_ref(), config.server.tls_key.as_ref())?;
        lines.push(format!("TLS: {} with {}", config.server.tls_cert, config.server.tls_key));
    }
    for s in &config.streams {
        if IdPattern::is_pattern(&s.id) {
            lines.push(format!("template {}: created on demand ({})", s.id, s.source.trim()));
            continue;
        }
        let spec = SourceSpec::parse(&s.source)
            .map_err(|e| StartError::Source { stream: s.id.clone(), source: e.into() })?;
        if let SourceSpec::File { path, .. } = &spec {
            std::fs::File::open(path).map_err(|e| StartError::Stream {
                stream: s.id.clone(),
                message: format!("cannot open {}: {e}", path.display()),
            })?;
        }
        lines.push(format!("stream {}: {}", s.id, s.source.trim()));
    }
    Ok(lines)
}

/// Opens every source (failing on a bad one), binds, and starts serving.
pub async fn start(config: Config) -> Result<RunningServer, StartError> {
    let stop_sources = Arc::new(AtomicBool::new(false));
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let perf = Arc::new(crate::perf::ServerPerf::new(&config.perf)?);
    let metrics = Arc::new(crate::metrics::Metrics::new(perf.clone(), config.perf.stages));
    let builder = StreamBuilder::new(&config, metrics.clone(), shutdown_rx.clone(), stop_sources.clone());
    let streams = Streams::new(&config, builder);
    let mut to_start = Vec::new();
    let mut stdin_used = false;
    for s in config.streams.iter().filter(|s| !IdPattern::is_pattern(&s.id)) {
        let source_spec = SourceSpec::parse(&s.source)
            .map_err(|e| StartError::Source { stream: s.id.clone(), source: e.into() })?;
        if matches!(source_spec, SourceSpec::Stdin { .. }) {
            if stdin_used {
                return Err(StartError::Stream {
                    stream: s.id.clone(),
                    message: "only one stream can read standard input".into(),
                });
            }
            stdin_used = true;
        }
        let Built { stream, source } = streams.builder().build(&s.id, s)?;
        to_start.push((streams.insert_declared(stream)?, source));
    }

    let (secret, generated) = if config.auth.secret.is_empty() {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        (bytes.to_vec(), true)
    } else {
        (config.auth.secret.as_bytes().to_vec(), false)
    };
    let auth = Authenticator::new(&secret);
    let generated_admin_token =
        generated.then(|| auth.mint("admin", &[Permission::Admin], 86_400, unix_secs()));

    let listener = tokio::net::TcpListener::bind(&config.server.bind)
        .await
        .map_err(|e| StartError::Bind { addr: config.server.bind.clone(), source: e })?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Bind { addr: config.server.bind.clone(), source: e })?;

    for (stream, source) in to_start {
        if let Err(e) = streams.builder().start(&stream, source) {
            stop_sources.store(true, Ordering::Relaxed);
            return Err(e);
        }
    }

    // WebRTC shares one UDP port; a server whose port is taken runs without it (WHEP/WHIP
    // answer 503 saying so) rather than not at all
    let (webrtc, rtc_engine) = match crate::webrtc::bind(&config.webrtc).await {
        Ok((w, e)) => {
            tracing::info!(candidates = ?w.candidates, "WebRTC (WHEP/WHIP) on UDP");
            (Some(w), Some(e))
        }
        Err(e) => {
            tracing::warn!(port = config.webrtc.udp_port, error = %e, "cannot bind the WebRTC UDP port: WHEP and WHIP are off");
            (None, None)
        }
    };

    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    let config_pending = config.server.max_pending_connections;
    let tls = if config.server.tls_cert.is_empty() {
        None
    } else {
        let tls =
            crate::http::tls::Tls::load(config.server.tls_cert.as_ref(), config.server.tls_key.as_ref());
        match tls {
            Ok(t) => Some(Arc::new(t)),
            Err(e) => {
                stop_sources.store(true, Ordering::Relaxed);
                return Err(e.into());
            }
        }
    };
    let cluster = match &config.cluster {
        Some(c) => match crate::cluster::Cluster::connect(c, addr.port()).await {
            Ok(c) => Some(c),
            Err(e) => {
                stop_sources.store(true, Ordering::Relaxed);
                return Err(StartError::Cluster(e));
            }
        },
        None => None,
    };
    let icecast = crate::icecast::IcecastState::new(&config);
    let on_demand = !streams.templates().is_empty();
    let hls_config = config.hls.clone();
    let traces = crate::trace::Traces::new(
        config.server.trace_frames,
        config.server.trace_listener_frames,
        config.server.trace_keep_closed,
    );
    let state = Arc::new(AppState {
        traces,
        icecast,
        connections: Connections::new(config.server.max_connections, config.server.max_connections_per_ip),
        config,
        streams,
        auth,
        shutdown: shutdown_rx.clone(),
        started: Instant::now(),
        cpu: CpuMeter::default(),
        perf: perf.clone(),
        metrics,
        writers: crate::egress::writer::Writers::new(shutdown_rx.clone()),
        pending: crate::http::pending::Pending::new(config_pending),
        tls,
        webrtc,
        hls: crate::egress::hls::HlsSegmenters::new(hls_config, shutdown_rx.clone()),
        cluster: cluster.clone(),
    });
    if let Some(c) = cluster {
        if c.config.role.is_origin() {
            tokio::spawn(crate::cluster::origin::run(state.clone(), c.clone(), shutdown_rx.clone()));
        }
        tokio::spawn(crate::cluster::nodes::run(state.clone(), c.clone(), shutdown_rx.clone()));
        tracing::info!(node = %c.node_id, role = c.config.role.name(), nats = %c.config.nats_url, "cluster on");
    }
    let on_demand = on_demand || state.cluster.as_ref().is_some_and(|c| c.config.role.is_edge());
    if let Some(e) = rtc_engine {
        tokio::spawn(e.run(state.clone()));
    }
    tokio::spawn(sampler(state.clone(), shutdown_rx.clone()));
    if on_demand {
        tokio::spawn(run_reaper(state.clone(), shutdown_rx.clone()));
    }
    tokio::spawn(crate::perf::run_logger(perf, state.config.perf.summary_log_secs, shutdown_rx.clone()));

    let app = crate::http::app(state.clone());
    let sndbuf = state.config.server.socket_send_buffer_kb * 1024;
    if sndbuf > 0 {
        // accepted sockets inherit the listening socket's buffer size (Linux); best effort:
        // a refused size leaves the system's autotuning
        let _ = socket2::SockRef::from(&listener).set_send_buffer_size(sndbuf);
    }
    let lowat = (state.config.server.socket_notsent_lowat_kb * 1024) as u32;
    let tune = move |tcp: &tokio::net::TcpStream| {
        // audio events are small and latency-bound: never wait for Nagle
        let _ = tcp.set_nodelay(true);
        if lowat > 0 {
            // keep unsent audio in the hub (where lag is seen, skipped and adapted to), not
            // in the kernel: the socket is writable only below `lowat`
            let _ = socket2::SockRef::from(tcp).set_tcp_notsent_lowat(lowat);
        }
    };
    // listeners' GETs are taken over for the feed writers, the rest served by hyper; Icecast
    // source clients send unframed PUT/SOURCE bodies (crate::icecast::conn)
    let serve = tokio::spawn(crate::http::accept::serve(listener, state.clone(), app, tune, shutdown_rx));
    tracing::info!(%addr, streams = state.streams.counts().0, templates = state.streams.templates().len(), "ondes listening");
    Ok(RunningServer { addr, state, generated_admin_token, shutdown_tx, stop_sources, serve, grace })
}

impl RunningServer {
    /// Base URL, e.g. `http://127.0.0.1:8080` (`https://` with TLS).
    pub fn url(&self) -> String {
        let scheme = if self.state.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Reads the TLS certificate and key again (what SIGHUP does): new connections get
    /// them, open ones keep theirs. Without TLS there is nothing to do.
    pub fn reload_tls(&self) -> Result<bool, crate::http::tls::TlsError> {
        match &self.state.tls {
            Some(t) => t.reload().map(|()| true),
            None => Ok(false),
        }
    }

    /// Stops accepting, tells every listener with an SSE `error` event, closes connections
    /// (waiting up to `server.shutdown_grace_secs`), and stops the sources.
    pub async fn shutdown(self) {
        tracing::info!("shutting down");
        self.shutdown_tx.send_replace(true);
        let abort = self.serve.abort_handle();
        if tokio::time::timeout(self.grace, self.serve).await.is_err() {
            tracing::warn!("connections did not close within the grace period; closing them");
            abort.abort();
        }
        self.stop_sources.store(true, Ordering::Relaxed);
        for s in self.state.streams.list() {
            s.entry.hub.end("the server stopped");
        }
    }
}

/// Once a second: frames/s and bandwidth per stream, process CPU. Streams are taken from the
/// registry at every tick, so added ones are sampled and removed ones forgotten.
async fn sampler(state: SharedState, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // previous (frames, bytes) per hub, keyed by the hub's address: a stream removed and
    // created again under the same id starts afresh
    let mut last: HashMap<usize, (u64, u64)> = HashMap::new();
    let mut last_t = Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let now = Instant::now();
        let dt = now.duration_since(last_t).as_secs_f64().max(1e-3);
        last_t = now;
        let mut next = HashMap::with_capacity(last.len());
        for s in state.streams.list() {
            let hub = &s.entry.hub;
            let key = Arc::as_ptr(hub) as usize;
            let frames = hub.stats.total_frames.load(Ordering::Relaxed);
            let bytes = state.connections.delivered(Some(&hub.id), None).bytes;
            let prev = last.get(&key).copied().unwrap_or((0, 0));
            let fps = frames.saturating_sub(prev.0) as f64 / dt;
            let mbps = bytes.saturating_sub(prev.1) as f64 * 8.0 / dt / 1e6;
            hub.stats.fps_bits.store(fps.to_bits(), Ordering::Relaxed);
            hub.stats.mbps_bits.store(mbps.to_bits(), Ordering::Relaxed);
            next.insert(key, (frames, bytes));
        }
        last = next;
        state.cpu.sample();
    }
}

fn unix_secs() -> u64 {
    (crate::clock::now_us() / 1_000_000) as u64
}
