//! The Icecast view of the streams: one mount per stream, with its listener counts, and for streams declared `source = "icecast"` the source slot.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::{Notify, watch};

use crate::config::{Config, IcecastConfig};
use crate::hub::StreamHub;
use crate::ingest::Publisher;
use crate::ingest::icecast::format::SourceCodec;
use crate::stream_title::{StreamTitle, TitleError};

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
    /// Icecast-style (HTTP) listeners now, and the most at once.
    pub listeners: AtomicUsize,
    pub listener_peak: AtomicUsize,
    /// Frames skipped for lagging HTTP listeners, and listeners disconnected for lagging.
    pub skipped_frames: AtomicU64,
    pub lagging_disconnects: AtomicU64,
    /// The title MP3 listeners get in band (`icy-metaint`) and status JSON shows.
    pub title: Arc<StreamTitle>,
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
            listeners: AtomicUsize::new(0),
            listener_peak: AtomicUsize::new(0),
            skipped_frames: AtomicU64::new(0),
            lagging_disconnects: AtomicU64::new(0),
            title: Arc::new(StreamTitle::default()),
        })
    }

    /// Sets the stream's title ("Artist - Song"; empty clears it): MP3 listeners with
    /// `Icy-MetaData: 1` get it in their next metadata block. The Icecast admin route
    /// (`/admin/metadata?mode=updinfo`) calls it; so may any other route that sets titles.
    pub fn set_title(&self, title: &str) -> Result<(), TitleError> {
        self.title.set(title)?;
        tracing::info!(mount = %self.id, title = %title.trim(), "stream title set");
        Ok(())
    }

    /// Counts a new listener (and the peak).
    pub fn count_listener(self: &Arc<Self>) -> ListenerCount {
        let now = self.listeners.fetch_add(1, Ordering::AcqRel) + 1;
        self.listener_peak.fetch_max(now, Ordering::AcqRel);
        ListenerCount(self.clone())
    }
    pub fn active_feeds(&self) -> Vec<(u32, usize)> {
        let ladder = &self.hub.ladder;
        (0..ladder.rungs.len())
            .map(|i| (ladder.rungs[i].kbps, ladder.listeners(i)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}
/// Frames per Ogg page (`icecast.page_ms` rounded to whole frames) and the burst a new
/// listener gets, in pages (`icecast.burst_ms`).
pub fn frames_per_page(cfg: &IcecastConfig, hub: &StreamHub) -> (u64, u64) {
    let frame_ms = hub.spec.duration.as_ms_f64();
    let frames_per_page = ((cfg.page_ms as f64 / frame_ms).round() as u64).max(1);
    let page_ms = frames_per_page as f64 * frame_ms;
    let burst_pages = (cfg.burst_ms as f64 / page_ms).ceil() as u64;
    (frames_per_page, burst_pages)
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
