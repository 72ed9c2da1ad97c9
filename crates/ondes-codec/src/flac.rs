//! FLAC (lossless) for live egress: a frame encoder on `flacenc` (pure Rust) and the
//! metadata blocks a player needs before the first frame.
//!
//! One FLAC frame is made per stream frame (20 ms by default: a block of 960 samples at
//! 48 kHz, 882 at 44.1 kHz), so a listener can start at any frame and every frame is
//! decodable on its own. Frames are numbered by the stream's sequence number (modulo 2³¹,
//! FLAC's limit), which is what a fixed-block-size FLAC stream says.
//!
//! Samples are coded as 16-bit: the stream's `f32` PCM goes through the same conversion as
//! every other 16-bit output of ondes ([`crate::pcm::encode_s16le`]), so a FLAC listener
//! decodes exactly the samples an SSE `pcm16` listener gets. 24-bit would mostly code the
//! noise below 16 bits of sources that are 16-bit to begin with (sound cards, files, Icecast
//! and WebSocket publishers), at about twice the bitrate.

use flacenc::component::BitRepr;
use flacenc::error::{Verified, Verify};
use flacenc::source::{Fill, FrameBuf};

use crate::CodecError;
use crate::pcm::encode_s16le;

/// Bits per sample of the FLAC ondes writes.
pub const FLAC_BITS_PER_SAMPLE: u8 = 16;
/// Most channels FLAC codes.
pub const FLAC_MAX_CHANNELS: u16 = 8;
/// Highest sample rate a FLAC frame header can state.
pub const FLAC_MAX_RATE: u32 = 655_350;

/// What a FLAC stream holds: rate, channels and the block (frame) size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlacFormat {
    pub sample_rate: u32,
    pub channels: u16,
    /// Samples per channel in every frame.
    pub block_samples: u32,
}

impl FlacFormat {
    /// Checks that FLAC can code this layout; the error says what is out of range.
    pub fn new(sample_rate: u32, channels: u16, block_samples: u32) -> Result<Self, CodecError> {
        if !(1..=FLAC_MAX_CHANNELS).contains(&channels) {
            return Err(CodecError::Flac(format!(
                "{channels} channels: FLAC codes 1 to {FLAC_MAX_CHANNELS}"
            )));
        }
        if !(1..=FLAC_MAX_RATE).contains(&sample_rate) {
            return Err(CodecError::Flac(format!("{sample_rate} Hz: FLAC codes 1 Hz to {FLAC_MAX_RATE} Hz")));
        }
        if !(16..=65_535).contains(&block_samples) {
            return Err(CodecError::Flac(format!(
                "frames of {block_samples} samples: FLAC blocks hold 16 to 65535 samples"
            )));
        }
        Ok(FlacFormat { sample_rate, channels, block_samples })
    }

    /// The 34-byte STREAMINFO body: fixed block size, frame sizes and total length unknown
    /// (a live stream), no MD5.
    pub fn streaminfo(&self) -> [u8; 34] {
        let mut b = [0u8; 34];
        let block = self.block_samples as u16;
        b[0..2].copy_from_slice(&block.to_be_bytes());
        b[2..4].copy_from_slice(&block.to_be_bytes());
        // bytes 4..10: min and max frame size, 0 = unknown
        // 20 bits rate, 3 bits channels - 1, 5 bits bits-per-sample - 1, 36 bits total samples
        let packed: u64 = (u64::from(self.sample_rate) << 44)
            | (u64::from(self.channels - 1) << 41)
            | (u64::from(FLAC_BITS_PER_SAMPLE - 1) << 36);
        b[10..18].copy_from_slice(&packed.to_be_bytes());
        // bytes 18..34: MD5 of the whole stream, all zero = not computed
        b
    }

    /// The STREAMINFO metadata block (header + body), not flagged last.
    pub fn streaminfo_block(&self) -> Vec<u8> {
        let mut out = vec![0x00, 0, 0, 34];
        out.extend_from_slice(&self.streaminfo());
        out
    }

    /// The samples one frame of `block_samples` covers, interleaved.
    pub fn frame_len(&self) -> usize {
        self.block_samples as usize * usize::from(self.channels)
    }
}

/// A VORBIS_COMMENT metadata block (header + body) with `vendor` and `comments`
/// (`KEY=value`), flagged as the last metadata block when `last`.
pub fn vorbis_comment_block(vendor: &str, comments: &[String], last: bool) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    body.extend_from_slice(vendor.as_bytes());
    body.extend_from_slice(&(comments.len() as u32).to_le_bytes());
    for c in comments {
        body.extend_from_slice(&(c.len() as u32).to_le_bytes());
        body.extend_from_slice(c.as_bytes());
    }
    let len = (body.len() as u32).min(0x00FF_FFFF);
    let mut out = vec![if last { 0x84 } else { 0x04 }];
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(&body[..len as usize]);
    out
}

