//! Starting and stopping the server: hubs, source threads, the sampler, HTTP.

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
use crate::hub::StreamHub;
use crate::publish::Publisher;
use crate::publish::playout::run_playout;
use crate::source::{SourceError, SourceSpec, open_source, spawn_source};
use crate::state::{AppState, SharedState};
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

/// Opens every source (failing on a bad one), binds, and starts serving.
pub async fn start(config: Config) -> Result<RunningServer, StartError> {
    let stop_sources = Arc::new(AtomicBool::new(false));
    let mut hubs = Vec::new();
    let mut sources = Vec::new();
    let mut publishers = Vec::new();
    let mut playouts = Vec::new();
    let mut stdin_used = false;
    for s in &config.streams {
        let spec = s
            .frame_spec()
            .map_err(|e| StartError::Stream { stream: s.id.clone(), message: e.to_string() })?;
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
        let rungs = s.rung_list().map_err(|message| StartError::Stream { stream: s.id.clone(), message })?;
        let hub =
            StreamHub::new(&s.id, spec, config.server.ring_secs, config.server.max_listener_lag_ms, &rungs);
        if matches!(source_spec, SourceSpec::Publish | SourceSpec::Icecast) {
            let publisher = if source_spec == SourceSpec::Icecast {
                let buffer = config.icecast.source_buffer_ms;
                Publisher::with_prebuffer(
                    &s.id,
                    spec.duration.as_us(),
                    config.server.publish_queue_ms,
                    buffer,
                )
            } else {
                Publisher::new(&s.id, spec.duration.as_us(), config.server.publish_queue_ms)
            };
            hub.set_source_description(if source_spec == SourceSpec::Icecast {
                format!("icecast (source clients PUT /{})", s.id)
            } else {
                "publish (WebSocket /publish or HTTP /ingest)".into()
            });
            playouts.push((hub.clone(), publisher.clone()));
            publishers.push(publisher);
        } else {
            let source = open_source(&source_spec, &spec)
                .map_err(|e| StartError::Source { stream: s.id.clone(), source: e })?;
            sources.push((hub.clone(), source));
        }
        hubs.push(hub);
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

    let perf = Arc::new(crate::perf::ServerPerf::new(&config.perf)?);
    let metrics = Arc::new(crate::metrics::Metrics::new(perf.clone(), config.perf.stages));
    for hub in &hubs {
        let _ = hub.encode_timer.set(metrics.stage(crate::metrics::Stage::Encode, &hub.id));
    }
    let capture_timers: Vec<_> =
        hubs.iter().map(|h| metrics.stage(crate::metrics::Stage::Capture, &h.id)).collect();

    let listener = tokio::net::TcpListener::bind(&config.server.bind)
        .await
        .map_err(|e| StartError::Bind { addr: config.server.bind.clone(), source: e })?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Bind { addr: config.server.bind.clone(), source: e })?;

    for (hub, source) in sources {
        let timer = hubs.iter().position(|h| Arc::ptr_eq(h, &hub)).map(|i| capture_timers[i].clone());
        spawn_source(hub, source, stop_sources.clone(), timer).map_err(StartError::Thread)?;
    }

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    for (hub, publisher) in playouts {
        tokio::spawn(run_playout(hub, publisher, shutdown_rx.clone()));
    }
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    let icecast = crate::icecast::IcecastState::new(&config, &hubs, &publishers);
    let state = Arc::new(AppState {
        icecast,
        connections: Connections::new(config.server.max_connections, config.server.max_connections_per_ip),
        config,
        hubs,
        publishers,
        auth,
        shutdown: shutdown_rx.clone(),
        started: Instant::now(),
        cpu: CpuMeter::default(),
        perf: perf.clone(),
        metrics,
        writers: crate::egress::writer::Writers::new(shutdown_rx.clone()),
    });
    tokio::spawn(sampler(state.clone(), shutdown_rx.clone()));
    tokio::spawn(crate::perf::run_logger(perf, state.config.perf.summary_log_secs, shutdown_rx.clone()));

    let app = crate::routes::app(state.clone());
    let sndbuf = state.config.server.socket_send_buffer_kb * 1024;
    if sndbuf > 0 {
        // accepted sockets inherit the listening socket's buffer size (Linux); best effort:
        // a refused size leaves the system's autotuning
        let _ = socket2::SockRef::from(&listener).set_send_buffer_size(sndbuf);
    }
    let lowat = (state.config.server.socket_notsent_lowat_kb * 1024) as u32;
    let mut rx = shutdown_rx;
    let router_state = state.clone();
    let serve = tokio::spawn(async move {
        // listeners' GETs are taken over for the feed writers (crate::http::accept); Icecast
        // source clients send unframed PUT/SOURCE bodies (crate::icecast::conn)
        let listener = axum::serve::ListenerExt::tap_io(
            crate::http::accept::ConnectionRouter::new(
                axum::serve::ListenerExt::tap_io(listener, move |tcp: &mut tokio::net::TcpStream| {
                    // audio events are small and latency-bound: never wait for Nagle
                    let _ = tcp.set_nodelay(true);
                    if lowat > 0 {
                        // keep unsent audio in the hub (where lag is seen, skipped and adapted
                        // to), not in the kernel: the socket is writable only below `lowat`
                        let _ = socket2::SockRef::from(&*tcp).set_tcp_notsent_lowat(lowat);
                    }
                }),
                router_state,
                app.clone(),
            ),
            |_| {},
        );
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                let _ = rx.wait_for(|v| *v).await;
            })
            .await
    });
    tracing::info!(%addr, streams = state.hubs.len(), "ondes listening");
    Ok(RunningServer { addr, state, generated_admin_token, shutdown_tx, stop_sources, serve, grace })
}

impl RunningServer {
    /// Base URL, e.g. `http://127.0.0.1:8080`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
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
        for hub in &self.state.hubs {
            hub.end("the server stopped");
        }
    }
}

/// Once a second: frames/s and bandwidth per stream, process CPU.
async fn sampler(state: SharedState, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last: Vec<(u64, u64)> = vec![(0, 0); state.hubs.len()];
    let mut last_t = Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let now = Instant::now();
        let dt = now.duration_since(last_t).as_secs_f64().max(1e-3);
        last_t = now;
        for (hub, prev) in state.hubs.iter().zip(last.iter_mut()) {
            let frames = hub.stats.total_frames.load(Ordering::Relaxed);
            let bytes = state.connections.delivered(Some(&hub.id), None).bytes;
            let fps = (frames - prev.0) as f64 / dt;
            let mbps = (bytes - prev.1) as f64 * 8.0 / dt / 1e6;
            hub.stats.fps_bits.store(fps.to_bits(), Ordering::Relaxed);
            hub.stats.mbps_bits.store(mbps.to_bits(), Ordering::Relaxed);
            *prev = (frames, bytes);
        }
        state.cpu.sample();
    }
}

fn unix_secs() -> u64 {
    (crate::clock::now_us() / 1_000_000) as u64
}
