//! Frames to wire messages: each frame coded once (pcm16 or Opus), `batch` frames per
//! binary message (`docs/protocol.md`).

use ondes_codec::{OpusConfig, OpusEncoder, encode_s16le};
use ondes_core::proto::audio::{AudioHeader, Codec, WireError, encode_audio};

use super::source::Layout;

/// How frames are coded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendCodec {
    /// Interleaved s16le: lossless for 16-bit audio (what a bit-exact relay needs).
    Pcm16,
    /// Opus at this bitrate (bit/s): ~10× smaller for speech.
    Opus { bitrate_bps: u32 },
}

impl SendCodec {
    pub fn wire(self) -> Codec {
        match self {
            SendCodec::Pcm16 => Codec::Pcm16,
            SendCodec::Opus { .. } => Codec::Opus,
        }
    }
}

/// Codes one frame at a time, in order (Opus is stateful).
pub enum FrameEncoder {
    Pcm16,
    Opus(Box<OpusEncoder>),
}

impl FrameEncoder {
    pub fn new(codec: SendCodec, layout: Layout) -> Result<Self, ondes_codec::CodecError> {
        Ok(match codec {
            SendCodec::Pcm16 => FrameEncoder::Pcm16,
            SendCodec::Opus { bitrate_bps } => FrameEncoder::Opus(Box::new(OpusEncoder::new(OpusConfig {
                sample_rate: layout.sample_rate,
                channels: layout.channels,
                frame_us: layout.frame_us,
                bitrate_bps,
                ..OpusConfig::default()
            })?)),
        })
    }

    /// The coded bytes of one frame of interleaved PCM.
    pub fn encode(&mut self, pcm: &[f32]) -> Result<Vec<u8>, ondes_codec::CodecError> {
        let mut out = Vec::new();
        match self {
            FrameEncoder::Pcm16 => encode_s16le(pcm, &mut out),
            FrameEncoder::Opus(enc) => {
                enc.encode(pcm, &mut out)?;
            }
        }
        Ok(out)
    }
}

/// Coded frames waiting to go out together. It survives a reconnect: a batch whose send
/// failed is sent again, whole, on the next connection.
#[derive(Debug, Default)]
pub struct Batch {
    pub first_seq: u64,
    /// Capture time of the first frame, µs since the Unix epoch.
    pub capture_us: i64,
    pub frames: Vec<Vec<u8>>,
    /// Capture time of each frame, µs since the Unix epoch (for the frame log).
    pub captures: Vec<i64>,
}

impl Batch {
    pub fn push(&mut self, seq: u64, capture_us: i64, frame: Vec<u8>) {
        if self.frames.is_empty() {
            self.first_seq = seq;
            self.capture_us = capture_us;
        }
        self.frames.push(frame);
        self.captures.push(capture_us);
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Sequence number after the last frame.
    pub fn end_seq(&self) -> u64 {
        self.first_seq + self.frames.len() as u64
    }

    /// The binary message for this batch.
    pub fn message(&self, codec: Codec, layout: Layout) -> Result<Vec<u8>, WireError> {
        let header = AudioHeader {
            codec,
            channels: layout.channels as u8,
            frame_count: self.frames.len() as u8,
            frame_us: layout.frame_us,
            sample_rate: layout.sample_rate,
            first_seq: self.first_seq,
            capture_us: self.capture_us,
        };
        let refs: Vec<&[u8]> = self.frames.iter().map(Vec::as_slice).collect();
        let mut out = Vec::new();
        encode_audio(&header, &refs, &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ondes_core::proto::audio::decode_audio;

    #[test]
    fn a_batch_is_one_decodable_message() {
        let layout = Layout { sample_rate: 48_000, channels: 1, frame_us: 20_000 };
        let mut enc = FrameEncoder::new(SendCodec::Opus { bitrate_bps: 32_000 }, layout).unwrap();
        let mut b = Batch::default();
        for seq in 7..10 {
            let pcm: Vec<f32> = (0..960).map(|i| ((i + seq * 960) as f32 * 0.05).sin() * 0.3).collect();
            b.push(seq as u64, 1_000 + seq as i64, enc.encode(&pcm).unwrap());
        }
        let msg = b.message(Codec::Opus, layout).unwrap();
        let m = decode_audio(&msg, None).unwrap();
        assert_eq!((m.header.first_seq, m.header.capture_us, m.frames.len()), (7, 1_007, 3));
        assert_eq!(b.end_seq(), 10);
        assert!(m.frames.iter().all(|f| !f.is_empty() && f.len() < 200));
    }
}
