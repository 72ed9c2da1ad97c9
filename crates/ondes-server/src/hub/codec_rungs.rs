//! The FLAC (lossless) and MP3 rungs of a stream, beside the Opus ladder ([`super::ladder`]).
//!
//! Same rule as the Opus rungs: each runs once per frame in the stream's producer, whatever
//! the number of listeners, only while someone listens (it stops [`IDLE_FRAMES`] frames after
//! the last one left), and its output is one `Bytes` per frame that every listener shares.
//! FLAC makes one frame per stream frame; MP3 (one encoder per bitrate asked for) gives the
//! bytes LAME has ready, often none or one MP3 frame.
//!
//! When nothing listens, a frame costs one atomic load per rung: no lock is taken.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use ondes_codec::mp3::MP3_BITRATES;
use ondes_codec::{CodecError, FlacEncoder, FlacFormat, Mp3Encoder};
use ondes_core::FrameSpec;
use parking_lot::Mutex;
use serde::Serialize;

use super::ladder::IDLE_FRAMES;

/// Which rung an encoded frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodedRung {
    /// Lossless, 16-bit FLAC frames.
    Flac,
    /// MP3 at this many kbit/s (one of [`MP3_BITRATES`]).
    Mp3(u32),
}

/// One rung: its listeners, its encoder while it runs, its counters.
struct Slot<E> {
    listeners: AtomicUsize,
    /// Whether the encoder exists (listeners now, or fewer than [`IDLE_FRAMES`] frames ago).
    running: AtomicBool,
    state: Mutex<SlotState<E>>,
    frames_encoded: AtomicU64,
    bytes_out: AtomicU64,
    errors: AtomicU64,
}

struct SlotState<E> {
    encoder: Option<E>,
    idle_frames: u64,
}

