//! The Opus quality ladder of a stream: one encoder per active rung.
//!
//! Each rung's encoder runs once per frame, in order, in the stream's producer (the source
//! thread or the publisher's playout task), whatever the number of listeners. A rung
//! becomes active when a listener subscribes to it and stops encoding after
//! [`IDLE_FRAMES`] frames without listeners, so an unused 320 kbit/s rung costs nothing.
//! Streams whose rate Opus cannot code (e.g. 44.1 kHz) have no Opus rungs; their listeners
//! get PCM. A source that sends Opus itself fills the rung nearest its bitrate with its own
//! packets instead of a re-encoding (see [`super::passthrough`]).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use ondes_codec::{OpusApplication, OpusConfig, OpusEncoder};
use ondes_core::FrameSpec;
use parking_lot::Mutex;
use serde::Serialize;

use super::passthrough::{PassthroughChoice, SourceOpus};

/// Frames a rung keeps encoding after its last listener left (5 s at 20 ms).
pub const IDLE_FRAMES: u64 = 250;

struct RungState {
    encoder: Option<OpusEncoder>,
    idle_frames: u64,
}

/// One rung: bitrate, listener count, encoder.
pub struct Rung {
    pub kbps: u32,
    listeners: AtomicUsize,
    /// Frames encoded by this rung since start (for stats).
    pub frames_encoded: AtomicU64,
    /// Frames that carried the source's own packet (passthrough) instead of an encoding.
    pub frames_passed_through: AtomicU64,
    /// Encoder failures (the frame then has no packet at this rung; listeners count a loss).
    pub errors: AtomicU64,
    state: Mutex<RungState>,
}

/// The ladder of a stream.
pub struct Ladder {
    spec: FrameSpec,
    pub rungs: Vec<Rung>,
    /// Which rung a source's own Opus packets fill (only the producer locks it).
    passthrough: Mutex<PassthroughChoice>,
    /// Every rung encodes, listeners or not: a cluster origin's edges may have listeners on
    /// a rung nobody on the origin uses.
    pinned: AtomicBool,
}

/// One rung as `/stats` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RungStats {
    pub kbps: u32,
    pub listeners: usize,
    pub frames_encoded: u64,
    pub frames_passed_through: u64,
    pub errors: u64,
    /// Whether this rung carries the source's own Opus packets now.
    pub passthrough: bool,
}

impl Ladder {
    /// A ladder for `kbps` (ascending); empty when Opus cannot code this stream's layout.
    pub fn new(spec: FrameSpec, kbps: &[u32]) -> Self {
        let codable = [8_000, 12_000, 16_000, 24_000, 48_000].contains(&spec.sample_rate);
        let rungs = if codable {
            kbps.iter()
                .map(|&k| Rung {
                    kbps: k,
                    listeners: AtomicUsize::new(0),
                    frames_encoded: AtomicU64::new(0),
                    frames_passed_through: AtomicU64::new(0),
                    errors: AtomicU64::new(0),
                    state: Mutex::new(RungState { encoder: None, idle_frames: IDLE_FRAMES }),
                })
                .collect()
        } else {
            Vec::new()
        };
        Ladder {
            spec,
            rungs,
            passthrough: Mutex::new(PassthroughChoice::default()),
            pinned: AtomicBool::new(false),
        }
    }

    /// The encoders' look-ahead in 48 kHz samples, as the Ogg and MP4 Opus headers state it:
    /// 6.5 ms, or 2.5 ms for frames under 10 ms (the low-delay mode).
    pub fn pre_skip_48k(&self) -> u16 {
        if self.spec.duration.as_us() < 10_000 { 120 } else { 312 }
    }

    /// Keeps every rung encoding from now on (a cluster origin: see [`Ladder::pinned`]).
    pub fn pin_all(&self) {
        self.pinned.store(true, Ordering::Relaxed);
    }

    /// Whether every rung encodes whatever its listeners.
    pub fn pinned(&self) -> bool {
        self.pinned.load(Ordering::Relaxed)
    }

    /// Per-rung counters, and the source's bitrate when it sends Opus.
    pub fn stats(&self) -> (Vec<RungStats>, Option<f64>) {
        let pt = self.passthrough.lock().clone();
        let rungs = self
            .rungs
            .iter()
            .enumerate()
            .map(|(i, r)| RungStats {
                kbps: r.kbps,
                listeners: r.listeners.load(Ordering::Relaxed),
                frames_encoded: r.frames_encoded.load(Ordering::Relaxed),
                frames_passed_through: r.frames_passed_through.load(Ordering::Relaxed),
                errors: r.errors.load(Ordering::Relaxed),
                passthrough: pt.rung() == Some(i),
            })
            .collect();
        (rungs, pt.source_kbps())
    }