/// Encodes one stream frame at a time as one FLAC frame.
pub struct FlacEncoder {
    format: FlacFormat,
    config: Verified<flacenc::config::Encoder>,
    info: flacenc::component::StreamInfo,
    buf: FrameBuf,
    s16: Vec<u8>,
}

impl FlacEncoder {
    pub fn new(format: FlacFormat) -> Result<Self, CodecError> {
        let config = flacenc::config::Encoder::default()
            .into_verified()
            .map_err(|(_, e)| CodecError::Flac(format!("encoder settings: {e}")))?;
        let channels = usize::from(format.channels);
        let info = flacenc::component::StreamInfo::new(
            format.sample_rate as usize,
            channels,
            usize::from(FLAC_BITS_PER_SAMPLE),
        )
        .map_err(|e| CodecError::Flac(e.to_string()))?;
        let buf = FrameBuf::with_size(channels, format.block_samples as usize)
            .map_err(|e| CodecError::Flac(e.to_string()))?;
        Ok(FlacEncoder { format, config, info, buf, s16: Vec::new() })
    }

    pub fn format(&self) -> FlacFormat {
        self.format
    }

    /// Appends to `out` the FLAC frame of `pcm` (one block, interleaved `f32`), numbered
    /// `frame_number` (taken modulo 2³¹); returns its length in bytes.
    pub fn encode(&mut self, pcm: &[f32], frame_number: u64, out: &mut Vec<u8>) -> Result<usize, CodecError> {
        if pcm.len() != self.format.frame_len() {
            return Err(CodecError::Flac(format!(
                "a frame is {} interleaved samples ({} per channel × {} channels), got {}",
                self.format.frame_len(),
                self.format.block_samples,
                self.format.channels,
                pcm.len()
            )));
        }
        self.s16.clear();
        encode_s16le(pcm, &mut self.s16);
        self.buf.fill_le_bytes(&self.s16, 2).map_err(|e| CodecError::Flac(e.to_string()))?;
        let number = (frame_number % (1 << 31)) as usize;
        let frame = flacenc::encode_fixed_size_frame(&self.config, &self.buf, number, &self.info)
            .map_err(|e| CodecError::Flac(e.to_string()))?;
        let mut sink = flacenc::bitsink::MemSink::<u8>::new();
        frame.write(&mut sink).map_err(|e| CodecError::Flac(e.to_string()))?;
        let bytes = sink.as_slice();
        out.extend_from_slice(bytes);
        Ok(bytes.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaminfo_packs_rate_channels_and_bits() {
        let f = FlacFormat::new(44_100, 2, 882).unwrap();
        let s = f.streaminfo();
        assert_eq!(&s[0..4], &[0x03, 0x72, 0x03, 0x72]);
        // 44100 = 0x0AC44 in 20 bits, then channels-1 = 1 (3 bits), bps-1 = 15 (5 bits)
        assert_eq!(&s[10..13], &[0x0A, 0xC4, 0x42]);
        assert_eq!(s[13] >> 4, 0xF);
        assert!(s[14..].iter().all(|&b| b == 0));
    }

    #[test]
    fn refuses_what_flac_cannot_code() {
        assert!(FlacFormat::new(48_000, 9, 960).is_err());
        assert!(FlacFormat::new(0, 2, 960).is_err());
        assert!(FlacFormat::new(48_000, 2, 8).is_err());
    }

    #[test]
    fn frames_start_with_the_sync_code_and_shrink_for_silence() {
        let f = FlacFormat::new(48_000, 2, 960).unwrap();
        let mut e = FlacEncoder::new(f).unwrap();
        let tone: Vec<f32> = (0..1920).map(|i| ((i / 2) as f32 * 0.05).sin() * 0.5).collect();
        let mut a = Vec::new();
        let n = e.encode(&tone, 7, &mut a).unwrap();
        assert_eq!(n, a.len());
        assert_eq!(&a[..2], &[0xFF, 0xF8], "fixed-blocksize frame sync");
        let mut s = Vec::new();
        e.encode(&[0.0; 1920], 8, &mut s).unwrap();
        assert!(s.len() < 40 && s.len() < a.len(), "silence is {} bytes", s.len());
        assert!(e.encode(&[0.0; 100], 9, &mut s).is_err());
    }

    #[test]
    fn comment_block_is_flagged_last() {
        let b = vorbis_comment_block("ondes", &["TITLE=x".into()], true);
        assert_eq!(b[0], 0x84);
        let len = u32::from_be_bytes([0, b[1], b[2], b[3]]) as usize;
        assert_eq!(len, b.len() - 4);
        assert_eq!(len, 4 + 5 + 4 + 4 + 7);
    }
}