impl<E> Slot<E> {
    fn new() -> Self {
        Slot {
            listeners: AtomicUsize::new(0),
            running: AtomicBool::new(false),
            state: Mutex::new(SlotState { encoder: None, idle_frames: 0 }),
            frames_encoded: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }

    /// Runs `encode` with this rung's encoder (made by `make` when missing) if the rung is
    /// active; returns the bytes it made, `None` when idle, failed or nothing was ready.
    fn step(
        &self,
        name: &str,
        make: impl FnOnce() -> Result<E, CodecError>,
        encode: impl FnOnce(&mut E, &mut Vec<u8>) -> Result<usize, CodecError>,
    ) -> Option<Bytes> {
        let listening = self.listeners.load(Ordering::Relaxed) > 0;
        if !listening && !self.running.load(Ordering::Relaxed) {
            return None;
        }
        let mut st = self.state.lock();
        if listening {
            st.idle_frames = 0;
        } else {
            st.idle_frames += 1;
            if st.idle_frames >= IDLE_FRAMES {
                st.encoder = None;
                self.running.store(false, Ordering::Relaxed);
                return None;
            }
        }
        if st.encoder.is_none() {
            match make() {
                Ok(e) => st.encoder = Some(e),
                Err(e) => {
                    self.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(rung = name, error = %e, "cannot create encoder");
                    return None;
                }
            }
            self.running.store(true, Ordering::Relaxed);
        }
        let enc = st.encoder.as_mut()?;
        let mut out = Vec::new();
        match encode(enc, &mut out) {
            Ok(_) => {
                self.frames_encoded.fetch_add(1, Ordering::Relaxed);
                self.bytes_out.fetch_add(out.len() as u64, Ordering::Relaxed);
                (!out.is_empty()).then(|| Bytes::from(out))
            }
            Err(e) => {
                let n = self.errors.fetch_add(1, Ordering::Relaxed);
                // one line per 500 failures: an encoder failing every frame must not flood the log
                if n.is_multiple_of(500) {
                    tracing::warn!(rung = name, error = %e, failures = n + 1, "encode failed");
                }
                None
            }
        }
    }

    fn stats(&self, rung: String) -> CodedRungStats {
        CodedRungStats {
            rung,
            listeners: self.listeners.load(Ordering::Relaxed),
            encoding: self.running.load(Ordering::Relaxed),
            frames_encoded: self.frames_encoded.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}

/// A FLAC or MP3 rung as `/stats` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CodedRungStats {
    /// `flac` or `mp3-<kbps>`.
    pub rung: String,
    pub listeners: usize,
    pub encoding: bool,
    pub frames_encoded: u64,
    pub bytes_out: u64,
    pub errors: u64,
}

/// The FLAC rung and the MP3 rungs of one stream.
pub struct CodecRungs {
    spec: FrameSpec,
    /// `None` when FLAC cannot code the stream's layout (more than 8 channels).
    flac_format: Option<FlacFormat>,
    flac: Slot<FlacEncoder>,
    /// One slot per bitrate of [`MP3_BITRATES`], in that order.
    mp3: Vec<Slot<Mp3Encoder>>,
}

impl CodecRungs {
    pub fn new(spec: FrameSpec) -> Self {
        let flac_format =
            FlacFormat::new(spec.sample_rate, spec.channels, spec.samples_per_channel() as u32).ok();
        CodecRungs {
            spec,
            flac_format,
            flac: Slot::new(),
            mp3: MP3_BITRATES.iter().map(|_| Slot::new()).collect(),
        }
    }

    /// The FLAC layout, when the stream has a lossless rung.
    pub fn flac_format(&self) -> Option<FlacFormat> {
        self.flac_format
    }

    fn slot_listeners(&self, rung: CodedRung) -> Option<&AtomicUsize> {
        match rung {
            CodedRung::Flac => self.flac_format.map(|_| &self.flac.listeners),
            CodedRung::Mp3(k) => MP3_BITRATES.iter().position(|&b| b == k).map(|i| &self.mp3[i].listeners),
        }
    }

    /// Whether anything holds a FLAC or MP3 rung now.
    pub fn in_use(&self) -> bool {
        let n = |l: &AtomicUsize| l.load(Ordering::Relaxed) > 0;
        n(&self.flac.listeners) || self.mp3.iter().any(|r| n(&r.listeners))
    }

    /// Counts a listener of `rung`; false when the stream has no such rung.
    pub(super) fn add_listener(&self, rung: CodedRung) -> bool {
        self.slot_listeners(rung).map(|l| l.fetch_add(1, Ordering::Relaxed)).is_some()
    }

    pub(super) fn remove_listener(&self, rung: CodedRung) {
        if let Some(l) = self.slot_listeners(rung) {
            l.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Encodes frame `seq` (interleaved PCM) at every active rung.
    pub fn encode(&self, pcm: &[f32], seq: u64) -> Vec<(CodedRung, Bytes)> {
        let mut out = Vec::new();
        if let Some(format) = self.flac_format
            && let Some(b) =
                self.flac.step("flac", || FlacEncoder::new(format), |e, buf| e.encode(pcm, seq, buf))
        {
            out.push((CodedRung::Flac, b));
        }
        for (slot, &kbps) in self.mp3.iter().zip(MP3_BITRATES.iter()) {
            let make = || Mp3Encoder::new(self.spec.sample_rate, self.spec.channels, kbps);
            if let Some(b) = slot.step("mp3", make, |e, buf| e.encode(pcm, buf)) {
                out.push((CodedRung::Mp3(kbps), b));
            }
        }
        out
    }

    /// Counters of the rungs that have run or have listeners.
    pub fn stats(&self) -> Vec<CodedRungStats> {
        let flac = self.flac_format.map(|_| self.flac.stats("flac".into()));
        let mp3 = self.mp3.iter().zip(MP3_BITRATES.iter()).map(|(s, k)| s.stats(format!("mp3-{k}")));
        flac.into_iter()
            .chain(mp3)
            .filter(|s| s.listeners > 0 || s.frames_encoded > 0 || s.errors > 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ondes_core::FrameDuration;

    fn rungs(rate: u32, channels: u16) -> CodecRungs {
        CodecRungs::new(FrameSpec::new(rate, channels, FrameDuration::DEFAULT).unwrap())
    }

    #[test]
    fn encodes_only_while_listened_then_stops_after_idle_frames() {
        let r = rungs(44_100, 2);
        let pcm = vec![0.1f32; 882 * 2];
        assert!(r.encode(&pcm, 0).is_empty(), "nobody listens: nothing encoded");
        assert!(r.add_listener(CodedRung::Flac));
        let got = r.encode(&pcm, 1);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, CodedRung::Flac);
        r.remove_listener(CodedRung::Flac);
        let mut frames = 0;
        for seq in 2..2 + 2 * IDLE_FRAMES {
            frames += r.encode(&pcm, seq).len() as u64;
        }
        assert_eq!(frames, IDLE_FRAMES - 1, "keeps encoding for the idle time, then stops");
        assert!(!r.flac.running.load(Ordering::Relaxed));
        assert_eq!(r.stats()[0].frames_encoded, IDLE_FRAMES);
    }

    #[test]
    fn mp3_rungs_are_the_mpeg_bitrates() {
        let r = rungs(48_000, 1);
        assert!(r.add_listener(CodedRung::Mp3(128)));
        assert!(!r.add_listener(CodedRung::Mp3(100)));
        let mut bytes = 0;
        for seq in 0..50 {
            for (rung, b) in r.encode(&[0.2; 960], seq) {
                assert_eq!(rung, CodedRung::Mp3(128));
                bytes += b.len();
            }
        }
        assert!(bytes > 10_000, "{bytes} bytes for a second at 128 kbit/s");
    }

    #[test]
    fn no_flac_beyond_eight_channels() {
        // streams are mono or stereo today; the rung checks FLAC's own limit all the same
        let r = CodecRungs::new(FrameSpec {
            sample_rate: 48_000,
            channels: 10,
            duration: FrameDuration::DEFAULT,
        });
        assert!(r.flac_format().is_none());
        assert!(!r.add_listener(CodedRung::Flac));
    }
}