    /// Rung bitrates, ascending.
    pub fn kbps(&self) -> Vec<u32> {
        self.rungs.iter().map(|r| r.kbps).collect()
    }

    /// Index of the rung with exactly `kbps`.
    pub fn index_of(&self, kbps: u32) -> Option<usize> {
        self.rungs.iter().position(|r| r.kbps == kbps)
    }

    /// Counts a listener of rung `idx` (see [`super::RungUse`]); false when there is no such rung.
    pub(super) fn add_listener(&self, idx: usize) -> bool {
        let Some(rung) = self.rungs.get(idx) else { return false };
        rung.listeners.fetch_add(1, Ordering::Relaxed);
        true
    }

    pub(super) fn remove_listener(&self, idx: usize) {
        if let Some(rung) = self.rungs.get(idx) {
            rung.listeners.fetch_sub(1, Ordering::Relaxed);
        }
    }

    pub fn listeners(&self, idx: usize) -> usize {
        self.rungs.get(idx).map_or(0, |r| r.listeners.load(Ordering::Relaxed))
    }

    /// Encodes one frame at every active rung; returns `(rung index, packet)` pairs. The
    /// rung the source's own packets fill (when `source` has them) is not encoded.
    pub fn encode(&self, pcm: &[f32], source: &SourceOpus) -> Vec<(u8, Bytes)> {
        let mut out = Vec::new();
        let passthrough = match source {
            SourceOpus::None => None,
            SourceOpus::Packet(p) => {
                let kbps: Vec<u32> = self.rungs.iter().map(|r| r.kbps).collect();
                self.passthrough.lock().on_packet(p.len(), self.spec.duration.as_us(), &kbps)
            }
            SourceOpus::Lost => self.passthrough.lock().rung(),
        };
        for (i, rung) in self.rungs.iter().enumerate() {
            let mut st = rung.state.lock();
            if rung.listeners.load(Ordering::Relaxed) > 0 || self.pinned.load(Ordering::Relaxed) {
                st.idle_frames = 0;
            } else {
                st.idle_frames += 1;
            }
            if st.idle_frames >= IDLE_FRAMES {
                st.encoder = None;
                continue;
            }
            if passthrough == Some(i) {
                // the source's packet, unchanged; a lost one is left for listeners to conceal
                if let SourceOpus::Packet(p) = source {
                    rung.frames_passed_through.fetch_add(1, Ordering::Relaxed);
                    out.push((i as u8, p.clone()));
                }
                continue;
            }
            if st.encoder.is_none() {
                match OpusEncoder::new(self.config(rung.kbps)) {
                    Ok(e) => st.encoder = Some(e),
                    Err(e) => {
                        rung.errors.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(kbps = rung.kbps, error = %e, "cannot create Opus encoder");
                        continue;
                    }
                }
            }
            let mut packet = Vec::with_capacity(rung.kbps as usize * 4);
            // the encoder was created just above when missing
            if let Some(enc) = st.encoder.as_mut() {
                match enc.encode(pcm, &mut packet) {
                    Ok(_) => {
                        rung.frames_encoded.fetch_add(1, Ordering::Relaxed);
                        out.push((i as u8, Bytes::from(packet)));
                    }
                    Err(e) => {
                        rung.errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(kbps = rung.kbps, error = %e, "Opus encode failed");
                    }
                }
            }
        }
        out
    }

    fn config(&self, kbps: u32) -> OpusConfig {
        let low = kbps <= 32;
        OpusConfig {
            sample_rate: self.spec.sample_rate,
            channels: self.spec.channels,
            frame_us: self.spec.duration.as_us(),
            bitrate_bps: kbps * 1000,
            vbr: true,
            // complexity 5 costs about half of 10 for a small quality loss; several rungs
            // run per frame
            complexity: 5,
            // in-band FEC lives in SILK, used at speech bitrates with ≥ 10 ms frames
            fec: low && self.spec.duration.as_us() >= 10_000,
            expected_loss_percent: if low { 5 } else { 0 },
            dtx: false,
            application: if low { OpusApplication::Voip } else { OpusApplication::Audio },
        }
    }
}
