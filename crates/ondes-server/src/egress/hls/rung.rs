//! One rung's segmenter: the feed task and the waits of blocking requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use ondes_codec::fmp4::{OpusTrack, flac_init_segment, fragment, init_segment};
use ondes_core::hls::playlist::{PlaylistOptions, media_playlist};
use ondes_core::hls::{Availability, HlsLayout, Segmenter};
use parking_lot::Mutex;
use tokio::sync::watch;

use super::HlsSegmenters;
use crate::clock::now_us;
use crate::hub::{CodedRung, HubFrame, HubRead, HubReader, StreamHub};

/// What a segmenter cuts: an Opus rung (its index in the ladder) or the lossless rung.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Track {
    Opus(usize),
    /// FLAC frames (`fLaC` sample entry), timescale = the stream's rate.
    Flac,
}

/// Why a blocking request is not answered with media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HlsError {
    #[error("that part or segment is too far in the future to wait for")]
    TooFar,
    #[error("that part or segment is no longer in the window")]
    Gone,
    #[error("the part or segment did not appear in time (is the stream paused or its source gone?)")]
    Timeout,
    #[error("the stream's segmenter stopped (the stream ended or the server is stopping)")]
    Stopped,
}

/// The segmenter of one (stream, rung) and its shared bytes.
pub struct RungSegmenter {
    hub: Arc<StreamHub>,
    track: Track,
    pub init: Bytes,
    state: Mutex<Segmenter<Bytes, Bytes>>,
    /// Bumped each time a part is completed; waiters re-check on every change.
    changed: watch::Sender<u64>,
    last_used_ms: AtomicI64,
    /// Wall-clock µs of media time 0 (frame 0's capture time, extrapolated from the first frame).
    epoch_us: AtomicI64,
}

impl RungSegmenter {
    pub(super) fn new(hub: Arc<StreamHub>, track: Track, layout: HlsLayout, now_ms: i64) -> Arc<Self> {
        let init = match (track, hub.codecs.flac_format()) {
            (Track::Flac, Some(format)) => flac_init_segment(&format),
            _ => {
                let pre_skip = hub.ladder.pre_skip_48k();
                init_segment(&OpusTrack {
                    channels: hub.spec.channels as u8,
                    pre_skip,
                    input_sample_rate: hub.spec.sample_rate,
                })
            }
        };
        Arc::new(RungSegmenter {
            hub,
            track,
            init: Bytes::from(init),
            state: Mutex::new(Segmenter::new(layout)),
            changed: watch::channel(0).0,
            last_used_ms: AtomicI64::new(now_ms),
            epoch_us: AtomicI64::new(0),
        })
    }

    pub fn hub(&self) -> &Arc<StreamHub> {
        &self.hub
    }

    pub fn track(&self) -> Track {
        self.track
    }

    /// The rung's name in URLs and logs: its kbit/s, or `flac`.
    pub fn name(&self) -> String {
        match self.track {
            Track::Opus(idx) => self.hub.ladder.rungs.get(idx).map_or(0, |r| r.kbps).to_string(),
            Track::Flac => "flac".into(),
        }
    }

    /// This frame's sample for the track, if it has one.
    fn sample_of(&self, f: &HubFrame, last_toc: &mut Option<u8>) -> Option<Bytes> {
        match self.track {
            Track::Opus(idx) => f.continuous_packet(idx, last_toc),
            // the FLAC rung makes a frame for every frame once it runs
            Track::Flac => f.coded_bytes(CodedRung::Flac).cloned(),
        }
    }

    pub fn layout(&self) -> HlsLayout {
        *self.state.lock().layout()
    }

    /// Wall-clock µs at which media time 0 was captured (0 until the first frame).
    pub fn epoch_us(&self) -> i64 {
        self.epoch_us.load(Ordering::Relaxed)
    }

    pub(super) fn touch(&self, now_ms: i64) {
        self.last_used_ms.store(now_ms, Ordering::Relaxed);
    }

    pub(super) fn last_used_ms(&self) -> i64 {
        self.last_used_ms.load(Ordering::Relaxed)
    }

