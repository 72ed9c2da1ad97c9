//! The Icecast view of the streams: one mount per stream, with its listener counts and Ogg
//! feeds, and for streams declared `source = "icecast"` the source slot.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::{Notify, watch};

use super::feed::{FeedGuard, FeedParams, OggFeed, run_feed};
use super::format::SourceCodec;
use crate::config::{Config, IcecastConfig};
use crate::hub::StreamHub;
use crate::publish::Publisher;

/// What the connected source said about itself (`ice-*` / `icy-*` headers) and sends.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceInfo {
    pub name: Option<String>,
    pub description: Option<String>,
    pub genre: Option<String>,
    pub url: Option<String>,
    pub public: Option<bool>,
    /// kbit/s, as announced.
    pub bitrate: Option<u32>,
    pub audio_info: Option<String>,
    pub content_type: Option<String>,
    pub user_agent: Option<String>,
    pub ip: String,
    /// `SOURCE` (legacy) or `PUT`.
    pub method: &'static str,
    pub connected_at_ms: i64,
    pub codec: Option<SourceCodec>,
    pub source_sample_rate: Option<u32>,
    pub source_channels: Option<u16>,
}

/// The source side of an Icecast mount.
pub struct SourceSlot {
    pub publisher: Arc<Publisher>,
    password: String,
    /// The connected source, if any.
    pub info: Mutex<Option<SourceInfo>>,
    /// Why the last source session ended badly, for status.
    pub last_error: Mutex<Option<String>>,
    /// Kicks the connected source out (takeover).
    kick: Mutex<Option<watch::Sender<bool>>>,
    /// Notified when a source session ends.
    pub session_ended: Notify,
    pub bytes_received: AtomicU64,
    pub sessions_refused: AtomicU64,
}

impl SourceSlot {
    /// The source side of a mount fed into `publisher`; clients log in with `password`.
    pub fn new(publisher: Arc<Publisher>, password: String) -> Self {
        SourceSlot {
            publisher,
            password,
            info: Mutex::new(None),
            last_error: Mutex::new(None),
            kick: Mutex::new(None),
            session_ended: Notify::new(),
            bytes_received: AtomicU64::new(0),
            sessions_refused: AtomicU64::new(0),
        }
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    /// Registers a new session's kick switch; returns its receiver.
    pub fn arm_kick(&self) -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(false);
        *self.kick.lock() = Some(tx);
        rx
    }

    /// Tells the connected source session to end.
    pub fn kick(&self) {
        if let Some(tx) = self.kick.lock().take() {
            tx.send_replace(true);
        }
    }
}

/// One stream as an Icecast mount.
pub struct Mount {
    pub id: String,
    pub hub: Arc<StreamHub>,
    pub source: Option<SourceSlot>,
    feeds: Mutex<HashMap<usize, Arc<OggFeed>>>,
    /// Icecast-style (HTTP) listeners now, and the most at once.
    pub listeners: AtomicUsize,
    pub listener_peak: AtomicUsize,
    /// Frames skipped for lagging HTTP listeners, and listeners disconnected for lagging.
    pub skipped_frames: AtomicU64,
    pub lagging_disconnects: AtomicU64,
}

/// Counts an HTTP listener on its mount while held.
pub struct ListenerCount(Arc<Mount>);

impl Drop for ListenerCount {
    fn drop(&mut self) {
        self.0.listeners.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Mount {
    /// The mount of `hub`; `source` for a stream fed by Icecast source clients.
    pub fn new(hub: Arc<StreamHub>, source: Option<SourceSlot>) -> Arc<Self> {
        Arc::new(Mount {
            id: hub.id.clone(),
            hub,
            source,
            feeds: Mutex::new(HashMap::new()),
            listeners: AtomicUsize::new(0),
            listener_peak: AtomicUsize::new(0),
            skipped_frames: AtomicU64::new(0),
            lagging_disconnects: AtomicU64::new(0),
        })
    }

    /// Counts a new listener (and the peak).
    pub fn count_listener(self: &Arc<Self>) -> ListenerCount {
        let now = self.listeners.fetch_add(1, Ordering::AcqRel) + 1;
        self.listener_peak.fetch_max(now, Ordering::AcqRel);
        ListenerCount(self.clone())
    }

    /// Joins the feed of `rung`, starting it if needed.
    pub fn join_feed(
        self: &Arc<Self>,
        rung: usize,
        params: FeedParams,
        shutdown: &watch::Receiver<bool>,
    ) -> FeedGuard {
        let mut feeds = self.feeds.lock();
        if let Some(f) = feeds.get(&rung)
            && !f.is_stopped()
        {
            return f.join();
        }
        let feed = OggFeed::new(&self.hub, rung, params);
        let guard = feed.join();
        feeds.insert(rung, feed.clone());
        let mount = self.clone();
        tokio::spawn(run_feed(self.hub.clone(), feed, shutdown.clone(), move |f| mount.retire_feed(f)));
        guard
    }

    /// Removes `feed` if nobody listens (or it has stopped); false when a listener joined.
    fn retire_feed(&self, feed: &Arc<OggFeed>) -> bool {
        let mut feeds = self.feeds.lock();
        if feed.listeners() > 0 && !feed.is_stopped() {
            return false;
        }
        feed.stop();
        if feeds.get(&feed.rung).is_some_and(|f| Arc::ptr_eq(f, feed)) {
            feeds.remove(&feed.rung);
        }
        true
    }

    /// Feeds running now (for stats).
    pub fn active_feeds(&self) -> Vec<(u32, usize)> {
        self.feeds.lock().values().map(|f| (f.kbps, f.listeners())).collect()
    }
}

/// Page and burst sizes of a stream, from `[icecast]`.
pub fn feed_params(cfg: &IcecastConfig, hub: &StreamHub, max_lag_ms: u64) -> (FeedParams, u64) {
    let frame_ms = hub.spec.duration.as_ms_f64();
    let frames_per_page = ((cfg.page_ms as f64 / frame_ms).round() as u32).max(1);
    let page_ms = f64::from(frames_per_page) * frame_ms;
    let max_lag_pages = (max_lag_ms as f64 / page_ms).ceil().max(1.0) as u64;
    let burst_pages = (cfg.burst_ms as f64 / page_ms).ceil() as u64;
    let params =
        FeedParams { frames_per_page, max_lag_pages, ring_pages: (max_lag_pages + burst_pages + 4) as usize };
    (params, burst_pages)
}

/// Icecast settings shared by every mount. The mounts themselves are the streams of the
/// registry ([`crate::stream::Stream::mount`]): they come and go with their streams.
pub struct IcecastState {
    pub config: IcecastConfig,
}

impl IcecastState {
    pub fn new(config: &Config) -> Self {
        IcecastState { config: config.icecast.clone() }
    }

    /// How long a source may send nothing before it is dropped.
    pub fn source_timeout(&self) -> Duration {
        Duration::from_secs(self.config.source_timeout_secs.max(1))
    }
}
