//! A stream as the server runs it — its hub, its publish side, its Icecast mount — and the
//! server's [`Streams`]: the [`StreamRegistry`] of them, how they are built from their
//! `[[stream]]` config, claimed by publishers (created on demand from a template), and
//! removed once their publisher has been gone for `server.on_demand_linger_secs`.
//!
//! Removing a stream ends its hub ([`StreamHub::end`]): every listener gets the ending it gets
//! when a stream ends (SSE `error` event, WebSocket `stream_ended`, the end of an Ogg body),
//! the playout task and the Ogg feeds stop, and once the last listener has gone nothing of the
//! stream is left (its metrics series are dropped by the reaper).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::config::{Config, IcecastConfig, ServerConfig, StreamConfig};
use crate::hub::StreamHub;
use crate::hub::registry::{
    IdPattern, Listed, RegistryEntry, RegistryError, StreamRegistry, Template, validate_id,
};
use crate::icecast::mount::{Mount, SourceSlot};
use crate::ingest::playout::run_playout;
use crate::ingest::{PublishSession, Publisher};
use crate::metrics::{Metrics, Stage};
use crate::server::StartError;
use crate::source::capture::CaptureStatus;
use crate::source::{Feed, SourceSpec, open_feed, spawn_source};

/// One stream of the server.
pub struct Stream {
    pub id: String,
    pub hub: Arc<StreamHub>,
    /// The publish side of a stream fed by publishers (`source = "publish"` or `"icecast"`).
    pub publisher: Option<Arc<Publisher>>,
    /// The stream as an Icecast mount (`/{id}`).
    pub mount: Arc<Mount>,
    /// The device's state and counters, for a `capture:` stream.
    pub capture: Option<Arc<CaptureStatus>>,
    /// For a stream a cluster edge receives from an origin: how long it stays after its
    /// last listener left (it is idle while nobody listens).
    pub cluster_linger: Option<Duration>,
    /// Its recorder, when the stream is recorded (`record = …`).
    pub recorder: Option<Arc<crate::record::Recorder>>,
}

impl RegistryEntry for Stream {
    fn is_idle(&self) -> bool {
        if self.cluster_linger.is_some() {
            // listeners, and what reads the hub without being one (an HLS or DASH segmenter)
            return self.hub.stats.active_subscribers.load(std::sync::atomic::Ordering::Relaxed) == 0
                && !self.hub.ladder.in_use()
                && !self.hub.codecs.in_use();
        }
        self.publisher.as_ref().is_none_or(|p| p.is_idle())
    }

    fn linger(&self) -> Option<Duration> {
        self.cluster_linger
    }

    fn removed(&self, reason: &str) {
        self.hub.end(reason);
        if let Some(slot) = &self.mount.source {
            slot.kick();
        }
    }
}

/// Why a publisher could not take a stream.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("stream '{0}' is not fed by publishers; declare it with source = \"publish\" in [[stream]]")]
    NotPublish(String),
    #[error("{0}")]
    NotIcecast(String),
    #[error("stream '{0}' already has a publisher; only one may publish at a time")]
    Busy(String),
    #[error("cannot create stream '{id}': {source}")]
    Build { id: String, source: Box<StartError> },
}

/// Which kind of publisher claims a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublisherKind {
    /// WebSocket `/publish` or HTTP `/ingest`: any stream fed by publishers.
    Publish,
    /// An Icecast source client: only streams with an Icecast source slot.
    Icecast,
}

/// Builds streams from their config: hub, publisher, mount, and starts what feeds them.
pub struct StreamBuilder {
    server: ServerConfig,
    /// `[abr]`: each stream starts in its delivery mode.
    abr: crate::config::AbrSection,
    icecast: IcecastConfig,
    /// This server is a cluster origin: its streams number frames from the wall clock and
    /// encode every rung (docs/cluster.md).
    cluster_origin: bool,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
    stop_sources: Arc<AtomicBool>,
}