    /// Reads the rung's packets from the hub until idle, ended or shut down.
    pub(super) async fn run(
        self: Arc<Self>,
        owner: Arc<HlsSegmenters>,
        key: (String, Track),
        mut shutdown: watch::Receiver<bool>,
    ) {
        let hub = self.hub.clone();
        // keeps the rung encoding while the segmenter runs
        let (_opus, _flac) = match self.track {
            Track::Opus(idx) => match hub.use_rung(idx) {
                Some(u) => (Some(u), None),
                None => return,
            },
            Track::Flac => match hub.use_coded(CodedRung::Flac) {
                Some(u) => (None, Some(u)),
                None => return,
            },
        };
        // sample durations in the track's timescale: 48 kHz for Opus, the stream's rate for FLAC
        let track_samples = match self.track {
            Track::Opus(_) => None,
            Track::Flac => Some(hub.spec.samples_per_channel() as u64),
        };
        let mut reader = HubReader::at_live(&hub);
        let frame_us = hub.spec.duration.as_us() as i64;
        let mut last_toc: Option<u8> = None;
        while let Some(items) = reader.next(&mut shutdown).await {
            if owner.stop_if_idle(&key, &self) {
                tracing::info!(stream = %hub.id, rung = %self.name(), "HLS/DASH segmenter stopped: no requests");
                self.changed.send_modify(|n| *n += 1);
                return;
            }
            let mut completed = 0;
            {
                let mut st = self.state.lock();
                for r in items {
                    let HubRead::Frame(f) = r else { continue };
                    let Some(packet) = self.sample_of(f, &mut last_toc) else { continue };
                    let seq = f.frame.seq;
                    if self.epoch_us() == 0 {
                        self.epoch_us.store(f.frame.capture_us - seq as i64 * frame_us, Ordering::Relaxed);
                    }
                    let fs48 = u64::from(st.layout().frame_samples);
                    let fs = track_samples.unwrap_or(fs48);
                    completed += st
                        .push(seq, packet, now_us(), |info, packets| {
                            let list: Vec<(u32, &[u8])> =
                                packets.iter().map(|p| (fs as u32, &p[..])).collect();
                            // the layout counts 48 kHz samples; the part starts at frame base / fs48
                            let base = info.base_time / fs48.max(1) * fs;
                            Bytes::from(fragment(info.fragment_seq as u32, base, &list))
                        })
                        .len();
                }
            }
            if completed > 0 {
                self.changed.send_modify(|n| *n += 1);
            }
        }
        owner.forget(&key, &self);
        self.changed.send_modify(|n| *n += 1);
    }

    /// Waits until `ready` says yes (it sees the segmenter's state; `Err` ends the wait),
    /// at most `hold`.
    pub async fn wait_until(
        &self,
        hold: Duration,
        mut ready: impl FnMut(&Segmenter<Bytes, Bytes>) -> Result<bool, HlsError>,
    ) -> Result<(), HlsError> {
        let mut rx = self.changed.subscribe();
        let deadline = tokio::time::Instant::now() + hold;
        loop {
            if ready(&self.state.lock())? {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Err(_) => return Err(HlsError::Timeout),
                Ok(Err(_)) => return Err(HlsError::Stopped),
                Ok(Ok(())) => {}
            }
        }
    }

    /// Waits for part (`msn`, `part`) — or the whole segment with `part == None` — to exist.
    pub async fn wait_for(&self, msn: u64, part: Option<u64>, hold: Duration) -> Result<(), HlsError> {
        let hold_us = hold.as_micros() as i64;
        self.wait_until(hold, |s| match s.availability(msn, part, now_us(), hold_us) {
            Availability::Ready => Ok(true),
            Availability::Wait { .. } => Ok(false),
            Availability::TooFar => Err(HlsError::TooFar),
            Availability::Gone => Err(HlsError::Gone),
        })
        .await
    }

    /// The media playlist now.
    pub fn playlist(&self, opts: PlaylistOptions) -> String {
        media_playlist(&self.state.lock(), opts)
    }

    /// Part (`msn`, `part`)'s bytes, if it exists.
    pub fn part(&self, msn: u64, part: u64) -> Option<Bytes> {
        self.state.lock().part(msn, part).map(|p| p.payload.clone())
    }

    /// Segment `msn`'s parts so far, and whether it is complete.
    pub fn segment_parts(&self, msn: u64) -> Option<(Vec<Bytes>, bool)> {
        let st = self.state.lock();
        st.segment(msn).map(|s| (s.parts.iter().map(|p| p.payload.clone()).collect(), s.complete))
    }

    /// Segment `msn` as it is written: its parts, each sent when it exists, ending when the
    /// segment is complete (DASH's low-latency chunked transfer; a complete segment is sent
    /// at once). The stream ends early if the segmenter stops or a part takes over `hold`.
    pub fn segment_stream(
        self: Arc<Self>,
        msn: u64,
        hold: Duration,
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
        futures_util::stream::unfold((self, 0usize, false), move |(me, sent, done)| async move {
            if done {
                return None;
            }
            let mut next = None;
            let mut complete = false;
            let r = me
                .wait_until(hold, |s| match s.segment(msn) {
                    None if s.last_part().is_some_and(|(m, _)| m > msn) => Err(HlsError::Gone),
                    None => Ok(false),
                    Some(seg) => {
                        complete = seg.complete;
                        next = seg.parts.get(sent).map(|p| p.payload.clone());
                        Ok(next.is_some() || complete)
                    }
                })
                .await;
            match (r, next) {
                (Ok(()), Some(b)) => Some((Ok(b), (me, sent + 1, false))),
                _ => None,
            }
        })
    }
}
