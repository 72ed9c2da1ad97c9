//! LL-HLS and DASH egress: one segmenter per (stream, rung), shared by every client.
//!
//! A [`RungSegmenter`] reads its rung's Opus packets (or the lossless rung's FLAC frames,
//! [`Track::Flac`]) from the hub like a listener (so the rung encodes while it runs), cuts
//! them into fMP4 parts and segments with the sans-IO
//! [`ondes_core::hls::Segmenter`], and keeps a bounded window of them as `Bytes` that every
//! HTTP client is handed. It starts when the first client asks ([`HlsSegmenters::get`]) and
//! stops after `[hls] linger_secs` without a request. Blocking requests (`_HLS_msn`, the
//! preload hint, a segment being written) wait on its change counter.

mod rung;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use ondes_core::hls::{HlsLayout, LayoutError};
use parking_lot::Mutex;
use tokio::sync::watch;

pub use rung::{HlsError, RungSegmenter, Track};

use crate::config::HlsConfig;
use crate::hub::StreamHub;

/// Why a rung cannot be segmented.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("stream '{0}' has no Opus rungs (its sample rate is not one Opus codes), so no HLS or DASH")]
    NoOpus(String),
    #[error("stream '{stream}' has no {kbps} kbit/s rung; its rungs are {rungs:?}")]
    NoRung { stream: String, kbps: u32, rungs: Vec<u32> },
    #[error("stream '{0}' has no lossless rung (FLAC codes 1 to 8 channels)")]
    NoLossless(String),
    #[error("stream '{stream}' has {channels} channels; HLS and DASH carry mono or stereo Opus")]
    Channels { stream: String, channels: u16 },
    #[error("stream '{stream}' cannot be cut with the [hls] settings: {source}")]
    Layout { stream: String, source: LayoutError },
}

/// The running segmenters, by (stream id, rung index).
pub struct HlsSegmenters {
    config: HlsConfig,
    shutdown: watch::Receiver<bool>,
    running: Mutex<HashMap<(String, Track), Arc<RungSegmenter>>>,
    epoch: Instant,
}

impl HlsSegmenters {
    pub fn new(config: HlsConfig, shutdown: watch::Receiver<bool>) -> Arc<Self> {
        Arc::new(HlsSegmenters {
            config,
            shutdown,
            running: Mutex::new(HashMap::new()),
            epoch: Instant::now(),
        })
    }

    pub fn config(&self) -> &HlsConfig {
        &self.config
    }

    /// The layout a stream is cut with.
    pub fn layout(&self, hub: &StreamHub) -> Result<HlsLayout, StartError> {
        HlsLayout::new(
            u64::from(hub.spec.duration.as_us()),
            self.config.part_ms * 1000,
            self.config.segment_ms * 1000,
            self.config.window_segments,
        )
        .map_err(|source| StartError::Layout { stream: hub.id.clone(), source })
    }

    /// The segmenter of `hub`'s Opus rung of `kbps`, started if it is not running; marks it
    /// used now.
    pub fn get(self: &Arc<Self>, hub: &Arc<StreamHub>, kbps: u32) -> Result<Arc<RungSegmenter>, StartError> {
        if hub.ladder.rungs.is_empty() {
            return Err(StartError::NoOpus(hub.id.clone()));
        }
        let idx = hub.ladder.index_of(kbps).ok_or_else(|| StartError::NoRung {
            stream: hub.id.clone(),
            kbps,
            rungs: hub.ladder.kbps(),
        })?;
        if !(1..=2).contains(&hub.spec.channels) {
            return Err(StartError::Channels { stream: hub.id.clone(), channels: hub.spec.channels });
        }
        self.get_track(hub, Track::Opus(idx))
    }

    /// The segmenter of `hub`'s lossless (FLAC) rung, started if it is not running.
    pub fn get_flac(self: &Arc<Self>, hub: &Arc<StreamHub>) -> Result<Arc<RungSegmenter>, StartError> {
        if hub.codecs.flac_format().is_none() {
            return Err(StartError::NoLossless(hub.id.clone()));
        }
        self.get_track(hub, Track::Flac)
    }

    fn get_track(
        self: &Arc<Self>,
        hub: &Arc<StreamHub>,
        track: Track,
    ) -> Result<Arc<RungSegmenter>, StartError> {
        let layout = self.layout(hub)?;
        let now = self.now_ms();
        let mut running = self.running.lock();
        let key = (hub.id.clone(), track);
        if let Some(r) = running.get(&key)
            && Arc::ptr_eq(r.hub(), hub)
        {
            r.touch(now);
            return Ok(r.clone());
        }
        let r = RungSegmenter::new(hub.clone(), track, layout, now);
        running.insert(key.clone(), r.clone());
        tracing::info!(stream = %hub.id, rung = %r.name(), "HLS/DASH segmenter started");
        tokio::spawn(r.clone().run(self.clone(), key, self.shutdown.clone()));
        Ok(r)
    }

    /// Removes `r` if nobody asked for it for `linger_secs` (under the lock that [`get`]
    /// touches it under, so a request never gets a stopped segmenter).
    fn stop_if_idle(&self, key: &(String, Track), r: &Arc<RungSegmenter>) -> bool {
        let mut running = self.running.lock();
        if self.now_ms() - r.last_used_ms() < self.config.linger_secs as i64 * 1000 {
            return false;
        }
        if running.get(key).is_some_and(|x| Arc::ptr_eq(x, r)) {
            running.remove(key);
        }
        true
    }

    /// Forgets `r` (it stopped on its own: stream ended, shutdown).
    fn forget(&self, key: &(String, Track), r: &Arc<RungSegmenter>) {
        let mut running = self.running.lock();
        if running.get(key).is_some_and(|x| Arc::ptr_eq(x, r)) {
            running.remove(key);
        }
    }

    /// Segmenters running now.
    pub fn running(&self) -> usize {
        self.running.lock().len()
    }

    fn now_ms(&self) -> i64 {
        self.epoch.elapsed().as_millis() as i64
    }
}