/// A built stream and, for a pull or capture source, what its thread will run.
pub struct Built {
    pub stream: Stream,
    pub source: Option<Feed>,
}

fn is_icecast(cfg: &StreamConfig) -> bool {
    cfg.source.trim() == "icecast"
}

impl StreamBuilder {
    pub fn new(
        config: &Config,
        metrics: Arc<Metrics>,
        shutdown: watch::Receiver<bool>,
        stop_sources: Arc<AtomicBool>,
    ) -> Self {
        StreamBuilder {
            server: config.server.clone(),
            icecast: config.icecast.clone(),
            abr: config.abr,
            cluster_origin: config.cluster.as_ref().is_some_and(|c| c.role.is_origin()),
            metrics,
            shutdown,
            stop_sources,
        }
    }

    /// The stream `id` as `cfg` describes it (a pull source is opened here, so a bad file
    /// fails now, but nothing runs until [`start`](Self::start)).
    pub fn build(&self, id: &str, cfg: &StreamConfig) -> Result<Built, StartError> {
        let spec = cfg
            .frame_spec()
            .map_err(|e| StartError::Stream { stream: id.to_string(), message: e.to_string() })?;
        let source_spec = SourceSpec::parse(&cfg.source)
            .map_err(|e| StartError::Source { stream: id.to_string(), source: e.into() })?;
        let rungs =
            cfg.rung_list().map_err(|message| StartError::Stream { stream: id.to_string(), message })?;
        let hub = StreamHub::new(id, spec, self.server.ring_secs, self.server.max_listener_lag_ms, &rungs);
        hub.configure_delivery(self.abr.mode, self.abr.canary);
        let _ = hub.encode_timer.set(self.metrics.stage(Stage::Encode, id));
        // frames numbered by the wall clock: a restarted server (or a standby origin) goes on
        // past the numbers of the one before, so listeners and edges see a gap, never numbers
        // going back
        hub.start_at(crate::clock::stream_start_seq(crate::clock::now_us(), spec.duration.as_us()));
        if self.cluster_origin {
            hub.ladder.pin_all();
        }
        let (publisher, source) = match source_spec {
            SourceSpec::Icecast => {
                let p = Publisher::with_prebuffer(
                    id,
                    spec.duration.as_us(),
                    self.server.publish_queue_ms,
                    self.icecast.source_buffer_ms,
                );
                hub.set_source_description(format!("icecast (source clients PUT /{id})"));
                (Some(p), None)
            }
            SourceSpec::Publish => {
                hub.set_source_description("publish (WebSocket /publish or HTTP /ingest)".into());
                (Some(Publisher::new(id, spec.duration.as_us(), self.server.publish_queue_ms)), None)
            }
            pull => {
                let source = open_feed(&pull, &spec)
                    .map_err(|e| StartError::Source { stream: id.to_string(), source: e })?;
                (None, Some(source))
            }
        };
        let capture = match &source {
            #[cfg(feature = "capture")]
            Some(Feed::Capture(c)) => Some(c.status()),
            _ => None,
        };
        let slot = publisher
            .as_ref()
            .filter(|_| is_icecast(cfg))
            .map(|p| SourceSlot::new(p.clone(), cfg.source_password.clone()));
        let mount = Mount::new(hub.clone(), slot);
        Ok(Built {
            stream: Stream {
                id: id.to_string(),
                hub,
                publisher,
                mount,
                capture,
                cluster_linger: None,
                recorder: cfg.record.clone().map(|r| crate::record::Recorder::new(id, r)),
            },
            source,
        })
    }

