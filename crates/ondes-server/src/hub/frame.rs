//! A frame as the hub holds it: the PCM, the previous frame's PCM (filter history for
//! decimation), its Opus packets, its FLAC/MP3 bytes, and the wire bytes made from it (see [`super::wire`]).

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use ondes_core::Frame;
use ondes_core::egress::EgressFrame;
use parking_lot::Mutex;

use super::codec_rungs::CodedRung;
use super::wire::WireKey;

pub struct HubFrame {
    pub frame: Frame,
    /// The previous frame's samples (same layout), or `None` for a stream's first frame.
    pub prev: Option<Arc<[f32]>>,
    /// Opus packets of this frame: `(rung index, packet)` for every rung active when it was made.
    pub opus: Vec<(u8, Bytes)>,
    /// FLAC and MP3 bytes of this frame, for every such rung active when it was made.
    pub coded: Vec<(CodedRung, Bytes)>,
    /// Utterance starts and ends listeners hear right before this frame (`POST …/say`).
    pub speech: Vec<crate::ingest::say::SpeechMark>,
    /// Messages of the aligned groups ending with this frame, made before it was published.
    made: OnceLock<Vec<(WireKey, Bytes)>>,
    /// Messages made later, by the first listener that needed them: `(key, first seq, bytes)`.
    late: Mutex<Vec<(WireKey, u64, Bytes)>>,
}

impl EgressFrame for HubFrame {
    fn seq(&self) -> u64 {
        self.frame.seq
    }

    fn capture_us(&self) -> i64 {
        self.frame.capture_us
    }
}

impl HubFrame {
    pub fn new(frame: Frame, prev: Option<Arc<[f32]>>, opus: Vec<(u8, Bytes)>) -> Self {
        HubFrame {
            frame,
            prev,
            opus,
            coded: Vec::new(),
            speech: Vec::new(),
            made: OnceLock::new(),
            late: Mutex::new(Vec::new()),
        }
    }

    /// This frame's packet at rung `idx`, if that rung was encoding.
    pub fn opus_packet(&self, idx: usize) -> Option<&Bytes> {
        self.opus.iter().find(|(i, _)| *i as usize == idx).map(|(_, p)| p)
    }

    /// This frame's bytes at a FLAC or MP3 rung, if that rung was encoding (and, for MP3,
    /// LAME had bytes ready).
    pub fn coded_bytes(&self, rung: CodedRung) -> Option<&Bytes> {
        self.coded.iter().find(|(r, _)| *r == rung).map(|(_, b)| b)
    }

    /// Bytes of rung `idx`'s packets in `frames` (a listener's Opus payload).
    pub fn opus_bytes(frames: &[Arc<HubFrame>], idx: usize) -> u64 {
        frames.iter().filter_map(|f| f.opus_packet(idx)).map(|p| p.len() as u64).sum()
    }

    /// Bytes of `frames` as 16-bit PCM decimated by `factor` (a listener's PCM payload).
    pub fn pcm16_bytes(frames: &[Arc<HubFrame>], factor: usize) -> u64 {
        frames.iter().map(|f| (f.frame.samples.len() / factor.max(1)) as u64 * 2).sum()
    }

    /// Rung `idx`'s packet for a track that must not skip frames (a file, an fMP4 segment):
    /// a frame the rung has no packet for (it was just starting) becomes a packet of the
    /// last packet's TOC byte alone, which decoders conceal. `None` before the rung's first
    /// packet.
    pub fn continuous_packet(&self, idx: usize, last_toc: &mut Option<u8>) -> Option<Bytes> {
        match self.opus_packet(idx) {
            Some(p) if !p.is_empty() => {
                *last_toc = Some(p[0] & 0xFC);
                Some(p.clone())
            }
            _ => last_toc.map(|toc| Bytes::copy_from_slice(&[toc])),
        }
    }

    /// Stores the messages made at push time (once, before the frame is published).
    pub(super) fn set_made(&self, made: Vec<(WireKey, Bytes)>) {
        let _ = self.made.set(made);
    }

    /// The message of `key` for the group `first_seq..=self.seq`, made by `make` the first
    /// time only. Returns the bytes and whether this call made them. Aligned groups made at
    /// push time are read without a lock; the lock is taken only for the rest, and held
    /// while making, so concurrent listeners wait for the one build instead of repeating it.
    pub fn wire(&self, key: WireKey, first_seq: u64, make: impl FnOnce() -> Bytes) -> (Bytes, bool) {
        let aligned = self.frame.seq + 1 - first_seq == key.group;
        if aligned && let Some((_, b)) = self.made.get().and_then(|m| m.iter().find(|(k, _)| *k == key)) {
            return (b.clone(), false);
        }
        let mut late = self.late.lock();
        if let Some((_, _, b)) = late.iter().find(|(k, s, _)| *k == key && *s == first_seq) {
            return (b.clone(), false);
        }
        let b = make();
        late.push((key, first_seq, b.clone()));
        (b, true)
    }
}