    /// Starts what feeds `stream`: the source thread of a pull source, or the playout task of
    /// a publish stream (which must run inside the tokio runtime). Both stop when the stream
    /// ends (removed, or the server stopping).
    pub fn start(&self, stream: &Stream, source: Option<Feed>) -> Result<(), StartError> {
        if let Some(r) = &stream.recorder {
            tokio::spawn(r.clone().run(stream.hub.clone(), self.shutdown.clone()));
        }
        if let Some(source) = source {
            let timer = Some(self.metrics.stage(Stage::Capture, &stream.id));
            let stop = self.stop_sources.clone();
            match source {
                Feed::Pull(source) => spawn_source(stream.hub.clone(), source, stop, timer),
                #[cfg(feature = "capture")]
                Feed::Capture(c) => {
                    crate::source::capture::runner::spawn_capture(stream.hub.clone(), c, stop, timer)
                }
            }
            .map_err(StartError::Thread)?;
        } else if let Some(p) = &stream.publisher {
            tokio::spawn(run_playout(stream.hub.clone(), p.clone(), self.shutdown.clone()));
        }
        Ok(())
    }
}

/// The streams of a server: the registry, and what it takes to create streams on demand.
pub struct Streams {
    registry: StreamRegistry<Stream, StreamConfig>,
    builder: StreamBuilder,
    origin: Instant,
}

impl Streams {
    /// The registry for `config`, with no streams yet (templates are the `[[stream]]`s whose
    /// id has a `*`; the config was validated).
    pub fn new(config: &Config, builder: StreamBuilder) -> Self {
        let templates = config
            .streams
            .iter()
            .filter(|s| IdPattern::is_pattern(&s.id))
            .filter_map(|s| {
                IdPattern::parse(&s.id).ok().map(|pattern| Template { pattern, config: s.clone() })
            })
            .collect();
        let linger = Duration::from_secs(config.server.on_demand_linger_secs);
        Streams {
            registry: StreamRegistry::new(templates, config.server.max_streams, linger),
            builder,
            origin: Instant::now(),
        }
    }

    /// Adds a declared stream (not started: see [`StreamBuilder::start`]).
    pub fn insert_declared(&self, built: Stream) -> Result<Arc<Stream>, StartError> {
        let id = built.id.clone();
        self.registry
            .insert_declared(&id, built)
            .map_err(|e| StartError::Stream { stream: id, message: e.to_string() })
    }

    pub fn builder(&self) -> &StreamBuilder {
        &self.builder
    }

    pub fn get(&self, id: &str) -> Result<Arc<Stream>, RegistryError> {
        self.registry.get(id)
    }

    /// Every stream now, in creation order (declared first, as declared).
    pub fn list(&self) -> Vec<Listed<Stream>> {
        self.registry.list()
    }

    pub fn templates(&self) -> &[Template<StreamConfig>] {
        self.registry.templates()
    }

    /// The template `id` matches, if any.
    pub fn template(&self, id: &str) -> Option<&Template<StreamConfig>> {
        self.registry.template(id)
    }

    /// At most this many streams created on demand exist at once.
    pub fn max_on_demand(&self) -> usize {
        self.registry.max_on_demand()
    }

    pub fn linger(&self) -> Duration {
        self.registry.linger()
    }

    /// (streams, of which created on demand).
    pub fn counts(&self) -> (usize, usize) {
        self.registry.counts()
    }

    /// Checks, before authenticating a publisher, that `id` names a stream or could be
    /// created on demand.
    pub fn check_publishable(&self, id: &str) -> Result<(), RegistryError> {
        self.registry.check_creatable(id)
    }

    /// The stream a mount path segment names: the segment itself when such a stream exists,
    /// else the segment without an `.ogg`, `.opus`, `.oga`, `.mp3` or `.flac` extension (so
    /// a stream created on demand by a source on `/live-a.ogg` is `live-a`).
    pub fn mount_id<'a>(&self, segment: &'a str) -> &'a str {
        if self.registry.contains(segment) {
            return segment;
        }
        match segment.rsplit_once('.') {
            // formats not served (aac, m4a) resolve too, so that the listener is told what is
            Some((id, "ogg" | "opus" | "oga" | "mp3" | "flac" | "aac" | "m4a")) if !id.is_empty() => id,
            _ => segment,
        }
    }

    /// Takes the publisher slot of stream `id`, creating the stream from its template when it
    /// does not exist. The slot is taken under the registry's lock, so the stream cannot be
    /// removed in between.
    pub fn claim(&self, id: &str, kind: PublisherKind) -> Result<(Arc<Stream>, PublishSession), ClaimError> {
        validate_id(id).map_err(RegistryError::from)?;
        let make = |id: &str, t: &Template<StreamConfig>| {
            if kind == PublisherKind::Icecast && !is_icecast(&t.config) {
                return Err(ClaimError::NotIcecast(format!(
                    "stream '{id}' would be created from template '{}', which is fed by WebSocket or HTTP \
                     publishers, not Icecast sources; declare a template with source = \"icecast\"",
                    t.pattern
                )));
            }
            let built = self
                .builder
                .build(id, &t.config)
                .map_err(|e| ClaimError::Build { id: id.to_string(), source: Box::new(e) })?;
            self.builder
                .start(&built.stream, built.source)
                .map_err(|e| ClaimError::Build { id: id.to_string(), source: Box::new(e) })?;
            tracing::info!(stream = %id, template = %t.pattern, "stream created on demand");
            Ok(built.stream)
        };
        self.registry.with_or_create(id, make, |s| Self::take(s, kind))
    }

    /// Like [`claim`](Self::claim) for a stream that exists now (an Icecast takeover).
    pub fn claim_existing(
        &self,
        id: &str,
        kind: PublisherKind,
    ) -> Result<(Arc<Stream>, PublishSession), ClaimError> {
        self.registry.with(id, |s| Self::take(s, kind))
    }

    fn take(stream: &Arc<Stream>, kind: PublisherKind) -> Result<(Arc<Stream>, PublishSession), ClaimError> {
        let publisher = match kind {
            PublisherKind::Icecast => match &stream.mount.source {
                Some(slot) => &slot.publisher,
                None => {
                    return Err(ClaimError::NotIcecast(format!(
                        "stream '{}' is not fed by Icecast sources; declare it with source = \"icecast\" and a source_password",
                        stream.id
                    )));
                }
            },
            PublisherKind::Publish => {
                stream.publisher.as_ref().ok_or_else(|| ClaimError::NotPublish(stream.id.clone()))?
            }
        };
        let session = publisher.try_begin().ok_or_else(|| ClaimError::Busy(stream.id.clone()))?;
        Ok((stream.clone(), session))
    }

    /// Adds a stream a cluster edge receives (see [`StreamRegistry::insert_on_demand`]).
    pub fn insert_cluster(&self, stream: Stream, label: &str) -> Result<Arc<Stream>, RegistryError> {
        let id = stream.id.clone();
        self.registry.insert_on_demand(&id, label, || Ok(stream))
    }

    /// Removes stream `id` if its hub is still `hub` (a cluster edge's stream that ended).
    pub fn remove_if_same(&self, id: &str, hub: &Arc<StreamHub>, reason: &str) {
        self.registry.remove_if(id, |s| Arc::ptr_eq(&s.hub, hub), reason);
    }

    /// Removes the on-demand streams idle for the linger (see [`StreamRegistry::reap`]).
    pub fn reap(&self) -> Vec<(String, Arc<Stream>)> {
        self.registry.reap(self.origin.elapsed(), "the stream was removed: its publisher left")
    }
}

/// Removes idle on-demand streams until the server stops; forgets their metrics.
pub async fn run_reaper(app: crate::state::SharedState, mut shutdown: watch::Receiver<bool>) {
    // idleness is sampled: a stream goes at most one period after its linger
    let period = Duration::from_millis(250);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        for (id, stream) in app.streams.reap() {
            app.metrics.forget_stream(&id);
            tracing::info!(stream = %id, listeners = stream.hub.stats.active_subscribers.load(std::sync::atomic::Ordering::Relaxed),
                linger_secs = app.streams.linger().as_secs(), "on-demand stream removed: its publisher left");
        }
    }
}
